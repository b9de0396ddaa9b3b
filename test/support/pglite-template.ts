import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../../src/db/client.js";
import { MIGRATIONS_FOLDER, PROJECT_ROOT } from "../../src/paths.js";

/**
 * vitest's global setup: a migrated PGlite DATA_DIR, made once through the bot's own path (openDatabase
 * on a data folder: the embedded process, postgres.js, the migrations) and kept in node_modules/.cache
 * for this PGlite version and these migrations. Each test file's database is a copy of it, opened the same
 * way, so a test pays for opening PGlite (1-3 s), not for its initdb (5-15 s on two busy cores).
 */
export default async function setup({ provide }: { provide: (key: "pgliteTemplate", value: string) => void }): Promise<void> {
  const pglite = JSON.parse(readFileSync(join(PROJECT_ROOT, "node_modules", "@electric-sql", "pglite", "package.json"), "utf8")) as { version: string };
  const hash = createHash("sha256").update(pglite.version);
  for (const file of readdirSync(MIGRATIONS_FOLDER, { recursive: true, withFileTypes: true })
    .filter((f) => f.isFile())
    .map((f) => join(f.parentPath, f.name))
    .sort()) {
    hash.update(file).update(readFileSync(file));
  }
  const cache = join(PROJECT_ROOT, "node_modules", ".cache", "orchestrator");
  const template = join(cache, `pglite-${hash.digest("hex").slice(0, 16)}`);
  if (!existsSync(template)) {
    mkdirSync(cache, { recursive: true });
    const building = mkdtempSync(join(cache, "building-"));
    const database = await openDatabase({ dataDir: building });
    await database.close();
    try {
      renameSync(building, template);
    } catch (error) {
      // Another run made it meanwhile.
      rmSync(building, { recursive: true, force: true });
      if (!existsSync(template)) throw error;
    }
  }
  provide("pgliteTemplate", template);
}

declare module "vitest" {
  export interface ProvidedContext {
    pgliteTemplate: string;
  }
}

/** Makes `into` a DATA_DIR holding a copy of the template's database (its pgdata folder only). */
export function copyOfTemplate(template: string, into: string): void {
  cpSync(join(template, "pgdata"), join(into, "pgdata"), { recursive: true });
}
