// The next five fire times of a schedule form, following the cron line and zone as they are typed.
// The server computes them (GET /api/schedules/preview, in the schedule's zone, with the scheduler's own
// daylight-saving rules); this file only asks, a moment after the typing stops, and shows the answer.
// Answers that arrive out of order are dropped: only the latest question's answer is shown.
// Forms marked data-confirm (delete) ask before they post.
// (A static file: the CSP allows no inline script.)
(function () {
  "use strict";
  var DELAY_MS = 300;

  function attach(form) {
    var cron = form.querySelector("[name=cron]");
    var zone = form.querySelector("[name=timezone]");
    var list = form.querySelector("[data-fire-list]");
    var error = form.querySelector("[data-fire-error]");
    if (!cron || !zone || !list || !error) { return; }
    var timer = null;
    var asked = 0;
    var shown = 0;

    function show(sequence, times, message) {
      if (sequence < shown) { return; }
      shown = sequence;
      list.textContent = "";
      (times || []).forEach(function (t) {
        var item = document.createElement("li");
        var time = document.createElement("time");
        time.setAttribute("datetime", t.utc);
        time.textContent = t.label;
        item.appendChild(time);
        list.appendChild(item);
      });
      error.textContent = message || "";
      error.hidden = !message;
      cron.setAttribute("aria-invalid", message ? "true" : "false");
      list.setAttribute("data-sequence", String(sequence));
    }

    function ask() {
      var sequence = ++asked;
      var query = "cron=" + encodeURIComponent(cron.value) + "&timezone=" + encodeURIComponent(zone.value || "UTC");
      fetch("/api/schedules/preview?" + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          return r.json().then(function (body) { return { ok: r.ok, body: body }; });
        })
        .then(function (answer) {
          if (answer.ok) { show(sequence, answer.body.next, ""); return; }
          var e = answer.body && answer.body.error;
          show(sequence, [], (e && e.message) || "The fire times could not be computed.");
        })
        .catch(function () { show(sequence, [], "The fire times could not be fetched; they are checked when you save."); });
    }

    function later() {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(ask, DELAY_MS);
    }

    cron.addEventListener("input", later);
    zone.addEventListener("input", later);
    zone.addEventListener("change", later);
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-schedule-form]"), attach);
  // Deleting asks first (without script the form simply posts).
  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });
}());
