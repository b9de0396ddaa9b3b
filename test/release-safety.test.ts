import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freezes, releases } from "../src/db/schema.js";
import type { SlackMessage } from "../src/emulator/workspace.js";
import { eventually, startTestBot, type TestBot } from "./support/bot.js";
import { CHANNELS, FIXTURES, testConfig, USERS, workDir } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";
import { buttonsOf, deploysIn, lastEphemeral, releaseMessageOf, releaseRow, transitionsOf, waitForMessageState, waitForState } from "./support/releases.js";

/** Tue 1 Dec 2026, 10:00 in Bangkok: inside production's Mon–Thu 09:00–16:00 window. */
const TUESDAY_10 = new Date("2026-12-01T03:00:00Z");

describe.each(dbKinds())("rollback, freezes, windows and emergencies on %s", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;
  let dir: string;
  let clock = TUESDAY_10;

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    dir = workDir();
    const step = (env: string) => `["${FIXTURES}/${env}.sh", "${dir}", "{environment}", "{version}"]`;
    const environments = `
  - name: staging
    approvals: 1
    deploy: { run: ${step("deploy")}, timeout: 20s }
    smoke: { run: ${step("smoke")}, timeout: 20s }
  - name: production
    approvals: 2
    after: staging
    deploy: { run: ${step("deploy")}, timeout: 20s }
    windows: [{ days: [mon, tue, wed, thu], from: "09:00", to: "16:00" }]
  - name: lab
    approvals: 1
    deploy: { run: ${step("deploy")}, timeout: 20s }`;
    bot = await startTestBot({ db, loaded: testConfig({ dir, environments }), start: { releaseTimings: { now: () => clock }, jobs: { timers: false } } });
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
  });

  const d = () => db.database.db;
  const command = async (user: string, text: string) => {
    await bot.emulator.command(user, CHANNELS.general, text);
    await bot.idle();
    return bot.emulator.ephemeralsFor(user, CHANNELS.general).at(-1)?.text ?? "";
  };
  const click = async (user: string, message: SlackMessage, action: string) => {
    await bot.emulator.click(user, { channel: message.channel, ts: message.ts }, action);
    await bot.idle();
    return lastEphemeral(bot, user, message.channel);
  };
  const messageOf = (id: number) => bot.emulator.workspace.history(CHANNELS.releases).find((m) => JSON.stringify(m.blocks ?? []).includes(`Release #${id} ·`));
  /** Requests, gates and approves a version until it is live on the environment. */
  const ship = async (version: string, env: string) => {
    await command(USERS.engineer, `release ${version} to ${env}`);
    const awaiting = await waitForMessageState(bot, version, env, "awaiting approval");
    await click(USERS.approver1, awaiting, "release_approve");
    if (env === "production") await click(USERS.approver2, awaiting, "release_approve");
    await waitForMessageState(bot, version, env, "live");
    return (await releaseRow(d(), version, env))!;
  };
  const alertAbout = (text: string) =>
    eventually(() => {
      const found = bot.emulator.workspace
        .history(CHANNELS.alerts)
        .filter((m) => m.text.includes(text))
        .at(-1);
      if (!found) throw new Error(`no alert about ${text}`);
      return found;
    });

  it("rolls production back to the version live before, without gates, with its own approvals; the old release is rolled back", async () => {
    for (const version of ["1.0.0", "1.1.0", "1.2.0"]) {
      await ship(version, "staging");
      await ship(version, "production");
    }
    const original = await releaseRow(d(), "1.1.0", "production");
    const replaced = await releaseRow(d(), "1.2.0", "production");

    const reply = await command(USERS.approver1, "rollback production");
    expect(reply).toMatch(/^Rollback #\d+: rolling production back to `1.1.0`, no gates, waiting for 1 approval; follow it in <#C0RELEASES> \(<https:[^|]+\|message>\)\.$/);
    const awaiting = await waitForMessageState(bot, "1.1.0", "production", "awaiting approval (0/1 approvals)");
    expect(awaiting.text).toBe("Release 1.1.0 to production (rollback): awaiting approval (0/1 approvals)");
    const shown = JSON.stringify(awaiting.blocks);
    expect(shown).toMatch(new RegExp(`\\*Rollback\\* — no gates run: \`1.1.0\` passed them in <https:[^|]+\\|release #${original!.id}>\\.`));
    expect(shown).not.toContain("Tests pass");
    const rollback = (await releaseRow(d(), "1.1.0", "production"))!;
    expect(rollback).toMatchObject({ kind: "rollback", gatesFrom: original!.id, requiredApprovals: 1, gates: [] });

    // The requester may not approve their own rollback; someone else's one approval deploys it.
    expect(await click(USERS.approver1, awaiting, "release_approve")).toBe("You requested this release, so someone else has to approve it.");
    expect(await click(USERS.approver2, awaiting, "release_approve")).toBe("Your approval completed the release; deploying `1.1.0` to production.");
    await waitForState(d(), rollback.id, "live");
    await waitForState(d(), replaced!.id, "rolled_back");
    expect(deploysIn(dir).filter((line) => line.startsWith("production"))).toEqual(["production 1.0.0", "production 1.1.0", "production 1.2.0", "production 1.1.0"]);
    expect((await transitionsOf(d(), rollback.id)).map((t) => [t.fromState, t.toState, t.actor])).toEqual([
      [null, "awaiting_approval", USERS.approver1],
      ["awaiting_approval", "deploying", USERS.approver2],
      ["deploying", "verifying", "orchestrator"],
      ["verifying", "live", "orchestrator"],
    ]);
    expect((await transitionsOf(d(), replaced!.id)).at(-1)).toMatchObject({
      fromState: "live",
      toState: "rolled_back",
      actor: USERS.approver1,
      detail: `rolled back to 1.1.0 by release #${rollback.id}`,
    });
    await eventually(() => expect(messageOf(replaced!.id)?.text).toBe("Release 1.2.0 to production: rolled back"));

    const status = await command(USERS.stakeholder, "status");
    expect(status).toContain("*production*: `1.1.0` live since");
    expect(status).toMatch(new RegExp(`last rollback: to \`1.1.0\` \\d+s ago by <@${USERS.approver1}> \\(release #${rollback.id}\\)`));
    const log = await command(USERS.stakeholder, "release log 1.2.0");
    expect(log).toContain(`live → *rolled back* by <@${USERS.approver1}>: rolled back to 1.1.0 by release #${rollback.id}`);
  });

  it("rolls back to a named earlier version, and refuses one that was never live there", async () => {
    expect(await command(USERS.engineer, "rollback production to 0.9.0")).toBe("`0.9.0` was never live on production, so it cannot be rolled back to. Versions live there before: `1.2.0`, `1.0.0`.");
    expect(await command(USERS.engineer, "rollback production to 1.1.0")).toBe("`1.1.0` is what is live on production now; there is nothing to roll back.");
    expect(await command(USERS.engineer, "rollback prod")).toContain("`prod` is not an environment");
    const current = (await releaseRow(d(), "1.1.0", "production"))!;
    expect(await command(USERS.engineer, "rollback production to v1.0.0")).toMatch(/^Rollback #\d+: rolling production back to `1.0.0`/);
    const awaiting = await waitForMessageState(bot, "1.0.0", "production", "awaiting approval (0/1 approvals)");
    await click(USERS.approver3, awaiting, "release_approve");
    await waitForMessageState(bot, "1.0.0", "production", "live");
    await waitForState(d(), current.id, "rolled_back");
    expect(await command(USERS.engineer, "status")).toContain("*production*: `1.0.0` live since");
  });

  it("offers Roll back on a failed deploy's alert; the click starts the same flow, decided from the database", async () => {
    await ship("1.3.0", "staging");
    await command(USERS.engineer, "release 1.4.0-fail.1 to staging");
    await click(USERS.approver1, await waitForMessageState(bot, "1.4.0-fail.1", "staging", "awaiting approval"), "release_approve");
    await waitForMessageState(bot, "1.4.0-fail.1", "staging", "failed");
    const alert = await alertAbout("1.4.0-fail.1");
    expect(alert.text).toContain("Roll back to `1.3.0`, the version live before it? It needs 1 approval, and no gates run.");
    expect(buttonsOf(alert)).toEqual(["release_rollback"]);
    expect(JSON.stringify(alert.blocks)).toContain('"text":"Roll back to 1.3.0"');

    // A forged button value (another version) starts nothing: the offer is checked against the history.
    const forged = structuredClone(alert.blocks ?? []) as Array<{ type: string; elements?: Array<{ value?: string }> }>;
    const failed = (await releaseRow(d(), "1.4.0-fail.1", "staging"))!;
    forged.find((b) => b.type === "actions")!.elements![0]!.value = JSON.stringify({ failed: failed.id, to: "1.0.0" });
    await bot.emulator.click(USERS.stakeholder, { channel: CHANNELS.alerts, ts: alert.ts }, "release_rollback", forged);
    await bot.idle();
    expect(lastEphemeral(bot, USERS.stakeholder, CHANNELS.alerts)).toContain("staging has changed since that alert: a rollback now would deploy `1.3.0`, not `1.0.0`");
    expect(await releaseRow(d(), "1.3.0", "staging")).toMatchObject({ kind: "release" });

    expect(await click(USERS.engineer, alert, "release_rollback")).toMatch(/^Rollback #\d+: rolling staging back to `1.3.0`, no gates, waiting for 1 approval/);
    const rollback = (await releaseRow(d(), "1.3.0", "staging"))!;
    expect(rollback).toMatchObject({ kind: "rollback", requester: USERS.engineer, state: "awaiting_approval", requiredApprovals: 1 });
    await eventually(() => {
      const updated = bot.emulator.workspace.history(CHANNELS.alerts).find((m) => m.ts === alert.ts);
      expect(buttonsOf(updated)).toEqual([]);
      expect(JSON.stringify(updated?.blocks)).toContain(`<@${USERS.engineer}> asked to roll back to \`1.3.0\``);
    });
    await click(USERS.approver2, await waitForMessageState(bot, "1.3.0", "staging", "awaiting approval"), "release_approve");
    await waitForState(d(), rollback.id, "live");
    // It put back the live version: nothing is rolled back, the failed release stays failed.
    expect((await releaseRow(d(), "1.4.0-fail.1", "staging"))?.state).toBe("failed");
    expect(await d().select().from(releases).where(sql`${releases.environment} = 'staging' and ${releases.state} = 'rolled_back'`)).toEqual([]);
    expect(
      deploysIn(dir)
        .filter((l) => l.startsWith("staging"))
        .slice(-2),
    ).toEqual(["staging 1.4.0-fail.1", "staging 1.3.0"]);
  });

  it("offers it after a failed verification too, and says plainly when nothing was live before", async () => {
    await command(USERS.engineer, "release 1.5.0-smokefail.1 to staging");
    await click(USERS.approver1, await waitForMessageState(bot, "1.5.0-smokefail.1", "staging", "awaiting approval"), "release_approve");
    const alert = await alertAbout("1.5.0-smokefail.1");
    expect(alert.text).toContain("failed* while verifying");
    expect(buttonsOf(alert)).toEqual(["release_rollback"]);
    expect(JSON.stringify(alert.blocks)).toContain('"text":"Roll back to 1.3.0"');

    expect(await command(USERS.engineer, "rollback lab")).toBe("Nothing has been live on lab yet, so there is nothing to roll back to.");
    await command(USERS.engineer, "release 0.1.0-fail.1 to lab");
    await click(USERS.approver1, await waitForMessageState(bot, "0.1.0-fail.1", "lab", "awaiting approval"), "release_approve");
    const nothing = await alertAbout("0.1.0-fail.1");
    expect(nothing.text).toContain("Nothing was live on lab before `0.1.0-fail.1`, so there is no version to roll back to.");
    expect(buttonsOf(nothing)).toEqual([]);
    expect(await command(USERS.engineer, "rollback lab")).toBe("Nothing was live on lab before `0.1.0-fail.1`, so there is no version to roll back to.");
  });

  it("freezes: approvers and admins only, announced, refusing new releases, holding a pending one until the freeze ends", async () => {
    await ship("1.6.0", "staging");
    await command(USERS.engineer, "release 1.6.0 to production");
    const pending = await waitForMessageState(bot, "1.6.0", "production", "awaiting approval");
    await click(USERS.approver1, pending, "release_approve");

    expect(await command(USERS.engineer, "freeze production for 2d grid maintenance")).toBe(
      `Only release approvers and admins can freeze deploys: <@${USERS.approver1}>, <@${USERS.approver2}>, <@${USERS.approver3}>, <@${USERS.admin}>.`,
    );
    expect(await command(USERS.admin, "freeze production for 2 days")).toBe(
      "`for` needs a duration like 2d, 36h or 90m (got `2`).\nUsage: `/orch freeze <staging|production|lab|all> <for 2d|until YYYY-MM-DD [HH:MM]> <reason>`, for example `/orch freeze lab until 2026-12-26 09:00 holiday change freeze`",
    );
    expect(await d().select().from(freezes)).toEqual([]);
    expect(await command(USERS.admin, "freeze production until 2026-12-03 09:00 grid maintenance")).toMatch(
      /^Frozen production until Thu 09:00 \(Asia\/Bangkok\) \(freeze #\d+\); announced in <#C0RELEASES>\.$/,
    );
    const announcement = bot.emulator.workspace
      .history(CHANNELS.releases)
      .filter((m) => m.text.startsWith(":snowflake: *Deploy freeze: production*"))
      .at(-1);
    expect(announcement?.text).toContain(`until Thu 09:00 (Asia/Bangkok), set by <@${USERS.admin}>: grid maintenance`);
    expect(await command(USERS.stakeholder, "status")).toContain(`:snowflake: *production* frozen until Thu 09:00 (Asia/Bangkok) by <@${USERS.admin}>: grid maintenance`);
    await eventually(() => expect(JSON.stringify(releaseMessageOf(bot, "1.6.0", "production")?.blocks)).toContain(":snowflake: *production is frozen* until Thu 09:00 (Asia/Bangkok)"));

    // A new release is refused with the reason and the end; nothing is created.
    await ship("1.7.0", "staging");
    expect(await command(USERS.engineer, "release 1.7.0 to production")).toBe(
      `:snowflake: production is frozen until Thu 09:00 (Asia/Bangkok) by <@${USERS.admin}>: grid maintenance. No new release may start there until then. If it cannot wait: \`/orch release 1.7.0 to production --emergency <reason>\` (2 approvals, announced in alerts).`,
    );
    expect(await releaseRow(d(), "1.7.0", "production")).toBeUndefined();

    // The approval that completes the pending release schedules it for the end of the freeze.
    expect(await click(USERS.approver2, pending, "release_approve")).toBe("Your approval completed the release; production is frozen (grid maintenance), so it deploys at Thu 09:00 (Asia/Bangkok).");
    const row = (await releaseRow(d(), "1.6.0", "production"))!;
    expect(row.state).toBe("scheduled");
    const scheduled = await waitForMessageState(bot, "1.6.0", "production", "scheduled (approved), deploys at Thu 09:00 (Asia/Bangkok)");
    expect(buttonsOf(scheduled)).toEqual(["release_reject"]);
    expect(await command(USERS.stakeholder, "status")).toContain("`1.6.0` → production: :calendar: Scheduled (approved), deploys at Thu 09:00 (Asia/Bangkok)");

    // Approvals expire only while pending: a scheduled release does not.
    await d().execute(sql`update releases set awaiting_since = now() - interval '3 days' where id = ${row.id}`);
    expect(await bot.orchestrator.releases.expire()).toEqual([]);

    // Still frozen: the scheduler's run starts nothing.
    expect(await command(USERS.admin, "jobs run approval-expiry")).toContain("approval-expiry");
    await bot.idle();
    expect(deploysIn(dir)).not.toContain("production 1.6.0");

    // Thu 09:00: the freeze ends by itself, is announced once, and the release deploys once.
    clock = new Date("2026-12-03T02:00:00Z");
    await Promise.all([bot.orchestrator.releases.freezes.endLapsed(), bot.orchestrator.releases.startDue(), bot.orchestrator.releases.startDue()]);
    await bot.idle();
    await waitForState(d(), row.id, "live");
    expect(deploysIn(dir).filter((l) => l === "production 1.6.0")).toHaveLength(1);
    const ended = bot.emulator.workspace.history(CHANNELS.releases).filter((m) => m.text.includes("*Freeze of production ran out* (grid maintenance)"));
    expect(ended).toHaveLength(1);
    expect((await transitionsOf(d(), row.id)).map((t) => [t.fromState, t.toState, t.actor])).toEqual([
      [null, "gating", USERS.engineer],
      ["gating", "awaiting_approval", "orchestrator"],
      ["awaiting_approval", "scheduled", USERS.approver2],
      ["scheduled", "deploying", "orchestrator"],
      ["deploying", "verifying", "orchestrator"],
      ["verifying", "live", "orchestrator"],
    ]);
    const log = await command(USERS.stakeholder, "release log 1.6.0");
    expect(log).toContain(`:snowflake: production *frozen* by <@${USERS.admin}> until Thu, 3 Dec 2026, 09:00: grid maintenance`);
    expect(log).toContain(`awaiting approval → *scheduled* by <@${USERS.approver2}>: approved (2/2); scheduled for 2026-12-03T02:00:00.000Z: frozen (freeze #`);
    expect(log).toContain("freeze of production *ended* (ran out)");
    expect(await command(USERS.stakeholder, "status")).toContain("Freezes: None.");
  });

  it("unfreezes now, and a release approved outside the deploy window is scheduled for its opening", async () => {
    clock = TUESDAY_10;
    expect(await command(USERS.approver3, "freeze all for 1d audit")).toMatch(/^Frozen all environments until Wed 10:00 \(Asia\/Bangkok\) \(freezes #\d+, #\d+, #\d+\)/);
    expect(await command(USERS.engineer, "release 1.8.0 to staging")).toContain(":snowflake: staging is frozen until Wed 10:00 (Asia/Bangkok)");
    expect(await command(USERS.engineer, "unfreeze all")).toContain("Only release approvers and admins can unfreeze deploys");
    expect(await command(USERS.approver3, "unfreeze all")).toBe("Unfroze staging, production, lab; announced in <#C0RELEASES>.");
    expect(await command(USERS.approver3, "unfreeze production")).toBe("production is not frozen; nothing changed.");
    expect(bot.emulator.workspace.history(CHANNELS.releases).some((m) => m.text.includes(`*Freeze of production ended by <@${USERS.approver3}>* (audit)`))).toBe(true);

    await ship("1.8.0", "staging");
    clock = new Date("2026-12-01T10:00:00Z"); // Tue 17:00 Bangkok, after the window closed
    await command(USERS.engineer, "release 1.8.0 to production");
    const pending = await waitForMessageState(bot, "1.8.0", "production", "awaiting approval");
    await click(USERS.approver1, pending, "release_approve");
    expect(await click(USERS.approver2, pending, "release_approve")).toBe("Your approval completed the release; it is outside production's deploy windows, so it deploys at Wed 09:00 (Asia/Bangkok).");
    await waitForMessageState(bot, "1.8.0", "production", "deploys at Wed 09:00 (Asia/Bangkok)");
    const row = (await releaseRow(d(), "1.8.0", "production"))!;
    expect(row.scheduledFor).toEqual(new Date("2026-12-02T02:00:00Z"));
    await bot.orchestrator.releases.startDue();
    expect(deploysIn(dir)).not.toContain("production 1.8.0");
    clock = new Date("2026-12-02T02:00:30Z");
    expect(await command(USERS.admin, "jobs run approval-expiry")).toContain("approval-expiry");
    await waitForState(d(), row.id, "live");
    expect(deploysIn(dir).filter((l) => l === "production 1.8.0")).toHaveLength(1);
    expect((await transitionsOf(d(), row.id)).find((t) => t.toState === "scheduled")?.detail).toBe("approved (2/2); scheduled for 2026-12-02T02:00:00.000Z: outside the deploy windows");
  });

  it("lets an emergency deploy during a freeze with two approvals, alerting at request and at deploy", async () => {
    clock = TUESDAY_10;
    await command(USERS.admin, "freeze staging for 3d year-end");
    const reply = await command(USERS.engineer, "release 1.9.1 to staging --emergency voltage forecast off by 20% at noon");
    expect(reply).toMatch(/^Release #\d+: 🚨 emergency, 2 approvals needed, announced in <#C0ALERTS>; `1.9.1` to staging is running its gates/);
    const requested = await alertAbout("Emergency release `1.9.1` to staging");
    expect(requested.text).toContain(`requested by <@${USERS.engineer}>: voltage forecast off by 20% at noon. It needs 2 approvals`);
    const pending = await waitForMessageState(bot, "1.9.1", "staging", "🚨 Release 1.9.1 to staging (emergency): awaiting approval (0/2 approvals)");
    expect(JSON.stringify(pending.blocks)).toContain("As an emergency release, it may deploy anyway.");
    expect(await click(USERS.approver1, pending, "release_approve")).toBe("Your approval is counted (1/2); it needs 1 more.");
    expect(await click(USERS.approver2, pending, "release_approve")).toBe("Your approval completed the release; deploying `1.9.1` to staging.");
    const row = (await releaseRow(d(), "1.9.1", "staging"))!;
    await waitForState(d(), row.id, "live");
    const deploying = await alertAbout("is deploying now");
    expect(deploying.text).toContain("🚨 *Emergency release `1.9.1` to staging is deploying now*");
    expect(await command(USERS.engineer, "release 1.9.1 to staging --emergency")).toContain("`--emergency` needs text after it");
    const log = await command(USERS.stakeholder, "release log 1.9.1");
    expect(log).toContain("🚨 emergency: voltage forecast off by 20% at noon");
    expect(log).toContain(`*requested* by <@${USERS.engineer}>: 🚨 emergency release of 1.9.1 to staging requested: voltage forecast off by 20% at noon`);
    expect(log).toContain("awaiting approval → *deploying* by <@U0APPROVER2>: approved (2/2); emergency: deploy starts");

    const report = await command(USERS.stakeholder, "report weekly");
    expect(report).toContain("(3 rollbacks, 1 emergency)");
  });

  it("never deploys a scheduled release rejected meanwhile, and refuses a rollback during a freeze with the way out", async () => {
    clock = TUESDAY_10;
    await command(USERS.engineer, "release 1.9.1 to production");
    const pending = await waitForMessageState(bot, "1.9.1", "production", "awaiting approval");
    await command(USERS.admin, "freeze production for 1d audit");
    await click(USERS.approver1, pending, "release_approve");
    await click(USERS.approver2, pending, "release_approve");
    const row = (await releaseRow(d(), "1.9.1", "production"))!;
    await waitForState(d(), row.id, "scheduled");
    await click(USERS.approver3, releaseMessageOf(bot, "1.9.1", "production")!, "release_reject");
    const view = [...bot.emulator.workspace.views.values()].find((v) => v.user === USERS.approver3 && !v.closed);
    await bot.emulator.submitView(USERS.approver3, view!.id, { reason: { reason_input: "audit found a config drift" } });
    await bot.idle();
    await waitForState(d(), row.id, "rejected");
    clock = new Date("2026-12-03T03:00:00Z");
    await bot.orchestrator.releases.freezes.endLapsed();
    expect(await bot.orchestrator.releases.startDue()).toEqual([]);
    await bot.idle();
    expect(deploysIn(dir)).not.toContain("production 1.9.1");
    expect((await transitionsOf(d(), row.id)).map((t) => t.toState).slice(-2)).toEqual(["scheduled", "rejected"]);

    // Staging is still frozen (until Fri): a rollback is refused too, and told how to go ahead.
    expect(await command(USERS.engineer, "rollback staging")).toBe(
      `:snowflake: staging is frozen until Fri 10:00 (Asia/Bangkok) by <@${USERS.admin}>: year-end. No deploy may start there until then. If it cannot wait: \`/orch rollback staging to 1.8.0 --emergency <reason>\` (2 approvals, announced in alerts).`,
    );
  });

  it("does not start a scheduled release once a newer version went live meanwhile (an emergency fix)", async () => {
    clock = new Date("2026-12-07T03:00:00Z"); // Mon 10:00: staging's freeze is over, production's window open
    await ship("2.0.0", "staging");
    await command(USERS.engineer, "release 2.0.0 to production");
    const pending = await waitForMessageState(bot, "2.0.0", "production", "awaiting approval");
    await ship("2.0.1", "staging");
    await command(USERS.admin, "freeze production for 1d change board");
    await click(USERS.approver1, pending, "release_approve");
    await click(USERS.approver2, pending, "release_approve");
    const waiting = (await releaseRow(d(), "2.0.0", "production"))!;
    await waitForState(d(), waiting.id, "scheduled");

    await command(USERS.engineer, "release 2.0.1 to production --emergency feeder data corrupted");
    const hotfix = await waitForMessageState(bot, "2.0.1", "production", "awaiting approval");
    await click(USERS.approver1, hotfix, "release_approve");
    await click(USERS.approver3, hotfix, "release_approve");
    await waitForMessageState(bot, "2.0.1", "production", "live");

    clock = new Date("2026-12-08T04:00:00Z");
    await bot.orchestrator.releases.freezes.endLapsed();
    expect(await bot.orchestrator.releases.startDue()).toEqual([]);
    await bot.idle();
    await waitForState(d(), waiting.id, "rejected");
    expect(deploysIn(dir)).not.toContain("production 2.0.0");
    expect((await transitionsOf(d(), waiting.id)).at(-1)).toMatchObject({ fromState: "scheduled", toState: "rejected", actor: "orchestrator" });
    const message = await waitForMessageState(bot, "2.0.0", "production", "rejected");
    expect(JSON.stringify(message.blocks)).toContain("*Rejected by Orchestrator:* Not deployed: 2.0.1, as new or newer, went live on production while this release waited");
  });
});
