// The q editor widget: CodeMirror 6 inside an anywidget view.
//
// Python owns the truth (file contents, diagnostics, saved state); this view owns typing.
// Text goes to Python debounced, so the checker runs once per pause, not per keystroke;
// Ctrl/Cmd-S sends the exact text in the editor so a save never misses the last keys.
import {
  autocompletion, closeBrackets, closeBracketsKeymap, closeCompletion, completionStatus, startCompletion,
} from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { HighlightStyle, bracketMatching, syntaxHighlighting } from "@codemirror/language";
import { lintGutter, setDiagnostics } from "@codemirror/lint";
import { closeSearchPanel, highlightSelectionMatches, searchKeymap, searchPanelOpen } from "@codemirror/search";
import { EditorState, Prec } from "@codemirror/state";
import {
  EditorView, drawSelection, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers,
} from "@codemirror/view";
import { tags } from "@lezer/highlight";
import { qCompletion, typingAName } from "./q-complete.js";
import { qLanguage } from "./q-mode.js";

const SYNC_DELAY_MS = 300;

// Colours come from JupyterLab's theme variables, so light and dark themes both work.
const v = (name, fallback) => `var(--jp-mirror-editor-${name}-color, ${fallback})`;
const qHighlight = HighlightStyle.define([
  { tag: tags.comment, color: v("comment", "#408080"), fontStyle: "italic" },
  { tag: tags.string, color: v("string", "#ba2121") },
  { tag: tags.atom, color: v("atom", "#88f") },
  { tag: tags.number, color: v("number", "#080") },
  { tag: tags.keyword, color: v("keyword", "#008000"), fontWeight: "bold" },
  { tag: tags.standard(tags.variableName), color: v("builtin", "#008000") },
  { tag: tags.special(tags.variableName), color: v("variable-2", "#05a") },
  { tag: tags.meta, color: v("meta", "#aa22ff") },
  { tag: tags.operator, color: v("operator", "#aa22ff") },
  { tag: tags.bracket, color: v("bracket", "#997") },
]);

const theme = EditorView.theme({
  "&": {
    fontSize: "var(--jp-code-font-size, 13px)",
    backgroundColor: "var(--jp-cell-editor-background, #f7f7f7)",
    color: "var(--jp-content-font-color1, #111)",
    border: "1px solid var(--jp-cell-editor-border-color, #e0e0e0)",
    borderRadius: "2px",
  },
  "&.cm-focused": { outline: "1px solid var(--jp-brand-color1, #1976d2)" },
  ".cm-scroller": {
    fontFamily: "var(--jp-code-font-family, monospace)",
    lineHeight: "var(--jp-code-line-height, 1.3)",
    minHeight: "8em",
    maxHeight: "28em",
    overflow: "auto",
  },
  ".cm-gutters": {
    backgroundColor: "var(--jp-cell-editor-background, #f7f7f7)",
    color: "var(--jp-ui-font-color2, #888)",
    borderRight: "1px solid var(--jp-border-color2, #e0e0e0)",
  },
  ".cm-content": { caretColor: "var(--jp-editor-cursor-color, #000)" },
  // CodeMirror's own defaults for these are light-only; JupyterLab's variables follow its theme
  ".cm-activeLine": { backgroundColor: "var(--jp-cell-editor-active-background, #f3f8fd)" },
  ".cm-activeLineGutter": {
    backgroundColor: "var(--jp-layout-color2, #e2f2ff)",
    color: "var(--jp-ui-font-color1, #333)",
  },
  ".cm-selectionBackground, &.cm-focused .cm-selectionBackground, ::selection": {
    backgroundColor: "var(--jp-editor-selected-focused-background, #d7d4f0) !important",
  },
  ".cm-tooltip, .cm-panels": {
    backgroundColor: "var(--jp-layout-color1, #fff)",
    color: "var(--jp-ui-font-color1, #333)",
    border: "1px solid var(--jp-border-color1, #bdbdbd)",
  },
  ".cm-matchingBracket, &.cm-focused .cm-matchingBracket": {
    backgroundColor: "var(--jp-layout-color3, #bad0f847)",
  },
});

// Python's diagnostics (1-based line/col) to CodeMirror's (document offsets). The text may
// have moved on since Python checked it, so positions are clamped, never trusted.
function toCodeMirror(doc, diags) {
  const out = [];
  for (const d of diags || []) {
    const line = doc.line(Math.min(Math.max(d.line || 1, 1), doc.lines));
    const from = line.from + Math.min(Math.max((d.col || 1) - 1, 0), line.length);
    const word = /^[\w.`]+/.exec(doc.sliceString(from, line.to));
    const to = Math.min(line.to, from + (word ? word[0].length : 1));
    const severity = d.severity === "error" || d.severity === "warning" ? d.severity : "info";
    // the rule id is the diagnostic's source, which the tooltip shows (once) under the message
    out.push({ from, to, severity, source: d.rule, message: d.message });
  }
  return out;
}

function summary(diags) {
  const count = (sev) => (diags || []).filter((d) => d.severity === sev).length;
  const parts = [];
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  if (count("error")) parts.push(plural(count("error"), "error"));
  if (count("warning")) parts.push(plural(count("warning"), "warning"));
  if (count("info")) parts.push(plural(count("info"), "note"));
  return parts.length ? parts.join(", ") : "no problems";
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text) node.textContent = text;
  return node;
}

// The notebook's own focus rules put it in command mode on the cell that holds this editor
// (JupyterLab and Notebook 7); outside a notebook the editor just lets the focus go.
function focusNotebook(from) {
  for (const target of [from.closest(".jp-Cell"), from.closest(".jp-Notebook")]) {
    if (!target) continue;
    target.focus();
    if (document.activeElement === target) return;
  }
  if (from.contains(document.activeElement)) document.activeElement.blur();
}

function render({ model, el: root }) {
  const box = el("div", "kx-qeditor");
  const header = el("div", "kx-qeditor-header");
  const pathLabel = el("span", "kx-qeditor-path");
  const dirtyMark = el("span", "kx-qeditor-dirty", "● unsaved");
  const problems = el("span", "kx-qeditor-problems");
  const note = el("span", "kx-qeditor-message");
  header.append(pathLabel, dirtyMark, note, problems);
  const host = el("div", "kx-qeditor-host");
  box.append(header, host);
  root.appendChild(box);

  let timer = null;
  const flush = () => {
    clearTimeout(timer);
    timer = null;
    const text = view.state.doc.toString();
    if (text !== model.get("value")) {
      model.set("value", text);
      model.save_changes();
    }
  };
  const save = () => {
    flush();
    model.send({ type: "save", value: view.state.doc.toString() });
    return true;
  };

  const onEdit = EditorView.updateListener.of((update) => {
    if (!update.docChanged) return;
    if (!model.get("dirty")) {
      model.set("dirty", true);
      model.save_changes();
    }
    clearTimeout(timer);
    timer = setTimeout(flush, SYNC_DELAY_MS);
  });

  // Escape leaves the editor as it leaves a cell's: the notebook takes the keys again (command
  // mode, on the cell that shows this editor), and the text typed so far goes to the kernel.
  // Shift-Enter does the same. In a cell it runs the code and moves on; here running the cell
  // would replace the form (and its unsaved edits) and a push is too big a step for a key pressed
  // by habit. What running means for this text is the checker's verdict: it is sent (so checked)
  // now rather than after the typing pause, and the keyboard goes back to the notebook.
  const leave = () => {
    flush();
    focusNotebook(root);
    return true;
  };
  // Escape first closes what it shows on top (the completion list, the search panel), and only
  // that: a completion still pending from the last keystroke is not shown, so it does not count.
  const escape = (target) => {
    if (completionStatus(target.state) === "active") return closeCompletion(target);
    if (searchPanelOpen(target.state)) return closeSearchPanel(target);
    return leave();
  };

  // q source is highlighted as q; other workspace files (k, CSV, JSON, notes) are plain text
  const isQ = (path) => path === "<cell>" || /\.q$/.test(path);
  const qEditing = [
    qLanguage,
    syntaxHighlighting(qHighlight),
    // q closes ( [ { and "; ' is an operator (each, signal) and ` starts a symbol: never paired
    qLanguage.data.of({ closeBrackets: { brackets: ["(", "[", "{", '"'] } }),
    closeBrackets(),
    autocompletion({ override: [qCompletion(() => model.get("names"))] }),
  ];
  const makeState = (text, path) =>
    EditorState.create({
      doc: text,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        lintGutter(),
        history(),
        drawSelection(),
        bracketMatching(),
        highlightActiveLine(),
        highlightSelectionMatches(),
        // before the completion's own Escape (same precedence: the earlier extension runs first)
        Prec.highest(keymap.of([{ key: "Escape", run: escape }])),
        ...(isQ(path) ? qEditing : []),
        keymap.of([
          { key: "Mod-s", run: save, preventDefault: true },
          { key: "Shift-Enter", run: leave, preventDefault: true },
          indentWithTab,
          ...closeBracketsKeymap,
          ...searchKeymap,
          ...defaultKeymap,
          ...historyKeymap,
        ]),
        onEdit,
        EditorView.domEventHandlers({
          // Leaving the editor (e.g. clicking another file) sends the text at once, not after the pause.
          blur: () => { if (timer !== null) flush(); },
          // Entering it asks the kernel for the workspace's names (and to look for changed files).
          focus: () => { if (isQ(model.get("path"))) model.send({ type: "names" }); },
        }),
        theme,
      ],
    });

  const view = new EditorView({ state: makeState(model.get("value"), model.get("path")), parent: host });

  const showDiagnostics = () => {
    const diags = model.get("diagnostics");
    view.dispatch(setDiagnostics(view.state, toCodeMirror(view.state.doc, diags)));
    problems.textContent = isQ(model.get("path")) ? summary(diags) : "plain text";
    problems.dataset.severity = diags.some((d) => d.severity === "error") ? "error"
      : diags.some((d) => d.severity === "warning") ? "warning" : "ok";
  };
  // Python replaced the text (another file, a reload): a fresh state, so undo cannot
  // step back into the previous file. Keys typed since the last sync belong to the text
  // that was shown: they go to Python as a "draft" of that path, never into the new text.
  let docPath = model.get("path");
  const onValue = () => {
    const text = model.get("value");
    if (text === view.state.doc.toString()) return;
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
      model.send({ type: "draft", path: docPath, value: view.state.doc.toString() });
    }
    docPath = model.get("path");
    view.setState(makeState(text, docPath));
    showDiagnostics();
  };
  const onPath = () => {
    pathLabel.textContent = model.get("path");
  };
  const onMessage = () => {
    note.textContent = model.get("message");
  };
  // The workspace's names arrive a moment after the editor is entered (the kernel reads the files
  // then): the list shown, or the one a name being typed would open, is asked again with them.
  // (Not for a pending query on one letter: asking would open the list where it would not open.)
  const onNames = () => {
    const { state } = view;
    if (!view.hasFocus || !isQ(model.get("path"))) return;
    if (completionStatus(state) === "active" || typingAName(state)) startCompletion(view);
  };
  const onDirty = () => {
    dirtyMark.style.visibility = model.get("dirty") ? "visible" : "hidden";
  };

  // Keys typed here belong to the editor: JupyterLab must not treat them as notebook
  // shortcuts (Ctrl-S saving the notebook, 'a'/'b'/'d d' in command mode). Escape passes.
  box.setAttribute("data-lm-suppress-shortcuts", "true");
  box.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") event.stopPropagation();
  });

  model.on("change:value", onValue);
  model.on("change:diagnostics", showDiagnostics);
  model.on("change:path", onPath);
  model.on("change:dirty", onDirty);
  model.on("change:message", onMessage);
  model.on("change:names", onNames);
  onPath();
  onMessage();
  onDirty();
  showDiagnostics();

  return () => {
    flush();
    model.off("change:value", onValue);
    model.off("change:diagnostics", showDiagnostics);
    model.off("change:path", onPath);
    model.off("change:dirty", onDirty);
    model.off("change:message", onMessage);
    model.off("change:names", onNames);
    view.destroy();
  };
}

export default { render };
