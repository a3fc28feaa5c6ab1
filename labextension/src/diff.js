// The per-file diff the sidebar and the rollback dialog show (the engine's unified text, file by file).
import { h } from "./format";

// One <details> per changed file; the first few open.
export function filesView(files, openUpTo = 3) {
  const changed = files.filter((f) => f.status !== "unchanged");
  return changed.map((f) => h("details", { class: "kx-Diff", open: changed.length <= openUpTo },
    h("summary", {}, h("span", { class: `kx-DiffMark kx-DiffMark-${f.status}` }, f.status), ` ${f.path}`,
      f.binary ? h("span", { class: "kx-Sidebar-muted" }, " (binary)") : null),
    f.diff ? h("pre", { class: "kx-DiffText" }, f.diff.replace(/\n$/, "").split("\n").map(diffLine)) : null));
}

function diffLine(line) {
  const cls = line.startsWith("+") && !line.startsWith("+++") ? "kx-Diff-add"
    : line.startsWith("-") && !line.startsWith("---") ? "kx-Diff-del"
      : line.startsWith("@@") || line.startsWith("\\") ? "kx-Diff-hunk" : ""; // "\ No newline at end of file"
  return h("span", { class: cls }, line || " ");
}
