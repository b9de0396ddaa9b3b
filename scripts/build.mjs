// Bundles Orchestrator's own code into dist/ (dependencies stay in node_modules): what `npm start` and
// the Docker image run, so production carries neither a TypeScript loader nor its memory. The embedded
// database's process (src/db/pglite-server.ts) is bundled beside main.js, where the bot looks for it.
import { build } from "esbuild";

const entries = process.argv.slice(2);
process.stdout.write("Building Orchestrator into dist/…\n");
await build({
  entryPoints: entries.length > 0 ? entries : { main: "src/main.ts", "pglite-server": "src/db/pglite-server.ts" },
  outdir: "dist",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  sourcemap: true,
  logLevel: "warning",
});
