// Highlighting for Markdown with Jinja, as a small stream parser: CodeMirror's full Markdown language
// pulls in HTML, CSS and JavaScript parsers (~450 kB) for fenced code, which report templates never need.
import { StreamLanguage } from "@codemirror/language";

const KEYWORDS = /^(if|elif|else|endif|for|endfor|in|set|endset|macro|endmacro|call|endcall|filter|endfilter|with|endwith|and|or|not|is|true|false|none|True|False|None|recursive|loop)\b/;

function jinjaToken(stream, state) {
  if (stream.match(state.inJinja === "{#" ? "#}" : state.inJinja === "{%" ? /^-?%\}/ : /^-?\}\}/)) {
    state.inJinja = null;
    return "meta";
  }
  if (state.inJinja === "{#") { stream.next(); return "comment"; }
  if (stream.eatSpace()) return null;
  if (stream.match(/^"(?:[^"\\]|\\.)*"?/) || stream.match(/^'(?:[^'\\]|\\.)*'?/)) return "string";
  if (stream.match(/^\d+(\.\d+)?/)) return "number";
  if (stream.match(KEYWORDS)) return "keyword";
  if (stream.match(/^\|\s*[A-Za-z_]\w*/)) return "operator";
  if (stream.match(/^[A-Za-z_]\w*(?=\s*\()/)) return "variableName.function";
  if (stream.match(/^[A-Za-z_]\w*/)) return "variableName";
  stream.next();
  return "punctuation";
}

export const templateLanguage = StreamLanguage.define({
  name: "jinja-markdown",
  startState: () => ({ inJinja: null }),
  token(stream, state) {
    if (state.inJinja) return jinjaToken(stream, state);
    const open = stream.match(/^\{[{%#]-?/);
    if (open) { state.inJinja = open[0].slice(0, 2); return "meta"; }
    if (stream.sol()) {
      if (stream.match(/^#{1,6}\s.*?(?=\{[{%#]|$)/)) return "heading";
      if (stream.match(/^\s*([-*+]|\d+\.)\s/)) return "list";
      if (stream.match(/^>\s?/)) return "quote";
      if (stream.match(/^\|/)) return "punctuation";
    }
    if (stream.match(/^\*\*[^*{]+\*\*/) || stream.match(/^__[^_{]+__/)) return "strong";
    if (stream.match(/^\*[^*{]+\*/)) return "emphasis";
    if (stream.match(/^`[^`]*`/)) return "monospace";
    if (stream.match(/^\[[^\]]*\]\([^)]*\)/)) return "link";
    stream.next();
    while (!stream.eol() && !/[{*_`[|]/.test(stream.peek())) stream.next();
    return null;
  },
  languageData: { commentTokens: { block: { open: "{#", close: "#}" } },
                  closeBrackets: { brackets: ["(", "[", "{", "'", '"'] } },
});
