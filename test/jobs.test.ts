import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { and, asc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "../src/db/client.js";
import { healthChecks, healthState, jobRuns } from "../src/db/schema.js";
import { recordHealth } from "../src/features/health/job.js";
import { slotAfter } from "../src/core/jobs/slots.js";
import { formatDateTime } from "../src/time.js";
import { eventually, startTestBot, type TestBot } from "./support/bot.js";
import { CHANNELS, FIXTURES, testConfig, USERS, workDir } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";

/** A fake of the team's services: per-environment health endpoints and the model metrics the retraining review reads. */
class FakeServices {
  readonly health: Record<string, { status: number; delayMs: number }> = { staging: { status: 200, delayMs: 0 }, production: { status: 200, delayMs: 0 } };
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      if (req.url === "/metrics/model.json") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ mape: 7.4, mae_volts: 1.62, trained_at: "2026-10-30" }));
        return;
      }
      const env = this.health[req.url?.split("/")[1] ?? ""] ?? { status: 404, delayMs: 0 };
      setTimeout(() => res.writeHead(env.status, { "content-type": "application/json" }).end('{"status":"ok"}'), env.delayMs);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe.each(dbKinds())("jobs and their commands on %s", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;
  const services = new FakeServices();

  beforeAll(async () => {
    await services.start();
    db = await openTestDatabase(kind);
    const dir = workDir();
    const base = `http://127.0.0.1:${services.port}`;
    const deploy = `{ run: ["${FIXTURES}/deploy.sh", "${dir}", "{environment}", "{version}"], timeout: 20s }`;
    const loaded = testConfig({
      dir,
      environments: `
  - name: staging
    approvals: 1
    deploy: ${deploy}
    health: { url: "${base}/staging/healthz", maxLatencyMs: 300 }
  - name: production
    approvals: 2
    after: staging
    deploy: ${deploy}
    health: { url: "${base}/production/healthz", maxLatencyMs: 300 }`,
      jobs: `
  security-patches: { run: ["cat", "${FIXTURES}/trivy.json"] }
  dependency-updates: { run: ["cat", "${FIXTURES}/npm-outdated.json"] }
  model-retraining-review: { http: { url: "${base}/metrics/model.json" } }
  roadmap-planning: { enabled: false }
  weekly-digest: { schedule: "0 9 * * 5" }
  knowledge-sync: { run: ["sleep", "30"] }`,
    });
    bot = await startTestBot({ db, loaded, start: { jobs: { timers: false } } });
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
    await services.stop();
  });

  const command = async (user: string, text: string) => {
    const before = bot.emulator.ephemeralsFor(user, CHANNELS.general).length;
    await bot.emulator.command(user, CHANNELS.general, text);
    await bot.idle();
    return bot.emulator.ephemeralsFor(user, CHANNELS.general).slice(before);
  };
  const alerts = () => bot.emulator.workspace.history(CHANNELS.alerts);
  const runs = () => db.database.db.select().from(jobRuns).orderBy(asc(jobRuns.id));

  it("refuses `jobs run` to someone who is not an admin, and runs nothing", async () => {
    const [reply] = await command(USERS.engineer, "jobs run security-patches");
    expect(reply?.text).toBe("Only admins can use `/orch jobs run <name>`. Admins: <@U0ADMIN>.");
    expect(await runs()).toEqual([]);
  });

  it("names the known jobs when asked to run an unknown one", async () => {
    const [reply] = await command(USERS.admin, "jobs run nightly-backup");
    expect(reply?.text).toMatch(
      /^`nightly-backup` is not a job: the jobs are `weekly-digest`, `monthly-digest`, `dependency-updates`, .*`approval-expiry`\.\nUsage: `\/orch jobs run <name>`, for example `\/orch jobs run dependency-updates`$/,
    );
    expect((await command(USERS.admin, "jobs run roadmap-planning"))[0]?.text).toBe(
      "`roadmap-planning` is disabled in the configuration (`jobs.roadmap-planning.enabled: false`), so it does not run, on its schedule or by hand.",
    );
    expect(await runs()).toEqual([]);
  });

  it("runs a trivy scan on request, fails it for HIGH/CRITICAL findings, and alerts with the findings", async () => {
    const replies = await command(USERS.admin, "jobs run security-patches");
    expect(replies.map((r) => r.text)).toEqual([
      expect.stringMatching(/^Running `security-patches` now \(run #\d+\); I will tell you here when it finishes\.$/),
      expect.stringMatching(
        /^:x: `security-patches` failed in \d+m?s: 1 critical and 4 high findings \(1 critical, 4 high, 3 medium, 1 low\): a secret \(aws-access-key-id\) in backend\/app\/core\/settings\.py, /,
      ),
    ]);
    const [run] = await runs();
    expect(run).toMatchObject({ job: "security-patches", trigger: "manual", requestedBy: USERS.admin, status: "failed", details: { kind: "trivy", counts: { CRITICAL: 1, HIGH: 4 } } });

    const alert = alerts().find((m) => m.text.includes("security-patches"));
    expect(alert?.text).toMatch(/^:x: Job \*security-patches\* failed: 1 critical and 4 high findings/);
    const shown = JSON.stringify(alert?.blocks);
    expect(shown).toContain("CRITICAL aws-access-key-id in secret — backend/app/core/settings.py: AWS Access Key ID");
    expect(shown).toContain("HIGH CVE-2024-45296 in path-to-regexp 0.1.7");
    expect(shown).toContain(`manual by <@${USERS.admin}>`);
  });

  it("reads npm outdated and the model metrics, succeeding without an alert", async () => {
    const outdated = await command(USERS.admin, "jobs run dependency-updates");
    expect(outdated.at(-1)?.text).toMatch(
      /^:white_check_mark: `dependency-updates` succeeded in \d+m?s: 7 outdated packages, 3 behind a major version: @electric-sql\/pglite 0\.2\.17 → 0\.3\.4, react 18\.3\.1 → 19\.1\.0, vite 5\.2\.11 → 6\.3\.5\.$/,
    );
    const model = await command(USERS.admin, "jobs run model-retraining-review");
    expect(model.at(-1)?.text).toMatch(
      /^:white_check_mark: `model-retraining-review` succeeded in \d+m?s: Model accuracy is within limits; no retraining needed: mape 7\.4 ≤ 10, mae_volts 1\.62 ≤ 2\.$/,
    );
    expect(alerts().filter((m) => m.text.includes("dependency-updates") || m.text.includes("model-retraining-review"))).toEqual([]);
  });

  it("alerts when an environment turns failing or slow and when it recovers, not on every check", async () => {
    const check = async () => {
      const replies = await command(USERS.admin, "jobs run health-check");
      expect(replies.at(-1)?.text).toMatch(/^:white_check_mark: `health-check` succeeded/);
    };
    const stagingAlerts = () =>
      alerts()
        .filter((m) => m.text.includes("*staging*"))
        .map((m) => m.text);

    await check();
    services.health.staging = { status: 503, delayMs: 0 };
    await check();
    await check();
    services.health.staging = { status: 200, delayMs: 0 };
    await check();
    services.health.staging = { status: 200, delayMs: 450 };
    await check();
    await check();

    expect(stagingAlerts()).toEqual([
      expect.stringMatching(/^:red_circle: \*staging\* is failing: HTTP 503 in \d+ ms \(<http:\/\/127\.0\.0\.1:\d+\/staging\/healthz\|health check>\)$/),
      expect.stringMatching(/^:large_green_circle: \*staging\* recovered: HTTP 200 in \d+ ms, after \d+s failing\.$/),
      expect.stringMatching(/^:large_orange_circle: \*staging\* is slow: \d+ ms \(limit 300 ms\)/),
    ]);
    expect(alerts().filter((m) => m.text.includes("*production*"))).toEqual([]);

    const stored = await db.database.db.select().from(healthChecks).where(eq(healthChecks.environment, "staging")).orderBy(asc(healthChecks.id));
    expect(stored.map((c) => c.ok)).toEqual([true, false, false, true, false, false]);
    expect(stored.map((c) => c.statusCode)).toEqual([200, 503, 503, 200, 200, 200]);
    expect(stored.every((c) => typeof c.latencyMs === "number")).toBe(true);
    expect(stored[4]?.error).toMatch(/^slow: \d+ ms \(limit 300 ms\)$/);
    const states = await db.database.db.select().from(healthState).orderBy(asc(healthState.environment));
    expect(states.map((s) => [s.environment, s.ok])).toEqual([
      ["production", true],
      ["staging", false],
    ]);
    services.health.staging = { status: 200, delayMs: 0 };
  });

  it("detects a change of health state once when two replicas record the same result at once", async () => {
    const second: Database = db.url ? await openDatabase({ databaseUrl: db.url, poolSize: 2 }) : db.database;
    try {
      const failing = { ok: false, detail: "HTTP 502 in 8 ms", statusCode: 502, latencyMs: 8 };
      await recordHealth(db.database.db, "qa", { ok: true, detail: "HTTP 200 in 5 ms", statusCode: 200, latencyMs: 5 });
      const changes = await Promise.all([recordHealth(db.database.db, "qa", failing), recordHealth(second.db, "qa", failing)]);
      expect(changes.filter(Boolean)).toEqual([{ kind: "failing", detail: "HTTP 502 in 8 ms" }]);
    } finally {
      if (second !== db.database) await second.close();
    }
  });

  it("posts the weekly digest to the digests channel when run", async () => {
    const replies = await command(USERS.admin, "jobs run weekly-digest");
    expect(replies.at(-1)?.text).toMatch(/^:white_check_mark: `weekly-digest` succeeded in \d+m?s: Posted the weekly Orchestrator Report \(.+ – .+\): 0 releases, 1 failed job run, 0 new feedback\.$/);
    const digest = bot.emulator.workspace.history(CHANNELS.digests).at(-1);
    expect(digest?.text).toMatch(/^Orchestrator Report \(weekly, /);
    const shown = JSON.stringify(digest?.blocks);
    expect(shown).toContain("Orchestrator Report — weekly");
    expect(shown).toContain("*:gear: Jobs* — ");
    expect(shown).toContain(":x: *security-patches*");
    expect(shown).toContain("*staging* — :red_circle: failing");
  });

  it("lists every job with its schedule in words and cron, next run, last result, and disabled ones as disabled", async () => {
    const [reply] = await command(USERS.engineer, "jobs");
    const shown = (reply?.blocks ?? [])
      .map((b) => (b as { text?: { text: string }; elements?: Array<{ text: string }> }).text?.text ?? (b as { elements?: Array<{ text: string }> }).elements?.map((e) => e.text).join(" ") ?? "")
      .join("\n");
    const now = new Date();
    const nextFriday = formatDateTime(slotAfter("0 9 * * 5", "Asia/Bangkok", now) as Date, "Asia/Bangkok", false);
    expect(shown).toContain(`*weekly-digest* — Weekly Orchestrator Report\n      Fridays at 09:00 (\`0 9 * * 5\`) · next ${nextFriday}\n      last: :white_check_mark: succeeded`);
    expect(shown).toContain("*roadmap-planning* — Roadmap planning\n      :no_entry_sign: disabled (`jobs.roadmap-planning.enabled: false`)\n      last: never run");
    expect(shown).toMatch(/\*security-patches\* — Security patches\n {6}Mondays at 08:15 \(`15 8 \* \* 1`\) · next .+\n {6}last: :x: failed \d+s ago — 1 critical and 4 high findings/);
    expect(shown).toContain("*health-check* — Health check\n      every 5 minutes (`*/5 * * * *`)");
    expect(shown).toContain("*approval-expiry* — Approval expiry, freeze ends and scheduled deploys\n      every minute (`* * * * *`) · next ");
    expect(shown).toContain("Times in Asia/Bangkok.");
  });

  it("gives anyone the Orchestrator Report now, weekly by default or monthly", async () => {
    const [weekly] = await command(USERS.stakeholder, "report");
    expect(weekly?.text).toMatch(/^Orchestrator Report \(weekly, /);
    const [monthly] = await command(USERS.stakeholder, "report monthly");
    expect(JSON.stringify(monthly?.blocks)).toContain("Orchestrator Report — monthly");
    const [wrong] = await command(USERS.stakeholder, "report yearly");
    expect(wrong?.text).toBe("`yearly` is not a valid period: use one of `weekly`, `monthly`.\nUsage: `/orch report [<weekly|monthly>]`, for example `/orch report monthly`");
  });

  it("shows recent failures and the next digests in /orch status", async () => {
    const [reply] = await command(USERS.engineer, "status");
    const jobsSection = (reply?.blocks ?? []).map((b) => (b as { text?: { text: string } }).text?.text ?? "").find((t) => t.startsWith("*Jobs*"));
    const tz = "Asia/Bangkok";
    const now = new Date();
    const weekly = formatDateTime(slotAfter("0 9 * * 5", tz, now) as Date, tz, false);
    const monthly = formatDateTime(slotAfter("0 9 1 * *", tz, now) as Date, tz, false);
    expect(jobsSection).toMatch(/^\*Jobs\*\n:x: \*security-patches\* \d+s ago — 1 critical and 4 high findings/);
    expect(jobsSection).toContain(`Next digests: weekly ${weekly} · monthly ${monthly} (Asia/Bangkok)`);
  });

  it("on shutdown, lets a running job go past the grace period only to mark it failed, interrupted by shutdown", async () => {
    await bot.emulator.command(USERS.admin, CHANNELS.general, "jobs run knowledge-sync");
    const run = await eventually(async () => {
      const [found] = await db.database.db.select().from(jobRuns).where(eq(jobRuns.job, "knowledge-sync"));
      if (found?.status !== "running") throw new Error("knowledge-sync is not running yet");
      return found;
    });
    // A second request while it runs is refused, and recorded as skipped.
    await bot.emulator.command(USERS.admin, CHANNELS.general, "jobs run knowledge-sync");
    const skipped = await eventually(async () => {
      const [found] = await db.database.db
        .select()
        .from(jobRuns)
        .where(and(eq(jobRuns.job, "knowledge-sync"), eq(jobRuns.status, "skipped")));
      const reply = bot.emulator.ephemeralsFor(USERS.admin, CHANNELS.general).at(-1)?.text ?? "";
      if (!found || !reply.includes("still running")) throw new Error("the second request is not answered yet");
      return { found, reply };
    });
    expect(skipped.reply.replace(/started \d+s ago/, "started … ago")).toBe(
      `\`knowledge-sync\` is still running (run #${run.id}, started … ago on ${run.replica}), so it was not started again; your request is recorded as skipped (run #${skipped.found.id}).`,
    );
    await bot.stop();
    const [after] = await db.database.db.select().from(jobRuns).where(eq(jobRuns.id, run.id));
    expect(after).toMatchObject({ status: "failed", summary: "Interrupted by shutdown before it finished.", leaseUntil: null });
    expect(alerts().at(-1)?.text).toBe(":x: Job *knowledge-sync* failed: Interrupted by shutdown before it finished.");
  });
});
