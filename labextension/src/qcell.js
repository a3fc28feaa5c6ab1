// `%%kx_file` cells are q: highlighted with the form editor's q mode and linted by the
// server's offline checker (POST kx-jupyter/lint), with no kernel involved.
//
// The extension is added to every editor; it only acts when the cell's first line is a
// `%%kx_file` magic, so it follows the user typing or deleting that line.
import { language, StreamLanguage } from "@codemirror/language";
import { linter } from "@codemirror/lint";
import { Prec } from "@codemirror/state";
import { qParser } from "../../js/src/q-mode.js";
import { api } from "./api";

const MAGIC = /^%%kx_file(\s|$)/;

export function isKxFileCell(state) {
  return MAGIC.test(state.doc.line(1).text);
}

// The q mode, with the magic line itself shown as a directive rather than as q.
const cellParser = {
  ...qParser,
  startState: () => ({ ...qParser.startState(), head: true }),
  token(stream, state) {
    if (state.head) {
      state.head = false;
      if (stream.sol() && stream.string.startsWith("%%")) {
        stream.skipToEnd();
        return "meta";
      }
    }
    return qParser.token(stream, state);
  },
};
export const qCellLanguage = StreamLanguage.define(cellParser);

function spanOf(doc, diag) {
  const lineNo = Math.min(Math.max(diag.line, 1), doc.lines);
  const line = doc.line(lineNo);
  const from = Math.min(line.from + Math.max(diag.col - 1, 0), line.to);
  const rest = line.text.slice(from - line.from);
  const word = /^\S+/.exec(rest);
  return { from, to: Math.min(line.to, from + (word ? word[0].length : 1)) };
}

async function lintCell(view) {
  if (!isKxFileCell(view.state)) return [];
  let found;
  try {
    found = await api("lint", { method: "POST", body: { source: view.state.doc.toString() } });
  } catch {
    return []; // the server is away: no marks rather than stale ones
  }
  const doc = view.state.doc;
  return found.map((d) => ({
    ...spanOf(doc, d),
    severity: d.severity === "info" ? "info" : d.severity,
    source: d.rule,
    message: d.message,
  }));
}

// Providing the language facet at all switches on CodeMirror's parsing, which needs some
// language: plain text, at the lowest precedence, stands in until JupyterLab sets its own.
const plainText = StreamLanguage.define({ name: "text", token: (stream) => void stream.skipToEnd() || null });

// Highest precedence, so the q language wins over the notebook's (Python) one in these cells only.
export const qCellExtension = [
  Prec.highest(language.computeN(["doc"], (state) => (isKxFileCell(state) ? [qCellLanguage] : []))),
  Prec.lowest(language.of(plainText)),
  linter(lintCell, { delay: 400 }),
];
