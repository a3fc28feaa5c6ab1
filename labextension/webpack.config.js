// The q mode is shared with the form's editor (../js/src/q-mode.js); its imports must resolve
// here, to the packages JupyterLab shares, not to js/node_modules.
const path = require("path");

// symlinks: false keeps module ids the same when node_modules is a link (the freshness test
// builds a copy of this folder whose node_modules links here).
module.exports = {
  resolve: { modules: [path.resolve(__dirname, "node_modules"), "node_modules"], symlinks: false },
};
