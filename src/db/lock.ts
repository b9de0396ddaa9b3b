import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

/**
 * One process per embedded data folder: two processes on one PGlite folder would corrupt it and run
 * every cron slot twice. The lock is a file holding the owner's pid, created atomically (written aside,
 * then hard-linked into place, which fails if it exists). A lock whose process is gone (a crash, a
 * `kill -9`) is taken over, so a crashed process never leaves the folder locked.
 */
export const LOCK_FILE = "orchestrator.pid";

export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`\`${dataDir}\` is in use by process ${pid}; stop it or set DATA_DIR`);
    this.name = "DataDirInUseError";
  }
}

interface DataDirLock {
  release(): void;
}

/** Takes the folder's lock or throws DataDirInUseError naming the process that holds it. `dataDir` is shown as given. */
export function lockDataDir(dataDir: string): DataDirLock {
  const folder = resolve(dataDir);
  mkdirSync(folder, { recursive: true });
  const path = join(folder, LOCK_FILE);
  const mine = String(process.pid);
  const aside = join(folder, `${LOCK_FILE}.${process.pid}.tmp`);
  writeFileSync(aside, `${mine}\n`);
  try {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      try {
        linkSync(aside, path);
        const release = () => {
          if (readLock(path) === process.pid) unlinkQuietly(path);
          process.off("exit", release);
        };
        process.on("exit", release);
        return { release };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const holder = readLock(path);
      if (holder !== undefined && holder !== process.pid && isRunning(holder)) throw new DataDirInUseError(dataDir, holder);
      // Stale: its process is gone. Remove it only if it still names that process (another starter may have replaced it).
      if (readLock(path) === holder) unlinkQuietly(path);
    }
    throw new Error(`could not lock ${dataDir}: the lock file ${path} keeps changing`);
  } finally {
    unlinkQuietly(aside);
  }
}

/** The pid a lock names, if it is still running: for tools (sandbox reset) that must not touch a folder in use. */
export function dataDirHolder(dataDir: string): number | undefined {
  const holder = readLock(join(resolve(dataDir), LOCK_FILE));
  return holder !== undefined && holder !== process.pid && isRunning(holder) ? holder : undefined;
}

function readLock(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
