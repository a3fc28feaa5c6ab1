// The kdb sidebar: the environment's clusters, live, with what each runs and any update in
// progress; per cluster its history, the diff against the workspace, the form, push and
// roll back. It asks the server (GET kx-jupyter/overview) only while it is visible, for the
// active notebook (its folder is the workspace) and its kernel (whose %config KxJupyter.* wins).
import { Poll } from "@lumino/polling";
import { Widget } from "@lumino/widgets";
import { api, query } from "./api";
import { cellLabel } from "./cell";
import { filesView } from "./diff";
import { at, duration, entryName, h, runsNow, shortSha } from "./format";

const BUSY_INTERVAL = 2000; // while an update runs
const IDLE_INTERVAL = 10000;

export class KdbSidebar extends Widget {
  constructor({ commands, currentNotebook, currentKernel }) {
    super();
    this.id = "kx-jupyter-sidebar";
    this.addClass("kx-Sidebar");
    this.title.caption = "kdb clusters";
    this.commands = commands;
    this.currentNotebook = currentNotebook;
    this.currentKernel = currentKernel;
    this.overview = null;
    this.error = null;
    this.detail = null; // {cluster, kind: "history" | "diff", data?, error?, row?: {id, data?, error?}}
    this.check = null; // the last workspace check {workspace, errors, diagnostics}
    this.poll = new Poll({
      factory: () => this.refresh(),
      frequency: { interval: IDLE_INTERVAL, backoff: false },
      standby: () => !this.isVisible || document.visibilityState === "hidden",
      name: "kx-jupyter:sidebar",
    });
    this.render();
  }

  dispose() {
    this.poll.dispose();
    super.dispose();
  }

  onAfterShow() {
    void this.poll.refresh();
  }

  async refresh() {
    try {
      this.overview = await api("overview" + this.where());
      this.error = null;
    } catch (error) {
      this.error = error;
    }
    const busy = this.overview && (this.overview.clusters.some((c) => c.status === "UPDATING" || c.inProgress)
      || this.overview.runs.some((r) => r.status === "running"));
    const d = this.detail;
    if (d && d.kind === "history" && d.data) { // an open history follows new pushes
      try {
        const data = await api("history" + query({ cluster: d.cluster, kernel: this.currentKernel() }));
        if (this.detail === d) this.detail = { ...d, data };
      } catch {
        // keep what is shown; the overview's error line says what is wrong
      }
    }
    const interval = busy ? BUSY_INTERVAL : IDLE_INTERVAL;
    if (this.poll.frequency.interval !== interval) this.poll.frequency = { interval, backoff: false };
    this.render();
  }

  // The active notebook and its kernel, as query arguments.
  where(extra = {}) {
    return query({ ...extra, notebook: this.currentNotebook(), kernel: this.currentKernel() });
  }

  // `toggle`: the sidebar's own buttons close what they opened; a notification's button always shows.
  async showDetail(cluster, kind, toggle = false) {
    if (toggle && this.detail && this.detail.cluster === cluster && this.detail.kind === kind) {
      this.detail = null;
      this.render();
      return;
    }
    this.detail = { cluster, kind, loading: true };
    this.render();
    try {
      const data = kind === "history"
        ? await api("history" + query({ cluster, kernel: this.currentKernel() }))
        : await api("diff" + this.where({ cluster }));
      this.detail = { cluster, kind, data };
    } catch (error) {
      this.detail = { cluster, kind, error };
    }
    this.render();
  }

  // A history row's Diff: what rolling back to that push changes, shown under the row (a second click hides it).
  async showRowDiff(cluster, id) {
    const d = this.detail;
    if (!d || d.cluster !== cluster || d.kind !== "history") return;
    if (d.row && d.row.id === id) {
      this.detail = { ...d, row: null };
      this.render();
      return;
    }
    this.detail = { ...d, row: { id, loading: true } };
    this.render();
    let row;
    try {
      row = { id, data: await api("rollback-diff" + query({ cluster, to: id, kernel: this.currentKernel() })) };
    } catch (error) {
      row = { id, error };
    }
    if (this.detail && this.detail.cluster === cluster && this.detail.kind === "history") {
      this.detail = { ...this.detail, row };
      this.render();
    }
  }

  showCheck(result) {
    this.check = result;
    this.render();
  }

  // Re-built only when what it shows changed, so a poll never resets an open diff, the
  // scroll position or the focused button.
  render() {
    const { now, ...shown } = this.overview || {};
    const key = JSON.stringify([shown, this.detail, this.check, this.error && this.error.message]);
    if (key === this.rendered) return;
    this.rendered = key;
    const o = this.overview;
    const head = h("div", { class: "kx-Sidebar-header" },
      h("span", { class: "kx-Sidebar-title" }, "kdb clusters"),
      h("button", { class: "kx-Sidebar-iconButton", title: "Refresh", "aria-label": "Refresh",
        onclick: () => void this.poll.refresh() }, "⟳"));
    const body = [];
    if (this.error) body.push(errorLine(this.error));
    if (!o && !this.error) body.push(h("div", { class: "kx-Sidebar-muted" }, "Loading…"));
    if (o) {
      body.push(h("div", { class: "kx-Sidebar-meta" },
        h("div", {}, `environment ${o.environment} · ${o.backend}`),
        h("div", { title: o.workspace }, "workspace ", h("span", { class: "kx-Mono" }, o.workspaceLabel)),
        settingsLine(o.settings)));
      body.push(h("div", { class: "kx-Sidebar-toolbar" },
        this.button("Check workspace", "kx-jupyter:check-workspace", {}),
        this.button("Push workspace…", "kx-jupyter:push-workspace", {})));
      if (this.check) body.push(checkView(this.check));
      for (const cluster of o.clusters) body.push(this.clusterCard(cluster, o));
    }
    this.node.replaceChildren(head, h("div", { class: "kx-Sidebar-body" }, body));
  }

  button(label, command, args, extra = {}) {
    return h("button", {
      class: `jp-Button kx-Sidebar-button ${extra.class || ""}`,
      title: extra.title || this.commands.caption(command, args) || label,
      "data-command": command,
      onclick: () => void this.commands.execute(command, args),
    }, label);
  }

  clusterCard(c, o) {
    const run = o.runs.find((r) => r.cluster === c.name && r.status === "running");
    const nodes = c.nodeCount === null || c.nodeCount === undefined ? "" : `${c.nodesRunning}/${c.nodeCount} nodes`;
    const lines = [
      h("div", { class: "kx-Cluster-head" },
        h("span", { class: "kx-Cluster-name" }, c.name),
        h("span", { class: "kx-Cluster-type" }, c.type || ""),
        h("span", { class: `kx-Status kx-Status-${(c.status || "").toLowerCase()}` }, c.status),
        h("span", { class: "kx-Cluster-nodes" }, nodes)),
    ];
    if (c.statusReason) lines.push(h("div", { class: "kx-Sidebar-error" }, c.statusReason));
    lines.push(h("div", { class: "kx-Cluster-code" }, runsLine(c)));
    const progress = c.inProgress || (run ? { kind: run.kind, strategy: run.strategy } : null);
    if (progress || c.status === "UPDATING") {
      const last = run && run.events.length ? run.events[run.events.length - 1].message : "";
      const what = progress ? `${progress.id ? entryName(progress) : run.kind} (${progress.strategy || "…"})` : "an update";
      lines.push(h("div", { class: "kx-Cluster-progress" },
        h("span", { class: "kx-Spinner", "aria-hidden": "true" }),
        ` updating: ${what}`, progress && progress.started_at ? `, started ${at(progress.started_at)}` : "",
        last ? h("div", { class: "kx-Sidebar-muted" }, last) : null));
    }
    const failed = o.runs.find((r) => r.cluster === c.name && r.status === "refused");
    if (failed && (!c.lastPush || failed.finished_at > c.lastPush.started_at)) {
      lines.push(h("div", { class: "kx-Sidebar-error" }, `last push from here refused: ${failed.message}`));
    }
    lines.push(h("div", { class: "kx-Cluster-actions", role: "toolbar", "aria-label": `${c.name} actions` },
      this.button("History", "kx-jupyter:cluster-history", { cluster: c.name, toggle: true }, { title: `History of ${c.name}` }),
      this.button("Diff", "kx-jupyter:cluster-diff", { cluster: c.name, toggle: true }, { title: `The workspace against what ${c.name} runs` }),
      this.button("Form", "kx-jupyter:open-form", { cluster: c.name }, { title: `Open the deploy form on ${c.name} in the notebook` }),
      this.button("Push…", "kx-jupyter:push-workspace", { cluster: c.name }, { title: `Push the workspace to ${c.name}` })));
    if (this.detail && this.detail.cluster === c.name) lines.push(this.detailView(c));
    return h("section", { class: "kx-Cluster", "data-cluster": c.name }, lines);
  }

  detailView(c) {
    const d = this.detail;
    const box = (title, ...content) => h("div", { class: "kx-Detail", "data-kind": d.kind },
      h("div", { class: "kx-Detail-title" }, title), content);
    if (d.loading) return box(d.kind === "history" ? "History" : "Diff", h("div", { class: "kx-Sidebar-muted" }, "Loading…"));
    if (d.error) return box(d.kind === "history" ? "History" : "Diff", errorLine(d.error));
    if (d.kind === "history") {
      if (!d.data.length) return box("History", h("div", { class: "kx-Sidebar-muted" }, `nothing pushed to ${c.name} yet`));
      return box(`History of ${c.name}`,
        h("ol", { class: "kx-History" }, d.data.map((e) => this.historyRow(c, e, d.row))));
    }
    if (!d.data.files.some((f) => f.status !== "unchanged")) {
      return box(`Diff: ${c.name}`, h("div", {}, `the workspace matches what ${c.name} runs`));
    }
    return box(`Diff: ${c.name} → workspace`, filesView(d.data.files));
  }

  // One push: its outcome, and its own buttons: Diff and Roll back (the push running now: the
  // workspace's Diff and no Roll back; failed pushes: none), and a link to the cell it came from.
  historyRow(c, e, row) {
    const now = c.running && c.running.id === e.id;
    const good = e.outcome === "succeeded";
    const actions = [];
    if (now) {
      actions.push(h("span", { class: "kx-RunningNow" }, "running now"),
        this.button("Diff", "kx-jupyter:cluster-diff", { cluster: c.name }, { title: `The workspace against what ${c.name} runs now` }));
    } else if (good && !runsNow(c, e)) {
      actions.push(
        h("button", { class: "jp-Button kx-Sidebar-button", title: `What rolling ${c.name} back to #${e.id} changes`,
          "aria-pressed": row && row.id === e.id ? "true" : "false",
          onclick: () => void this.showRowDiff(c.name, e.id) }, "Diff"),
        this.button("Roll back", "kx-jupyter:rollback", { cluster: c.name, to: e.id }, { title: `Review, then re-deploy ${entryName(e)}` }));
    }
    const shown = row && row.id === e.id ? rowDiff(c, e, row) : null;
    return h("li", { class: "kx-History-entry", "data-entry": e.id, title: e.reason || "" },
      h("div", { class: "kx-History-head" },
        h("span", { class: "kx-History-name" }, entryName(e)),
        h("span", { class: `kx-Outcome kx-Outcome-${e.outcome}` }, e.outcome, e.duration ? ` ${duration(e.duration)}` : ""),
        h("span", { class: "kx-History-actions" }, actions)),
      h("div", { class: "kx-Sidebar-muted" }, `${at(e.started_at)} · ${e.user}@${e.host} · `,
        h("span", { class: "kx-Mono" }, shortSha(e.bundle_sha256)), ` · ${e.strategy}`,
        e.cell ? [" · ", this.cellLink(e.cell)] : null),
      e.note ? h("div", {}, e.note) : null,
      e.reason ? h("div", { class: "kx-Sidebar-error" }, e.reason) : null,
      shown);
  }

  cellLink(cell) {
    return h("a", { class: "kx-CellLink", href: "#", title: `Go to the cell in ${cell.path} this was run from`,
      onclick: (event) => { event.preventDefault(); void this.commands.execute("kx-jupyter:go-to-cell", cell); } },
    `↗ ${cellLabel(cell)}`);
  }
}

function runsLine(c) {
  const r = c.running;
  if (r) {
    return [h("span", { class: "kx-Mono", title: r.bundle_sha256 || "" }, shortSha(r.bundle_sha256)),
      ` · ${entryName(r)} ${at(r.finished_at || r.started_at)} by ${r.user}@${r.host} (${r.strategy})`];
  }
  if (c.code && c.code.s3Key) {
    return h("span", { title: `s3://${c.code.s3Bucket}/${c.code.s3Key}` }, "runs code pushed outside this history");
  }
  return h("span", { class: "kx-Sidebar-muted" }, "no code pushed yet");
}

function rowDiff(c, e, row) {
  const title = `running now → #${e.id}`;
  if (row.loading) return h("div", { class: "kx-RowDiff" }, h("div", { class: "kx-Sidebar-muted" }, "Loading…"));
  if (row.error) return h("div", { class: "kx-RowDiff" }, errorLine(row.error));
  const files = row.data.files;
  return h("div", { class: "kx-RowDiff", "data-kind": "rollback-diff" }, h("div", { class: "kx-Detail-title" }, title),
    files.some((f) => f.status !== "unchanged") ? filesView(files) : h("div", {}, `#${e.id} has the code ${c.name} runs now`));
}

// Whose settings the sidebar uses: the active notebook's kernel's (%config) or the server's.
function settingsLine(settings) {
  if (!settings) return null;
  if (settings.from === "kernel") {
    const differ = Object.entries(settings.kernel).map(([k, v]) => `${k}=${v}`).join(", ");
    return [h("div", { class: "kx-Settings", title: "The active notebook's kernel published its %config KxJupyter.*" },
      "settings: this notebook's kernel", differ ? ` (${differ})` : ""),
    settings.note ? h("div", { class: "kx-Sidebar-error", title: settings.note }, settings.note) : null];
  }
  return h("div", { class: "kx-Settings", title: "KX_JUPYTER_* and the config file of the Jupyter server. "
    + "A kernel's %config KxJupyter.* shows here once kx_jupyter is loaded in the active notebook." },
  "settings: the server's");
}

function checkView(check) {
  const title = check.diagnostics.length
    ? `q check: ${check.diagnostics.length} finding${check.diagnostics.length === 1 ? "" : "s"}`
    : "q check: no problems";
  return h("div", { class: `kx-Detail kx-Check ${check.errors ? "kx-Check-errors" : ""}` },
    h("div", { class: "kx-Detail-title" }, title),
    check.diagnostics.map((d) => h("div", { class: "kx-Check-row" },
      h("span", { class: `kx-Severity kx-Severity-${d.severity}` }, d.severity),
      h("span", { class: "kx-Mono" }, ` ${d.path}:${d.line}:${d.col} ${d.rule} `), d.message)));
}

function errorLine(error) {
  return h("div", { class: "kx-Sidebar-error" }, error.message, error.hint ? h("div", { class: "kx-Sidebar-muted" }, error.hint) : null);
}
