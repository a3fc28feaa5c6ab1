// Updates running and ended, from the server's history (GET kx-jupyter/activity: a local
// read, no cluster calls): a notification when a push or rollback ends while the Lab is open,
// wherever it was started (a kernel's --background push, the command line, the sidebar), and
// a status-bar item while updates run. A push made in a notebook cell links back to that cell.
import { Notification } from "@jupyterlab/apputils";
import { Poll } from "@lumino/polling";
import { Signal } from "@lumino/signaling";
import { Widget } from "@lumino/widgets";
import { api, query } from "./api";
import { entryName, h, outcomeLine } from "./format";

export class ActivityMonitor {
  constructor(commands) {
    this.commands = commands;
    this.since = Date.now() / 1000; // ends before the Lab opened were seen elsewhere
    this.running = [];
    this.notified = new Set();
    this.changed = new Signal(this);
    this.poll = new Poll({
      factory: () => this.tick(),
      frequency: { interval: 2000, backoff: true, max: 30000 },
      standby: "when-hidden",
      name: "kx-jupyter:activity",
    });
  }

  async tick() {
    const got = await api("activity" + query({ since: this.since }));
    for (const entry of got.ended.slice().reverse()) this.notifyEnd(entry);
    const before = this.running.map((e) => e.id).join();
    this.running = got.running;
    if (before !== this.running.map((e) => e.id).join()) this.changed.emit(this.running);
  }

  notifyEnd(entry) {
    if (this.notified.has(entry.id)) return;
    this.notified.add(entry.id);
    const actions = [{
      label: "Show history",
      caption: `History of ${entry.cluster} in the kdb sidebar`,
      callback: () => void this.commands.execute("kx-jupyter:cluster-history", { cluster: entry.cluster }),
    }];
    if (entry.cell) { // pushed from a notebook cell: back to it
      actions.unshift({
        label: "Go to cell",
        caption: `The cell in ${entry.cell.path} this ${entry.kind} was run from`,
        callback: () => void this.commands.execute("kx-jupyter:go-to-cell", entry.cell),
      });
    }
    const options = { autoClose: entry.outcome === "succeeded" ? 8000 : false, actions };
    if (entry.outcome === "succeeded") Notification.success(outcomeLine(entry), options);
    else Notification.error(outcomeLine(entry), options);
  }

  // A push from the sidebar that never reached the cluster (refused) is not in the history.
  notifyRefused(run) {
    Notification.error(`${run.cluster}: ${run.kind} refused: ${run.message}${run.hint ? ` (${run.hint})` : ""}`, { autoClose: false });
  }

  dispose() {
    this.poll.dispose();
  }
}

export class UpdatesStatus extends Widget {
  constructor(monitor, onClick) {
    super();
    this.addClass("kx-StatusItem");
    this.node.title = "kdb updates in progress (click: the kdb sidebar)";
    this.node.addEventListener("click", onClick);
    monitor.changed.connect((_, running) => this.show_(running));
    this.show_(monitor.running);
  }

  show_(running) {
    const text = running.length === 1
      ? `kdb: updating ${running[0].cluster} (${entryName(running[0])}, ${running[0].strategy})`
      : `kdb: ${running.length} updates running`;
    this.node.replaceChildren(h("span", { class: "kx-Spinner", "aria-hidden": "true" }), h("span", {}, ` ${text}`));
  }
}
