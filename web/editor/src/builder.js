// Parameter builder: one small form per parameter, over the JSON textarea (which stays the form's field).
// The builder writes the textarea on every edit; an edit of the textarea (the JSON view) rebuilds the
// forms, so the two never disagree. The preview (onChange) follows once the server accepted the list. The rules live on the server only: every change is sent to
// POST /api/templates/parameters/check (the check a save runs) and its per-field messages are shown
// beside the fields. Here there are only the conversions a form needs (text → number, lines → list).
const TYPES = [["text", "Text"], ["number", "Number"], ["date", "Date"], ["choice", "Choice"],
  ["boolean", "Yes/no"], ["dataset", "Dataset (CSV)"]];
const KNOWN = ["name", "type", "label", "help", "required", "default", "min", "max", "min_length", "max_length",
  "choices"];
// Which fields each type shows (the API refuses the others, e.g. "A text parameter has no 'min'").
const SHOWN = {
  text: ["default", "min_length", "max_length"], number: ["default", "min", "max"],
  date: ["default", "min", "max"], choice: ["default", "choices"], boolean: ["default_bool"], dataset: ["sample"],
};
const CHECK_MS = 150;
let nextId = 1;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v; else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function asText(v) { return v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v); }

// A declaration (from JSON) → the form's raw strings; keys the builder has no field for ride along.
function fromDeclaration(decl) {
  const raw = {};
  for (const k of KNOWN) raw[k] = k === "choices" ? (Array.isArray(decl.choices) ? decl.choices.map(asText).join("\n")
    : asText(decl.choices)) : k === "required" ? decl.required === true : asText(decl[k]);
  if (!raw.type) raw.type = "text";
  const extra = {};
  for (const [k, v] of Object.entries(decl)) if (!KNOWN.includes(k)) extra[k] = v;
  return { id: nextId++, raw, extra, sample: null };
}

function numberOrText(s) { return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s.trim()) ? Number(s) : s; }

// The form → a declaration for the API (empty fields left out, numbers as numbers, choices one per line).
function toDeclaration(card) {
  const r = card.raw;
  const d = { name: r.name.trim(), type: r.type };
  if (r.label.trim()) d.label = r.label.trim();
  if (r.help.trim()) d.help = r.help.trim();
  if (r.required) d.required = true;
  const shown = SHOWN[r.type] || [];
  if (shown.includes("default") && r.default !== "") d.default = r.type === "number" ? numberOrText(r.default) : r.default;
  if (shown.includes("default_bool") && r.default !== "") d.default = r.default === "true";
  for (const k of ["min", "max", "min_length", "max_length"]) {
    if (shown.includes(k) && r[k].trim() !== "") d[k] = r.type === "date" ? r[k].trim() : numberOrText(r[k]);
  }
  if (shown.includes("choices")) d.choices = r.choices.split("\n").map((c) => c.trim()).filter((c) => c);
  return Object.assign(d, card.extra);
}

export function mountBuilder(textarea, onChange, data) {
  const root = document.getElementById("builder");
  if (!textarea || !root || !textarea.form) return null;
  data = data || {};
  data.samples = data.samples || {};
  const sampleFiles = data.sample_files || {};
  const form = textarea.form;
  const csrf = form.querySelector("input[name=csrf_token]");
  const samplesField = el("input", { type: "hidden", name: "samples" });
  form.append(samplesField);
  const errorList = document.getElementById("parameters-errors");
  const jsonView = document.getElementById("parameters-json");

  const body = el("fieldset", { class: "builder-body" }, el("legend", { class: "visually-hidden", text: "Parameter builder" }));
  const list = el("div", { class: "param-list" });
  const paused = el("p", { class: "error", id: "builder-paused", hidden: true,
    text: "The JSON view is not a valid JSON list of objects; the builder shows the last valid one. Fix the JSON to go on here." });
  const listError = el("p", { class: "field-error", id: "builder-error", hidden: true });
  const add = el("button", { type: "button", class: "secondary", id: "builder-add", text: "Add a parameter" });
  const announce = el("p", { class: "visually-hidden", role: "status", "aria-live": "polite", id: "builder-status" });
  body.append(list, listError, add);
  root.append(el("p", { class: "hint", text: "Add, order and describe the report's parameters; each change is checked "
    + "with the rules of a save. The JSON view below shows the same list." }), paused, body, announce);
  root.hidden = false;
  if (jsonView) jsonView.open = false;

  let cards = [];
  let accepted = true; // the list as the page came (saved, so valid); false while a check is due or failed
  let checkTimer = null;
  let checkSequence = 0;

  function readJson() {
    let parsed;
    try { parsed = JSON.parse(textarea.value.trim() || "[]"); } catch (e) { return null; }
    if (!Array.isArray(parsed) || !parsed.every((p) => p && typeof p === "object" && !Array.isArray(p))) return null;
    return parsed;
  }

  function syncSamples() {
    for (const k of Object.keys(data.samples)) delete data.samples[k];
    for (const c of cards) if (c.raw.type === "dataset" && c.sample && c.raw.name.trim()) data.samples[c.raw.name.trim()] = c.sample.id;
    samplesField.value = JSON.stringify(data.samples);
    data.parameters = cards.map((c) => c.raw.name.trim()).filter((n) => n);  // offered for completion
  }

  // After any edit in the builder: write the JSON view, then check; a list the server accepts is previewed.
  function written() {
    textarea.value = JSON.stringify(cards.map(toDeclaration), null, 2);
    syncSamples();
    scheduleCheck();
  }

  // Every change invalidates answers still on their way; data-pending marks the page as not yet checked.
  function scheduleCheck() {
    accepted = false;
    const mine = ++checkSequence;
    root.dataset.pending = "true";
    clearTimeout(checkTimer);
    checkTimer = setTimeout(() => check(mine), CHECK_MS);
  }

  async function check(mine) {
    const decls = readJson();
    if (decls === null) {
      showErrors({ parameters: "Not a valid JSON list of parameter objects." });
      waiting();
      return;
    }
    let answer;
    try {
      const response = await fetch("/api/templates/parameters/check", {
        method: "POST", credentials: "same-origin", body: JSON.stringify({ parameters: decls }),
        headers: { "Content-Type": "application/json", "Accept": "application/json" } });
      answer = await response.json();
      if (!response.ok) answer = { errors: { parameters: (answer.error && answer.error.message) || "check failed" } };
    } catch (e) {
      answer = { errors: { parameters: "The parameters could not be checked (is the server reachable?)." } };
    }
    if (mine !== checkSequence) return; // a newer change is on its way
    showErrors(answer.errors || {});
    accepted = answer.valid === true;
    if (accepted) onChange(); else waiting();
  }

  function waiting() {
    const status = document.getElementById("preview-status");
    if (status) status.textContent = "The preview waits until the parameters are valid.";
  }

  function showErrors(errors) {
    root.querySelectorAll(".field-error[data-for]").forEach((p) => { p.hidden = true; p.textContent = ""; });
    root.querySelectorAll("[aria-invalid]").forEach((i) => i.removeAttribute("aria-invalid"));
    listError.hidden = true;
    if (errorList) errorList.replaceChildren(...Object.entries(errors).map(([k, m]) => el("li", { text: k + ": " + m })));
    for (const [key, message] of Object.entries(errors)) {
      const m = /^parameters\[(\d+)\](?:\.(\w+))?$/.exec(key);
      const card = m ? cards[Number(m[1])] : null;
      if (!card) { listError.textContent = message; listError.hidden = false; continue; }
      const field = m[2] && card.fields[m[2] === "default" && card.raw.type === "boolean" ? "default_bool" : m[2]];
      const target = field ? field.error : card.error;
      target.textContent = (field ? "" : (m[2] ? m[2] + ": " : "")) + message;
      target.hidden = false;
      if (field) field.input.setAttribute("aria-invalid", "true");
    }
    root.dataset.checked = String(checkSequence);
    delete root.dataset.pending;
  }

  function say(text) { announce.textContent = text; }

  function fieldFor(card, key, label, input, hint) {
    const id = "param-" + card.id + "-" + key;
    input.id = id;
    const error = el("p", { class: "field-error", id: id + "-error", "data-for": key, hidden: true });
    const describedBy = [hint ? id + "-hint" : null, id + "-error"].filter((x) => x).join(" ");
    input.setAttribute("aria-describedby", describedBy);
    const wrap = el("div", { class: "param-field", "data-key": key },
      input.type === "checkbox" ? el("label", { for: id, class: "inline" }, input, " " + label) : el("label", { for: id, text: label }),
      input.type === "checkbox" ? null : input,
      hint ? el("p", { class: "hint", id: id + "-hint", text: hint }) : null, error);
    card.fields[key] = { input, error, wrap };
    return wrap;
  }

  function textInput(card, key, attrs) {
    const input = el("input", Object.assign({ type: "text", autocomplete: "off", spellcheck: "false" }, attrs || {}));
    input.value = card.raw[key];
    input.addEventListener("input", () => { card.raw[key] = input.value; if (key === "name") named(card); written(); });
    return input;
  }

  function named(card) {
    legendOf(card);
    const hint = document.getElementById(card.fields.name.input.id + "-hint");
    if (hint) hint.textContent = "In the template: {{ " + (card.raw.name.trim() || "name") + " }}";
  }

  function legendOf(card) {
    const index = cards.indexOf(card);
    card.legend.textContent = "Parameter " + (index + 1) + (card.raw.name.trim() ? ": " + card.raw.name.trim() : "");
    const who = card.raw.name.trim() || "number " + (index + 1);
    card.up.setAttribute("aria-label", "Move parameter " + who + " up");
    card.down.setAttribute("aria-label", "Move parameter " + who + " down");
    card.remove.setAttribute("aria-label", "Remove parameter " + who);
    card.up.setAttribute("aria-disabled", String(index === 0));
    card.down.setAttribute("aria-disabled", String(index === cards.length - 1));
  }

  function showType(card) {
    const shown = SHOWN[card.raw.type] || [];
    for (const [key, f] of Object.entries(card.fields)) {
      if (["default", "default_bool", "min", "max", "min_length", "max_length", "choices", "sample"].includes(key)) {
        f.wrap.hidden = !shown.includes(key);
      }
    }
    for (const key of ["default", "min", "max"]) card.fields[key].input.type = card.raw.type === "date" ? "date" : "text";
    card.fields.default.input.inputMode = card.raw.type === "number" ? "decimal" : "text";
  }

  function sampleField(card) {
    const input = el("input", { type: "file", accept: ".csv,.tsv,.txt,text/csv" });
    const wrap = fieldFor(card, "sample", "Sample CSV", input,
      "For the preview, and offered on the run form. UTF-8, first row = column names, at most 5 MiB.");
    const state = el("p", { class: "small", role: "status", "data-sample": "" });
    state.textContent = card.sample ? "Sample: " + (card.sample.filename || card.sample.id) : "No sample yet.";
    wrap.append(state);
    input.addEventListener("change", async () => {
      const file = input.files && input.files[0];
      if (!file) return;
      state.textContent = "Uploading " + file.name + "…";
      const upload = new FormData();
      upload.append("file", file);
      try {
        // The page's own CSRF token, as the header a multipart API call needs (checked before parsing).
        const response = await fetch("/api/datasets", { method: "POST", body: upload, credentials: "same-origin",
          headers: { "Accept": "application/json", "X-CSRF-Token": csrf ? csrf.value : "" } });
        const answer = await response.json();
        if (!response.ok) throw new Error((answer.error && answer.error.message) || "upload failed");
        card.sample = { id: answer.id, filename: answer.filename };
        data.columns = Object.assign({}, data.columns, { [card.raw.name.trim()]: answer.columns || [] });
        state.textContent = "Sample: " + answer.filename + " (" + answer.rows + " rows; columns "
          + (answer.columns || []).join(", ") + ")";
        written();
      } catch (e) {
        state.textContent = "The sample was not accepted: " + e.message;
      }
    });
    return wrap;
  }

  function renderCard(card) {
    card.fields = {};
    card.legend = el("legend");
    card.error = el("p", { class: "field-error", "data-for": "", hidden: true });
    const type = el("select");
    for (const [value, label] of TYPES) type.append(el("option", { value, text: label }));
    type.value = card.raw.type;
    type.addEventListener("change", () => { card.raw.type = type.value; showType(card); written(); });
    const required = el("input", { type: "checkbox" });
    required.checked = card.raw.required;
    required.addEventListener("change", () => { card.raw.required = required.checked; written(); });
    const bool = el("select");
    for (const [value, label] of [["", "No default"], ["true", "Yes"], ["false", "No"]]) bool.append(el("option", { value, text: label }));
    bool.value = ["true", "false"].includes(card.raw.default) ? card.raw.default : "";
    bool.addEventListener("change", () => { card.raw.default = bool.value; written(); });
    const choices = el("textarea", { rows: "3", spellcheck: "false" });
    choices.value = card.raw.choices;
    choices.addEventListener("input", () => { card.raw.choices = choices.value; written(); });
    const grid = el("div", { class: "param-grid" },
      fieldFor(card, "name", "Name", textInput(card, "name", { required: true }), "In the template: {{ " + (card.raw.name.trim() || "name") + " }}"),
      fieldFor(card, "type", "Type", type),
      fieldFor(card, "label", "Label", textInput(card, "label"), "Shown on the run form."),
      fieldFor(card, "help", "Help", textInput(card, "help")),
      fieldFor(card, "default", "Default", textInput(card, "default")),
      fieldFor(card, "default_bool", "Default", bool),
      fieldFor(card, "min", "Minimum", textInput(card, "min")),
      fieldFor(card, "max", "Maximum", textInput(card, "max")),
      fieldFor(card, "min_length", "Minimum length", textInput(card, "min_length", { inputmode: "numeric" })),
      fieldFor(card, "max_length", "Maximum length", textInput(card, "max_length", { inputmode: "numeric" })),
      fieldFor(card, "choices", "Choices (one per line)", choices),
      fieldFor(card, "required", "Required", required),
      sampleField(card));
    card.up = el("button", { type: "button", class: "small secondary", "data-move": "up", text: "Move up" });
    card.down = el("button", { type: "button", class: "small secondary", "data-move": "down", text: "Move down" });
    card.remove = el("button", { type: "button", class: "small danger", "data-remove": "", text: "Remove" });
    card.up.addEventListener("click", () => move(card, -1, card.up));
    card.down.addEventListener("click", () => move(card, 1, card.down));
    card.remove.addEventListener("click", () => removeCard(card));
    card.node = el("fieldset", { class: "param" }, card.legend, card.error, grid,
      el("div", { class: "param-actions" }, card.up, card.down, card.remove));
    showType(card);
    return card.node;
  }

  function relabel() { cards.forEach(legendOf); }

  function move(card, step, button) {
    const from = cards.indexOf(card);
    const to = from + step;
    if (to < 0 || to >= cards.length) { say("Parameter " + (card.raw.name || from + 1) + " is already " + (step < 0 ? "first." : "last.")); return; }
    cards.splice(from, 1);
    cards.splice(to, 0, card);
    list.replaceChildren(...cards.map((c) => c.node));
    relabel();
    button.focus();
    say("Moved " + (card.raw.name || "the parameter") + " to position " + (to + 1) + " of " + cards.length + ".");
    written();
  }

  function removeCard(card) {
    const index = cards.indexOf(card);
    cards.splice(index, 1);
    card.node.remove();
    relabel();
    const next = cards[Math.min(index, cards.length - 1)];
    (next ? next.fields.name.input : add).focus();
    say("Removed parameter " + (card.raw.name || index + 1) + ".");
    written();
  }

  add.addEventListener("click", () => {
    const taken = new Set(cards.map((c) => c.raw.name.trim()));
    let n = cards.length + 1;
    while (taken.has("param_" + n)) n++;
    const card = fromDeclaration({ name: "param_" + n, type: "text" });
    cards.push(card);
    list.append(renderCard(card));
    relabel();
    card.fields.name.input.focus();
    card.fields.name.input.select();
    say("Added parameter param_" + n + ".");
    written();
  });

  // From the JSON view into the forms (on load, and whenever the textarea is edited).
  function rebuild() {
    const decls = readJson();
    paused.hidden = decls !== null;
    body.disabled = decls === null;
    if (decls === null) return false;
    const known = Object.assign({}, data.samples);
    const previous = new Map(cards.filter((c) => c.sample).map((c) => [c.raw.name.trim(), c.sample]));
    cards = decls.map((d) => {
      const card = fromDeclaration(d);
      const name = card.raw.name.trim();
      card.sample = previous.get(name) || (known[name] ? { id: known[name], filename: sampleFiles[name] || "" } : null);
      return card;
    });
    list.replaceChildren(...cards.map(renderCard));
    relabel();
    syncSamples();
    return true;
  }

  textarea.addEventListener("input", () => { rebuild(); scheduleCheck(); });
  rebuild();
  samplesField.value = JSON.stringify(data.samples);
  if (errorList && errorList.children.length) scheduleCheck(); // sent back refused: mark the fields
  // The editor asks before each preview: a body edit while the list is being built must not send it.
  return { accepted: () => accepted, waiting };
}
