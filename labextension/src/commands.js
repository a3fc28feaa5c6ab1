// The palette's and the sidebar's commands: check the workspace, push it (after a dialog
// naming the cluster and the strategy), roll back (after a dialog with the diff), open the form
// in the notebook, show a cluster's history or diff, go to the cell a push came from.
import { Dialog, InputDialog, Notification, showDialog } from "@jupyterlab/apputils";
import { Widget } from "@lumino/widgets";
import { api, query } from "./api";
import { goToCell } from "./cell";
import { filesView } from "./diff";
import { at, entryName, h, shortSha } from "./format";

export const CMD = {
  sidebar: "kx-jupyter:open-sidebar",
  check: "kx-jupyter:check-workspace",
  push: "kx-jupyter:push-workspace",
  rollback: "kx-jupyter:rollback",
  form: "kx-jupyter:open-form",
  history: "kx-jupyter:cluster-history",
  diff: "kx-jupyter:cluster-diff",
  goToCell: "kx-jupyter:go-to-cell",
};
const STRATEGIES = ["ROLLING", "FORCE", "NO_RESTART"];

// The dialog body: which cluster, which strategy (NO_RESTART only for GP clusters), and
// whether to keep the cluster's command-line arguments (a push without them drops them).
class PushBody extends Widget {
  constructor(cluster, workspace, strategy, initScript) {
    super();
    this.addClass("kx-Confirm");
    this.cluster = cluster;
    this.select = h("select", { class: "jp-mod-styled kx-Confirm-strategy", "aria-label": "strategy" },
      STRATEGIES.filter((s) => s !== "NO_RESTART" || cluster.type === "GP")
        .map((s) => h("option", { value: s, selected: s === strategy }, s)));
    const args = Object.entries(cluster.arguments || {}).map(([k, v]) => `${k}=${v}`).join(" ");
    this.keep = args ? h("input", { type: "checkbox", checked: true, class: "kx-Confirm-keep" }) : null;
    const nodes = cluster.nodeCount ? `${cluster.nodeCount} node${cluster.nodeCount === 1 ? "" : "s"}` : "its nodes";
    this.node.append(
      h("p", {}, "Push the workspace ", h("code", { title: workspace.path }, workspace.label), " to cluster ",
        h("b", {}, cluster.name), ` (${cluster.type}, ${nodes}), init script `, h("code", {}, initScript), "."),
      h("label", {}, "Strategy ", this.select),
      this.keep ? h("label", {}, this.keep, " keep its arguments ", h("code", {}, args)) : null,
      h("p", { class: "kx-Sidebar-muted" }, "ROLLING restarts the nodes one by one; FORCE stops them all at once; "
        + "NO_RESTART loads the code into the running q (GP only)."));
  }

  getValue() {
    return { strategy: this.select.value, arguments: this.keep && this.keep.checked ? this.cluster.arguments : null };
  }
}

// The rollback dialog's body: which push it goes back to, what restarts, and the diff from what runs now.
function rollbackBody(cluster, target, files) {
  const n = cluster.nodeCount;
  const nodes = n ? `${n} node${n === 1 ? " restarts" : "s restart"}` : "its nodes restart";
  const how = target.strategy === "FORCE" ? "all at once (FORCE)" : `one by one (${target.strategy})`;
  const changed = files.some((f) => f.status !== "unchanged");
  return new Widget({ node: h("div", { class: "kx-Confirm kx-RollbackConfirm" },
    h("p", {}, `Re-deploy ${entryName(target)} (pushed ${at(target.started_at)}, bundle `,
      h("code", {}, shortSha(target.bundle_sha256)), `) to `, h("b", {}, cluster.name), `: ${nodes} ${how}.`),
    target.note ? h("p", { class: "kx-Sidebar-muted" }, `note: ${target.note}`) : null,
    h("div", { class: "kx-Detail-title" }, changed ? `The code changes from what runs now to #${target.id}:` : "The code does not change."),
    h("div", { class: "kx-Confirm-diff" }, filesView(files, 5))) });
}

export function addCommands(app, { sidebar, monitor, tracker, palette, openSidebar }) {
  const { commands } = app;
  const notebookPath = () => (tracker.currentWidget ? tracker.currentWidget.context.path : "");
  const kernelId = () => sidebar.currentKernel();
  const overview = () => api("overview" + sidebar.where()); // fresh: the notebook decides the workspace
  const fail = (what, error) => Notification.error(`${what}: ${error.message}${error.hint ? ` (${error.hint})` : ""}`, { autoClose: false });

  async function pickCluster(given, verb) {
    const o = await overview();
    if (given) {
      const found = o.clusters.find((c) => c.name === given);
      if (!found) throw new Error(`no cluster ${given} in ${o.environment}`);
      return [found, o];
    }
    const names = o.clusters.map((c) => c.name);
    const picked = await InputDialog.getItem({ title: `${verb}: which cluster?`, items: names, current: Math.max(0, names.indexOf(o.cluster)) });
    return picked.button.accept ? [o.clusters.find((c) => c.name === picked.value), o] : [null, o];
  }

  async function follow(run) {
    sidebar.poll.refresh();
    for (;;) {
      const now = (await api("runs")).find((r) => r.id === run.id);
      if (!now || now.status !== "running") {
        if (now && !now.history_id) monitor.notifyRefused(now);
        else void monitor.poll.refresh(); // the history has its end: the monitor says how it went
        void sidebar.poll.refresh();
        return now;
      }
      if (now.history_id) void monitor.poll.refresh();
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  commands.addCommand(CMD.sidebar, {
    label: "kdb: Show clusters",
    caption: "Open the kdb sidebar",
    execute: () => openSidebar(),
  });

  commands.addCommand(CMD.check, {
    label: "kdb: Check workspace",
    caption: "Run the q checker over the files a push would bundle (offline)",
    execute: async () => {
      try {
        const result = await api("check", { method: "POST", body: { notebook: notebookPath(), kernel: kernelId() } });
        sidebar.showCheck(result);
        openSidebar();
        const n = result.diagnostics.length;
        if (result.errors) Notification.error(`q check of ${result.workspaceLabel}: ${n} finding${n === 1 ? "" : "s"}, with errors`, { autoClose: 8000 });
        else Notification.success(`q check of ${result.workspaceLabel}: ${n ? `${n} warning${n === 1 ? "" : "s"}` : "no problems"}`, { autoClose: 5000 });
        return result;
      } catch (error) {
        fail("q check", error);
      }
    },
  });

  commands.addCommand(CMD.push, {
    label: (args) => (args.cluster ? `kdb: Push workspace to ${args.cluster}…` : "kdb: Push workspace…"),
    caption: "Check, bundle and push the workspace to a cluster, after a confirmation",
    execute: async (args) => {
      try {
        const [cluster, o] = await pickCluster(args.cluster, "Push the workspace");
        if (!cluster) return;
        const body = new PushBody(cluster, { path: o.workspace, label: o.workspaceLabel }, args.strategy || o.strategy,
          o.initScript);
        const answer = await showDialog({
          title: `Push to ${cluster.name}?`,
          body,
          buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: "Push" })],
        });
        if (!answer.button.accept) return;
        const run = await api("push", {
          method: "POST", body: { cluster: cluster.name, notebook: notebookPath(), kernel: kernelId(), ...answer.value },
        });
        return await follow(run);
      } catch (error) {
        fail("push", error);
      }
    },
  });

  commands.addCommand(CMD.rollback, {
    label: (args) => (args.cluster ? `kdb: Roll back ${args.cluster}…` : "kdb: Roll back a cluster…"),
    caption: "Re-deploy an earlier push (by default the newest good one that differs from what runs now)",
    execute: async (args) => {
      try {
        const [cluster] = await pickCluster(args.cluster, "Roll back");
        if (!cluster) return;
        // The engine picks the target (by default the newest good push whose code differs from what runs)
        // and diffs it against the running code; nothing starts before the dialog is accepted.
        const preview = await api("rollback-diff" + query({ cluster: cluster.name, to: args.to, kernel: kernelId() }));
        const target = preview.entry;
        const answer = await showDialog({
          title: `Roll back ${cluster.name} to #${target.id}?`,
          body: rollbackBody(cluster, target, preview.files),
          buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: `Roll back to #${target.id}` })],
        });
        if (!answer.button.accept) return;
        const run = await api("rollback", { method: "POST", body: { cluster: cluster.name, to: target.id, kernel: kernelId() } });
        return await follow(run);
      } catch (error) {
        fail("rollback", error);
      }
    },
  });

  commands.addCommand(CMD.form, {
    label: (args) => (args.cluster ? `kdb: Open the form on ${args.cluster}` : "kdb: Open the form"),
    caption: "Insert and run a %kx_form cell in the active notebook",
    execute: async (args) => {
      const panel = tracker.currentWidget;
      if (!panel) {
        Notification.warning("Open a notebook first: the form runs in its kernel.", { autoClose: 5000 });
        return;
      }
      const notebook = panel.content;
      const model = notebook.model;
      const cells = Array.from({ length: model.cells.length }, (_, i) => model.cells.get(i).sharedModel.getSource());
      const lines = [];
      if (!cells.some((s) => /%(re)?load_ext\s+kx_jupyter\b/.test(s))) lines.push("%load_ext kx_jupyter");
      if (args.cluster) lines.push(`%config KxJupyter.cluster = ${JSON.stringify(args.cluster)}`);
      lines.push("%kx_form");
      const at = model.cells.length ? notebook.activeCellIndex + 1 : 0;
      model.sharedModel.insertCell(at, { cell_type: "code", source: lines.join("\n") });
      notebook.activeCellIndex = at;
      app.shell.activateById(panel.id);
      await commands.execute("notebook:run-cell");
    },
  });

  commands.addCommand(CMD.history, {
    label: "kdb: Show a cluster's history",
    execute: (args) => {
      openSidebar();
      return sidebar.showDetail(args.cluster, "history", !!args.toggle);
    },
  });

  commands.addCommand(CMD.diff, {
    label: "kdb: Diff the workspace against a cluster",
    execute: (args) => {
      openSidebar();
      return sidebar.showDetail(args.cluster, "diff", !!args.toggle);
    },
  });

  commands.addCommand(CMD.goToCell, {
    label: "kdb: Go to the cell a push came from",
    execute: (args) => goToCell(app, args),
  });

  if (palette) {
    for (const command of [CMD.sidebar, CMD.check, CMD.push, CMD.rollback, CMD.form]) {
      palette.addItem({ command, category: "kdb" });
    }
  }
}
