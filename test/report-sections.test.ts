import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GateResult, ReleaseState } from "../src/db/schema.js";
import { feedback, jobRuns, releases } from "../src/db/schema.js";
import { blocksTextLength } from "../src/slack/blocks.js";
import { orchestratorFigures } from "../src/features/reports/figures.js";
import { orchestratorReport } from "../src/features/reports/report.js";
import { testSummary } from "../src/features/reports/sections.js";
import { CHANNELS, testConfig, USERS } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";

const at = (iso: string) => new Date(iso);
const week = { since: at("2026-05-04T02:00:00Z"), until: at("2026-05-11T02:00:00Z") };
const texts = (blocks: unknown[]) =>
  blocks
    .flatMap((b) => {
      const block = b as { text?: { text: string }; fields?: Array<{ text: string }>; elements?: Array<{ text: string }> };
      return [block.text?.text, ...(block.fields ?? []).map((f) => f.text), ...(block.elements ?? []).map((e) => e.text)];
    })
    .filter((t): t is string => typeof t === "string")
    .join("\n");

const testsGate = (output: string, status: GateResult["status"] = "passed"): GateResult => ({
  name: "Tests pass",
  kind: "run",
  status,
  detail: output.split("\n").at(-1) ?? "",
  output,
  exitCode: status === "passed" ? 0 : 1,
  durationMs: 1200,
});
const modelGate = (mape: number, mae: number): GateResult => ({
  name: "ML model accuracy",
  kind: "http",
  status: mape <= 10 && mae <= 2 ? "passed" : "failed",
  detail: "…",
  measured: [
    { key: "mape", label: "MAPE", value: mape, max: 10, ok: mape <= 10 },
    { key: "mae_volts", label: "MAE", unit: "V", value: mae, max: 2, ok: mae <= 2 },
  ],
});

describe("test summaries", () => {
  it("keeps the lines that count tests, else the last line", () => {
    expect(testSummary({ output: "installing\nbackend: 412 passed, 3 skipped\nfrontend: 138 passed\ndone", detail: "done" })).toEqual(["backend: 412 passed, 3 skipped", "frontend: 138 passed"]);
    expect(testSummary({ output: "ok", detail: "ok" })).toEqual(["ok"]);
  });
});

describe.each(dbKinds())("the report's reference sections on %s", (kind) => {
  let db: TestDatabase;
  const { config } = testConfig({ extra: `repository: { path: ./forecast, tag: "v{version}" }` });

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    const d = db.database.db;
    const release = (version: string, environment: string, state: ReleaseState, created: string, extra: Partial<typeof releases.$inferInsert> = {}) =>
      d.insert(releases).values({ version, semver: version, environment, state, requester: USERS.engineer, requiredApprovals: 1, createdAt: at(created), updatedAt: at(created), ...extra });
    const range = (total: number) => ({ status: "ok" as const, tag: "v", total, authors: [], commits: [] });
    await release("1.3.0", "production", "live", "2026-04-20T03:00:00Z", { liveAt: at("2026-04-21T03:00:00Z"), commits: range(40), gates: [testsGate("backend: 400 passed")] });
    await release("1.4.0", "staging", "live", "2026-05-05T03:00:00Z", {
      liveAt: at("2026-05-05T04:00:00Z"),
      commits: range(12),
      gates: [testsGate("backend: 412 passed, 3 skipped\nfrontend: 138 passed"), modelGate(7.2, 1.4)],
    });
    await release("1.4.0", "production", "live", "2026-05-06T03:00:00Z", { liveAt: at("2026-05-06T05:00:00Z"), commits: range(12), gates: [testsGate("backend: 412 passed")] });
    await release("1.4.1", "production", "live", "2026-05-08T03:00:00Z", { liveAt: at("2026-05-08T05:00:00Z"), commits: range(3) });
    await release("1.5.0", "staging", "blocked", "2026-05-09T03:00:00Z", { reason: "Tests pass: 3 failed", gates: [testsGate("backend: 409 passed, 3 failed", "failed"), modelGate(11.5, 1.9)] });
    await release("1.4.2", "staging", "failed", "2026-05-07T03:00:00Z", { reason: "deploy command failed: exit code 3" });
    await release("1.3.9", "staging", "failed", "2026-05-01T03:00:00Z", { reason: "fixed by the later live 1.4.0" });
    await d.insert(jobRuns).values([
      {
        job: "model-retraining-review",
        slot: at("2026-05-01T03:00:00Z"),
        trigger: "schedule",
        replica: "r",
        status: "succeeded",
        startedAt: at("2026-05-01T03:00:00Z"),
        details: { measured: modelGate(6.1, 1.2).measured },
      },
      { job: "security-patches", slot: at("2026-05-05T01:00:00Z"), trigger: "schedule", replica: "r", status: "failed", summary: "1 critical finding.", startedAt: at("2026-05-05T01:00:00Z") },
      { job: "dependency-updates", slot: at("2026-05-04T01:00:00Z"), trigger: "schedule", replica: "r", status: "failed", summary: "older failure", startedAt: at("2026-05-04T01:00:00Z") },
      { job: "dependency-updates", slot: at("2026-05-05T01:00:00Z"), trigger: "schedule", replica: "r", status: "succeeded", summary: "fine now", startedAt: at("2026-05-05T01:00:00Z") },
    ]);
    const item = (text: string, priority: string, extra: Partial<typeof feedback.$inferInsert> = {}) => ({
      channel: CHANNELS.helpdesk,
      author: USERS.stakeholder,
      text,
      kind: "support-ticket",
      priority,
      source: "PEA Help Desk",
      capturedBy: "message",
      postedAt: at("2026-05-05T03:00:00Z"),
      ...extra,
    });
    await d
      .insert(feedback)
      .values([
        item("Secret critical text one", "critical"),
        item("Secret critical text two", "critical", { status: "in-progress" }),
        item("Secret high text", "high", { fixedIn: "1.6.0", fixedVersion: "1.6.0" }),
        item("Secret closed critical", "critical", { status: "closed", closedAt: at("2026-05-06T00:00:00Z") }),
      ]);
  });

  afterAll(async () => {
    await db?.close();
  });

  it("shows test results, ML validation, commits shipped, DORA, fixes and blockers, from the database", async () => {
    const figures = await orchestratorFigures(db.database.db, config, week);
    const report = orchestratorReport(figures, { cadence: "weekly", timeZone: "Asia/Bangkok", recommendations: [] });
    const text = texts(report.blocks);
    expect(blocksTextLength(report.blocks)).toBeLessThan(10_000);
    expect(report.blocks.length).toBeLessThanOrEqual(50);

    expect(text).toContain("• *staging* (`1.5.0`, 9 May 2026): :x: Tests pass — backend: 409 passed, 3 failed");
    expect(text).toContain("• *production* (`1.4.0`, 6 May 2026): :white_check_mark: Tests pass — backend: 412 passed");
    expect(text).toContain("• *staging* ML model accuracy (9 May 2026): :x: :warning: MAPE 11.5 (max 10) · MAE 1.9 V (max 2)");
    expect(text).toContain("• *model-retraining-review* Model retraining review (1 May 2026): :white_check_mark: MAPE 6.1 (max 10) · MAE 1.2 V (max 2)");
    expect(text).toContain("• *staging*: 12 commits in 1 release — `1.4.0` (12)");
    expect(text).toContain("• *production*: 15 commits in 2 releases — `1.4.1` (3), `1.4.0` (12)");
    expect(text).toContain("*production*\n*Deployment frequency:* 2/week (2 live)");
    expect(text).toContain("*Waiting on a release:* `1.6.0`: 1 item (1 high/critical)");
    expect(text).toContain("*Blocked or failed releases not tried again:* 2\n   ◦ `1.5.0` → staging: blocked 9 May 2026 — Tests pass: 3 failed\n   ◦ `1.4.2` → staging: failed");
    expect(text).not.toContain("1.3.9");
    expect(text).toContain("*Jobs whose last run failed:* 1\n   ◦ *security-patches* 5 May 2026: 1 critical finding.");
    expect(text).toContain("*Open critical feedback:* 2 (and 1 high)");
    expect(text).toContain("*Approved, waiting for a deploy window or a freeze to end:* _none_");
    // Counts only: no feedback text in the sections added here.
    expect(text).not.toContain("Secret high text");
  });

  it("says commits are unknown without a repository", async () => {
    const figures = await orchestratorFigures(db.database.db, testConfig().config, week);
    expect(texts(orchestratorReport(figures, { cadence: "weekly", timeZone: "Asia/Bangkok", recommendations: [] }).blocks)).toContain("_no `repository` configured, so commits are not known_");
  });
});
