import { type ChildProcess, fork } from "node:child_process";
import type { z } from "zod";
import { EMBEDDED_SERVER_ENTRY, PROJECT_ROOT } from "../paths.js";
import { type ControlMessage, ServerMessage, type StartRequest } from "./embedded-protocol.js";

/** The embedded PGlite process, as the bot sees it: where to connect, and its lifetime. */
export interface EmbeddedServer {
  /** The Unix socket it serves PostgreSQL's wire protocol on (inside a folder only this user may enter). */
  socketPath: string;
  pid: number;
  /** Resident memory of the database process, in bytes (undefined once it has ended). */
  memory(): Promise<number | undefined>;
  /** Closes PGlite cleanly and waits for the process to end. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 20_000;

export class EmbeddedStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EmbeddedStartError";
  }
}

/**
 * Starts PGlite in a process of its own on `dataDir` (an absolute folder; omitted: in memory) and
 * resolves once it accepts connections. `onExit` hears of the process ending when nobody stopped it.
 */
export async function startEmbeddedServer(options: { dataDir?: string; onExit?: (detail: string) => void }): Promise<EmbeddedServer> {
  // An explicit, empty environment: the database process needs none of the bot's variables, and never its secrets.
  const child: ChildProcess = fork(EMBEDDED_SERVER_ENTRY.script, [], {
    cwd: PROJECT_ROOT,
    env: {},
    execArgv: EMBEDDED_SERVER_ENTRY.execArgv,
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    serialization: "json",
  });
  let stopping = false;
  const exited = new Promise<string>((resolveExit) => {
    child.once("exit", (code, signal) => resolveExit(signal ? `signal ${signal}` : `exit code ${code}`));
  });
  const pendingMemory = new Map<number, (rss: number | undefined) => void>();
  let nextId = 1;
  let ready: ((message: Extract<z.infer<typeof ServerMessage>, { type: "listening" }>) => void) | undefined;
  let failed: ((error: Error) => void) | undefined;
  child.on("message", (raw) => {
    const parsed = ServerMessage.safeParse(raw);
    if (!parsed.success) return;
    const message = parsed.data;
    if (message.type === "listening") ready?.(message);
    else if (message.type === "failed") failed?.(new EmbeddedStartError(`the embedded database could not start: ${message.message}`));
    else {
      pendingMemory.get(message.id)?.(message.rss);
      pendingMemory.delete(message.id);
    }
  });
  void exited.then((detail) => {
    for (const resolveMemory of pendingMemory.values()) resolveMemory(undefined);
    pendingMemory.clear();
    failed?.(new EmbeddedStartError(`the embedded database process ended while starting (${detail})`));
    if (!stopping) options.onExit?.(detail);
  });

  const control = (message: z.infer<typeof StartRequest> | z.infer<typeof ControlMessage>) => {
    if (child.connected) child.send(message);
  };
  const stop = async () => {
    stopping = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    control({ type: "stop" });
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  let timer: NodeJS.Timeout | undefined;
  try {
    const listening = await new Promise<Extract<z.infer<typeof ServerMessage>, { type: "listening" }>>((resolveStart, rejectStart) => {
      ready = resolveStart;
      failed = rejectStart;
      timer = setTimeout(() => rejectStart(new EmbeddedStartError(`the embedded database did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      control({ type: "start", ...(options.dataDir ? { dataDir: options.dataDir } : {}) });
    });
    return {
      socketPath: listening.socketPath,
      pid: listening.pid,
      memory: () =>
        new Promise((resolveMemory) => {
          if (!child.connected) return resolveMemory(undefined);
          const id = nextId++;
          pendingMemory.set(id, resolveMemory);
          control({ type: "memory", id });
        }),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  } finally {
    clearTimeout(timer);
    ready = undefined;
    failed = undefined;
  }
}
