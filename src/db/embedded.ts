import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { z } from "zod";
import { EMBEDDED_SERVER_ENTRY, PROJECT_ROOT } from "../paths.js";
import { type ControlMessage, EMBEDDED_SOCKET_NAME, ServerMessage, type StartRequest } from "./embedded-protocol.js";

/** The embedded PGlite process, as the bot sees it: where to connect, and its lifetime. */
export interface EmbeddedServer {
  /** The Unix socket it serves PostgreSQL's wire protocol on (the same across restarts). */
  readonly socketPath: string;
  /** The database process now (another one after a restart). */
  readonly pid: number;
  /** Resident memory (bytes) and CPU time (ms) of the database process; undefined while there is none. */
  usage(): Promise<{ rss: number; cpuMs: number } | undefined>;
  /** Closes PGlite cleanly and waits for the process to end. */
  stop(): Promise<void>;
}

interface EmbeddedOptions {
  /** PGlite's data folder (absolute); omitted: in memory. */
  dataDir?: string;
  /** Hears of the process ending when nobody stopped it, and whether it is being started again. */
  onExit?: (detail: string, restarting: boolean) => void;
}

const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 20_000;
const RESTART_DELAY_MS = 1000;
// A folder that makes PGlite crash at every start is not retried for ever.
const RESTARTS = { max: 5, withinMs: 10 * 60_000 };

class EmbeddedStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EmbeddedStartError";
  }
}

interface Launched {
  pid: number;
  exited: Promise<string>;
  usage(): Promise<{ rss: number; cpuMs: number } | undefined>;
  stop(): Promise<void>;
}

/** One database process, resolved once it accepts connections on `socketPath`. */
async function launch(socketPath: string, dataDir: string | undefined): Promise<Launched> {
  // An explicit, empty environment: the database process needs none of the bot's variables, and never its secrets.
  const child: ChildProcess = fork(EMBEDDED_SERVER_ENTRY.script, [], {
    cwd: PROJECT_ROOT,
    env: {},
    execArgv: EMBEDDED_SERVER_ENTRY.execArgv,
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    serialization: "json",
  });
  const exited = new Promise<string>((resolveExit) => {
    child.once("exit", (code, signal) => resolveExit(signal ? `signal ${signal}` : `exit code ${code}`));
  });
  const pendingUsage = new Map<number, (usage: { rss: number; cpuMs: number } | undefined) => void>();
  let nextId = 1;
  let ready: (() => void) | undefined;
  let failed: ((error: Error) => void) | undefined;
  child.on("message", (raw) => {
    const parsed = ServerMessage.safeParse(raw);
    if (!parsed.success) return;
    const message = parsed.data;
    if (message.type === "listening") ready?.();
    else if (message.type === "failed") failed?.(new EmbeddedStartError(`the embedded database could not start: ${message.message}`));
    else {
      pendingUsage.get(message.id)?.({ rss: message.rss, cpuMs: message.cpuMs });
      pendingUsage.delete(message.id);
    }
  });
  void exited.then((detail) => {
    for (const resolveUsage of pendingUsage.values()) resolveUsage(undefined);
    pendingUsage.clear();
    failed?.(new EmbeddedStartError(`the embedded database process ended while starting (${detail})`));
  });
  const control = (message: z.infer<typeof StartRequest> | z.infer<typeof ControlMessage>) => {
    if (child.connected) child.send(message);
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    control({ type: "stop" });
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolveStart, rejectStart) => {
      ready = resolveStart;
      failed = rejectStart;
      timer = setTimeout(() => rejectStart(new EmbeddedStartError(`the embedded database did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      control({ type: "start", socketPath, ...(dataDir ? { dataDir } : {}) });
    });
  } catch (error) {
    await stop();
    throw error;
  } finally {
    clearTimeout(timer);
    ready = undefined;
    failed = undefined;
  }
  return {
    pid: child.pid ?? 0,
    exited,
    usage: () =>
      new Promise((resolveUsage) => {
        if (!child.connected) return resolveUsage(undefined);
        const id = nextId++;
        pendingUsage.set(id, resolveUsage);
        control({ type: "usage", id });
      }),
    stop,
  };
}

/**
 * Starts PGlite in a process of its own and resolves once it accepts connections. It listens on a
 * Unix socket in a fresh folder only this user may enter (mkdtemp makes it 0700). A process on a
 * data folder that ends unexpectedly is started again on the same socket, so the bot's connection
 * pool reconnects by itself; an in-memory one is not (its data went with it).
 */
export async function startEmbeddedServer(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const socketDir = mkdtempSync(join(tmpdir(), "orch-db-"));
  const socketPath = join(socketDir, EMBEDDED_SOCKET_NAME);
  let current: Launched;
  try {
    current = await launch(socketPath, options.dataDir);
  } catch (error) {
    rmSync(socketDir, { recursive: true, force: true });
    throw error;
  }
  let stopped = false;
  let restarting: Promise<void> | undefined;
  let restarts: number[] = [];

  const supervise = (launched: Launched) => {
    void launched.exited.then(async (detail) => {
      if (stopped) return;
      const now = Date.now();
      restarts = restarts.filter((at) => now - at < RESTARTS.withinMs);
      const again = options.dataDir !== undefined && restarts.length < RESTARTS.max;
      options.onExit?.(detail, again);
      if (!again) return;
      restarts.push(now);
      restarting = (async () => {
        await new Promise((resolveDelay) => setTimeout(resolveDelay, RESTART_DELAY_MS));
        if (stopped) return;
        try {
          current = await launch(socketPath, options.dataDir);
          supervise(current);
        } catch (error) {
          options.onExit?.(error instanceof Error ? error.message : String(error), false);
        }
      })();
      await restarting;
      restarting = undefined;
    });
  };
  supervise(current);

  return {
    socketPath,
    get pid() {
      return current.pid;
    },
    usage: () => current.usage(),
    stop: async () => {
      stopped = true;
      await restarting;
      await current.stop();
      rmSync(socketDir, { recursive: true, force: true });
    },
  };
}
