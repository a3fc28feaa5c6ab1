// A kx-jupyter view updates its output in place (a display id). JupyterLab applies such an update
// only to outputs this page made: after a page reload, a push that ends leaves the notebook's own
// copy of its view (what is saved, what a viewer without widgets shows) mid-push, although the
// live widget is right. The kernel writes each such display's id into its output's metadata
// (kx_jupyter.display_id); this plugin applies every update to the outputs carrying that id,
// unless they already show it (JupyterLab got there first).
const KEY = "kx_jupyter";

export function followDisplays(tracker) {
  tracker.widgetAdded.connect((_, panel) => {
    const apply = (_ctx, msg) => {
      const id = msg.header.msg_type === "update_display_data" && msg.content.transient
        ? msg.content.transient.display_id : null;
      if (id) updateOutputs(panel.content.model, id, msg.content);
    };
    panel.sessionContext.iopubMessage.connect(apply);
    panel.disposed.connect(() => panel.sessionContext.iopubMessage.disconnect(apply));
  });
}

export function updateOutputs(model, displayId, content) {
  if (!model) return 0;
  const data = JSON.stringify(content.data);
  let updated = 0;
  for (let c = 0; c < model.cells.length; c++) {
    const outputs = model.cells.get(c).outputs;
    if (!outputs) continue; // not a code cell
    for (let i = 0; i < outputs.length; i++) {
      const output = outputs.get(i);
      const meta = output.metadata || {};
      if (!meta[KEY] || meta[KEY].display_id !== displayId || JSON.stringify(output.data) === data) continue;
      outputs.set(i, { output_type: "display_data", data: content.data, metadata: content.metadata || meta });
      updated++;
    }
  }
  return updated;
}
