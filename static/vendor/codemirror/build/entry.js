// The parts of CodeMirror 6 the sandbox uses, bundled into one file (see ../README.md).
// Highlighting uses classHighlighter, so colours come from static/css/sandbox.css (tok-* classes)
// and follow the site's light and dark themes.
export { EditorState, Compartment, StateField, StateEffect } from "@codemirror/state";
export {
  EditorView,
  Decoration,
  keymap,
  lineNumbers,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  drawSelection,
  placeholder,
} from "@codemirror/view";
export { history, historyKeymap, defaultKeymap, indentWithTab } from "@codemirror/commands";
export {
  bracketMatching,
  indentOnInput,
  syntaxHighlighting,
  foldGutter,
  foldKeymap,
} from "@codemirror/language";
export { closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
export { linter, lintGutter, lintKeymap, forceLinting } from "@codemirror/lint";
export { json, jsonParseLinter } from "@codemirror/lang-json";
export { classHighlighter } from "@lezer/highlight";
