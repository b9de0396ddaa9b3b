import { z } from "zod";
import { LOG_LEVELS } from "./log.js";

type SlackMode =
  | { kind: "socket"; botToken: string; appToken: string; apiUrl?: string }
  | { kind: "http"; botToken: string; signingSecret: string; apiUrl?: string }
  | { kind: "sandbox"; transport: SandboxTransport };

/** How the sandbox's bot hears from its emulator: signed requests to /slack/events, or the emulator's Socket Mode. */
export type SandboxTransport = "http" | "socket";

export interface Env {
  mode: SlackMode;
  port: number;
  databaseUrl?: string;
  dataDir: string;
  configPath: string;
  anthropic: { apiKey?: string; baseUrl?: string; model: string };
  logLevel: (typeof LOG_LEVELS)[number];
  /** How long SIGTERM waits for running deploys and jobs before marking them interrupted. */
  shutdownGraceMs: number;
}

export class EnvError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "EnvError";
  }
}

const DEFAULT_MODEL = "claude-sonnet-4-5";

const optional = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

const envSchema = z.object({
  SLACK_BOT_TOKEN: optional,
  SLACK_SIGNING_SECRET: optional,
  SLACK_APP_TOKEN: optional,
  SLACK_API_URL: optional.pipe(z.url({ error: "SLACK_API_URL: expected a URL like http://127.0.0.1:9999/api/" }).optional()),
  PORT: optional.transform((v, ctx) => {
    const port = Number(v ?? "3000");
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      ctx.addIssue({ code: "custom", message: `PORT: expected a port number, got "${v ?? ""}"` });
      return z.NEVER;
    }
    return port;
  }),
  DATABASE_URL: optional.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, { error: "DATABASE_URL: expected postgres://user@host:port/database" })
      .optional(),
  ),
  DATA_DIR: optional.transform((v) => v ?? "./data"),
  ORCH_CONFIG: optional.transform((v) => v ?? "./orchestrator.yaml"),
  ANTHROPIC_API_KEY: optional,
  ANTHROPIC_BASE_URL: optional,
  ANTHROPIC_MODEL: optional,
  SHUTDOWN_GRACE_SECONDS: optional.transform((v, ctx) => {
    const seconds = Number(v ?? "20");
    if (!Number.isFinite(seconds) || seconds < 0 || seconds > 3600) {
      ctx.addIssue({ code: "custom", message: `SHUTDOWN_GRACE_SECONDS: expected seconds between 0 and 3600, got "${v ?? ""}"` });
      return z.NEVER;
    }
    return seconds * 1000;
  }),
  SANDBOX_TRANSPORT: optional.pipe(z.enum(["http", "socket"], { error: "SANDBOX_TRANSPORT: expected http or socket" }).default("http")),
  LOG_LEVEL: optional.pipe(z.enum(LOG_LEVELS, { error: `LOG_LEVEL: expected one of ${LOG_LEVELS.join(", ")}` }).default("info")),
});

/** Reads the environment of SPEC §1 and decides the Slack mode; a partial set of Slack variables is an error naming what is missing. */
export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) throw new EnvError(parsed.error.issues.map((issue) => issue.message));
  const e = parsed.data;
  return {
    mode: slackMode(e.SLACK_BOT_TOKEN, e.SLACK_SIGNING_SECRET, e.SLACK_APP_TOKEN, e.SLACK_API_URL, e.SANDBOX_TRANSPORT),
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    configPath: e.ORCH_CONFIG,
    anthropic: { apiKey: e.ANTHROPIC_API_KEY, baseUrl: e.ANTHROPIC_BASE_URL, model: e.ANTHROPIC_MODEL ?? DEFAULT_MODEL },
    logLevel: e.LOG_LEVEL,
    shutdownGraceMs: e.SHUTDOWN_GRACE_SECONDS,
  };
}

function slackMode(botToken: string | undefined, signingSecret: string | undefined, appToken: string | undefined, apiUrl: string | undefined, sandboxTransport: SandboxTransport): SlackMode {
  const api = apiUrl ? { apiUrl } : {};
  if (botToken && appToken) {
    if (!appToken.startsWith("xapp-")) throw new EnvError(["SLACK_APP_TOKEN must be an app-level token starting with xapp-"]);
    return { kind: "socket", botToken, appToken, ...api };
  }
  if (botToken && signingSecret) return { kind: "http", botToken, signingSecret, ...api };
  if (!botToken && !signingSecret && !appToken) return { kind: "sandbox", transport: sandboxTransport };
  if (!botToken) {
    const have = [signingSecret ? "SLACK_SIGNING_SECRET" : undefined, appToken ? "SLACK_APP_TOKEN" : undefined].filter(Boolean).join(" and ");
    throw new EnvError([`SLACK_BOT_TOKEN is missing: ${have} is set, and every Slack mode needs the bot token (xoxb-…)`]);
  }
  throw new EnvError([
    "SLACK_SIGNING_SECRET or SLACK_APP_TOKEN is missing: SLACK_BOT_TOKEN is set, so add SLACK_SIGNING_SECRET for HTTP mode or SLACK_APP_TOKEN for Socket Mode (or unset all three for sandbox mode)",
  ]);
}
