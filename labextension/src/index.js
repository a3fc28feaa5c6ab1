// kx-jupyter in JupyterLab: q in %%kx_file cells, the kdb sidebar, notifications and a
// status-bar item for updates, and commands in the palette. All of it talks to the server
// extension's routes (kx_jupyter/server/), never to a kernel.
import { ICommandPalette } from "@jupyterlab/apputils";
import { LanguageSupport } from "@codemirror/language";
import { EditorExtensionRegistry, IEditorExtensionRegistry, IEditorLanguageRegistry } from "@jupyterlab/codemirror";
import { INotebookTracker } from "@jupyterlab/notebook";
import { IStatusBar } from "@jupyterlab/statusbar";
import { LabIcon } from "@jupyterlab/ui-components";
import { ActivityMonitor, UpdatesStatus } from "./activity";
import { addCommands, CMD } from "./commands";
import { followDisplays } from "./displays";
import { qLanguage } from "../../js/src/q-mode.js";
import { qCellExtension } from "./qcell";
import { KdbSidebar } from "./sidebar";

const kdbIcon = new LabIcon({
  name: "kx-jupyter:kdb",
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">
    <g class="jp-icon3" fill="#616161"><ellipse cx="12" cy="5" rx="8" ry="3"/>
    <path d="M4 7v4c0 1.7 3.6 3 8 3s8-1.3 8-3V7c0 1.7-3.6 3-8 3S4 8.7 4 7z"/>
    <path d="M4 13v4c0 1.7 3.6 3 8 3s8-1.3 8-3v-4c0 1.7-3.6 3-8 3s-8-1.3-8-3z"/></g></svg>`,
});

const qCells = {
  id: "kx-jupyter:q-cells",
  description: "Highlights %%kx_file cells and .q files as q, and shows the q checker's findings in those cells.",
  autoStart: true,
  requires: [IEditorExtensionRegistry, IEditorLanguageRegistry],
  activate: (app, extensions, languages) => {
    extensions.addExtension({
      name: "kx-jupyter:q-cells",
      factory: () => EditorExtensionRegistry.createImmutableExtension(qCellExtension),
    });
    // JupyterLab lists CodeMirror's legacy Q mode for .q files; the q mode the form's editor uses
    // (positional comments, block comments, system commands, q built-ins) takes its place.
    const support = new LanguageSupport(qLanguage);
    const builtIn = languages.findByMIME("text/x-q", false);
    if (builtIn) builtIn.support = support;
    else languages.addLanguage({ name: "q", displayName: "q (kdb+)", mime: "text/x-q", extensions: ["q"], support });
  },
};

const sidebarPlugin = {
  id: "kx-jupyter:sidebar",
  description: "The kdb sidebar, notifications and status for updates, and the kdb commands.",
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, IStatusBar],
  activate: (app, tracker, palette, statusBar) => {
    const currentNotebook = () => (tracker.currentWidget ? tracker.currentWidget.context.path : "");
    const currentKernel = () => {
      const session = tracker.currentWidget && tracker.currentWidget.sessionContext.session;
      return session && session.kernel ? session.kernel.id : "";
    };
    const sidebar = new KdbSidebar({ commands: app.commands, currentNotebook, currentKernel });
    sidebar.title.icon = kdbIcon;
    app.shell.add(sidebar, "left", { rank: 900 });
    const openSidebar = () => app.shell.activateById(sidebar.id);
    const monitor = new ActivityMonitor(app.commands);
    addCommands(app, { sidebar, monitor, tracker, palette, openSidebar });
    if (statusBar) {
      statusBar.registerStatusItem("kx-jupyter:updates", {
        item: new UpdatesStatus(monitor, () => void app.commands.execute(CMD.sidebar)),
        align: "left",
        rank: 5,
        isActive: () => monitor.running.length > 0,
        activeStateChanged: monitor.changed,
      });
    }
    tracker.currentChanged.connect(() => sidebar.isVisible && void sidebar.poll.refresh()); // its workspace may differ
    followDisplays(tracker);
  },
};

export default [qCells, sidebarPlugin];
