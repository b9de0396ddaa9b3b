import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The project's folder (the one with package.json), found from this file upwards, so the same code
 * finds migrations/, prompts/ and the sandbox console whether it runs from src/ (tsx) or as the
 * bundle in dist/.
 */
function projectRoot(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(folder, "package.json")) || !existsSync(join(folder, "migrations"))) {
    const parent = dirname(folder);
    if (parent === folder) throw new Error("cannot find Orchestrator's folder (package.json and migrations/)");
    folder = parent;
  }
  return folder;
}

export const PROJECT_ROOT = projectRoot();
export const MIGRATIONS_FOLDER = join(PROJECT_ROOT, "migrations");
export const PROMPTS_FOLDER = join(PROJECT_ROOT, "prompts");
export const CONSOLE_FOLDER = join(PROJECT_ROOT, "src", "sandbox", "console");

/**
 * The embedded database process's entry: beside the bundle when running compiled (scripts/build.mjs
 * and the bench build it next to main.js), else the TypeScript source run through tsx.
 */
export const EMBEDDED_SERVER_ENTRY = import.meta.url.endsWith(".ts")
  ? { script: join(PROJECT_ROOT, "src", "db", "pglite-server.ts"), execArgv: ["--import", "tsx"] }
  : { script: fileURLToPath(new URL("./pglite-server.js", import.meta.url)), execArgv: [] };
