import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approvals, releases } from "../src/db/schema.js";
import { eventually, startTestBot, type TestBot } from "./support/bot.js";
import { CHANNELS, FIXTURES, testConfig, USERS, workDir } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";
import { buttonsOf, deploysIn, lastEphemeral, releaseMessageOf, releaseRow, transitionsOf, waitForMessageState, waitForState } from "./support/releases.js";

describe.each(dbKinds())("release approvals on %s", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;
  let dir: string;

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    dir = workDir();
    bot = await startTestBot({ db, loaded: testConfig({ dir }) });
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
  });

  const command = async (user: string, text: string) => {
    const result = await bot.emulator.command(user, CHANNELS.general, text);
    await bot.idle();
    return { result, reply: bot.emulator.ephemeralsFor(user, CHANNELS.general).at(-1)?.text ?? "" };
  };
  // Buttons as each person's client last showed them, so a late click on a vanished button can be made.
  const seen = new Map<string, unknown[]>();
  const click = async (user: string, version: string, env: string, action: string) => {
    const message = releaseMessageOf(bot, version, env);
    if (!message) throw new Error(`no message for ${version} → ${env}`);
    if (buttonsOf(message).length > 0) seen.set(message.ts, structuredClone(message.blocks ?? []));
    await bot.emulator.click(user, { channel: CHANNELS.releases, ts: message.ts }, action, seen.get(message.ts));
    await bot.idle();
    return lastEphemeral(bot, user);
  };

  it("takes 1.4.0 through staging and then production with two approvals", async () => {
    const started = await command(USERS.engineer, "release 1.4.0");
    expect(started.reply).toMatch(/^Release #\d+: `1.4.0` to staging is running its gates; follow it in <#C0RELEASES> \(<https:\/\/[^|>]+\|message>\)\.$/);

    const awaiting = await waitForMessageState(bot, "1.4.0", "staging", "awaiting approval");
    const shown = JSON.stringify(awaiting.blocks);
    expect(shown).toContain(":white_check_mark: *Tests pass* — 412 passed, 0 failed");
    expect(shown).toContain(":ballot_box_with_check: *Runbooks updated* — confirmed by the approver");
    expect(shown).toContain("<@U0ENGINEER>");
    expect(buttonsOf(awaiting)).toEqual(["release_approve", "release_reject"]);

    expect(await click(USERS.approver1, "1.4.0", "staging", "release_approve")).toBe("Your approval completed the release; deploying `1.4.0` to staging.");
    const live = await waitForMessageState(bot, "1.4.0", "staging", "live");
    expect(buttonsOf(live)).toEqual([]);
    expect(JSON.stringify(live.blocks)).toContain("confirmed by <@U0APPROVER1>");
    expect(deploysIn(dir)).toEqual(["staging 1.4.0"]);

    const thread = bot.emulator.workspace.thread(CHANNELS.releases, live.ts).map((m) => m.text);
    expect(thread).toContain("<@U0APPROVER1> approved (1/1). Deploying `1.4.0` to staging now.");
    expect(thread.at(-1)).toMatch(/^:white_check_mark: `1.4.0` is live on staging \(smoke test passed\)\.$/);

    await command(USERS.engineer, "release 1.4.0 to production");
    await waitForMessageState(bot, "1.4.0", "production", "awaiting approval (0/2 approvals)");
    expect(await click(USERS.approver1, "1.4.0", "production", "release_approve")).toBe("Your approval is counted (1/2); it needs 1 more.");
    expect(releaseMessageOf(bot, "1.4.0", "production")?.text).toContain("awaiting approval (1/2 approvals)");
    expect(deploysIn(dir)).toEqual(["staging 1.4.0"]);
    await click(USERS.approver2, "1.4.0", "production", "release_approve");
    await waitForMessageState(bot, "1.4.0", "production", "live");
    expect(deploysIn(dir)).toEqual(["staging 1.4.0", "production 1.4.0"]);

    const { reply } = await command(USERS.engineer, "status");
    expect(reply).toContain("*staging*: `1.4.0` live since");
    expect(reply).toContain("*production*: `1.4.0` live since");
  });

  it("keeps an audit trail of every transition with its actor", async () => {
    const production = await releaseRow(db.database.db, "1.4.0", "production");
    const trail = (await transitionsOf(db.database.db, production!.id)).map((t) => [t.fromState, t.toState, t.actor]);
    expect(trail).toEqual([
      [null, "gating", USERS.engineer],
      ["gating", "awaiting_approval", "orchestrator"],
      ["awaiting_approval", "deploying", USERS.approver2],
      ["deploying", "verifying", "orchestrator"],
      ["verifying", "live", "orchestrator"],
    ]);
    const { reply } = await command(USERS.stakeholder, "release log v1.4.0");
    expect(reply).toContain("→ production* — :white_check_mark: Live");
    expect(reply).toContain("approved by <@U0APPROVER1>");
    expect(reply).toContain("approved by <@U0APPROVER2>");
    expect(reply).toContain("*requested* by <@U0ENGINEER>");
    expect(reply).toContain("awaiting approval → *deploying* by <@U0APPROVER2>");
    // The approval that moved it is listed before the move.
    expect(reply.indexOf("approved by <@U0APPROVER2>")).toBeLessThan(reply.indexOf("awaiting approval → *deploying*"));
  });

  it("refuses a bad version, an unknown environment, an unreleased upstream and a version already live", async () => {
    expect((await command(USERS.engineer, "release 1.4")).reply).toBe(
      "`1.4` is not a version: use semver like 1.4.0 or v1.4.0-rc.1.\nUsage: `/orch release <version> [to <env>] [--emergency <reason...>]`, for example `/orch release 1.4.0 to staging`",
    );
    expect((await command(USERS.engineer, "release 1.5.0 to prod")).reply).toContain("`prod` is not an environment: use `staging` or `production`");
    expect((await command(USERS.engineer, "release 1.5.0 to production")).reply).toBe(
      "production takes only a version that is live on staging first; staging has `1.4.0` live. Release `1.5.0` to staging first.",
    );
    expect((await command(USERS.engineer, "release 1.4.0 to staging")).reply).toBe("`1.4.0` is already live on staging.");
    const count = await db.database.db.select({ n: sql<number>`count(*)::int` }).from(releases);
    expect(count[0]?.n).toBe(2);
  });

  it("refuses self-approval and non-approvers, changing nothing", async () => {
    await command(USERS.approver1, "release 1.5.0");
    await waitForMessageState(bot, "1.5.0", "staging", "awaiting approval");
    expect((await command(USERS.engineer, "release 1.5.0")).reply).toMatch(/^`1.5.0` is already in flight to staging \(awaiting approval, release #\d+\)\. <https:.*\|See its message>\.$/);
    expect(await click(USERS.approver1, "1.5.0", "staging", "release_approve")).toBe("You requested this release, so someone else has to approve it.");
    expect(await click(USERS.engineer, "1.5.0", "staging", "release_approve")).toBe("Only release approvers can approve releases.");
    expect(await click(USERS.stakeholder, "1.5.0", "staging", "release_reject")).toBe("Only release approvers, or the person who requested the release, can reject it.");
    const row = await releaseRow(db.database.db, "1.5.0", "staging");
    expect(row?.state).toBe("awaiting_approval");
    const counted = await db.database.db.select().from(approvals).where(sql`${approvals.releaseId} = ${row!.id}`);
    expect(counted).toEqual([]);
  });

  it("deploys once when the same approver double-clicks, and once when two approvers click together", async () => {
    const message = releaseMessageOf(bot, "1.5.0", "staging")!;
    const target = { channel: CHANNELS.releases, ts: message.ts };
    await Promise.all([
      bot.emulator.click(USERS.approver2, target, "release_approve"),
      bot.emulator.click(USERS.approver2, target, "release_approve"),
      bot.emulator.click(USERS.approver3, target, "release_approve"),
    ]);
    await bot.idle();
    await waitForMessageState(bot, "1.5.0", "staging", "live");
    expect(deploysIn(dir).filter((d) => d === "staging 1.5.0")).toHaveLength(1);
    const row = await releaseRow(db.database.db, "1.5.0", "staging");
    const moves = (await transitionsOf(db.database.db, row!.id)).filter((t) => t.toState === "deploying");
    expect(moves).toHaveLength(1);
    // The clicks that lost the race were told so, and none of them counted twice.
    const notes = [USERS.approver2, USERS.approver3].flatMap((u) =>
      bot.emulator
        .ephemeralsFor(u, CHANNELS.releases)
        .slice(-2)
        .map((e) => e.text),
    );
    expect(notes.filter((n) => n.startsWith("Your approval completed the release"))).toHaveLength(1);
  });

  it("redelivered and late clicks change nothing once the release has moved on", async () => {
    expect(await click(USERS.approver3, "1.5.0", "staging", "release_approve")).toBe("This release is already live; there is nothing to approve.");
    expect(deploysIn(dir).filter((d) => d === "staging 1.5.0")).toHaveLength(1);
  });

  it("rejects with a reason from the dialog, shown on the message and in the audit trail", async () => {
    await command(USERS.engineer, "release 1.6.0");
    await waitForMessageState(bot, "1.6.0", "staging", "awaiting approval");
    await click(USERS.approver2, "1.6.0", "staging", "release_reject");
    const view = [...bot.emulator.workspace.views.values()].find((v) => v.user === USERS.approver2 && !v.closed);
    expect(view?.view.callback_id).toBe("release_reject_modal");
    const tooShort = await bot.emulator.submitView(USERS.approver2, view!.id, { reason: { reason_input: "no" } });
    expect(tooShort.body).toEqual({ response_action: "errors", errors: { reason: "Say why, in a few words: it goes into the audit trail." } });
    const submitted = await bot.emulator.submitView(USERS.approver2, view!.id, { reason: { reason_input: "Voltage model regressed on the <Khon Kaen> feeder" } });
    expect(submitted.status).toBe(200);
    await bot.idle();
    const rejected = await waitForMessageState(bot, "1.6.0", "staging", "rejected");
    expect(buttonsOf(rejected)).toEqual([]);
    expect(JSON.stringify(rejected.blocks)).toContain("*Rejected by <@U0APPROVER2>:* Voltage model regressed on the &lt;Khon Kaen&gt; feeder");
    const row = await releaseRow(db.database.db, "1.6.0", "staging");
    const last = (await transitionsOf(db.database.db, row!.id)).at(-1);
    expect(last).toMatchObject({ fromState: "awaiting_approval", toState: "rejected", actor: USERS.approver2, detail: "Voltage model regressed on the <Khon Kaen> feeder" });
    expect(await click(USERS.approver1, "1.6.0", "staging", "release_approve")).toBe("This release is rejected; there is nothing to approve.");
  });

  it("fails a deploy whose command fails, posting the output tail to alerts", async () => {
    await command(USERS.engineer, "release 1.7.0-fail.1");
    await waitForMessageState(bot, "1.7.0-fail.1", "staging", "awaiting approval");
    await click(USERS.approver1, "1.7.0-fail.1", "staging", "release_approve");
    const failed = await waitForMessageState(bot, "1.7.0-fail.1", "staging", "failed");
    expect(JSON.stringify(failed.blocks)).toContain("rollout of 1.7.0-fail.1 timed out waiting for pods");
    const alert = await eventually(() => {
      const found = bot.emulator.workspace.history(CHANNELS.alerts).find((m) => m.text.includes("1.7.0-fail.1"));
      if (!found) throw new Error("no alert yet");
      return found;
    });
    expect(alert.text).toContain("failed* while deploying: deploy command failed: exit code 3");
    expect(JSON.stringify(alert.blocks)).toContain("error: rollout of 1.7.0-fail.1 timed out waiting for pods");
    expect((await command(USERS.engineer, "status")).reply).toContain("*staging*: `1.5.0` live");
  });

  it("expires approvals left pending past approval.expiresAfter", async () => {
    await command(USERS.engineer, "release 1.8.0");
    await waitForMessageState(bot, "1.8.0", "staging", "awaiting approval");
    const row = await releaseRow(db.database.db, "1.8.0", "staging");
    expect(await bot.orchestrator.releases.expire()).toEqual([]);
    await db.database.db.execute(sql`update releases set awaiting_since = now() - interval '25 hours' where id = ${row!.id}`);
    // Past the window an approval no longer counts, even before the expiry job has run.
    expect(await click(USERS.approver1, "1.8.0", "staging", "release_approve")).toBe(
      "The approval window (1d) of this release has passed, so it can no longer be approved; release again to ask anew.",
    );
    await bot.idle();
    expect(deploysIn(dir).filter((d) => d.includes("1.8.0"))).toEqual([]);
    const counted = await db.database.db.select().from(approvals).where(sql`${approvals.releaseId} = ${row!.id}`);
    expect(counted).toEqual([]);
    const message = await waitForMessageState(bot, "1.8.0", "staging", "expired");
    expect(buttonsOf(message)).toEqual([]);
    expect((await transitionsOf(db.database.db, row!.id)).at(-1)).toMatchObject({ toState: "expired", actor: "orchestrator" });
    expect(await bot.orchestrator.releases.expire()).toEqual([]);
  });
});

describe.each(dbKinds())("gates and crash safety on %s", (kind) => {
  it("blocks a release whose gate fails, without buttons, with the reason visible", async () => {
    const db = await openTestDatabase(kind);
    const bot = await startTestBot({
      db,
      loaded: testConfig({
        gates: `
  - name: Tests pass
    run: ["${FIXTURES}/gate.sh", "fail"]
  - name: Lint
    run: ["${FIXTURES}/gate.sh", "pass"]`,
      }),
    });
    try {
      await bot.emulator.command(USERS.engineer, CHANNELS.general, "release 2.0.0");
      await bot.idle();
      const blocked = await waitForMessageState(bot, "2.0.0", "staging", "blocked");
      expect(buttonsOf(blocked)).toEqual([]);
      const shown = JSON.stringify(blocked.blocks);
      expect(shown).toContain(":x: *Tests pass* — exit code 1: 3 failed: test_voltage_forecast_bounds");
      expect(shown).toContain(":white_check_mark: *Lint* — 412 passed, 0 failed");
      expect(shown).toContain("*Why:* Tests pass: exit code 1: 3 failed: test_voltage_forecast_bounds");
      const row = await releaseRow(db.database.db, "2.0.0", "staging");
      expect(row?.state).toBe("blocked");
      expect(row?.gates.map((g) => g.status)).toEqual(["failed", "passed"]);
    } finally {
      await bot.stop();
      await db.close();
    }
  });

  it("marks a release interrupted mid-deploy as failed at start-up, announces it, and never re-runs it", async () => {
    const db = await openTestDatabase(kind);
    const dir = workDir();
    const [row] = await db.database.db
      .insert(releases)
      .values({
        version: "3.0.0",
        semver: "3.0.0",
        environment: "staging",
        state: "deploying",
        requester: USERS.engineer,
        requiredApprovals: 1,
        owner: "dead-replica",
        leaseUntil: sql`now() - interval '1 minute'`,
      })
      .returning();
    const bot = await startTestBot({ db, loaded: testConfig({ dir }) });
    try {
      await waitForState(db.database.db, row!.id, "failed");
      await bot.idle();
      const failed = await waitForMessageState(bot, "3.0.0", "staging", "failed");
      expect(JSON.stringify(failed.blocks)).toContain("Interrupted: Orchestrator stopped while this release was deploying");
      expect(bot.emulator.workspace.history(CHANNELS.alerts).some((m) => m.text.includes("was interrupted"))).toBe(true);
      expect((await transitionsOf(db.database.db, row!.id)).at(-1)).toMatchObject({ fromState: "deploying", toState: "failed", actor: "orchestrator", detail: "interrupted while deploying" });
      expect(deploysIn(dir)).toEqual([]);
    } finally {
      await bot.stop();
      await db.close();
    }
  });

  it("stops a deploy whose claim another replica declared lapsed, so two deploys never overlap", async () => {
    const db = await openTestDatabase(kind);
    const dir = workDir();
    const bot = await startTestBot({ db, loaded: testConfig({ dir }), start: { releaseTimings: { heartbeatMs: 100 } } });
    try {
      await bot.emulator.command(USERS.engineer, CHANNELS.general, "release 3.2.0-hang.1");
      await bot.idle();
      const awaiting = await waitForMessageState(bot, "3.2.0-hang.1", "staging", "awaiting approval");
      await bot.emulator.click(USERS.approver1, { channel: CHANNELS.releases, ts: awaiting.ts }, "release_approve");
      const row = await releaseRow(db.database.db, "3.2.0-hang.1", "staging");
      await waitForState(db.database.db, row!.id, "deploying");
      await eventually(() => expect(deploysIn(dir)).toEqual(["staging 3.2.0-hang.1"]));
      // Another replica sees the lease as lapsed (say this one could not reach the database for a while).
      await db.database.db.execute(sql`update releases set lease_until = now() - interval '1 minute', owner = 'elsewhere' where id = ${row!.id}`);
      expect((await bot.orchestrator.releases.recoverInterrupted()).map((r) => r.id)).toEqual([row!.id]);
      await eventually(() => expect(bot.logs.some((l) => l.msg === "lost the claim on a running release; stopping its work")).toBe(true), 5000);
      await bot.idle();
      // The deploy command was stopped well before its 30 s, and the release stays failed.
      expect(bot.orchestrator.services.background.size).toBe(0);
      await waitForState(db.database.db, row!.id, "failed");
      expect((await transitionsOf(db.database.db, row!.id)).map((t) => t.toState)).toEqual(["gating", "awaiting_approval", "deploying", "failed"]);
    } finally {
      await bot.stop();
      await db.close();
    }
  });

  it("leaves a release whose owner is still heartbeating alone", async () => {
    const db = await openTestDatabase(kind);
    const [row] = await db.database.db
      .insert(releases)
      .values({
        version: "3.1.0",
        semver: "3.1.0",
        environment: "staging",
        state: "deploying",
        requester: USERS.engineer,
        requiredApprovals: 1,
        owner: "live-replica",
        leaseUntil: sql`now() + interval '1 minute'`,
      })
      .returning();
    const bot = await startTestBot({ db, loaded: testConfig() });
    try {
      await bot.idle();
      expect(await bot.orchestrator.releases.recoverInterrupted()).toEqual([]);
      await waitForState(db.database.db, row!.id, "deploying");
    } finally {
      await bot.stop();
      await db.close();
    }
  });
});
