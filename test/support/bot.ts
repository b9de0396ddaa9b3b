import type { LoadedConfig } from "../../src/config/load.js";
import { type Orchestrator, type StartOptions, startOrchestrator } from "../../src/app.js";
import { SlackEmulator } from "../../src/emulator/emulator.js";
import { serveEmulator } from "../../src/emulator/server.js";
import type { Env } from "../../src/env.js";
import { createLog, type Level } from "../../src/log.js";
import { CHANNELS, USERS } from "./config.js";
import type { TestDatabase } from "./db.js";

export const BOT_TOKEN = "xoxb-test-token";
export const SIGNING_SECRET = "test-signing-secret";
export const APP_TOKEN = "xapp-1-A0ORCH-test-token";

/** How the bot hears from Slack: signed requests to /slack/events, or Socket Mode envelopes. */
export type Transport = "http" | "socket";
export const TRANSPORTS: Transport[] = ["http", "socket"];

export interface LogLine {
  level: Level;
  msg: string;
  [key: string]: unknown;
}

/** The test workspace; over Socket Mode the emulator also serves apps.connections.open and its WebSocket. */
export function testEmulator(transport: Transport = "http"): SlackEmulator {
  const names: Record<string, string> = {
    [USERS.approver1]: "Somchai",
    [USERS.approver2]: "Niran",
    [USERS.approver3]: "Kanya",
    [USERS.admin]: "Ploy",
    [USERS.engineer]: "Arthit",
    [USERS.stakeholder]: "Wichai",
  };
  return new SlackEmulator({
    botToken: BOT_TOKEN,
    signingSecret: SIGNING_SECRET,
    retryDelaysMs: [20, 100, 300],
    ...(transport === "socket" ? { appToken: APP_TOKEN } : {}),
    users: Object.entries(names).map(([id, name]) => ({ id, name: name.toLowerCase(), realName: name, title: "" })),
    channels: Object.entries(CHANNELS).map(([name, id]) => ({ id, name })),
  });
}

export interface TestBot {
  orchestrator: Orchestrator;
  emulator: SlackEmulator;
  emulatorUrl: string;
  logs: LogLine[];
  /** Waits until Slack deliveries and the bot's background work have all finished. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestBotOptions {
  db: TestDatabase;
  loaded: LoadedConfig;
  /** Share one emulator (one workspace) between several bots: replicas, or a restart. */
  emulator?: { emulator: SlackEmulator; url: string };
  replicaId?: string;
  anthropic?: Env["anthropic"];
  /** What the bot reads from its environment besides the Slack mode (DATABASE_URL, say). */
  env?: Partial<Omit<Env, "mode">>;
  start?: Partial<StartOptions>;
  /** HTTP unless told; a shared emulator must serve the same transport. */
  transport?: Transport;
}

/** A bot in HTTP mode (or Socket Mode) against a Slack emulator on its own port, as a real workspace would drive it. */
export async function startTestBot(options: TestBotOptions): Promise<TestBot> {
  const transport = options.transport ?? "http";
  const emulator = options.emulator?.emulator ?? testEmulator(transport);
  const served = options.emulator ? undefined : await serveEmulator(emulator);
  const emulatorUrl = options.emulator?.url ?? (served as { url: string }).url;
  const logs: LogLine[] = [];
  const echo = process.env.TEST_LOG === "1";
  const log = createLog("debug", {}, (line) => {
    logs.push(JSON.parse(line) as LogLine);
    if (echo) process.stdout.write(line);
  });
  const env: Env = {
    mode:
      transport === "socket"
        ? { kind: "socket", botToken: BOT_TOKEN, appToken: APP_TOKEN, apiUrl: `${emulatorUrl}/api/` }
        : { kind: "http", botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, apiUrl: `${emulatorUrl}/api/` },
    port: 0,
    dataDir: "",
    configPath: options.loaded.path,
    anthropic: options.anthropic ?? { model: "claude-test" },
    logLevel: "debug",
    shutdownGraceMs: 2000,
    ...options.env,
  };
  const orchestrator = await startOrchestrator({
    env,
    loaded: options.loaded,
    log,
    database: options.db.database,
    host: "127.0.0.1",
    postSpacingMs: 0,
    reactionSpacingMs: 0,
    slackRetries: 1,
    shutdownGraceMs: 2000,
    // A quick reconnect after a disconnect (the SDK waits this long times the failures in a row).
    socketMode: { clientPingTimeoutMs: 2000 },
    ...(options.replicaId ? { replicaId: options.replicaId } : {}),
    ...options.start,
  });
  if (transport === "http") emulator.setRequestUrl(`${orchestrator.url}/slack/events`);
  const idle = async () => {
    for (let round = 0; round < 50; round += 1) {
      await emulator.idle();
      await orchestrator.services.background.idle();
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (orchestrator.services.background.size === 0) {
        await emulator.idle();
        if (orchestrator.services.background.size === 0) return;
      }
    }
  };
  return {
    orchestrator,
    emulator,
    emulatorUrl,
    logs,
    idle,
    stop: async () => {
      await orchestrator.stop();
      await served?.close();
    },
  };
}

/** Polls until the check passes or the time is up; the last failure is rethrown. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 10_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      return await check();
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw lastError;
}
