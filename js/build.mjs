// Builds the widget bundles into the Python package (kx_jupyter/ui/static/), which is
// committed, so installing kx-jupyter never needs Node. `node build.mjs --watch` rebuilds on save.
import { build, context } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";

// `--outdir=DIR` builds elsewhere (the freshness test compares such a build with the committed one).
const outArg = process.argv.find((a) => a.startsWith("--outdir="));
const outdir = outArg ? `${outArg.slice("--outdir=".length).replace(/\/$/, "")}/`
  : new URL("../kx_jupyter/ui/static/", import.meta.url).pathname;
const options = {
  entryPoints: ["src/editor.js"],
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2020",
  outdir,
  legalComments: "eof",
  banner: { js: "// kx-jupyter q editor. Bundles CodeMirror 6 (MIT licence, (c) Marijn Haverbeke and others); source in js/." },
  logLevel: outArg ? "warning" : "info",
};

await mkdir(outdir, { recursive: true });
await copyFile("src/editor.css", `${outdir}editor.css`);
if (process.argv.includes("--watch")) await (await context(options)).watch();
else await build(options);
