/**
 * `npm run bench`: the quality bars (ack latency, ingestion, reports, memory, Socket Mode), each against a baseline measured in the same run.
 *
 *   (a) /orch status ack latency under 50 signed requests in flight, vs a bare Bolt app that only acks;
 *   (b) ingestion of 10,000 feedback message events until every row is present, vs plain single-row
 *       inserts of the same rows with the same driver at the same concurrency;
 *   (c) `feedback analyze` (feedbackStats, 30 days) and the monthly Orchestrator Report figures
 *       (orchestratorFigures) over 100,000 feedback rows, plus both commands end to end through Slack;
 *   (d) resident memory of the bot process after (b), vs the same process idle;
 *   (e) Socket Mode: (a) with envelopes over the emulator's Socket Mode, vs a bare Bolt Socket Mode app on
 *       the same emulator process, and (b) with events_api envelopes, vs plain inserts again.
 *
 * PostgreSQL when BENCH_DATABASE_URL is set (a fresh database per measure, dropped afterwards), else
 * embedded PGlite (a fresh temp DATA_DIR per measure). The bot, the bare Bolt app and the emulator each
 * run in a process of their own (plain `node` over a compiled bundle, as the Docker image runs the bot); this process
 * only generates load and keeps time. Results: a table on stdout, bench/results.json, bench/README.md.
 *
 * BENCH_QUICK=1 runs everything at a tenth of the size (a smoke test of the bench itself). Diagnostics:
 * BENCH_ONLY, BENCH_ACK_TEXT, BENCH_PROFILE, BENCH_BOT_NODE_ARGS, BENCH_KEEP_LOGS (see bench/README.md).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, platform, release, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import postgres from "postgres";
import { Child, logProblems } from "./lib/child.js";
import { inFlight, type SignedResponse, SignedClient, sleep } from "./lib/load.js";
import { type BenchResults, type MeasureRow, renderReadme, renderTable, type RunResult } from "./lib/report.js";
import type { SeedReport } from "./lib/seed.js";
import { CHANNELS, type ChildNotice, feedbackMessages, type MemorySample, messageEnvelope, SIGNING_SECRET, summarize, USERS } from "./lib/shared.js";

const BENCH_DIR = import.meta.dirname;
const ROOT = resolve(BENCH_DIR, "..");
const QUICK = process.env.BENCH_QUICK === "1";
const scale = (n: number) => (QUICK ? Math.max(1, Math.round(n / 10)) : n);

const CONCURRENCY = 50;
const ACK_WARMUP = scale(500);
const ACK_REQUESTS = scale(2000);
const ACK_ROUNDS = 4;
/**
 * (e) takes more envelopes in more turns: at 50 in flight a Socket Mode ack takes ~5 ms, so a
 * single 20 ms stall of either process (a GC, the scheduler) holds 50 acks at once and, among 2,000,
 * decides the p99 alone.
 */
const SOCKET_ACK_REQUESTS = scale(6000);
const SOCKET_ACK_ROUNDS = 12;
const EVENTS = scale(10_000);
const FEEDBACK_ROWS = scale(100_000);
/** Releases added to (c)'s data set for the DORA section of the monthly report. */
const LEDGER_RELEASES = scale(2_000);
const QUERY_RUNS = 20;
const QUERY_WARMUP = 3;

/** Diagnostics: BENCH_ONLY=a,b,c runs a subset; BENCH_ACK_TEXT changes the command of (a); BENCH_PROFILE=1 writes CPU profiles of the bot processes and the bare apps. */
const ONLY = new Set((process.env.BENCH_ONLY ?? "a,b,c,e").split(",").map((s) => s.trim()));
const ACK_TEXT = process.env.BENCH_ACK_TEXT ?? "status";
const PROFILE = process.env.BENCH_PROFILE === "1";
/** Extra node flags for the bot processes (diagnostics, e.g. "--max-old-space-size=64"). */
const BOT_NODE_ARGS = (process.env.BENCH_BOT_NODE_ARGS ?? "").split(" ").filter(Boolean);

const BARS = { ackRatio: 1.25, ingestRatio: 0.7, reportMs: 200, rssMb: 150 };

const adminUrl = process.env.BENCH_DATABASE_URL || undefined;
const dbKind: "postgres" | "pglite" = adminUrl ? "postgres" : "pglite";
const work = mkdtempSync(join(tmpdir(), "orch-bench-"));
const cleanups: Array<() => Promise<void>> = [];
const mb = (bytes: number) => bytes / 1024 / 1024;
const round = (n: number, digits = 1) => Number(n.toFixed(digits));

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

// ---------------------------------------------------------------- databases

interface Provisioned {
  env: Record<string, string>;
  location: string;
  drop(): Promise<void>;
}

/**
 * A fresh database for one measure: CREATE DATABASE bench_… on PostgreSQL, a new DATA_DIR for PGlite.
 * `initialized`: PGlite's data folder is created (initdb, migrations) by a short-lived process first, so
 * the bot opens it as on any start but the very first; PGlite's initdb leaves hundreds of MB resident in
 * the process that ran it, which would otherwise dominate the memory measure.
 */
async function provision(label: string, options: { initialized?: boolean } = {}): Promise<Provisioned> {
  if (adminUrl) {
    const name = `bench_${label}_${randomBytes(4).toString("hex")}`;
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`create database "${name}"`);
    } finally {
      await admin.end();
    }
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    let dropped = false;
    const drop = async () => {
      if (dropped) return;
      dropped = true;
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await a.end();
      }
    };
    cleanups.push(drop);
    return { env: { BENCH_DB_URL: url.toString(), BENCH_DATA_DIR: "" }, location: `${url.host}/${name}`, drop };
  }
  const dir = join(work, `pglite-${label}`);
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    rmSync(dir, { recursive: true, force: true });
  };
  cleanups.push(drop);
  const env = { BENCH_DATA_DIR: dir, BENCH_DB_URL: "" };
  if (options.initialized) {
    const init = await startChild(`${label}-initdb`, "bot-process.ts", { BENCH_MODE: "db", ...env });
    await init.child.stop();
  }
  return { env, location: dir, drop };
}

async function databaseLabel(): Promise<{ label: string; version: string }> {
  if (adminUrl) {
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    try {
      const [row] = await admin<{ server_version: string }[]>`show server_version`;
      const url = new URL(adminUrl);
      const version = `PostgreSQL ${row?.server_version ?? "?"}`;
      return { label: `${version} at ${url.host} (separate server process; a fresh database per measure; drizzle over postgres.js, pool of 10)`, version };
    } finally {
      await admin.end();
    }
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, "node_modules/@electric-sql/pglite/package.json"), "utf8")) as { version: string };
  const version = `PGlite ${pkg.version}`;
  return {
    label: `${version}, embedded: in a process of its own that the bot starts, over a Unix socket (pglite-socket; a fresh temp DATA_DIR per measure; drizzle over postgres.js, one connection)`,
    version,
  };
}

/** CPU time of the PostgreSQL server's processes (Linux /proc; best effort), by pid, in milliseconds. */
function postgresCpu(): Map<number, number> {
  const result = new Map<number, number>();
  if (!adminUrl || platform() !== "linux") return result;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() !== "postgres") continue;
      const fields = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      // utime and stime are fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second).
      result.set(Number(entry), ((Number(fields[11]) || 0) + (Number(fields[12]) || 0)) * 10);
    } catch {
      // the process ended meanwhile
    }
  }
  return result;
}

function postgresCpuSince(before: Map<number, number>): number | null {
  if (!adminUrl || platform() !== "linux") return null;
  let total = 0;
  for (const [pid, ms] of postgresCpu()) total += ms - (before.get(pid) ?? 0);
  return total;
}

/** CPU milliseconds per event of every process taking part, over one measured window. */
interface CpuAccount {
  subject: number;
  loadGenerator: number;
  emulator: number | null;
  /** The database: PostgreSQL's server processes, or the embedded PGlite process. */
  database: number | null;
}

/** CPU time so far of the database serving `subject`: PostgreSQL's processes by pid, or the bench process's embedded PGlite. */
async function databaseCpu(subject: Child): Promise<Map<number, number>> {
  if (adminUrl) return postgresCpu();
  const embedded = await subject.call<{ pid: number; cpuMs: number } | null>("databaseCpu");
  return embedded ? new Map([[embedded.pid, embedded.cpuMs]]) : new Map();
}

async function databaseCpuSince(subject: Child, before: Map<number, number>): Promise<number | null> {
  if (adminUrl) return postgresCpuSince(before);
  const now = await databaseCpu(subject);
  if (now.size === 0) return null;
  let total = 0;
  for (const [pid, ms] of now) total += ms - (before.get(pid) ?? 0);
  return total;
}

// ---------------------------------------------------------------- processes

const logFiles: string[] = [];
/**
 * The bench processes run compiled, as the Docker image runs the bot (`node dist/main.js`, built by
 * scripts/build.mjs): bundled once per run into bench/.build, with the dependencies left in node_modules.
 */
const builds = new Map<string, Promise<string>>();
function compiled(script: string): Promise<string> {
  const cached = builds.get(script);
  if (cached) return cached;
  const built = build({
    // The embedded database's process is bundled beside each bench process, where the bot looks for it.
    entryPoints: { [script.replace(/\.ts$/, "")]: join(BENCH_DIR, script), "pglite-server": join(ROOT, "src", "db", "pglite-server.ts") },
    outdir: join(BENCH_DIR, ".build"),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "warning",
  }).then(() => join(BENCH_DIR, ".build", script.replace(/\.ts$/, ".js")));
  builds.set(script, built);
  return built;
}

async function startChild(name: string, script: string, env: Record<string, string>, options: { exposeGc?: boolean } = {}) {
  const logFile = join(work, `${name}.log`);
  logFiles.push(logFile);
  const isBot = env.BENCH_MODE === "bot";
  const profiled = isBot || env.BENCH_MODE?.startsWith("bare");
  const nodeArgs = [...(PROFILE && profiled ? ["--cpu-prof", `--cpu-prof-dir=${join(work, "profiles", name)}`] : []), ...(isBot ? BOT_NODE_ARGS : [])];
  const started = await Child.start(name, await compiled(script), env, logFile, { ...options, nodeArgs });
  cleanups.push(() => started.child.stop());
  return started;
}

interface EmulatorStats {
  calls: Record<string, { ok: number; failed: number; errors: Record<string, number> }>;
  responses: { ok: number; failed: number };
  memory: MemorySample;
}

interface CommandBody {
  body: string;
  responseId: string;
}

async function commandBodies(emulator: Child, text: string, count: number): Promise<CommandBody[]> {
  return emulator.call<CommandBody[]>("commandBodies", { count, text, user: USERS.engineer, channel: CHANNELS.general });
}

// ---------------------------------------------------------------- (a) ack latency

interface Batch {
  latencies: number[];
  statuses: Record<string, number>;
  ms: number;
}

async function commandBatch(client: SignedClient, bodies: CommandBody[]): Promise<Batch> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const started = performance.now();
  await inFlight(bodies, CONCURRENCY, async ({ body }) => {
    const response = await client.post(body, "application/x-www-form-urlencoded");
    latencies.push(response.ms);
    statuses[response.status] = (statuses[response.status] ?? 0) + 1;
  });
  return { latencies, statuses, ms: performance.now() - started };
}

function mergeBatches(batches: Batch[]): Batch {
  const statuses: Record<string, number> = {};
  for (const b of batches) for (const [k, v] of Object.entries(b.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return { latencies: batches.flatMap((b) => b.latencies), statuses, ms: batches.reduce((n, b) => n + b.ms, 0) };
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(intervalMs);
  }
  return false;
}

async function measureAck(emulator: Child, emulatorUrl: string) {
  log(`(a) /orch ${ACK_TEXT} ack latency: ${ACK_ROUNDS} rounds of ${ACK_REQUESTS / ACK_ROUNDS} per target after ${ACK_WARMUP} warm-up, ${CONCURRENCY} in flight`);
  const db = await provision("ack");
  const bare = await startChild("a-bare-bolt", "bot-process.ts", { BENCH_MODE: "bare" });
  const bot = await startChild("a-bot", "bot-process.ts", { BENCH_MODE: "bot", BENCH_EMULATOR_URL: emulatorUrl, ...db.env });
  await bot.child.call("idle");
  const bareClient = new SignedClient(`http://127.0.0.1:${bare.ready.port}/slack/events`, SIGNING_SECRET, CONCURRENCY);
  const botClient = new SignedClient(`http://127.0.0.1:${bot.ready.port}/slack/events`, SIGNING_SECRET, CONCURRENCY);
  const perRound = Math.ceil(ACK_REQUESTS / ACK_ROUNDS);
  const bareBodies = await commandBodies(emulator, ACK_TEXT, ACK_WARMUP + ACK_REQUESTS);
  const botBodies = await commandBodies(emulator, ACK_TEXT, ACK_WARMUP + ACK_REQUESTS);
  const before = await emulator.call<EmulatorStats>("stats");

  // Warm-up: JIT, connection pools, keep-alive sockets, the bot's prepared queries.
  await commandBatch(bareClient, bareBodies.slice(0, ACK_WARMUP));
  await commandBatch(botClient, botBodies.slice(0, ACK_WARMUP));
  await bot.child.call("idle");
  await sleep(500);

  const bareBatches: Batch[] = [];
  const botBatches: Batch[] = [];
  const drainMs: number[] = [];
  for (let r = 0; r < ACK_ROUNDS; r += 1) {
    const from = ACK_WARMUP + r * perRound;
    bareBatches.push(await commandBatch(bareClient, bareBodies.slice(from, from + perRound)));
    await sleep(300);
    botBatches.push(await commandBatch(botClient, botBodies.slice(from, from + perRound)));
    // The bot's work after each ack (status queries, response_url posts) finishes before the next batch;
    // how long that takes after the last ack is how late the last status reply of the burst arrives.
    const drainStarted = performance.now();
    await bot.child.call("idle");
    drainMs.push(performance.now() - drainStarted);
    await sleep(300);
  }
  const expectedResponses = before.responses.ok + ACK_WARMUP + ACK_REQUESTS;
  await waitFor(async () => (await emulator.call<EmulatorStats>("stats")).responses.ok >= expectedResponses, 30_000, 100);
  const after = await emulator.call<EmulatorStats>("stats");
  const botMemory = await bot.child.call<MemorySample>("memory");
  bareClient.close();
  botClient.close();
  await bare.child.stop();
  await bot.child.stop();
  await db.drop();

  const bareAll = mergeBatches(bareBatches);
  const botAll = mergeBatches(botBatches);
  const bareStats = summarize(bareAll.latencies);
  const botStats = summarize(botAll.latencies);
  return {
    requests: ACK_REQUESTS,
    warmup: ACK_WARMUP,
    concurrency: CONCURRENCY,
    rounds: ACK_ROUNDS,
    bare: { latencyMs: roundStats(bareStats), statuses: bareAll.statuses, throughputPerSecond: round((bareAll.latencies.length / bareAll.ms) * 1000) },
    bot: {
      latencyMs: roundStats(botStats),
      statuses: botAll.statuses,
      throughputPerSecond: round((botAll.latencies.length / botAll.ms) * 1000),
      statusRepliesExpected: ACK_WARMUP + ACK_REQUESTS,
      statusRepliesDelivered: after.responses.ok - before.responses.ok,
      /** After each measured burst: from its last ack until the bot's work after the acks (the replies) was done. */
      lastReplyAfterBurstMs: drainMs.map((m) => round(m)),
      statusRepliesFailed: after.responses.failed - before.responses.failed,
      rssMbAtReady: round(mb((bot.ready.memory as MemorySample).rss)),
      rssMbAfter: round(mb(botMemory.rss)),
      log: logProblems(bot.child.logFile),
    },
    ratioP99: round(botStats.p99 / bareStats.p99, 2),
    ratioP50: round(botStats.p50 / bareStats.p50, 2),
  };
}

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}

function nullable<T, U>(value: T | null, map: (value: T) => U): U | null {
  return value === null ? null : map(value);
}

function roundStats(s: ReturnType<typeof summarize>) {
  return { n: s.n, mean: round(s.mean, 2), p50: round(s.p50, 2), p90: round(s.p90, 2), p99: round(s.p99, 2), max: round(s.max, 2) };
}

// ---------------------------------------------------------------- (b) ingestion and (d) memory

async function measureIngestion(emulator: Child, emulatorUrl: string) {
  const messages = feedbackMessages(EVENTS, Date.now() - 60_000);

  log(`(b) baseline: ${EVENTS} plain single-row inserts into feedback, ${CONCURRENCY} in flight`);
  const baseDb = await provision("inserts");
  const baseline = await startChild("b-baseline-inserts", "bot-process.ts", { BENCH_MODE: "db", ...baseDb.env });
  const baseCpu = { subject: await baseline.child.call<number>("cpu"), parent: process.cpuUsage(), database: await databaseCpu(baseline.child) };
  const inserted = await baseline.child.call<{ ms: number; count: number; memory: MemorySample }>("inserts", { messages, concurrency: CONCURRENCY }, 600_000);
  const perRow = (ms: number) => round(ms / EVENTS, 3);
  const baselineCpu: CpuAccount = {
    subject: perRow((await baseline.child.call<number>("cpu")) - baseCpu.subject),
    loadGenerator: perRow(cpuMs(process.cpuUsage(baseCpu.parent))),
    emulator: null,
    database: nullable(await databaseCpuSince(baseline.child, baseCpu.database), perRow),
  };
  await baseline.child.stop();
  await baseDb.drop();
  const baselineRate = (inserted.count / inserted.ms) * 1000;
  log(`    ${inserted.count} rows in ${(inserted.ms / 1000).toFixed(2)} s: ${baselineRate.toFixed(0)} rows/s`);

  log(`(b) bot: ${EVENTS} signed message events to /slack/events, ${CONCURRENCY} in flight, until all rows are present`);
  const db = await provision("ingest", { initialized: true });
  const bot = await startChild("b-bot-ingest", "bot-process.ts", { BENCH_MODE: "bot", BENCH_EMULATOR_URL: emulatorUrl, ...db.env }, { exposeGc: true });
  await bot.child.call("idle");
  await sleep(1000);
  const idleMemory = await bot.child.call<MemorySample>("memory");
  // The messages exist in "Slack" (so the bot's :inbox_tray: reactions land), then their events arrive.
  await emulator.call("seedMessages", { messages });
  const before = await emulator.call<EmulatorStats>("stats");
  const client = new SignedClient(`http://127.0.0.1:${bot.ready.port}/slack/events`, SIGNING_SECRET, CONCURRENCY);
  const startCpu = { bot: await bot.child.call<number>("cpu"), emulator: await emulator.call<number>("cpu"), parent: process.cpuUsage(), database: await databaseCpu(bot.child) };
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  let redeliveries = 0;
  let lost = 0;
  const started = performance.now();
  await inFlight(messages, CONCURRENCY, async (message, index) => {
    const eventId = `Ev${(index + 1).toString(36).toUpperCase().padStart(10, "0")}`;
    const body = messageEnvelope(message, eventId);
    let response: SignedResponse = await client.post(body, "application/json");
    latencies.push(response.ms);
    statuses[response.status] = (statuses[response.status] ?? 0) + 1;
    // As Slack does: a failed delivery is redelivered (at once here) with X-Slack-Retry-Num, up to 3 times.
    for (let retry = 1; retry <= 3 && (response.status < 200 || response.status >= 300); retry += 1) {
      redeliveries += 1;
      response = await client.post(body, "application/json", { "x-slack-retry-num": String(retry), "x-slack-retry-reason": "http_error" });
      statuses[`retry ${response.status}`] = (statuses[`retry ${response.status}`] ?? 0) + 1;
    }
    if (response.status < 200 || response.status >= 300) lost += 1;
  });
  const sentMs = performance.now() - started;
  let rows = 0;
  const allPresent = await waitFor(
    async () => {
      rows = await bot.child.call<number>("count");
      return rows >= EVENTS;
    },
    60_000,
    20,
  );
  const presentMs = performance.now() - started;
  const perEvent = (ms: number) => round(ms / EVENTS, 3);
  const botCpu: CpuAccount = {
    subject: perEvent((await bot.child.call<number>("cpu")) - startCpu.bot),
    loadGenerator: perEvent(cpuMs(process.cpuUsage(startCpu.parent))),
    emulator: perEvent((await emulator.call<number>("cpu")) - startCpu.emulator),
    database: nullable(await databaseCpuSince(bot.child, startCpu.database), perEvent),
  };
  const atPresent = await bot.child.call<MemorySample>("memory");
  // Reactions still queued are waited for (a minute at most): memory is measured once the burst is over.
  const reactionsDone = await bot.child.call<boolean>("idle", { maxMs: 60_000 }, 90_000);
  const settledMs = performance.now() - started;
  const settledMemory = await bot.child.call<MemorySample>("memory");
  await sleep(2000);
  const laterMemory = await bot.child.call<MemorySample>("memory");
  const gcMemory = await bot.child.call<MemorySample | undefined>("gcMemory");
  const after = await emulator.call<EmulatorStats>("stats");
  client.close();
  await bot.child.stop();
  await db.drop();
  await emulator.call("clearMessages");

  const reactionsOk = (after.calls["reactions.add"]?.ok ?? 0) - (before.calls["reactions.add"]?.ok ?? 0);
  const reactionsFailed = (after.calls["reactions.add"]?.failed ?? 0) - (before.calls["reactions.add"]?.failed ?? 0);
  const botRate = allPresent ? (EVENTS / presentMs) * 1000 : (rows / presentMs) * 1000;
  const ingestion = {
    events: EVENTS,
    concurrency: CONCURRENCY,
    baseline: { rows: inserted.count, seconds: round(inserted.ms / 1000, 2), rowsPerSecond: round(baselineRate), cpuMsPerRow: baselineCpu },
    bot: {
      rowsPresent: rows,
      allPresent,
      secondsUntilAllSent: round(sentMs / 1000, 2),
      secondsUntilAllRowsPresent: round(presentMs / 1000, 2),
      secondsUntilReactionsDone: reactionsDone ? round(settledMs / 1000, 2) : null,
      eventsPerSecond: round(botRate),
      /** Until all rows were present: the bot's reactions still queued then are not in these figures. */
      cpuMsPerEvent: botCpu,
      responseLatencyMs: roundStats(summarize(latencies)),
      statuses,
      redeliveries,
      lost,
      reactions: { ok: reactionsOk, failed: reactionsFailed },
      log: logProblems(bot.child.logFile),
    },
    ratio: round(botRate / baselineRate, 2),
  };
  const memory = {
    note:
      dbKind === "pglite"
        ? "RSS of the bot process; the embedded PGlite runs in a process of its own, whose RSS is reported beside it (database*Mb) with the total"
        : "RSS of the bot process only (PostgreSQL is a separate server process)",
    readyMb: round(mb((bot.ready.memory as MemorySample).rss)),
    idleMb: round(mb(idleMemory.rss)),
    atAllRowsPresentMb: round(mb(atPresent.rss)),
    afterEventsMb: round(mb(settledMemory.rss)),
    afterEvents2sLaterMb: round(mb(laterMemory.rss)),
    afterGcMb: gcMemory ? round(mb(gcMemory.rss)) : null,
    peakMb: round(mb(Math.max(laterMemory.maxRss, settledMemory.maxRss))),
    heapUsedMb: { idle: round(mb(idleMemory.heapUsed)), afterEvents: round(mb(settledMemory.heapUsed)), afterGc: gcMemory ? round(mb(gcMemory.heapUsed)) : null },
    externalMb: { idle: round(mb(idleMemory.external)), afterEvents: round(mb(settledMemory.external)) },
    ratio: round(settledMemory.rss / idleMemory.rss, 2),
    databaseIdleMb: nullable(idleMemory.databaseRss ?? null, (b) => round(mb(b))),
    databaseAfterEventsMb: nullable(settledMemory.databaseRss ?? null, (b) => round(mb(b))),
    totalAfterEventsMb: round(mb(settledMemory.rss + (settledMemory.databaseRss ?? 0))),
  };
  return { ingestion, memory };
}

// ---------------------------------------------------------------- (e) Socket Mode: ack latency and ingestion

interface SocketBatch extends Batch {
  redeliveries: number;
  lost: number;
}

async function measureSocketMode(emulator: Child, emulatorUrl: string, bareUrl: string) {
  log(
    `(e) Socket Mode /orch ${ACK_TEXT} ack latency: ${SOCKET_ACK_ROUNDS} rounds of ${SOCKET_ACK_REQUESTS / SOCKET_ACK_ROUNDS} envelopes per app after ${ACK_WARMUP} warm-up, ${CONCURRENCY} in flight`,
  );
  const db = await provision("socket-ack");
  // The status replies (response_url posts) go to an emulator process of their own, so the process that sends the
  // envelopes and times their acks carries the same load for both apps, as the load generator does in (a).
  const replies = await startChild("e-emulator-replies", "emulator-process.ts", {});
  const bare = await startChild("e-bare-bolt-socket", "bot-process.ts", { BENCH_MODE: "bare-socket", BENCH_EMULATOR_URL: bareUrl });
  const bot = await startChild("e-bot-socket", "bot-process.ts", { BENCH_MODE: "bot", BENCH_TRANSPORT: "socket", BENCH_EMULATOR_URL: emulatorUrl, ...db.env });
  await bot.child.call("idle");
  const connected = await waitFor(
    async () => (await emulator.call<number>("socketConnections", { app: "bot" })) === 1 && (await emulator.call<number>("socketConnections", { app: "bare" })) === 1,
    30_000,
  );
  if (!connected) throw new Error("the Socket Mode apps did not connect to the emulator");
  const bodies = async () => (await commandBodies(replies.child, ACK_TEXT, ACK_WARMUP + SOCKET_ACK_REQUESTS)).map((b) => b.body);
  const bareBodies = await bodies();
  const botBodies = await bodies();
  const send = (app: "bot" | "bare", slice: string[]) => emulator.call<SocketBatch>("socketCommands", { app, bodies: slice, concurrency: CONCURRENCY }, 600_000);
  const before = await replies.child.call<EmulatorStats>("stats");
  await send("bare", bareBodies.slice(0, ACK_WARMUP));
  await send("bot", botBodies.slice(0, ACK_WARMUP));
  await bot.child.call("idle");
  await sleep(500);
  const perRound = Math.ceil(SOCKET_ACK_REQUESTS / SOCKET_ACK_ROUNDS);
  const bareBatches: Batch[] = [];
  const botBatches: Batch[] = [];
  // The two apps take turns, and which goes first alternates, so neither always meets the machine as the other left it.
  for (let r = 0; r < SOCKET_ACK_ROUNDS; r += 1) {
    const from = ACK_WARMUP + r * perRound;
    const bareRound = async () => {
      bareBatches.push(await send("bare", bareBodies.slice(from, from + perRound)));
      await sleep(300);
    };
    const botRound = async () => {
      botBatches.push(await send("bot", botBodies.slice(from, from + perRound)));
      await bot.child.call("idle");
      await sleep(300);
    };
    if (r % 2 === 0) {
      await bareRound();
      await botRound();
    } else {
      await botRound();
      await bareRound();
    }
  }
  const expectedResponses = before.responses.ok + ACK_WARMUP + SOCKET_ACK_REQUESTS;
  await waitFor(async () => (await replies.child.call<EmulatorStats>("stats")).responses.ok >= expectedResponses, 30_000, 100);
  const after = await replies.child.call<EmulatorStats>("stats");
  await bare.child.stop();
  await bot.child.stop();
  await replies.child.stop();
  await db.drop();
  const bareAll = mergeBatches(bareBatches);
  const botAll = mergeBatches(botBatches);
  const bareStats = summarize(bareAll.latencies);
  const botStats = summarize(botAll.latencies);
  const ack = {
    requests: SOCKET_ACK_REQUESTS,
    warmup: ACK_WARMUP,
    concurrency: CONCURRENCY,
    rounds: SOCKET_ACK_ROUNDS,
    note: "each envelope timed in the emulator from sending it to receiving its ack",
    bare: { latencyMs: roundStats(bareStats), statuses: bareAll.statuses, throughputPerSecond: round((bareAll.latencies.length / bareAll.ms) * 1000) },
    bot: {
      latencyMs: roundStats(botStats),
      statuses: botAll.statuses,
      throughputPerSecond: round((botAll.latencies.length / botAll.ms) * 1000),
      statusRepliesExpected: ACK_WARMUP + SOCKET_ACK_REQUESTS,
      statusRepliesDelivered: after.responses.ok - before.responses.ok,
      log: logProblems(bot.child.logFile),
    },
    ratioP99: round(botStats.p99 / bareStats.p99, 2),
    ratioP50: round(botStats.p50 / bareStats.p50, 2),
  };

  const messages = feedbackMessages(EVENTS, Date.now() - 30_000);
  log(`(e) baseline: ${EVENTS} plain single-row inserts into feedback, ${CONCURRENCY} in flight`);
  const baseDb = await provision("socket-inserts");
  const baseline = await startChild("e-baseline-inserts", "bot-process.ts", { BENCH_MODE: "db", ...baseDb.env });
  const inserted = await baseline.child.call<{ ms: number; count: number }>("inserts", { messages, concurrency: CONCURRENCY }, 600_000);
  await baseline.child.stop();
  await baseDb.drop();
  const baselineRate = (inserted.count / inserted.ms) * 1000;

  log(`(e) bot: ${EVENTS} message events in events_api envelopes over Socket Mode, ${CONCURRENCY} in flight, until all rows are present`);
  const ingestDb = await provision("socket-ingest", { initialized: true });
  const ingestBot = await startChild("e-bot-socket-ingest", "bot-process.ts", { BENCH_MODE: "bot", BENCH_TRANSPORT: "socket", BENCH_EMULATOR_URL: emulatorUrl, ...ingestDb.env });
  await ingestBot.child.call("idle");
  await waitFor(async () => (await emulator.call<number>("socketConnections", { app: "bot" })) === 1, 30_000);
  await emulator.call("seedMessages", { messages });
  const started = performance.now();
  const sent = await emulator.call<SocketBatch>("socketEvents", { messages, concurrency: CONCURRENCY, idPrefix: "S" }, 600_000);
  let rows = 0;
  const allPresent = await waitFor(
    async () => {
      rows = await ingestBot.child.call<number>("count");
      return rows >= EVENTS;
    },
    60_000,
    20,
  );
  const presentMs = performance.now() - started;
  const ingestLog = logProblems(ingestBot.child.logFile);
  await ingestBot.child.stop();
  await ingestDb.drop();
  await emulator.call("clearMessages");
  const botRate = ((allPresent ? EVENTS : rows) / presentMs) * 1000;
  const ingestion = {
    events: EVENTS,
    concurrency: CONCURRENCY,
    baseline: { rows: inserted.count, seconds: round(inserted.ms / 1000, 2), rowsPerSecond: round(baselineRate) },
    bot: {
      rowsPresent: rows,
      allPresent,
      secondsUntilAllAcked: round(sent.ms / 1000, 2),
      secondsUntilAllRowsPresent: round(presentMs / 1000, 2),
      eventsPerSecond: round(botRate),
      ackLatencyMs: roundStats(summarize(sent.latencies)),
      statuses: sent.statuses,
      redeliveries: sent.redeliveries,
      lost: sent.lost,
      log: ingestLog,
    },
    ratio: round(botRate / baselineRate, 2),
  };
  return { ack, ingestion };
}

// ---------------------------------------------------------------- (c) feedback analyze and the monthly report

async function measureReports(emulator: Child, emulatorUrl: string) {
  log(`(c) reports over ${FEEDBACK_ROWS} feedback rows: seeding`);
  const db = await provision("reports");
  const bot = await startChild("c-bot-reports", "bot-process.ts", { BENCH_MODE: "bot", BENCH_EMULATOR_URL: emulatorUrl, ...db.env });
  await bot.child.call("idle");
  const seed = await bot.child.call<SeedReport>("seed", { feedbackRows: FEEDBACK_ROWS, ledgerReleases: LEDGER_RELEASES }, 600_000);
  log(
    `    seeded ${seed.feedback} feedback, ${seed.jobRuns} job runs, ${seed.healthChecks} health checks, ${seed.releases} releases in ${seed.seconds.toFixed(1)} s (+ VACUUM ANALYZE ${seed.analyzeSeconds.toFixed(1)} s)`,
  );

  type Timed = { samples: number[]; sample: unknown };
  const timeIt = (what: string) => bot.child.call<Timed>("time", { what, runs: QUERY_RUNS, warmup: QUERY_WARMUP }, 600_000);
  log(`(c) timing: ${QUERY_RUNS} runs each after ${QUERY_WARMUP} warm-up`);
  const periodCount = await timeIt("periodCount");
  const stats = await timeIt("feedbackStats");
  const figures = await timeIt("monthlyFigures");

  // End to end: the signed command, the ack, the work after it, and the response_url post arriving at "Slack".
  const client = new SignedClient(`http://127.0.0.1:${bot.ready.port}/slack/events`, SIGNING_SECRET, 4);
  await emulator.call("watchResponses", { on: true });
  const roundTrips = async (text: string) => {
    const bodies = await commandBodies(emulator, text, QUERY_WARMUP + QUERY_RUNS);
    const samples: number[] = [];
    const acks: number[] = [];
    for (const [index, { body, responseId }] of bodies.entries()) {
      const arrived = new Promise<number>((resolveArrival, reject) => {
        const timer = setTimeout(() => {
          off();
          reject(new Error(`no response for "${text}" within 30 s`));
        }, 30_000);
        const off = emulator.onNotice((notice: ChildNotice) => {
          if (notice.notice !== "response" || notice.id !== responseId) return;
          clearTimeout(timer);
          off();
          resolveArrival(performance.now());
        });
      });
      const started = performance.now();
      const ack = await client.post(body, "application/x-www-form-urlencoded");
      if (ack.status !== 200) throw new Error(`"${text}" was answered ${ack.status}: ${ack.body}`);
      const at = await arrived;
      if (index >= QUERY_WARMUP) {
        samples.push(at - started);
        acks.push(ack.ms);
      }
    }
    return { samples, acks };
  };
  const analyzeTrip = await roundTrips("feedback analyze 30d");
  const reportTrip = await roundTrips("report monthly");
  await emulator.call("watchResponses", { on: false });
  client.close();
  const botLog = logProblems(bot.child.logFile);
  await bot.child.stop();
  await db.drop();

  const describe = (samples: number[]) => {
    const s = summarize(samples);
    return { runs: s.n, medianMs: round(s.p50, 1), p95Ms: round(s.p95, 1), minMs: round(s.min, 1), maxMs: round(s.max, 1) };
  };
  return {
    seed,
    runs: QUERY_RUNS,
    warmup: QUERY_WARMUP,
    baselinePeriodCount: { ...describe(periodCount.samples), result: periodCount.sample },
    feedbackStats: { ...describe(stats.samples), result: stats.sample },
    monthlyFigures: { ...describe(figures.samples), result: figures.sample },
    analyzeCommand: { ...describe(analyzeTrip.samples), ackMs: describe(analyzeTrip.acks) },
    reportCommand: { ...describe(reportTrip.samples), ackMs: describe(reportTrip.acks) },
    log: botLog,
  };
}

/** Which code was measured: the commit, and whether src/ or migrations/ had uncommitted changes. */
function codeVersion(): { commit: string; uncommittedChanges: boolean } | null {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "migrations"], { cwd: ROOT, encoding: "utf8" }).trim() !== "";
    return { commit, uncommittedChanges: dirty };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadAtStart = loadavg()[0] ?? 0;
  const t0 = performance.now();
  const database = await databaseLabel();
  log(`database: ${database.label}${QUICK ? " — QUICK mode (a tenth of the sizes)" : ""}`);
  log(`logs of the bench processes: ${work}`);
  const emulator = await startChild("emulator", "emulator-process.ts", {});
  const emulatorUrl = String(emulator.ready.url);

  const ack = ONLY.has("a") ? await measureAck(emulator.child, emulatorUrl) : undefined;
  if (ack) {
    log(`    bare Bolt p99 ${ack.bare.latencyMs.p99} ms, bot p99 ${ack.bot.latencyMs.p99} ms: ${ack.ratioP99}×`);
    log(`    status replies delivered ${ack.bot.statusRepliesDelivered}/${ack.bot.statusRepliesExpected}; last reply ${ack.bot.lastReplyAfterBurstMs.join(", ")} ms after each burst`);
  }
  const ingested = ONLY.has("b") ? await measureIngestion(emulator.child, emulatorUrl) : undefined;
  if (ingested) {
    const { ingestion, memory } = ingested;
    log(`    bot ${ingestion.bot.eventsPerSecond} events/s vs ${ingestion.baseline.rowsPerSecond} rows/s: ${ingestion.ratio}×; RSS ${memory.afterEventsMb} MB`);
    log(`    CPU ms per event: ${JSON.stringify(ingestion.bot.cpuMsPerEvent)}; per baseline row: ${JSON.stringify(ingestion.baseline.cpuMsPerRow)}`);
    log(
      `    event response ms: ${JSON.stringify(ingestion.bot.responseLatencyMs)}; statuses ${JSON.stringify(ingestion.bot.statuses)}; reactions done after ${ingestion.bot.secondsUntilReactionsDone} s`,
    );
  }
  const reports = ONLY.has("c") ? await measureReports(emulator.child, emulatorUrl) : undefined;
  const socket = ONLY.has("e") ? await measureSocketMode(emulator.child, emulatorUrl, String(emulator.ready.bareUrl)) : undefined;
  if (socket) {
    log(`    Socket Mode: bare Bolt p99 ${socket.ack.bare.latencyMs.p99} ms, bot p99 ${socket.ack.bot.latencyMs.p99} ms: ${socket.ack.ratioP99}×`);
    log(
      `    Socket Mode ingestion: ${socket.ingestion.bot.eventsPerSecond} events/s vs ${socket.ingestion.baseline.rowsPerSecond} rows/s: ${socket.ingestion.ratio}×; statuses ${JSON.stringify(socket.ingestion.bot.statuses)}`,
    );
  }
  const emulatorStats = await emulator.child.call<EmulatorStats>("stats");
  await emulator.child.stop();

  const ms = (n: number) => `${n.toFixed(n < 10 ? 2 : 1)} ms`;
  const rows: MeasureRow[] = [];
  if (ack) {
    rows.push({
      measure: `(a) /orch ${ACK_TEXT} ack p99, ${CONCURRENCY} concurrent signed requests`,
      figure: `${ms(ack.bot.latencyMs.p99)} (p50 ${ms(ack.bot.latencyMs.p50)}, ${ack.bot.throughputPerSecond.toFixed(0)} req/s)`,
      baseline: `bare Bolt app: ${ms(ack.bare.latencyMs.p99)} (p50 ${ms(ack.bare.latencyMs.p50)}, ${ack.bare.throughputPerSecond.toFixed(0)} req/s)`,
      ratio: `${ack.ratioP99.toFixed(2)}×`,
      bar: `≤ ${BARS.ackRatio}×`,
      pass: ack.ratioP99 <= BARS.ackRatio && Object.keys(ack.bot.statuses).every((s) => s === "200") && ack.bot.statusRepliesDelivered === ack.bot.statusRepliesExpected,
    });
  }
  if (ingested) {
    const { ingestion } = ingested;
    rows.push({
      measure: `(b) ingestion of ${EVENTS.toLocaleString("en-US")} thread-message events, all rows present`,
      figure: `${ingestion.bot.eventsPerSecond.toFixed(0)} events/s (${ingestion.bot.secondsUntilAllRowsPresent} s)`,
      baseline: `plain single-row inserts: ${ingestion.baseline.rowsPerSecond.toFixed(0)} rows/s (${ingestion.baseline.seconds} s)`,
      ratio: `${ingestion.ratio.toFixed(2)}×`,
      bar: `≥ ${BARS.ingestRatio}×`,
      pass: ingestion.ratio >= BARS.ingestRatio && ingestion.bot.allPresent && ingestion.bot.lost === 0,
    });
  }
  if (reports) {
    const base = `one count(*) over the period: p95 ${ms(reports.baselinePeriodCount.p95Ms)}`;
    const reportRow = (measure: string, figures: { p95Ms: number; medianMs: number }): MeasureRow => ({
      measure,
      figure: `p95 ${ms(figures.p95Ms)} (median ${ms(figures.medianMs)})`,
      baseline: base,
      ratio: `${(figures.p95Ms / reports.baselinePeriodCount.p95Ms).toFixed(1)}×`,
      bar: `< ${BARS.reportMs} ms`,
      pass: figures.p95Ms < BARS.reportMs,
    });
    rows.push(
      reportRow(`(c) feedback analyze 30d (feedbackStats), ${FEEDBACK_ROWS.toLocaleString("en-US")} rows`, reports.feedbackStats),
      reportRow(`(c) monthly Orchestrator Report figures with DORA (orchestratorFigures), +${LEDGER_RELEASES.toLocaleString("en-US")} releases`, reports.monthlyFigures),
      reportRow("(c) `/orch feedback analyze 30d` end to end (command → response_url post)", reports.analyzeCommand),
      reportRow("(c) `/orch report monthly` end to end (command → response_url post)", reports.reportCommand),
    );
  }
  if (ingested) {
    const { memory } = ingested;
    const beside = memory.databaseAfterEventsMb !== null ? `; embedded database process ${memory.databaseAfterEventsMb.toFixed(0)} MB, total ${memory.totalAfterEventsMb.toFixed(0)} MB` : "";
    rows.push({
      measure: `(d) bot RSS after ${EVENTS.toLocaleString("en-US")} events`,
      figure: `${memory.afterEventsMb.toFixed(0)} MB (peak ${memory.peakMb.toFixed(0)} MB)${beside}`,
      baseline: `idle bot: ${memory.idleMb.toFixed(0)} MB${memory.databaseIdleMb !== null ? ` (database process ${memory.databaseIdleMb.toFixed(0)} MB)` : ""}`,
      ratio: `${memory.ratio.toFixed(2)}×`,
      bar: `< ${BARS.rssMb} MB`,
      pass: memory.afterEventsMb < BARS.rssMb,
    });
  }

  if (socket) {
    const { ack: sAck, ingestion: sIngest } = socket;
    rows.push(
      {
        measure: `(e) Socket Mode: /orch ${ACK_TEXT} ack p99, ${CONCURRENCY} concurrent envelopes`,
        figure: `${ms(sAck.bot.latencyMs.p99)} (p50 ${ms(sAck.bot.latencyMs.p50)}, ${sAck.bot.throughputPerSecond.toFixed(0)} req/s)`,
        baseline: `bare Bolt Socket Mode app: ${ms(sAck.bare.latencyMs.p99)} (p50 ${ms(sAck.bare.latencyMs.p50)}, ${sAck.bare.throughputPerSecond.toFixed(0)} req/s)`,
        ratio: `${sAck.ratioP99.toFixed(2)}×`,
        bar: `≤ ${BARS.ackRatio}×`,
        pass: sAck.ratioP99 <= BARS.ackRatio && Object.keys(sAck.bot.statuses).every((s) => s === "acked") && sAck.bot.statusRepliesDelivered === sAck.bot.statusRepliesExpected,
      },
      {
        measure: `(e) Socket Mode: ingestion of ${EVENTS.toLocaleString("en-US")} thread-message events, all rows present`,
        figure: `${sIngest.bot.eventsPerSecond.toFixed(0)} events/s (${sIngest.bot.secondsUntilAllRowsPresent} s)`,
        baseline: `plain single-row inserts: ${sIngest.baseline.rowsPerSecond.toFixed(0)} rows/s (${sIngest.baseline.seconds} s)`,
        ratio: `${sIngest.ratio.toFixed(2)}×`,
        bar: `≥ ${BARS.ingestRatio}×`,
        pass: sIngest.ratio >= BARS.ingestRatio && sIngest.bot.allPresent && sIngest.bot.lost === 0,
      },
    );
  }

  const cpuList = cpus();
  const run: RunResult = {
    date: startedAt.toISOString(),
    durationSeconds: round((performance.now() - t0) / 1000),
    quick: QUICK,
    code: codeVersion(),
    machine: {
      cpuModel: cpuList[0]?.model ?? "unknown",
      cores: cpuList.length,
      totalMemoryMb: Math.round(mb(totalmem())),
      node: process.version,
      platform: `${platform()} ${release()}`,
      /** 1-minute load average when the run started and ended: other work on the machine shows here. */
      loadAverage: { start: round(loadAtStart, 2), end: round(loadavg()[0] ?? 0, 2) },
    },
    database: { kind: dbKind, ...database },
    table: rows,
    measures: {
      ack,
      ingestion: ingested?.ingestion,
      reports,
      memory: ingested?.memory,
      socketMode: socket,
      emulator: { calls: emulatorStats.calls, responses: emulatorStats.responses, rssMb: round(mb(emulatorStats.memory.rss)) },
    },
  };

  process.stdout.write(`\n${renderTable(run)}\n`);
  const resultsPath = join(BENCH_DIR, "results.json");
  let results: BenchResults = { runs: {} };
  if (existsSync(resultsPath)) {
    try {
      results = JSON.parse(readFileSync(resultsPath, "utf8")) as BenchResults;
    } catch {
      results = { runs: {} };
    }
  }
  const partial = QUICK || ONLY.size < 4 || ACK_TEXT !== "status" || PROFILE || BOT_NODE_ARGS.length > 0;
  if (!partial) {
    results.runs[dbKind] = run;
    results.latest = dbKind;
    writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(BENCH_DIR, "README.md"), renderReadme(results));
    log(`wrote bench/results.json and bench/README.md (${run.durationSeconds} s)`);
  } else {
    log(`partial or diagnostic run: results not written (${run.durationSeconds} s)`);
  }
  const problems = [ack?.bot.log, ingested?.ingestion.bot.log, reports?.log].flatMap((l) => (l ? Object.entries(l.messages) : []));
  if (problems.length > 0) log(`bot warnings/errors: ${problems.map(([m, n]) => `${n}× ${m}`).join("; ")}`);
}

let failed = false;
try {
  await main();
} catch (error) {
  failed = true;
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.stderr.write(`logs: ${logFiles.join(", ")}\n`);
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => log(`cleanup failed: ${String(error)}`));
  if (!failed && process.env.BENCH_KEEP_LOGS !== "1" && !PROFILE) rmSync(work, { recursive: true, force: true });
  if (PROFILE) log(`CPU profiles: ${join(work, "profiles")}`);
}
process.exitCode = failed ? 1 : 0;
