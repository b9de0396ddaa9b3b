import { spawn } from "node:child_process";
import { formatDuration } from "../time.js";
import { isBotSecretName } from "../config/schema.js";

/** What a command printed last: enough to diagnose a failure, small enough to store and show in Slack. */
export const TAIL_CHARS = 4000;

/** Where and how every configured command runs: built once at start-up from the config. */
export interface ExecContext {
  /** The config file's folder. */
  cwd: string;
  /** The whole environment a command gets (see childEnvironment). */
  env: Readonly<Record<string, string>>;
  /** Applied to everything a command printed before it is kept or shown. */
  redact: (text: string) => string;
}

/** Always passed on when set; everything else only when `exec.env` names it. */
const BASE_VARIABLES = ["PATH", "HOME", "LANG", "TZ"] as const;

/**
 * The explicit environment of a child process (SPEC §2a): PATH, HOME, LANG, TZ and the variables the
 * config names in `exec.env`, nothing else, and never the bot's own secrets. TZ defaults to the
 * config's time zone, so commands see the same dates as the bot shows.
 */
export function childEnvironment(names: readonly string[], timezone: string, source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = { TZ: timezone };
  for (const name of [...BASE_VARIABLES, ...names]) {
    const value = source[name];
    if (value !== undefined && !isBotSecretName(name)) env[name] = value;
  }
  return env;
}

interface RunOptions {
  argv: readonly string[];
  timeoutMs: number;
  /** Aborting kills the command (shutdown). */
  signal?: AbortSignal;
  exec: ExecContext;
}

export interface RunResult {
  ok: boolean;
  exitCode: number | null;
  /** Why it did not pass, in words: "exit code 3", "timed out after 15m", "interrupted". */
  failure?: string;
  tail: string;
  stdout: string;
  durationMs: number;
}

/** Text held before the shown tail, so a secret cut where the buffer was trimmed is never in what is shown. */
const TAIL_MARGIN = 1024;

/** Keeps the last `limit` characters of a growing text without holding all of it. */
class Tail {
  private text = "";
  constructor(private readonly limit: number) {}
  push(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.limit * 2) this.text = this.text.slice(-(this.limit + TAIL_MARGIN));
  }
  /** Redacted whole first, then cut: a secret is never shown in part. */
  value(redact: (text: string) => string): string {
    const text = redact(this.text);
    return text.length > this.limit ? `…${text.slice(-this.limit)}` : text;
  }
}

/**
 * Runs an argv list (never a shell string) in its own process group, so a timeout or shutdown stops
 * the whole tree. stdout is also returned whole (up to 5 MB) for jobs that parse JSON output.
 */
export function runArgv(options: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const [program, ...args] = options.argv;
  const tail = new Tail(TAIL_CHARS);
  return new Promise((resolve) => {
    if (!program) {
      resolve({ ok: false, exitCode: null, failure: "nothing to run", tail: "", stdout: "", durationMs: 0 });
      return;
    }
    if (options.signal?.aborted) {
      resolve({ ok: false, exitCode: null, failure: "interrupted before it started", tail: "", stdout: "", durationMs: 0 });
      return;
    }
    let stdout = "";
    let stopReason: string | undefined;
    const child = spawn(program, args, {
      cwd: options.exec.cwd,
      env: { ...options.exec.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const kill = (reason: string) => {
      if (stopReason || child.exitCode !== null) return;
      stopReason = reason;
      try {
        if (child.pid) process.kill(-child.pid, "SIGTERM");
      } catch {
        child.kill("SIGTERM");
      }
      setTimeout(() => {
        try {
          if (child.pid && child.exitCode === null) process.kill(-child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }, 3000).unref();
    };
    const timer = setTimeout(() => kill(`timed out after ${formatDuration(options.timeoutMs)}`), options.timeoutMs);
    const onAbort = () => kill("interrupted");
    options.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      tail.push(chunk);
      if (stdout.length < 5_000_000) stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => tail.push(chunk));
    const finish = (result: Omit<RunResult, "tail" | "stdout" | "durationMs">) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      const { redact } = options.exec;
      resolve({ ...result, tail: tail.value(redact).trimEnd(), stdout: redact(stdout), durationMs: Math.round(performance.now() - started) });
    };
    child.on("error", (error: NodeJS.ErrnoException) => {
      finish({ ok: false, exitCode: null, failure: error.code === "ENOENT" ? `cannot run ${program}: not found` : `cannot run ${program}: ${error.message}` });
    });
    child.on("close", (code, signal) => {
      if (stopReason) finish({ ok: false, exitCode: code, failure: stopReason });
      else if (code === 0) finish({ ok: true, exitCode: 0 });
      else finish({ ok: false, exitCode: code, failure: code === null ? `killed by ${signal ?? "a signal"}` : `exit code ${code}` });
    });
  });
}

/** Fills `{version}` and `{environment}`, the only substitutions a configured argv may use. */
export function substitute(argv: readonly string[], values: { version?: string; environment?: string }): string[] {
  return argv.map((arg) => arg.replace(/\{(version|environment)\}/g, (match, key: "version" | "environment") => values[key] ?? match));
}
