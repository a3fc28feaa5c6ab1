// The kdb sidebar: the environment's clusters, live, with what each runs and any update in
// progress; per cluster its history, the diff against the workspace, the form, push and
// roll back. It asks the server (GET kx-jupyter/overview) only while it is visible.
import { Poll } from "@lumino/polling";
import { Widget } from "@lumino/widgets";
import { api, query } from "./api";
import { at, duration, entryName, h, shortSha } from "./format";

const BUSY_INTERVAL = 2000; // while an update runs
const IDLE_INTERVAL = 10000;

export class KdbSidebar extends Widget {
  constructor({ commands, currentNotebook }) {
    super();
    this.id = "kx-jupyter-sidebar";
    this.addClass("kx-Sidebar");
    this.title.caption = "kdb clusters";
    this.commands = commands;
    this.currentNotebook = currentNotebook;
    this.overview = null;
    this.error = null;
    this.detail = null; // {cluster, kind: "history" | "diff", data?, error?}
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
      this.overview = await api("overview" + query({ notebook: this.currentNotebook() }));
      this.error = null;
    } catch (error) {
      this.error = error;
    }
    const busy = this.overview && (this.overview.clusters.some((c) => c.status === "UPDATING" || c.inProgress)
      || this.overview.runs.some((r) => r.status === "running"));
    const d = this.detail;
    if (d && d.kind === "history" && d.data) { // an open history follows new pushes
      try {
        const data = await api("history" + query({ cluster: d.cluster }));
        if (this.detail === d) this.detail = { ...d, data };
      } catch {
        // keep what is shown; the overview's error line says what is wrong
      }
    }
    const interval = busy ? BUSY_INTERVAL : IDLE_INTERVAL;
    if (this.poll.frequency.interval !== interval) this.poll.frequency = { interval, backoff: false };
    this.render();
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
        ? await api("history" + query({ cluster }))
        : await api("diff" + query({ cluster, notebook: this.currentNotebook() }));
      this.detail = { cluster, kind, data };
    } catch (error) {
      this.detail = { cluster, kind, error };
    }
    this.render();
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
        h("div", { title: o.workspace }, "workspace ", h("span", { class: "kx-Mono" }, o.workspaceLabel))));
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
        this.button("Roll back…", "kx-jupyter:rollback", { cluster: c.name },
          { title: `Roll ${c.name} back to the newest good push whose code differs from what it runs now` }),
        h("ol", { class: "kx-History" }, d.data.map((e) => h("li", { class: "kx-History-entry", title: e.reason || "" },
          h("div", { class: "kx-History-head" },
            h("span", { class: "kx-History-name" }, entryName(e)),
            h("span", { class: `kx-Outcome kx-Outcome-${e.outcome}` }, e.outcome, e.duration ? ` ${duration(e.duration)}` : ""),
            c.running && c.running.id === e.id ? h("span", { class: "kx-RunningNow" }, "running now")
              : e.outcome === "succeeded"
                ? this.button("Roll back", "kx-jupyter:rollback", { cluster: c.name, to: e.id }, { title: `Re-deploy ${entryName(e)}` })
                : null),
          h("div", { class: "kx-Sidebar-muted" }, `${at(e.started_at)} · ${e.user}@${e.host} · `,
            h("span", { class: "kx-Mono" }, shortSha(e.bundle_sha256)), ` · ${e.strategy}`),
          e.reason ? h("div", { class: "kx-Sidebar-error" }, e.reason) : null))));
    }
    const changed = d.data.files.filter((f) => f.status !== "unchanged");
    if (!changed.length) return box(`Diff: ${c.name}`, h("div", {}, `the workspace matches what ${c.name} runs`));
    return box(`Diff: ${c.name} → workspace`, changed.map((f) => h("details", { class: "kx-Diff", open: changed.length <= 3 },
      h("summary", {}, h("span", { class: `kx-DiffMark kx-DiffMark-${f.status}` }, f.status), ` ${f.path}`),
      f.diff ? h("pre", { class: "kx-DiffText" }, f.diff.split("\n").map(diffLine)) : null)));
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

function diffLine(line) {
  const cls = line.startsWith("+") && !line.startsWith("+++") ? "kx-Diff-add"
    : line.startsWith("-") && !line.startsWith("---") ? "kx-Diff-del" : line.startsWith("@@") ? "kx-Diff-hunk" : "";
  return h("span", { class: cls }, line || " ");
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
