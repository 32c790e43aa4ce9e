// Timestamps from the page for bench/report_on_screen.py --mode browser (an init script: it runs in every
// document before the page's own scripts, in this checkout's pages and a --before checkout's alike). It only
// observes: EventSource is wrapped to note when the page opens it, when it opens and when the COMPLETED
// event arrives; fetch is wrapped to note when a POST's answer arrives; a MutationObserver notes when the report's chart is in the DOM, and the next frame after
// it stands for the paint. Epoch milliseconds (timeOrigin + now), so that the click, noted on the form
// page and carried over in sessionStorage, is on the same clock as the run page's marks.
(function () {
  "use strict";
  var marks = window.__rosMarks = {};
  function now() { return performance.timeOrigin + performance.now(); }
  document.addEventListener("click", function () { sessionStorage.setItem("rosClick", String(now())); }, true);
  var Native = window.EventSource;
  if (Native) {
    var Wrapped = function (url, init) {
      marks.es_new = marks.es_new || now();
      var source = new Native(url, init);
      source.addEventListener("open", function () { marks.es_open = marks.es_open || now(); });
      source.addEventListener("run", function (e) {
        marks.first_event = marks.first_event || now();
        if (!marks.completed_event && JSON.parse(e.data).status === "COMPLETED") { marks.completed_event = now(); }
      });
      return source;
    };
    Wrapped.prototype = Native.prototype;
    Wrapped.CONNECTING = Native.CONNECTING; Wrapped.OPEN = Native.OPEN; Wrapped.CLOSED = Native.CLOSED;
    window.EventSource = Wrapped;
  }
  // The Run form submitted in place (web/static/run_form.js): when its POST's answer (after the redirect
  // it follows) is in, i.e. the headers of the page that is then swapped in.
  var nativeFetch = window.fetch;
  if (nativeFetch) {
    window.fetch = function (input, init) {
      var posted = init && String(init.method || "").toUpperCase() === "POST" && !marks.fetch_answer;
      var answer = nativeFetch.apply(this, arguments);
      if (posted) { answer.then(function () { marks.fetch_answer = marks.fetch_answer || now(); }, function () {}); }
      return answer;
    };
  }
  new MutationObserver(function (records, observer) {
    if (document.querySelector("#run[data-report=shown] #report svg")) {
      marks.in_dom = now();
      observer.disconnect();
      requestAnimationFrame(function () { setTimeout(function () { marks.painted = now(); }, 0); });
    }
  }).observe(document, { subtree: true, childList: true, attributes: true });
}());
