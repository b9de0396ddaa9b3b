/**
 * One bench subject in a process of its own, so its memory and CPU are its own:
 *   BENCH_MODE=bot   the real Orchestrator (startOrchestrator, HTTP mode) against the emulator "Slack";
 *   BENCH_MODE=bare  a bare Bolt app (HTTPReceiver) whose /orch handler only acks;
 *   BENCH_MODE=bare-socket  the same over Socket Mode (Bolt's SocketModeReceiver), to the emulator at BENCH_EMULATOR_URL;
 *   BENCH_TRANSPORT=socket  runs the bot in Socket Mode (bot token + app token) instead of HTTP mode;
 *   BENCH_MODE=db    just the database handle, for the plain-insert baseline.
 * The database: BENCH_DB_URL (PostgreSQL, a database of its own) or BENCH_DATA_DIR (embedded PGlite,
 * in the process of its own the bot starts; its memory is reported beside this one's). The parent drives
 * it over IPC (see lib/shared.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, HTTPReceiver, LogLevel, SocketModeReceiver } from "@slack/bolt";
import { sql } from "drizzle-orm";
import { type Orchestrator, startOrchestrator } from "../src/app.js";
import { loadConfigFile } from "../src/config/load.js";
import { type Database, openDatabase, queryRows } from "../src/db/client.js";
import { feedback } from "../src/db/schema.js";
import { readEnv } from "../src/env.js";
import { tsToDate } from "../src/features/feedback/service.js";
import { feedbackStats } from "../src/features/feedback/stats.js";
import { triageByRules } from "../src/features/feedback/keyword-triage.js";
import { orchestratorFigures } from "../src/features/reports/figures.js";
import { periodEnding } from "../src/core/jobs/slots.js";
import { inFlight } from "./lib/load.js";
import { seedReportData } from "./lib/seed.js";
import {
  APP_TOKEN,
  BARE_APP_TOKEN,
  BENCH_CONFIG_YAML,
  type BenchMessage,
  BOT_ID,
  BOT_TOKEN,
  BOT_USER_ID,
  COMMAND,
  type MemorySample,
  memorySample,
  notify,
  serveRpc,
  SIGNING_SECRET,
  TEAM_ID,
} from "./lib/shared.js";

const mode = process.env.BENCH_MODE ?? "bot";
const databaseUrl = process.env.BENCH_DB_URL || undefined;
const dataDir = process.env.BENCH_DATA_DIR || undefined;

const configDir = mkdtempSync(join(tmpdir(), "orch-bench-config-"));
process.on("exit", () => rmSync(configDir, { recursive: true, force: true }));
writeFileSync(join(configDir, "orchestrator.yaml"), BENCH_CONFIG_YAML);
// No variables to interpolate; PATH so that the config's programs are found as the bot's commands find them.
const loaded = loadConfigFile(join(configDir, "orchestrator.yaml"), { PATH: process.env.PATH });

/** A bare reference app answers the parent like the bot: memory, and a stop that exits. */
function serveBareApp(app: App, port: number): void {
  serveRpc({
    memory: () => memorySample(),
    stop: async () => {
      await app.stop();
      setImmediate(() => process.exit(0));
      return true;
    },
  });
  notify({ notice: "ready", port, memory: memorySample() });
}

async function openBenchDatabase(): Promise<Database> {
  if (databaseUrl) return openDatabase({ databaseUrl });
  if (!dataDir) throw new Error("BENCH_DB_URL or BENCH_DATA_DIR must be set");
  return openDatabase({ dataDir });
}

/** This process's memory, and the embedded database process's RSS beside it. */
async function memoryWithDatabase(database: Database): Promise<MemorySample> {
  const databaseRss = (await database.embedded?.usage())?.rss;
  return { ...memorySample(), ...(databaseRss !== undefined ? { databaseRss } : {}) };
}

/** The embedded database process's CPU time so far, for the bench's CPU accounting (null on PostgreSQL). */
async function databaseCpu(database: Database): Promise<{ pid: number; cpuMs: number } | null> {
  const usage = await database.embedded?.usage();
  return usage && database.embedded ? { pid: database.embedded.pid, cpuMs: usage.cpuMs } : null;
}

async function timeRuns(fn: () => Promise<unknown>, runs: number, warmup: number): Promise<number[]> {
  for (let i = 0; i < warmup; i += 1) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const started = performance.now();
    await fn();
    samples.push(performance.now() - started);
  }
  return samples;
}

if (mode === "bare") {
  // The reference point of SPEC §7: Bolt's own HTTP receiver and a handler that only acknowledges.
  const receiver = new HTTPReceiver({ signingSecret: SIGNING_SECRET, endpoints: "/slack/events", logLevel: LogLevel.WARN });
  const app = new App({ token: BOT_TOKEN, botId: BOT_ID, botUserId: BOT_USER_ID, receiver, logLevel: LogLevel.WARN });
  app.command(COMMAND, async ({ ack }) => {
    await ack();
  });
  const server = (await app.start({ port: 0, host: "127.0.0.1" })) as Server;
  serveBareApp(app, (server.address() as AddressInfo).port);
} else if (mode === "bare-socket") {
  // The Socket Mode reference point of SPEC §7: Bolt's own SocketModeReceiver and a handler that only acknowledges.
  const receiver = new SocketModeReceiver({
    appToken: BARE_APP_TOKEN,
    logLevel: LogLevel.WARN,
    installerOptions: { clientOptions: { slackApiUrl: `${process.env.BENCH_EMULATOR_URL ?? ""}/api/` } },
  });
  const app = new App({ token: BOT_TOKEN, botId: BOT_ID, botUserId: BOT_USER_ID, receiver, logLevel: LogLevel.WARN });
  app.command(COMMAND, async ({ ack }) => {
    await ack();
  });
  await app.start();
  serveBareApp(app, 0);
} else if (mode === "db") {
  const database = await openBenchDatabase();
  const { config } = loaded;
  serveRpc({
    /**
     * The ingestion baseline: the rows the bot would write for these messages, each a plain single-row
     * INSERT through the same drizzle driver and pool, `concurrency` in flight.
     */
    inserts: async (args) => {
      const { messages, concurrency } = args as { messages: BenchMessage[]; concurrency: number };
      const rows = messages.map((m) => {
        const channel = config.feedback.channels.find((c) => c.channel === m.channel);
        const triage = triageByRules({ text: m.text, defaultKind: channel?.kind ?? "direct-feedback", defaultPriority: channel?.priority ?? "medium" });
        return {
          teamId: TEAM_ID,
          channel: m.channel,
          ts: m.ts,
          threadTs: m.threadTs ?? null,
          author: m.user,
          text: m.text,
          permalink: `https://orchestrator-bench.slack.test/archives/${m.channel}/p${m.ts.replace(".", "")}`,
          source: channel?.source ?? "Slack",
          kind: triage.kind,
          priority: triage.priority,
          theme: triage.theme,
          capturedBy: "message",
          triagedBy: "rules",
          postedAt: tsToDate(m.ts),
        };
      });
      const started = performance.now();
      await inFlight(rows, concurrency, async (row) => {
        await database.db.insert(feedback).values(row);
      });
      const ms = performance.now() - started;
      const [count] = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from feedback`);
      return { ms, count: count?.n ?? 0, memory: await memoryWithDatabase(database) };
    },
    memory: () => memoryWithDatabase(database),
    databaseCpu: () => databaseCpu(database),
    stop: async () => {
      await database.close();
      setImmediate(() => process.exit(0));
      return true;
    },
  });
  notify({ notice: "ready", database: database.kind, location: database.location });
} else {
  const emulatorUrl = process.env.BENCH_EMULATOR_URL;
  if (!emulatorUrl) throw new Error("BENCH_EMULATOR_URL is not set");
  const database = await openBenchDatabase();
  // The environment exactly as main.ts reads it (HTTP mode: bot token + signing secret; Socket Mode: bot token + app token), so this stays in step with env.ts.
  const env = readEnv({
    SLACK_BOT_TOKEN: BOT_TOKEN,
    ...(process.env.BENCH_TRANSPORT === "socket" ? { SLACK_APP_TOKEN: APP_TOKEN } : { SLACK_SIGNING_SECRET: SIGNING_SECRET }),
    SLACK_API_URL: `${emulatorUrl}/api/`,
    PORT: "0",
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    DATA_DIR: dataDir ?? "",
    ORCH_CONFIG: loaded.path,
    LOG_LEVEL: "info",
  });
  // Production settings otherwise: default post spacing, Slack retries, shutdown grace.
  const orchestrator: Orchestrator = await startOrchestrator({ env, loaded, database, host: "127.0.0.1" });
  const { config } = loaded;
  const background = orchestrator.services.background;
  /** Waits until the bot's background work (replies, reactions, backfill) is done, or `maxMs` passed. */
  const idle = async (maxMs = 100_000) => {
    const deadline = Date.now() + maxMs;
    while (Date.now() < deadline) {
      await Promise.race([background.idle(), new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())))]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (background.size === 0) return true;
    }
    return false;
  };
  const count = async () => {
    const [row] = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from feedback`);
    return row?.n ?? 0;
  };
  serveRpc({
    memory: () => memoryWithDatabase(database),
    databaseCpu: () => databaseCpu(database),
    gcMemory: () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (!gc) return undefined;
      gc();
      gc();
      return memoryWithDatabase(database);
    },
    idle: (args) => idle((args as { maxMs?: number } | undefined)?.maxMs),
    count: () => count(),
    seed: (args) => seedReportData(database.db, (args as { feedbackRows: number; ledgerReleases?: number }).feedbackRows, (args as { ledgerReleases?: number }).ledgerReleases),
    /** Timed calls of the functions behind `feedback analyze` and the monthly report, in this process, on this database. */
    time: async (args) => {
      const { what, runs, warmup } = args as { what: "feedbackStats" | "monthlyFigures" | "periodCount"; runs: number; warmup: number };
      const tz = config.timezone;
      const last30 = () => {
        const until = new Date();
        return { since: new Date(until.getTime() - 30 * 86_400_000), until };
      };
      let sample: unknown;
      const fn =
        what === "feedbackStats"
          ? async () => {
              const stats = await feedbackStats(database.db, { ...last30(), timeZone: tz });
              sample = { total: stats.total, open: stats.open, inProgress: stats.inProgress, closedInPeriod: stats.closedInPeriod, weeks: stats.weekly.length, themes: stats.topThemes.length };
            }
          : what === "monthlyFigures"
            ? async () => {
                const figures = await orchestratorFigures(database.db, config, periodEnding(new Date(), "monthly", tz));
                sample = {
                  releases: figures.releases.total,
                  pending: figures.releases.pendingTotal,
                  jobRuns: figures.jobs.total,
                  healthChecks: figures.health.reduce((n, h) => n + h.checks, 0),
                  newFeedback: figures.feedback.total,
                };
              }
            : async () => {
                const { since, until } = last30();
                const [row] = await queryRows<{ n: number }>(
                  database.db,
                  sql`select count(*)::int as n from ${feedback} where ${feedback.deletedAt} is null and ${feedback.postedAt} >= ${since.toISOString()}::timestamptz and ${feedback.postedAt} < ${until.toISOString()}::timestamptz`,
                );
                sample = { rows: row?.n ?? 0 };
              };
      const samples = await timeRuns(fn, runs, warmup);
      return { samples, sample };
    },
    stop: async () => {
      await orchestrator.stop();
      await database.close();
      setImmediate(() => process.exit(0));
      return true;
    },
  });
  notify({ notice: "ready", port: orchestrator.port, database: database.kind, location: database.location, memory: await memoryWithDatabase(database) });
}
