import { type ChildProcess, fork } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import type { ChildNotice, RpcReply } from "./shared.js";

/**
 * A bench process (the bot, a bare Bolt app, the emulator) run as plain `node <compiled script>` — the
 * way the Docker image runs the bot — with its stdout/stderr in a log file and an IPC channel for requests.
 */
export class Child {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly listeners = new Set<(notice: ChildNotice) => void>();
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  private constructor(
    readonly name: string,
    readonly process: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => {
      process.once("exit", (code) => {
        this.exitCode = code;
        for (const { reject } of this.pending.values()) reject(new Error(`${name} exited (code ${code}) before answering; see ${logFile}`));
        this.pending.clear();
        resolve(code);
      });
    });
    process.on("message", (raw) => {
      const message = raw as RpcReply | ChildNotice;
      if ("notice" in message) {
        for (const listener of this.listeners) listener(message);
        return;
      }
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(`${name}: ${message.error}`));
    });
  }

  /** Starts the script and waits for its `ready` notice (whose fields it returns). */
  static async start(
    name: string,
    script: string,
    env: Record<string, string>,
    logFile: string,
    options: { exposeGc?: boolean; timeoutMs?: number; nodeArgs?: string[] } = {},
  ): Promise<{ child: Child; ready: ChildNotice }> {
    const fd = openSync(logFile, "a");
    const proc = fork(script, [], {
      execArgv: [...(options.exposeGc ? ["--expose-gc"] : []), ...(options.nodeArgs ?? [])],
      env: { ...process.env, ...env },
      stdio: ["ignore", fd, fd, "ipc"],
    });
    closeSync(fd);
    const child = new Child(name, proc, logFile);
    const ready = await new Promise<ChildNotice>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start within ${options.timeoutMs ?? 60_000} ms; see ${logFile}`)), options.timeoutMs ?? 60_000);
      child.onNotice((notice) => {
        if (notice.notice !== "ready") return;
        clearTimeout(timer);
        resolve(notice);
      });
      void child.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (code ${code}) while starting:\n${tail(logFile)}`));
      });
    });
    return { child, ready };
  }

  onNotice(listener: (notice: ChildNotice) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  call<T>(type: string, args?: unknown, timeoutMs = 120_000): Promise<T> {
    if (this.exitCode !== undefined) return Promise.reject(new Error(`${this.name} has exited`));
    const id = this.nextId;
    this.nextId += 1;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no answer to ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.process.send({ id, type, args });
    });
  }

  /** Asks the process to shut down cleanly; kills it (by its pid) if it has not exited within the grace period. */
  async stop(graceMs = 30_000): Promise<void> {
    if (this.exitCode !== undefined) return;
    await this.call("stop", undefined, graceMs).catch(() => undefined);
    const exited = await Promise.race([this.exited.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 5000).unref())]);
    if (!exited && this.process.pid !== undefined) {
      process.kill(this.process.pid, "SIGKILL");
      await this.exited;
    }
  }
}

export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Warnings and errors in a JSON-lines log (the bot's own log format), by message. */
export function logProblems(file: string): { warn: number; error: number; messages: Record<string, number> } {
  const result = { warn: 0, error: 0, messages: {} as Record<string, number> };
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return result;
  }
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const record = JSON.parse(line) as { level?: string; msg?: string };
      if (record.level === "warn" || record.level === "error") {
        result[record.level] += 1;
        const key = `${record.level}: ${record.msg ?? ""}`;
        result.messages[key] = (result.messages[key] ?? 0) + 1;
      }
    } catch {
      // not a log record
    }
  }
  return result;
}
