// The run page's "Share" button (editors): POST /api/runs/{id}/shares as JSON (plus the page's CSRF
// token), then show the link, which the server never shows again. (A static file: the CSP allows no
// inline script.)
(function () {
  "use strict";
  var root = document.getElementById("run");
  var section = document.getElementById("share");
  var button = document.getElementById("share-button");
  if (!root || !section || !button) { return; }
  var runId = root.getAttribute("data-run-id");
  var result = document.getElementById("share-result");
  var urlEl = document.getElementById("share-url");
  var errorEl = document.getElementById("share-error");

  button.addEventListener("click", function () {
    button.disabled = true;
    errorEl.hidden = true;
    fetch("/api/runs/" + runId + "/shares", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRF-Token": section.getAttribute("data-csrf") || "" },
      body: "{}"
    })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) { throw new Error((body.error && body.error.message) || ("HTTP " + r.status)); }
          return body;
        });
      })
      .then(function (share) {
        urlEl.value = window.location.origin + share.path;
        result.hidden = false;
        section.setAttribute("data-shared", share.id);
        urlEl.focus();
        urlEl.select();
      })
      .catch(function (err) {
        errorEl.textContent = "Could not make a link: " + err.message;
        errorEl.hidden = false;
      })
      .then(function () { button.disabled = false; });
  });
}());
