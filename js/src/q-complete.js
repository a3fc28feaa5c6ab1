// Completion for q: the language's keywords and system namespaces, the names the workspace
// defines (the kernel's checker sends them) and the names this text assigns (not yet saved,
// so the kernel cannot know them). Nothing is offered inside comments, strings or symbols.
import { syntaxTree } from "@codemirror/language";
import { BUILTINS, CONTROL } from "./q-mode.js";
import { DOT_H, DOT_Q, DOT_Z } from "./q-words.js";

const option = (type, detail) => (label) => ({ label, type, detail });
const LANGUAGE = [
  ...[...CONTROL].map(option("keyword", "keyword")),
  ...[...BUILTINS].map(option("function", "keyword")),
  ...[...DOT_Z, ...DOT_Q, ...DOT_H].map(option("property", "system")),
];
const BUILT_IN = new Set(LANGUAGE.map((o) => o.label));

// a q name being typed: `.ns.name`, `name`, or a lone `.` starting a namespace
const TYPING = /\.?[A-Za-z][A-Za-z0-9_.]*|\./;
// `name:` or `name::`, the name starting the word (not inside a symbol or a longer name)
const ASSIGNED = /(?:^|[^A-Za-z0-9_.`])(\.?[A-Za-z][A-Za-z0-9_.]*)[ \t]*::?/g;

function assignedNames(text, skipFrom, skipTo) {
  const found = new Set();
  for (const m of text.matchAll(ASSIGNED)) {
    const start = m.index + m[0].indexOf(m[1]);
    if (start >= skipFrom && start < skipTo) continue; // the word being typed is no suggestion
    found.add(m[1]);
  }
  return found;
}

// A name of two characters or more is being typed at the cursor: the list would open by itself.
export function typingAName(state) {
  const head = state.selection.main.head;
  const line = state.doc.lineAt(head);
  const before = line.text.slice(Math.max(0, head - line.from - 250), head - line.from);
  return /(?:^|[^A-Za-z0-9_.`])(?:\.[A-Za-z][A-Za-z0-9_.]*|[A-Za-z][A-Za-z0-9_.]+)$/.test(before);
}

// ``workspaceNames()`` gives the kernel's current list; its options are rebuilt only when it changes.
export function qCompletion(workspaceNames) {
  let cachedFor = null;
  let cached = [];
  const fromWorkspace = () => {
    const names = workspaceNames() || [];
    if (names !== cachedFor) {
      cachedFor = names;
      cached = names.filter((n) => !BUILT_IN.has(n)).map(option("variable", "workspace"));
    }
    return cached;
  };

  return (context) => {
    const word = context.matchBefore(TYPING);
    if (!word && !context.explicit) return null;
    const from = word ? word.from : context.pos;
    const before = from > 0 ? context.state.sliceDoc(from - 1, from) : "";
    if (before === "`") return null; // a symbol
    if (word && word.text === "." && /[A-Za-z0-9_]/.test(before)) return null; // `1.` or `x.`
    // one letter is usually a local (x, y, z): the list opens from two letters, a dot or Ctrl-Space
    if (!context.explicit && word.text.length < 2 && word.text !== ".") return null;
    const node = syntaxTree(context.state).resolveInner(context.pos, -1);
    if (/comment|string/.test(node.name)) return null;

    const workspace = fromWorkspace();
    const known = new Set(workspace.map((o) => o.label));
    const local = [...assignedNames(context.state.doc.toString(), from, context.pos)]
      .filter((n) => !known.has(n) && !BUILT_IN.has(n))
      .map(option("variable", "this file"));
    return { from, options: [...workspace, ...local, ...LANGUAGE], validFor: /^[A-Za-z0-9_.]*$/ };
  };
}
