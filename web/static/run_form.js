// The Run form, submitted without leaving the page: the form's POST goes by fetch (the server answers it
// exactly as a plain submit: a 303 to the run page once the run is final or RUN_PAGE_WAIT_SECONDS passed,
// or the form again with its errors), and the page it leads to replaces this one's body in place, with the
// address bar following (history.pushState). Why: a new page load costs a navigation, the stylesheet and
// the page's start again, which was most of "Run" -> report on screen (docs/benchmarks.md). Without
// JavaScript, fetch or DOMParser the form posts as before: same server, same answers.
// One run per press: the button is disabled until the answer is in. Back and forward load the page for
// the address shown (the swapped-in page is not kept as a document of its own).
// (A static file: the CSP allows no inline script.)
(function () {
  "use strict";
  if (!window.fetch || !window.DOMParser || !window.FormData || !window.history.pushState) { return; }
  // Once per document: a swapped-in page may bring this script again (a newer ?v= after a deploy), and two
  // submit listeners would post twice.
  if (window.reportgenRunForm) { return; }
  window.reportgenRunForm = true;
  var ANSWER_SECONDS = 60;  // well above RUN_PAGE_WAIT_SECONDS' 10 s maximum
  var busy = false;
  // The address whose page this document shows. Chrome may step Back or Forward to an entry this
  // document did not make (e.g. the run's, after the form's page was loaded anew): its popstate says so.
  var shownAddress = location.pathname + location.search;

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("run-form")) { return; }
    event.preventDefault();
    if (busy) { return; }
    busy = true;
    var button = form.querySelector("button[type=submit]");
    var label = button ? button.textContent : "";
    if (button) { button.disabled = true; button.textContent = "Running\u2026"; }
    say(form, "");
    var abort = window.AbortController ? new AbortController() : null;
    var timer = abort ? setTimeout(function () { abort.abort(); }, ANSWER_SECONDS * 1000) : null;
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin",
                         signal: abort ? abort.signal : undefined })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (type.indexOf("text/html") === 0) {
          return response.text().then(function (html) { swap(form, html, response); });
        }
        if (response.redirected) {  // the run started, but its page did not come: load it as a page
          location.assign(response.url);
          return;
        }
        // Refusals that are not a page (CSRF, a body too large, the database away) come as JSON.
        return response.json().then(function (body) {
          say(form, (body && body.error && body.error.message) || ("The server answered HTTP " + response.status + "."));
        }, function () { say(form, "The server answered HTTP " + response.status + "."); });
      })
      .catch(function () {
        say(form, "No answer from the server. If the run started, it is listed on the dashboard; otherwise press Run again.");
      })
      .then(function () {
        if (timer) { clearTimeout(timer); }
        busy = false;
        if (button && button.isConnected) {  // still this page: the answer was said next to the button
          button.disabled = false;
          button.textContent = label;
          button.focus();
        }
      });
  });

  function say(form, message) {
    var box = form.querySelector(".run-form-error");
    if (!box) { return; }
    box.textContent = message;
    box.hidden = !message;
  }

  function swap(form, html, response) {
    var next = new DOMParser().parseFromString(html, "text/html");
    if (!next.body || !next.getElementById("main")) {  // not one of our pages (e.g. a proxy's error page)
      say(form, "The server answered HTTP " + response.status + ". If the run started, it is listed on the dashboard.");
      return;
    }
    if (response.redirected) { history.pushState(null, "", response.url); }
    shownAddress = location.pathname + location.search;
    document.title = next.title;
    document.body.replaceWith(document.importNode(next.body, true));
    window.scrollTo(0, 0);
    // The new page's stylesheets and scripts that this document lacks (e.g. the run page's run.js, which
    // then finds its #run in place); scripts run in their order, after the new body is in.
    next.head.querySelectorAll("link[rel=stylesheet], script[src]").forEach(function (old) {
      var isScript = old.tagName === "SCRIPT";
      var address = old.getAttribute(isScript ? "src" : "href");
      var selector = isScript ? "script[src]" : "link[rel=stylesheet]";
      var present = Array.prototype.some.call(document.head.querySelectorAll(selector), function (el) {
        return el.getAttribute(isScript ? "src" : "href") === address;
      });
      if (present) { return; }
      var fresh = document.createElement(isScript ? "script" : "link");
      if (isScript) { fresh.src = address; fresh.async = false; } else { fresh.rel = "stylesheet"; fresh.href = address; }
      document.head.appendChild(fresh);
    });
    // Focus where a reader of the new page starts: its error summary when it has one, else its heading.
    var start = document.querySelector("#main .error[role=alert]:not([hidden])") || document.querySelector("#main h1");
    if (start) { start.setAttribute("tabindex", "-1"); start.focus({ preventScroll: true }); }
  }

  // A history step to another address than the one shown loads that address's page (hash steps, e.g.
  // the skip link, stay).
  window.addEventListener("popstate", function () {
    if (location.pathname + location.search !== shownAddress) { location.reload(); }
  });
}());
