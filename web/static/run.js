// Live status of a run: Server-Sent Events from /api/runs/{id}/events, falling back to polling
// GET /api/runs/{id} when EventSource is missing or the stream fails. When the run completes, the
// report's sanitised HTML is shown in place, no reload: the stream carries it (?report=html: a
// "report" event between the final "run" event and "end"); without it (polling, or an "end" with no
// report) it is fetched from /runs/{id}/fragment. (A static file: the CSP allows no inline script.)
(function () {
  "use strict";
  var root = document.getElementById("run");
  if (!root) { return; }
  var runId = root.getAttribute("data-run-id");
  var FINAL = { COMPLETED: true, FAILED: true, CANCELLED: true };
  var statusEl = document.getElementById("run-status");
  var progressEl = document.getElementById("run-progress");
  var liveEl = document.getElementById("run-live");
  var errorEl = document.getElementById("run-error");
  var reportEl = document.getElementById("report");
  var downloadsEl = document.getElementById("downloads");
  var shownReport = reportEl.children.length > 0;
  if (shownReport) { root.setAttribute("data-report", "shown"); }
  var pollTimer = null;
  var source = null;

  // streaming: the stream's "end" (not the final "run" event) stops it, so the "report" event that
  // follows the final "run" event is still delivered; closing at once would drop it.
  function show(run, streaming) {
    statusEl.textContent = run.status;
    statusEl.className = "badge " + run.status;
    root.setAttribute("data-status", run.status);
    progressEl.value = run.progress || 0;
    progressEl.hidden = !!FINAL[run.status];
    if (run.error) {
      document.getElementById("run-error-message").textContent = run.error.message || "";
      document.getElementById("run-error-where").textContent = run.error.line ? "at template line " + run.error.line : "";
      errorEl.hidden = false;
    } else {
      errorEl.hidden = true;
    }
    if (run.status === "COMPLETED") {
      downloadsEl.hidden = false;
      var shareEl = document.getElementById("share");
      if (shareEl) { shareEl.hidden = false; }
      if (!shownReport && !streaming) { loadReport(); }
    }
    if (FINAL[run.status] && !streaming) { stop(); }
  }

  function insertReport(html) {
    // Sanitised by the server (nh3 allow-list) and inert under the page's CSP.
    reportEl.innerHTML = html;
    shownReport = true;
    root.setAttribute("data-report", "shown");
  }

  function loadReport() {
    shownReport = true;
    fetch("/runs/" + runId + "/fragment", { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(insertReport)
      .catch(function () { shownReport = false; liveEl.textContent = "Could not load the report; reload the page."; });
  }

  function stop() {
    if (source) { source.close(); source = null; }
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  }

  function poll() {
    liveEl.textContent = "(checking every second)";
    root.setAttribute("data-live", "polling");
    if (pollTimer) { return; }
    pollTimer = setInterval(function () {
      fetch("/api/runs/" + runId, { credentials: "same-origin", headers: { Accept: "application/json" } })
        // A 503 (the database restarting) or any error body is not the run: keep what is shown, ask again.
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
        .then(function (run) { show(run, false); })
        .catch(function () { /* try again on the next tick */ });
    }, 1000);
  }

  if (FINAL[root.getAttribute("data-status")]) {
    if (root.getAttribute("data-status") === "COMPLETED" && !shownReport) { loadReport(); }
    return;
  }
  if (!window.EventSource) { poll(); return; }
  var received = false;
  source = new EventSource("/api/runs/" + runId + "/events?report=html");
  root.setAttribute("data-live", "sse");
  source.addEventListener("run", function (e) { received = true; show(JSON.parse(e.data), true); });
  source.addEventListener("report", function (e) { if (!shownReport) { insertReport(e.data); } });
  source.addEventListener("end", function () {
    stop();
    if (root.getAttribute("data-status") === "COMPLETED" && !shownReport) { loadReport(); }
  });
  source.onerror = function () {
    // The browser retries by itself; if the stream never worked, poll instead.
    if (!received || source.readyState === EventSource.CLOSED) { stop(); poll(); }
  };
}());
