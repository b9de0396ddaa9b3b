import { type Logger as SlackLogger, LogLevel } from "@slack/bolt";

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type Level = (typeof LOG_LEVELS)[number];

export interface Log {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Log;
}

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Structured logs: one JSON object per line on stdout, errors flattened to message and stack. */
export function createLog(level: Level = "info", base: Record<string, unknown> = {}, write: (line: string) => void = (line) => process.stdout.write(line)): Log {
  const emit = (lvl: Level, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[lvl] < RANK[level]) return;
    const record: Record<string, unknown> = { level: lvl, time: new Date().toISOString(), msg, ...base };
    for (const [key, value] of Object.entries(fields ?? {})) record[key] = value instanceof Error ? describeError(value) : value;
    write(`${JSON.stringify(record)}\n`);
  };
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
    child: (fields) => createLog(level, { ...base, ...fields }, write),
  };
}

export function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    const data = (error as { data?: { error?: string } }).data;
    return { message: error.message, name: error.name, ...(data?.error ? { slackError: data.error } : {}), stack: error.stack?.split("\n").slice(0, 6).join("\n") };
  }
  return { message: String(error) };
}

/** The same log under the interface Bolt and the Slack SDKs expect; parts below the level are not even joined. */
export function slackLogger(log: Log, level: Level): SlackLogger {
  const join = (parts: unknown[]) => parts.map((p) => (p instanceof Error ? p.message : typeof p === "string" ? p : JSON.stringify(p))).join(" ");
  const on = (lvl: Level) => RANK[lvl] >= RANK[level];
  return {
    debug: (...parts) => on("debug") && log.debug(join(parts), { component: "slack" }),
    info: (...parts) => on("info") && log.info(join(parts), { component: "slack" }),
    warn: (...parts) => on("warn") && log.warn(join(parts), { component: "slack" }),
    error: (...parts) => on("error") && log.error(join(parts), { component: "slack" }),
    setLevel: () => {},
    getLevel: () => ({ debug: LogLevel.DEBUG, info: LogLevel.INFO, warn: LogLevel.WARN, error: LogLevel.ERROR })[level],
    setName: () => {},
  };
}
