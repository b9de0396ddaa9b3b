import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import type { EmulatorSnapshot, SlackEmulator } from "../emulator/emulator.js";
import type { Log } from "../log.js";

/** The sandbox's conversation, kept in DATA_DIR beside the embedded database so a restart shows the same workspace. */
export const WORKSPACE_FILE = "sandbox-workspace.json";

const FORMAT = 1;

// Messages, ephemerals and views are the emulator's own records: their shape is checked loosely (what
// the workspace indexes by), so a field added to them later does not make older files unreadable.
const record = z.looseObject({});
const snapshotFile = z.object({
  format: z.literal(FORMAT),
  workspace: z.object({
    lastTs: z.number(),
    counter: z.number(),
    messages: z.array(z.looseObject({ ts: z.string(), channel: z.string(), type: z.literal("message"), text: z.string() })),
    ephemerals: z.array(z.looseObject({ id: z.string(), channel: z.string(), user: z.string(), ts: z.string(), text: z.string() })),
    views: z.array(z.looseObject({ id: z.string(), user: z.string(), view: record, closed: z.boolean() })),
  }),
  responseUrls: z.array(z.looseObject({ id: z.string(), user: z.string(), channel: z.string(), uses: z.number(), createdAt: z.number() })),
});

export interface PersistedWorkspace {
  /** Writes any change not yet on disk and stops watching. */
  close(): void;
}

/**
 * Loads the saved workspace into the emulator (if there is one) and keeps the file up to date: each change
 * schedules one write (debounced), written to a temporary file and renamed over the old one so a crash
 * mid-write leaves the previous version intact.
 */
export function persistWorkspace(emulator: SlackEmulator, dataDir: string, log: Log, debounceMs = 200): PersistedWorkspace {
  const folder = resolve(dataDir);
  mkdirSync(folder, { recursive: true });
  const file = join(folder, WORKSPACE_FILE);
  restoreFrom(file, emulator, log);

  let timer: NodeJS.Timeout | undefined;
  let dirty = false;
  const write = () => {
    clearTimeout(timer);
    timer = undefined;
    if (!dirty) return;
    dirty = false;
    const temporary = `${file}.${process.pid}.tmp`;
    try {
      writeFileSync(temporary, JSON.stringify({ format: FORMAT, ...emulator.snapshot() }));
      renameSync(temporary, file);
    } catch (error) {
      dirty = true;
      log.error("could not save the sandbox workspace", { file, error });
    }
  };
  const onChange = () => {
    dirty = true;
    timer ??= setTimeout(write, debounceMs);
  };
  emulator.workspace.on("change", onChange);
  return {
    close: () => {
      emulator.workspace.off("change", onChange);
      write();
    },
  };
}

function restoreFrom(file: string, emulator: SlackEmulator, log: Log): void {
  if (!existsSync(file)) return;
  let problem: string;
  try {
    const parsed = snapshotFile.safeParse(JSON.parse(readFileSync(file, "utf8")));
    if (parsed.success) {
      emulator.restore(parsed.data as unknown as EmulatorSnapshot);
      log.info("sandbox workspace restored", { file, messages: parsed.data.workspace.messages.length });
      return;
    }
    problem = parsed.error.issues[0] ? `${parsed.error.issues[0].path.join(".")}: ${parsed.error.issues[0].message}` : "unexpected content";
  } catch (error) {
    problem = error instanceof Error ? error.message : String(error);
  }
  // An unreadable file is kept aside rather than overwritten: the conversation in it may still matter to someone.
  const aside = `${file}.unreadable-${Date.now()}`;
  renameSync(file, aside);
  log.warn("the saved sandbox workspace is unreadable; starting with an empty one", { file, keptAs: aside, problem });
}
