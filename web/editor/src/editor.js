// The template editor: CodeMirror 6 over the body textarea, a live preview beside it, help insertion.
// Progressive enhancement: without this script the page is the plain form (textareas) and still saves.
// Bundled by `make editor` into web/static/editor.js (committed; `make run` needs no Node.js).
import { EditorState } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { bracketMatching, syntaxHighlighting, defaultHighlightStyle } from "@codemirror/language";
import { templateLanguage } from "./language.js";
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from "@codemirror/autocomplete";
import { setDiagnostics, lintGutter } from "@codemirror/lint";
import { mountBuilder } from "./builder.js";

const DEBOUNCE_MS = 400;

function readData() {
  const el = document.getElementById("editor-data");
  try { return el ? JSON.parse(el.textContent) : {}; } catch (e) { return {}; }
}

// Completion: filters after "|", helpers anywhere in an expression, column names inside quotes.
function completions(data) {
  const filters = (data.filters || []).map((f) => ({ label: f.name, type: "function", detail: f.summary }));
  const helpers = (data.helpers || []).map((h) => ({ label: h.name, type: "function", detail: h.summary }));
  return (ctx) => {
    // Read each time: the parameter builder adds names, and columns when a sample CSV is uploaded.
    const columns = [];
    for (const [param, cols] of Object.entries(data.columns || {})) {
      for (const c of cols) columns.push({ label: c, type: "property", detail: "column of " + param });
    }
    const names = (data.parameters || []).map((p) => ({ label: p, type: "variable", detail: "parameter" }));
    const quoted = ctx.matchBefore(/["'][\w ]*/);
    if (quoted && columns.length) return { from: quoted.from + 1, options: columns, validFor: /^[\w ]*$/ };
    const afterPipe = ctx.matchBefore(/\|\s*\w*/);
    if (afterPipe) {
      const word = ctx.matchBefore(/\w*/);
      return { from: word.from, options: filters, validFor: /^\w*$/ };
    }
    const word = ctx.matchBefore(/\w+/);
    if (!word && !ctx.explicit) return null;
    return { from: word ? word.from : ctx.pos, options: helpers.concat(names), validFor: /^\w*$/ };
  };
}

function csrfHeaders() {
  return { "Content-Type": "application/json", "Accept": "application/json" };
}

// The page's CSP allows only a <style> carrying this response's nonce (CodeMirror writes its theme into
// one); the nonce rides on our own script tag, whose .nonce property the browser exposes to scripts only.
const styleNonce = (document.currentScript && document.currentScript.nonce) || "";

function setup() {
  const textarea = document.getElementById("body");
  const form = textarea && textarea.form;
  if (!textarea || !form || !form.hasAttribute("data-editor")) return;
  const data = readData();
  const params = document.getElementById("parameters");
  const preview = document.getElementById("preview");
  const status = document.getElementById("preview-status");
  const errorBox = document.getElementById("preview-error");
  let timer = null;
  let sequence = 0;

  const view = new EditorView({
    parent: textarea.parentNode,
    state: EditorState.create({
      doc: textarea.value,
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), history(), drawSelection(), highlightActiveLine(),
        bracketMatching(), closeBrackets(), templateLanguage, lintGutter(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        autocompletion({ override: [completions(data)] }),
        // No indentWithTab: Tab keeps moving the focus, so the page works from the keyboard alone.
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...completionKeymap]),
        EditorView.lineWrapping, EditorView.cspNonce.of(styleNonce),
        // tabindex: the scroller around the content is a scrollable region, which must hold a focusable
        // element in axe's (and assistive tools') sense; a bare contenteditable does not count there.
        EditorView.contentAttributes.of({ "aria-label": "Template body (Markdown with Jinja)",
                                          "aria-describedby": "body-help", "tabindex": "0" }),
        EditorView.updateListener.of((u) => { if (u.docChanged) changed(); }),
      ],
    }),
  });
  textarea.hidden = true;
  textarea.setAttribute("aria-hidden", "true");
  textarea.tabIndex = -1;
  textarea.parentNode.insertBefore(view.dom, textarea);
  const label = document.querySelector("label[for=body]");
  if (label) label.addEventListener("click", () => view.focus());

  function changed() {
    textarea.value = view.state.doc.toString();
    schedule();
  }
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, DEBOUNCE_MS);
  }
  function parameters() {
    try { return JSON.parse(params ? params.value || "[]" : "[]"); } catch (e) { return null; }
  }
  function showError(error) {
    const where = error.line ? "at template line " + error.line : "";
    errorBox.querySelector(".where").textContent = where;
    errorBox.querySelector(".message").textContent = error.message || "";
    errorBox.hidden = false;
    const diagnostics = [];
    if (error.line && error.line <= view.state.doc.lines) {
      const line = view.state.doc.line(error.line);
      diagnostics.push({ from: line.from, to: line.to, severity: "error", message: error.message });
    }
    view.dispatch(setDiagnostics(view.state, diagnostics));
    status.textContent = "The preview failed" + (where ? " " + where : "") + ": " + error.message;
  }
  let builder = null;
  async function refresh() {
    if (builder && !builder.accepted()) { builder.waiting(); return; } // it calls back once they are
    const decls = parameters();
    if (decls === null) { status.textContent = "The parameters are not valid JSON; the preview waits."; return; }
    const mine = ++sequence;
    status.textContent = "Updating the preview…";
    const body = { body: view.state.doc.toString(), parameters: decls, samples: data.samples || {} };
    if (data.template_id) body.template_id = data.template_id;
    let answer;
    try {
      const response = await fetch("/api/templates/preview", {
        method: "POST", headers: csrfHeaders(), credentials: "same-origin", body: JSON.stringify(body) });
      answer = await response.json();
      if (response.status === 429) {
        const wait = Number(response.headers.get("Retry-After") || "1");
        setTimeout(schedule, wait * 1000);
        if (mine === sequence) status.textContent = "Too many previews; retrying in " + wait + " s.";
        return;
      }
      if (!response.ok) {
        answer = { error: { message: (answer.error && answer.error.message) || "preview failed", line: null } };
      }
    } catch (e) {
      answer = { error: { message: "the preview could not be reached", line: null } };
    }
    if (mine !== sequence) return; // a newer edit is on its way
    if (answer.error) { showError(answer.error); }
    else {
      preview.innerHTML = answer.html; // sanitised server-side, like the run page's report
      errorBox.hidden = true;
      view.dispatch(setDiagnostics(view.state, []));
      status.textContent = "Preview updated.";
    }
    preview.dataset.sequence = String(mine);
  }

  // "Insert" buttons of the help panel put their example at the cursor.
  document.querySelectorAll("[data-insert]").forEach((button) => {
    button.addEventListener("click", () => {
      const text = button.getAttribute("data-insert");
      const sel = view.state.selection.main;
      view.dispatch({ changes: { from: sel.from, to: sel.to, insert: text },
                      selection: { anchor: sel.from + text.length } });
      view.focus();
    });
  });
  // With the builder, the preview follows a parameter change once the server's check accepted it (an
  // invalid list would only earn a 422); without it (no #builder), every edit of the JSON refreshes.
  builder = mountBuilder(params, schedule, data);
  if (params && !builder) params.addEventListener("input", schedule);
  window.reportgenEditor = view;
  refresh();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
else setup();
