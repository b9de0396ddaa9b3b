import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, openDatabase, queryRows } from "../src/db/client.js";
import { serveEmulator } from "../src/emulator/server.js";
import type { SlackMessage } from "../src/emulator/workspace.js";
import { APP_TOKEN, BOT_TOKEN, eventually, SIGNING_SECRET, testEmulator, TRANSPORTS } from "./support/bot.js";
import { CHANNELS, FIXTURES, testConfig, USERS, workDir } from "./support/config.js";
import { createPostgresDatabase, dropPostgresDatabase } from "./support/db.js";
import { type BotProcess, spawnBot } from "./support/process.js";
import { deploysIn } from "./support/releases.js";

/** Three separate bot processes on one PostgreSQL, behind one Slack workspace that reaches them in turn (HTTP) or shares envelopes among their connections (Socket Mode). */
describe.runIf(process.env.TEST_DATABASE_URL).each(TRANSPORTS)("three bot processes on one PostgreSQL over %s", (transport) => {
  const dir = workDir();
  const emulator = testEmulator(transport);
  let served: Awaited<ReturnType<typeof serveEmulator>>;
  let url: string;
  let database: Database;
  let bots: BotProcess[] = [];

  beforeAll(async () => {
    url = await createPostgresDatabase();
    database = await openDatabase({ databaseUrl: url, poolSize: 2 });
    served = await serveEmulator(emulator);
    const loaded = testConfig({
      dir,
      jobs: `
  dependency-updates: { schedule: "* * * * *", run: ["${FIXTURES}/record-run.sh", "${dir}", "0"] }
  security-patches: { schedule: "* * * * *", run: ["${FIXTURES}/record-run.sh", "${dir}", "40"], timeout: 60s }`,
    });
    const slack: Record<string, string> = transport === "socket" ? { SLACK_APP_TOKEN: APP_TOKEN } : { SLACK_SIGNING_SECRET: SIGNING_SECRET };
    const env = { SLACK_BOT_TOKEN: BOT_TOKEN, ...slack, SLACK_API_URL: `${served.url}/api/`, DATABASE_URL: url, ORCH_CONFIG: loaded.path, SHUTDOWN_GRACE_SECONDS: "1" };
    bots = await Promise.all([1, 2, 3].map(() => spawnBot(env)));
    if (transport === "http") emulator.setRequestUrl(bots.map((b) => `${b.url}/slack/events`));
    else expect(emulator.socketMode?.liveConnections()).toHaveLength(3);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(bots.map((b) => b.stop("SIGKILL")));
    await served?.close();
    await database?.close();
    if (url) await dropPostgresDatabase(url);
  });

  const releaseMessage = (version: string, env: string) =>
    emulator.workspace
      .history(CHANNELS.releases)
      .filter((m) => JSON.stringify(m.blocks ?? []).includes(`Release ${version} → ${env}`))
      .at(-1);

  const waitForRelease = (version: string, env: string, state: string) =>
    eventually(async () => {
      const rows = await queryRows<{ state: string }>(database.db, sql`select state from releases where version = ${version} and environment = ${env}`);
      if (rows[0]?.state !== state) throw new Error(`${version} → ${env} is ${rows[0]?.state}`);
    }, 20_000);

  it("deploys once when three approvers click at the same moment, each click reaching another process", async () => {
    await emulator.command(USERS.engineer, CHANNELS.general, "release 6.0.0");
    await waitForRelease("6.0.0", "staging", "awaiting_approval");
    const message = await eventually(() => {
      const found = releaseMessage("6.0.0", "staging");
      if (!JSON.stringify(found?.blocks ?? []).includes("release_approve")) throw new Error("no buttons yet");
      return found!;
    });
    const seen = structuredClone(message.blocks ?? []);
    const clicks = await Promise.all([USERS.approver1, USERS.approver2, USERS.approver3].map((user) => emulator.click(user, { channel: CHANNELS.releases, ts: message.ts }, "release_approve", seen)));
    expect(clicks.map((c) => c.status)).toEqual([200, 200, 200]);
    await waitForRelease("6.0.0", "staging", "live");
    expect(deploysIn(dir)).toEqual(["staging 6.0.0"]);
    const approvals = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from approvals`);
    expect(approvals[0]?.n).toBe(1);
  });

  it("records each feedback message once, and reacts once, whichever process gets it", async () => {
    const posted: SlackMessage[] = [];
    for (let i = 0; i < 30; i += 1) posted.push(await emulator.message(USERS.stakeholder, CHANNELS.helpdesk, `Replica feedback ${i}: the load forecast missed the evening peak`));
    await emulator.idle();
    const rows = await eventually(async () => {
      const found = await queryRows<{ ts: string }>(database.db, sql`select ts from feedback where text like 'Replica feedback %'`);
      if (found.length < 30) throw new Error(`${found.length} rows`);
      return found;
    }, 20_000);
    expect(new Set(rows.map((r) => r.ts)).size).toBe(30);
    expect(rows).toHaveLength(30);
    await eventually(() => expect(posted.every((m) => emulator.workspace.find(CHANNELS.helpdesk, m.ts)?.reactions?.[0]?.count === 1)).toBe(true), 20_000);
  });

  it("runs a cron slot once when all three processes fire it", async () => {
    // Wait for the next minute's slot, which every process's node-cron fires at the same moment.
    const runsOf = () => (existsSync(join(dir, "runs.log")) ? readFileSync(join(dir, "runs.log"), "utf8").split("\n").filter(Boolean) : []);
    const before = new Set(runsOf());
    const nextMinute = Math.ceil((Date.now() + 1000) / 60_000) * 60_000;
    await new Promise((resolve) => setTimeout(resolve, nextMinute - Date.now() + 3000));
    const slot = new Date(nextMinute);
    const rows = await eventually(async () => {
      const found = await queryRows<{ job: string; status: string; replica: string }>(
        database.db,
        sql`select job, status, replica from job_runs where slot = ${slot.toISOString()} and job = 'dependency-updates'`,
      );
      if (found[0]?.status !== "succeeded") throw new Error(`run is ${found[0]?.status ?? "missing"}`);
      return found;
    }, 20_000);
    expect(rows).toHaveLength(1);
    const fresh = runsOf().filter((line) => !before.has(line) && line.endsWith(" 0"));
    expect(fresh).toHaveLength(1);
  }, 100_000);

  it("on SIGTERM during a deploy and a job: exits cleanly and leaves an honest state", async () => {
    // security-patches (every minute, 40 s long) is running now on one of the processes; start a deploy that hangs too.
    await emulator.command(USERS.engineer, CHANNELS.general, "release 6.1.0-hang.1");
    await waitForRelease("6.1.0-hang.1", "staging", "awaiting_approval");
    const message = await eventually(() => {
      const found = releaseMessage("6.1.0-hang.1", "staging");
      if (!JSON.stringify(found?.blocks ?? []).includes("release_approve")) throw new Error("no buttons yet");
      return found!;
    });
    await emulator.click(USERS.approver1, { channel: CHANNELS.releases, ts: message.ts }, "release_approve");
    await waitForRelease("6.1.0-hang.1", "staging", "deploying");
    await eventually(async () => {
      const running = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from job_runs where job = 'security-patches' and status = 'running'`);
      if (!running[0]?.n) throw new Error("no running job yet");
    }, 70_000);
    const codes = await Promise.all(bots.map((b) => b.stop("SIGTERM")));
    expect(codes).toEqual([0, 0, 0]);

    const [release] = await queryRows<{ state: string; reason: string }>(database.db, sql`select state, reason from releases where version = '6.1.0-hang.1'`);
    expect(release?.state).toBe("failed");
    expect(release?.reason).toContain("shut down while this release was deploying");
    const jobs = await queryRows<{ status: string; summary: string }>(database.db, sql`select status, summary from job_runs where job = 'security-patches' order by id desc limit 1`);
    expect(jobs[0]?.status).toBe("failed");
    expect(jobs[0]?.summary).toMatch(/interrupted by shutdown/i);
    const running = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from job_runs where status = 'running'`);
    expect(running[0]?.n).toBe(0);
    expect(emulator.workspace.history(CHANNELS.alerts).some((m) => m.text.includes("6.1.0-hang.1") && m.text.includes("interrupted"))).toBe(true);
  }, 120_000);
});
