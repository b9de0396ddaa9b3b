import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GateResult, ReleaseState } from "../src/db/schema.js";
import { approvals, feedback, healthChecks, healthState, jobRuns, releases } from "../src/db/schema.js";
import { blocksTextLength } from "../src/jobs/blocks.js";
import { orchestratorFigures } from "../src/jobs/figures.js";
import { maintenanceMessage, maintenanceReport } from "../src/jobs/maintenance.js";
import { orchestratorReport, plainRecommendations } from "../src/jobs/report.js";
import { startTestBot, type TestBot } from "./support/bot.js";
import { CHANNELS, FIXTURES, testConfig, USERS, workDir } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";

const tz = "Asia/Bangkok";
const at = (iso: string) => new Date(iso);
/** The week of the hand-counted data: Monday 4 May 2026 09:00 to Monday 11 May 09:00, Bangkok. */
const week = { since: at("2026-05-04T02:00:00Z"), until: at("2026-05-11T02:00:00Z") };

const blockTexts = (blocks: unknown[] | undefined) =>
  (blocks ?? []).flatMap((b) => {
    const block = b as { text?: { text: string }; fields?: Array<{ text: string }>; elements?: Array<{ text: string }> };
    return [block.text?.text, ...(block.fields ?? []).map((f) => f.text), ...(block.elements ?? []).map((e) => e.text)].filter((t): t is string => typeof t === "string");
  });

describe.each(dbKinds())("the Orchestrator Report and maintenance reports on %s", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;
  const twoEnvironments = testConfig().config;

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    const dir = workDir();
    const environments = Array.from({ length: 12 }, (_, i) => i)
      .map((i) => `
  - name: ${i === 0 ? "staging" : i === 1 ? "production" : `region-${i}`}
    approvals: 1
    deploy: { run: ["${FIXTURES}/deploy.sh", "${dir}", "{environment}", "{version}"], timeout: 20s }`)
      .join("");
    bot = await startTestBot({ db, loaded: testConfig({ dir, environments }), start: { jobs: { timers: false } } });
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
  });

  describe("over hand-counted data", () => {
    beforeAll(async () => {
      const d = db.database.db;
      const release = async (version: string, environment: string, state: ReleaseState, createdAt: string, extra: { liveAt?: string; awaitingSince?: string; reason?: string; gates?: GateResult[]; requiredApprovals?: number } = {}) => {
        const [row] = await d
          .insert(releases)
          .values({
            version,
            semver: version,
            environment,
            state,
            requester: USERS.engineer,
            requiredApprovals: extra.requiredApprovals ?? 1,
            createdAt: at(createdAt),
            updatedAt: at(createdAt),
            ...(extra.liveAt ? { liveAt: at(extra.liveAt) } : {}),
            ...(extra.awaitingSince ? { awaitingSince: at(extra.awaitingSince) } : {}),
            ...(extra.reason ? { reason: extra.reason } : {}),
            ...(extra.gates ? { gates: extra.gates } : {}),
          })
          .returning();
        return row?.id as number;
      };
      await release("1.3.0", "staging", "live", "2026-04-28T03:00:00Z", { liveAt: "2026-04-28T04:00:00Z" });
      await release("1.4.0", "staging", "live", "2026-05-05T03:00:00Z", { liveAt: "2026-05-05T04:00:00Z" });
      await release("1.4.0", "production", "live", "2026-05-06T03:00:00Z", { liveAt: "2026-05-06T05:00:00Z", requiredApprovals: 2 });
      await release("1.5.0", "staging", "failed", "2026-05-07T03:00:00Z", { reason: "deploy command failed: exit code 3" });
      await release("1.5.1", "staging", "blocked", "2026-05-08T03:00:00Z", {
        reason: "Tests pass: 3 failed",
        gates: [
          { name: "Tests pass", kind: "run", status: "failed", detail: "409 passed, 3 failed" },
          { name: "Runbooks updated", kind: "manual", status: "manual", detail: "confirmed by the approver" },
        ],
      });
      await release("1.6.0", "staging", "awaiting_approval", "2026-05-09T03:00:00Z", { awaitingSince: "2026-05-09T04:00:00Z" });
      const pending = await release("1.5.2", "production", "awaiting_approval", "2026-05-10T03:00:00Z", { awaitingSince: "2026-05-10T03:10:00Z", requiredApprovals: 2 });
      await d.insert(approvals).values({ releaseId: pending, approver: USERS.approver1 });
      await release("1.7.0", "staging", "rejected", "2026-05-12T03:00:00Z");

      // staging: latencies 10..90 and 110 ms, the 110 ms one failed; production: 200..500 ms, all fine; one check after the week.
      await d.insert(healthChecks).values([
        ...Array.from({ length: 10 }, (_, i) => ({ environment: "staging", ok: i !== 9, statusCode: i !== 9 ? 200 : 503, latencyMs: i === 9 ? 110 : (i + 1) * 10, at: at(`2026-05-0${5 + (i % 4)}T0${i % 10}:00:00Z`) })),
        ...[200, 300, 400, 500].map((latencyMs, i) => ({ environment: "production", ok: true, statusCode: 200, latencyMs, at: at(`2026-05-06T1${i}:00:00Z`) })),
        { environment: "staging", ok: false, statusCode: 500, latencyMs: 9999, at: at("2026-05-12T00:00:00Z") },
      ]);
      await d.insert(healthState).values([
        { environment: "staging", ok: true, since: at("2026-05-10T00:00:00Z") },
        { environment: "production", ok: false, since: at("2026-05-10T12:00:00Z") },
      ]);

      const run = (job: string, slot: string, status: "succeeded" | "failed" | "skipped", seconds: number, summary: string) => ({
        job,
        slot: at(slot),
        trigger: "schedule",
        replica: "replica-a",
        status,
        summary,
        startedAt: at(slot),
        finishedAt: new Date(at(slot).getTime() + seconds * 1000),
      });
      await d.insert(jobRuns).values([
        run("weekly-digest", "2026-05-04T02:00:00Z", "succeeded", 2, "Posted the weekly Orchestrator Report."),
        run("health-check", "2026-05-05T00:00:00Z", "succeeded", 1, "staging healthy"),
        run("health-check", "2026-05-06T00:00:00Z", "succeeded", 1, "staging healthy"),
        run("health-check", "2026-05-07T00:00:00Z", "succeeded", 1, "staging healthy"),
        run("security-patches", "2026-05-05T01:15:00Z", "failed", 10, "1 critical and 4 high findings."),
        run("security-patches", "2026-05-11T01:15:00Z", "failed", 20, "1 critical and 3 high findings."),
        run("knowledge-sync", "2026-05-05T01:30:00Z", "skipped", 0, "Skipped: the previous run was still going."),
        run("dependency-updates", "2026-05-05T01:00:00Z", "failed", 30, "npm outdated did not produce its JSON report (exit code 1)."),
        run("dependency-updates", "2026-05-01T01:00:00Z", "failed", 30, "Before the week."),
      ]);

      const item = (text: string, kindName: string, priority: string, source: string, postedAt: string, extra: Partial<typeof feedback.$inferInsert> = {}) => ({
        channel: CHANNELS.helpdesk,
        author: USERS.stakeholder,
        text,
        kind: kindName,
        priority,
        source,
        capturedBy: "message",
        postedAt: at(postedAt),
        ...extra,
      });
      await d.insert(feedback).values([
        item("Forecast for Khon Kaen is 20% off at noon", "support-ticket", "high", "PEA Help Desk", "2026-05-05T03:00:00Z", { theme: "forecast accuracy", sprint: "sprint-24" }),
        item("Solar forecast misses cloud cover", "support-ticket", "high", "PEA Help Desk", "2026-05-06T03:00:00Z", { theme: "forecast accuracy", status: "in-progress", sprint: "sprint-24" }),
        item("Voltage alerts arrive an hour late", "direct-feedback", "critical", "Stakeholder Meetings", "2026-05-07T03:00:00Z", { theme: "voltage alerts", sprint: "sprint-25" }),
        item("Export the forecast as CSV", "feature-request", "medium", "User Portal", "2026-05-05T05:00:00Z", { theme: "export", status: "closed", closedAt: at("2026-05-09T00:00:00Z") }),
        item("Typo on the login page", "bug", "low", "User Portal", "2026-05-08T03:00:00Z"),
        item("Deleted: wrong channel", "bug", "high", "User Portal", "2026-05-06T04:00:00Z", { deletedAt: at("2026-05-06T05:00:00Z") }),
        item("Data gaps in the March history", "support-ticket", "critical", "PEA Help Desk", "2026-04-20T03:00:00Z", { theme: "data gaps" }),
        item("Chart legend overlaps", "bug", "medium", "User Portal", "2026-04-25T03:00:00Z", { status: "closed", closedAt: at("2026-05-06T00:00:00Z") }),
        item("Forecast API times out at 07:00", "support-ticket", "high", "PEA Help Desk", "2026-05-12T03:00:00Z", { theme: "forecast accuracy" }),
      ]);
    });

    it("computes every figure of the week in SQL, matching the hand count", async () => {
      const f = await orchestratorFigures(db.database.db, twoEnvironments, week);
      expect(f.releases.live).toEqual([
        { environment: "staging", version: "1.4.0", liveAt: at("2026-05-05T04:00:00Z") },
        { environment: "production", version: "1.4.0", liveAt: at("2026-05-06T05:00:00Z") },
      ]);
      expect(f.releases.total).toBe(6);
      expect(f.releases.byState).toEqual([
        { key: "awaiting_approval", count: 2 },
        { key: "live", count: 2 },
        { key: "blocked", count: 1 },
        { key: "failed", count: 1 },
      ]);
      expect(f.releases.recent.map((r) => `${r.version} ${r.environment}`)).toEqual(["1.5.2 production", "1.6.0 staging", "1.5.1 staging", "1.5.0 staging", "1.4.0 production", "1.4.0 staging"]);
      expect(f.releases.pendingTotal).toBe(2);
      expect(f.releases.pending.map((p) => [p.version, p.environment, p.approvals, p.requiredApprovals])).toEqual([
        ["1.6.0", "staging", 0, 1],
        ["1.5.2", "production", 1, 2],
      ]);
      expect(f.health).toEqual([
        { environment: "staging", ok: true, since: at("2026-05-10T00:00:00Z"), checks: 10, passed: 9, p50: 55, p95: 101, max: 110 },
        { environment: "production", ok: false, since: at("2026-05-10T12:00:00Z"), checks: 4, passed: 4, p50: 350, p95: 485, max: 500 },
      ]);
      expect(f.jobs.total).toBe(8);
      expect(f.jobs.byStatus).toEqual([
        { key: "succeeded", count: 4 },
        { key: "failed", count: 3 },
        { key: "skipped", count: 1 },
      ]);
      expect(f.jobs.failuresByJob).toEqual([
        { key: "security-patches", count: 2 },
        { key: "dependency-updates", count: 1 },
      ]);
      expect(f.feedback.total).toBe(5);
      expect(f.feedback.byKind).toEqual([
        { key: "support-ticket", count: 2 },
        { key: "bug", count: 1 },
        { key: "direct-feedback", count: 1 },
        { key: "feature-request", count: 1 },
      ]);
      expect(f.feedback.byPriority).toEqual([
        { key: "critical", count: 1 },
        { key: "high", count: 2 },
        { key: "medium", count: 1 },
        { key: "low", count: 1 },
      ]);
      expect([f.feedback.open, f.feedback.inProgress, f.feedback.closedInPeriod]).toEqual([5, 1, 2]);
      expect(f.feedback.topThemes).toEqual([
        { key: "forecast accuracy", count: 2 },
        { key: "export", count: 1 },
        { key: "voltage alerts", count: 1 },
      ]);
      expect(f.feedback.recentlyClosed.map((i) => i.text)).toEqual(["Export the forecast as CSV", "Chart legend overlaps"]);
      expect(f.feedback.oldestUrgent.map((i) => i.text)).toEqual([
        "Data gaps in the March history",
        "Forecast for Khon Kaen is 20% off at noon",
        "Solar forecast misses cloud cover",
        "Voltage alerts arrive an hour late",
        "Forecast API times out at 07:00",
      ]);
    });

    it("lays the week out as the Orchestrator Report, with the five oldest urgent items as recommendations", async () => {
      const figures = await orchestratorFigures(db.database.db, twoEnvironments, week);
      const message = orchestratorReport(figures, { cadence: "weekly", timeZone: tz, recommendations: plainRecommendations(figures), recommendedBy: "the plain rule" });
      expect(message.text).toBe("Orchestrator Report (weekly, 4 May 2026 – 11 May 2026): 6 releases in the period (0 rollbacks, 0 emergencies), 2 pending approvals; 8 job runs, 3 failed; 5 new feedback, 5 open.");
      const texts = blockTexts(message.blocks);
      expect((message.blocks[0] as { text: { text: string } }).text.text).toBe("Orchestrator Report — weekly");
      expect(texts).toContain("*Period:* Mon, 4 May 2026, 09:00 – Mon, 11 May 2026, 09:00 (Asia/Bangkok)");
      expect(texts).toContain("*staging*\n`1.4.0` since 5 May 2026");
      const inPeriod = texts.find((t) => t.startsWith("*Releases in the period*"));
      expect(inPeriod?.split("\n")[0]).toBe("*Releases in the period* — 6 (2 awaiting approval, 2 live, 1 blocked, 1 failed)");
      expect(inPeriod).toContain("• `1.5.0` → staging — :boom: Failed · <@U0ENGINEER> · 7 May 2026 — deploy command failed: exit code 3");
      expect(texts.find((t) => t.startsWith("*Pending approvals*"))).toBe(
        "*Pending approvals* — 2\n• `1.6.0` → staging: 0/1 approvals, requested by <@U0ENGINEER>, waiting 46h\n• `1.5.2` → production: 1/2 approvals, requested by <@U0ENGINEER>, waiting 23h",
      );
      expect(texts).toContain("*staging* — :large_green_circle: healthy since 10 May 2026\n10 checks, 90.0% passed · p50 55 ms · p95 101 ms · max 110 ms");
      expect(texts).toContain("*production* — :red_circle: failing since 10 May 2026\n4 checks, 100.0% passed · p50 350 ms · p95 485 ms · max 500 ms");
      const jobsText = texts.find((t) => t.startsWith("*:gear: Jobs*"));
      expect(jobsText?.split("\n")).toEqual([
        "*:gear: Jobs* — 8 runs (4 succeeded, 3 failed, 1 skipped)",
        "• :x: *security-patches* — Mon, 11 May 2026, 08:15: 1 critical and 3 high findings.",
        "• :x: *security-patches* — Tue, 5 May 2026, 08:15: 1 critical and 4 high findings.",
        "• :x: *dependency-updates* — Tue, 5 May 2026, 08:00: npm outdated did not produce its JSON report (exit code 1).",
      ]);
      expect(texts).toContain("*New by kind*\nsupport-ticket: *2*\nbug: *1*\ndirect-feedback: *1*\nfeature-request: *1*");
      expect(texts).toContain("*New by priority*\ncritical: *1*\nhigh: *2*\nmedium: *1*\nlow: *1*");
      expect(texts).toContain("*Backlog now*\n5 open · 1 in progress\n2 closed in the period");
      expect(texts).toContain("*Top themes*\n1. forecast accuracy (2)\n2. export (1)\n3. voltage alerts (1)");
      const recommendations = texts.find((t) => t.startsWith("*:bulb: Recommendations*"))?.split("\n").slice(1);
      expect(recommendations).toHaveLength(5);
      expect(recommendations?.[0]).toMatch(/^• Address \*#\d+\* critical support-ticket from PEA Help Desk, 21d old — Data gaps in the March history$/);
    });

    it("summarizes the maintenance windows from the same data", async () => {
      const d = db.database.db;
      const month = { since: at("2026-04-11T02:00:00Z"), until: week.until };
      const performance = await maintenanceReport("performance-analysis", "Performance analysis", d, testConfig({ environments: `
  - name: staging
    approvals: 1
    deploy: { run: ["true"] }
    health: { url: "https://staging.example.org/healthz", maxLatencyMs: 90 }
  - name: production
    approvals: 1
    deploy: { run: ["true"] }
    health: { url: "https://forecast.example.org/healthz", maxLatencyMs: 500 }`, env: { PATH: process.env.PATH ?? "" } }).config, month);
      expect(performance.summary).toBe("staging p95 101 ms, production p95 485 ms; above the limit: staging.");
      expect(performance.sections[0]?.lines).toEqual([
        "• *staging*: p50 55 ms · p95 101 ms · max 110 ms · 90.0% of 10 checks passed · :warning: p95 above the 90 ms limit",
        "• *production*: p50 350 ms · p95 485 ms · max 500 ms · 100.0% of 4 checks passed",
      ]);
      expect(performance.sections[1]?.lines[0]).toBe("• *dependency-updates*: p50 30s · p95 30s · max 30s over 2 runs");
      expect(performance.sections[1]?.lines[1]).toBe("• *security-patches*: p50 15s · p95 20s · max 20s over 2 runs");

      const debt = await maintenanceReport("tech-debt-assessment", "Tech-debt assessment", d, twoEnvironments, month);
      expect(debt.summary).toBe("4 failed job runs, 1 release blocked by gates, 1 failed release; see the latest dependency and security scans.");
      expect(debt.sections.find((s) => s.heading === "Gates that blocked releases")?.lines).toEqual(["• Tests pass: 1×"]);

      const review = await maintenanceReport("architecture-review", "Architecture review", d, twoEnvironments, { since: at("2026-04-01T03:00:00Z"), until: at("2026-07-01T03:00:00Z") });
      expect(review.sections[0]?.lines).toEqual([
        "• *production*: 2 requested · 1 live · 0 failed · 0 blocked · 0 rejected or expired · median lead time 2.0 h · change failure rate 0%",
        "• *staging*: 6 requested · 2 live · 1 failed · 1 blocked · 1 rejected or expired · median lead time 1.0 h · change failure rate 33%",
      ]);

      const roadmap = await maintenanceReport("roadmap-planning", "Roadmap planning", d, twoEnvironments, { since: at("2026-04-01T03:00:00Z"), until: at("2026-07-01T03:00:00Z") });
      expect(roadmap.sections[0]?.lines).toEqual([
        "• forecast accuracy: 3 open, 3 high/critical",
        "• data gaps: 1 open, 1 high/critical",
        "• voltage alerts: 1 open, 1 high/critical",
        "• (no theme): 1 open, 0 high/critical",
      ]);
      expect(roadmap.sections[2]?.lines).toEqual(["• sprint-24: 2 items", "• sprint-25: 1 item"]);
      const message = maintenanceMessage(roadmap, tz);
      expect((message.blocks[0] as { text: { text: string } }).text.text).toBe("Roadmap planning");
    });
  });

  describe("over very large data", () => {
    beforeAll(async () => {
      const d = db.database.db;
      const now = Date.now();
      const ago = (hours: number) => new Date(now - hours * 3_600_000);
      const states: ReleaseState[] = ["live", "awaiting_approval", "failed", "awaiting_approval", "blocked"];
      const envs = ["staging", "production", ...Array.from({ length: 10 }, (_, i) => `region-${i + 2}`)];
      const long = (label: string, n: number) => `${label} ${"voltage forecast deviation at the 22 kV feeder & <substation> ".repeat(n)}`;
      const rows = await d
        .insert(releases)
        .values(
          Array.from({ length: 50 }, (_, i) => {
            const state = states[i % states.length] as ReleaseState;
            return {
              version: `2.${i}.0-rc.${i}`,
              semver: `2.${i}.0-rc.${i}`,
              environment: envs[i % envs.length] as string,
              state,
              requester: USERS.engineer,
              requiredApprovals: 2,
              reason: state === "live" || state === "awaiting_approval" ? null : long("Failed because", 8),
              createdAt: ago(100 - i),
              updatedAt: ago(100 - i),
              ...(state === "live" ? { liveAt: ago(99 - i) } : {}),
              ...(state === "awaiting_approval" ? { awaitingSince: ago(99 - i) } : {}),
            };
          }),
        )
        .returning({ id: releases.id, state: releases.state });
      await d.insert(approvals).values(rows.filter((r) => r.state === "awaiting_approval").map((r) => ({ releaseId: r.id, approver: USERS.approver2 })));
      await d.insert(healthChecks).values(envs.flatMap((environment) => Array.from({ length: 20 }, (_, i) => ({ environment, ok: i % 7 !== 0, statusCode: 200, latencyMs: 40 + i * 13, at: ago(i + 1) }))));
      await d.insert(jobRuns).values(
        Array.from({ length: 60 }, (_, i) => ({
          job: i % 2 === 0 ? "security-patches" : "dependency-updates",
          slot: ago(i + 1),
          trigger: "schedule",
          replica: "replica-a",
          status: "failed" as const,
          summary: long("Scan failed:", 10),
          startedAt: ago(i + 1),
          finishedAt: ago(i + 0.5),
        })),
      );
      await d.insert(feedback).values(
        Array.from({ length: 300 }, (_, i) => ({
          channel: CHANNELS.helpdesk,
          author: USERS.stakeholder,
          text: long(`Item ${i}:`, 12),
          kind: `kind-${i % 20}-with-a-rather-long-name`,
          priority: ["low", "medium", "high", "critical"][i % 4] as string,
          source: `Regional office ${i % 25} — customer service desk`,
          theme: `theme ${i % 30}: ${"grid voltage ".repeat(4)}`,
          status: (["open", "in-progress", "closed"] as const)[i % 3],
          capturedBy: "message",
          postedAt: ago(150 - (i % 140)),
          ...(i % 3 === 2 ? { closedAt: ago(i % 100) } : {}),
        })),
      );
    });

    it("posts the weekly digest inside Block Kit's limits, cutting long lists with …and N more", async () => {
      await bot.emulator.command(USERS.admin, CHANNELS.general, "jobs run weekly-digest");
      await bot.idle();
      expect(bot.emulator.ephemeralsFor(USERS.admin, CHANNELS.general).at(-1)?.text).toMatch(/^:white_check_mark: `weekly-digest` succeeded/);
      const digest = bot.emulator.workspace.history(CHANNELS.digests).at(-1);
      const blocks = digest?.blocks ?? [];
      expect(blocks.length).toBeLessThanOrEqual(50);
      const texts = blockTexts(blocks);
      expect(texts.find((t) => t.startsWith("*Releases in the period* — 50"))).toMatch(/\n…and \d+ more$/);
      // Twenty seeded here and the two pending from the hand-counted week.
      expect(texts.find((t) => t.startsWith("*Pending approvals* — 22"))).toMatch(/\n…and \d+ more$/);
      expect(texts.find((t) => t.startsWith("*:gear: Jobs* — "))).toMatch(/\n…and \d+ more$/);
      // Twelve environments in ten fields: nine and a last "…and 3 more".
      expect(texts).toContain("…and 3 more");
      expect(blocksTextLength(blocks as never)).toBeLessThan(12_000);
      expect(texts.every((t) => t.length <= 3000)).toBe(true);
    });

    it("answers /orch report and posts every maintenance report within the limits too", async () => {
      await bot.emulator.command(USERS.stakeholder, CHANNELS.general, "report monthly");
      await bot.idle();
      const reply = bot.emulator.ephemeralsFor(USERS.stakeholder, CHANNELS.general).at(-1);
      expect(reply?.text).toMatch(/^Orchestrator Report \(monthly, /);
      for (const job of ["knowledge-sync", "performance-analysis", "tech-debt-assessment", "architecture-review", "user-feedback-synthesis", "roadmap-planning"]) {
        await bot.emulator.command(USERS.admin, CHANNELS.general, `jobs run ${job}`);
        await bot.idle();
        expect(bot.emulator.ephemeralsFor(USERS.admin, CHANNELS.general).at(-1)?.text).toMatch(new RegExp(`^:white_check_mark: \`${job}\` succeeded`));
      }
      const posted = bot.emulator.workspace.history(CHANNELS.digests).slice(-6);
      expect(posted.map((m) => (m.blocks?.[0] as { text: { text: string } }).text.text)).toEqual([
        "Knowledge sync",
        "Performance analysis",
        "Tech-debt assessment",
        "Architecture review",
        "User-feedback synthesis",
        "Roadmap planning",
      ]);
    });
  });
});
