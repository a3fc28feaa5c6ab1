// q syntax for CodeMirror 6, as a stream tokenizer.
//
// q's comment rules are positional, which is why a stream tokenizer (it sees the whole
// line and the column) fits better than a grammar:
//   - `/` at the start of a line, or after whitespace, comments out the rest of the line;
//     `/` right after a value is the "over" iterator.
//   - a line holding only `/` opens a block comment, closed by a line holding only `\`.
//   - a line holding only `\` outside a block ends the script: everything after is ignored.
//   - `\` at column 0 followed by a name is a system command (`\l lib.q`, `\d .ns`).
import { StreamLanguage } from "@codemirror/language";

// Words the parser treats as syntax (qSQL and control flow).
export const CONTROL = new Set([
  "select", "exec", "update", "delete", "from", "by", "where", "if", "do", "while",
]);

// Built-in functions of the q namespace.
export const BUILTINS = new Set(`abs acos aj aj0 ajf ajf0 all and any asc asin asof atan attr avg
avgs bin binr ceiling cols cor cos count cov cross csv cut deltas desc dev differ distinct div
dsave each ej ema enlist eval except exit exp fby fills first fkeys flip floor get getenv group
gtime hclose hcount hdel hopen hsym iasc idesc ij ijf in insert inter inv key keys last like lj
ljf load log lower lsq ltime ltrim mavg max maxs mcount md5 mdev med meta min mins mmax mmin mmu
mod msum neg next not null or over parse peach pj plist prd prds prev prior rand rank ratios raze
read0 read1 reciprocal reval reverse rload rotate rsave rtrim save scan scov sdev set setenv show
signum sin sqrt ss ssr string sublist sum sums sv svar system tables tan til trim type uj ujf
ungroup union upper upsert value var view views vs wavg within wj wj1 wsum xasc xbar xcol xcols
xdesc xexp xgroup xkey xlog xprev xrank`.split(/\s+/));

const TEMPORAL = /^\d{4}\.\d{2}(\.\d{2}(D(\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?)?)?[mdzp]?/;
const TIME = /^\d{2}:\d{2}(:\d{2}(\.\d+)?)?[uvtn]?/;
const NUMBER = /^(0x[0-9a-fA-F]*|[01]+b|0[NnWw][hijefpmdznuvt]?|\d+(\.\d*)?([eE][+-]?\d+)?[hijefcpmdznuvt]?|\.\d+([eE][+-]?\d+)?[ef]?)/;
const NAME = /^\.?[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*/;
const SYMBOL = /^`[A-Za-z0-9_.:/]*/;

function lineIs(stream, text) {
  return stream.string.replace(/\s+$/, "") === text;
}

function afterSpace(stream) {
  return stream.pos === 0 || /\s/.test(stream.string.charAt(stream.pos - 1));
}

function tokenString(stream, state) {
  while (!stream.eol()) {
    const ch = stream.next();
    if (ch === "\\") stream.next();
    else if (ch === '"') {
      state.inString = false;
      return "string";
    }
  }
  return "string";
}

export const qParser = {
  name: "q",
  startState: () => ({ inBlock: false, ended: false, inString: false }),
  copyState: (s) => ({ ...s }),
  token(stream, state) {
    if (state.ended) {
      stream.skipToEnd();
      return "comment";
    }
    if (state.inBlock) {
      if (stream.sol() && lineIs(stream, "\\")) state.inBlock = false;
      stream.skipToEnd();
      return "comment";
    }
    if (state.inString) return tokenString(stream, state);
    if (stream.sol()) {
      if (lineIs(stream, "/")) {
        state.inBlock = true;
        stream.skipToEnd();
        return "comment";
      }
      if (lineIs(stream, "\\")) {
        state.ended = true;
        stream.skipToEnd();
        return "comment";
      }
      if (stream.match(/^\\[A-Za-z_0-9]+/)) {
        stream.skipToEnd();
        return "meta";
      }
    }
    if (stream.eatSpace()) return null;
    const ch = stream.peek();
    if (ch === "/" && afterSpace(stream)) {
      stream.skipToEnd();
      return "comment";
    }
    if (ch === '"') {
      stream.next();
      state.inString = true;
      return tokenString(stream, state);
    }
    if (ch === "`") {
      stream.match(SYMBOL);
      return "atom";
    }
    if (stream.match(TEMPORAL) || stream.match(TIME) || stream.match(NUMBER)) return "number";
    const name = stream.match(NAME);
    if (name) {
      const word = name[0];
      if (CONTROL.has(word)) return "keyword";
      if (BUILTINS.has(word)) return "variableName.standard";
      if (word.charAt(0) === ".") return "variableName.special";
      return "variableName";
    }
    if (stream.match(/^[\[\](){}]/)) return "bracket";
    if (stream.match(/^[;]/)) return "punctuation";
    stream.next();
    return "operator";
  },
  languageData: { commentTokens: { line: "/" } },
};

export const qLanguage = StreamLanguage.define(qParser);
