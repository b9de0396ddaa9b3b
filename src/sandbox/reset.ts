import { existsSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { dataDirHolder } from "../db/lock.js";
import { WORKSPACE_FILE } from "./persist.js";

/**
 * `npm run sandbox:reset`: the sandbox starts afresh, with an empty workspace and an empty embedded
 * database. It refuses while a bot uses the folder, and a folder that never held a sandbox (it may be a
 * real deployment's embedded database) is left alone.
 */
export function resetSandbox(dataDir: string, usesPostgres: boolean): { ok: boolean; message: string } {
  const folder = resolve(dataDir);
  const holder = dataDirHolder(dataDir);
  if (holder !== undefined) return { ok: false, message: `\`${dataDir}\` is in use by process ${holder}; stop it first` };
  const workspaceFiles = existsSync(folder) ? readdirSync(folder).filter((name) => name.startsWith(WORKSPACE_FILE)) : [];
  const database = join(folder, "pgdata");
  if (workspaceFiles.length === 0) {
    return existsSync(database)
      ? { ok: false, message: `\`${dataDir}\` holds no sandbox workspace, so its database may be a real deployment's: nothing removed (delete ${join(dataDir, "pgdata")} yourself if you mean to)` }
      : { ok: true, message: `\`${dataDir}\` holds no sandbox: nothing to reset` };
  }
  for (const name of workspaceFiles) rmSync(join(folder, name), { force: true });
  const removedDatabase = !usesPostgres && existsSync(database);
  if (removedDatabase) rmSync(database, { recursive: true, force: true });
  return {
    ok: true,
    message: `Sandbox reset: removed its workspace${removedDatabase ? " and its embedded database" : ""} from \`${dataDir}\`${usesPostgres ? " (DATABASE_URL is set: that PostgreSQL database is not touched)" : ""}. The next \`npm start\` begins afresh.`,
  };
}
