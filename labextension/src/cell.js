// "Go to cell": open the notebook a push came from and bring its cell into view. The history
// records where a push was made as notebook:<path>#<cell id>; the server sends {path, cellId}.
import { Notification } from "@jupyterlab/apputils";

export async function goToCell(app, { path, cellId }) {
  const panel = await app.commands.execute("docmanager:open", { path });
  if (!panel || !panel.content || !panel.context) return; // not a notebook (renamed to something else)
  await panel.context.ready;
  app.shell.activateById(panel.id);
  const notebook = panel.content;
  const index = notebook.widgets.findIndex((cell) => cell.model.id === cellId);
  if (index < 0) {
    Notification.warning(`The cell this came from is no longer in ${path}.`, { autoClose: 5000 });
    return;
  }
  notebook.activeCellIndex = index;
  notebook.mode = "command";
  await notebook.scrollToCell(notebook.widgets[index], "center");
  return index;
}

// The label of a link to a cell: the notebook's file name.
export function cellLabel(cell) {
  return cell.path.split("/").pop();
}
