import { describe, expect, it } from "vitest";
import { compilePattern, matchArguments, tokenize } from "../src/core/commands/grammar.js";
import { ConfigError, parseConfig } from "../src/config/load.js";
import { releaseMessage, type ReleaseView } from "../src/features/releases/blocks.js";
import { deployDecision, type FreezeFacts, parseFreezePeriod } from "../src/features/releases/freeze.js";
import { approvalsNeeded, canTransition, isSuperseded } from "../src/features/releases/machine.js";
import { chooseRollbackTarget, type WentLive } from "../src/features/releases/rollback.js";
import { type DeployWindow, isInWindow, nextOpening, wallClock, zonedInstant } from "../src/features/releases/windows.js";
import { formatWhen } from "../src/time.js";
import { testConfigYaml } from "./support/config.js";

const at = (iso: string) => new Date(iso);
const weekdays: DeployWindow[] = [{ days: ["mon", "tue", "wed", "thu"], from: "09:00", to: "16:00" }];

describe("deploy windows in Asia/Bangkok (UTC+7, no DST)", () => {
  const tz = "Asia/Bangkok";

  it("is inside from 09:00 up to, not including, 16:00 on the listed days", () => {
    // Tue 1 Dec 2026.
    expect(isInWindow(weekdays, at("2026-12-01T01:59:00Z"), tz)).toBe(false); // 08:59
    expect(isInWindow(weekdays, at("2026-12-01T02:00:00Z"), tz)).toBe(true); // 09:00
    expect(isInWindow(weekdays, at("2026-12-01T08:59:00Z"), tz)).toBe(true); // 15:59
    expect(isInWindow(weekdays, at("2026-12-01T09:00:00Z"), tz)).toBe(false); // 16:00
    // Fri 4 Dec, 10:00 Bangkok: not a listed day.
    expect(isInWindow(weekdays, at("2026-12-04T03:00:00Z"), tz)).toBe(false);
    // Thu 3 Dec 23:30 UTC is already Fri 06:30 in Bangkok: the zone decides the day, not UTC.
    expect(isInWindow([{ days: ["fri"], from: "06:00", to: "07:00" }], at("2026-12-03T23:30:00Z"), tz)).toBe(true);
  });

  it("finds the next opening: later today, tomorrow, or after the weekend", () => {
    expect(nextOpening(weekdays, at("2026-12-01T00:30:00Z"), tz)).toEqual(at("2026-12-01T02:00:00Z")); // Tue 07:30 → Tue 09:00
    expect(nextOpening(weekdays, at("2026-12-01T10:00:00Z"), tz)).toEqual(at("2026-12-02T02:00:00Z")); // Tue 17:00 → Wed 09:00
    expect(nextOpening(weekdays, at("2026-12-03T12:00:00Z"), tz)).toEqual(at("2026-12-07T02:00:00Z")); // Thu 19:00 → Mon 09:00
    const inside = at("2026-12-01T05:00:00Z");
    expect(nextOpening(weekdays, inside, tz)).toEqual(inside);
    expect(nextOpening([], inside, tz)).toBeUndefined();
    expect(formatWhen(at("2026-12-07T02:00:00Z"), tz, at("2026-12-03T12:00:00Z"))).toBe("Mon 09:00 (Asia/Bangkok)");
    expect(formatWhen(at("2026-12-29T02:00:00Z"), tz, at("2026-12-03T12:00:00Z"))).toBe("Tue, 29 Dec 2026, 09:00 (Asia/Bangkok)");
  });

  it("runs a window past midnight into the next day", () => {
    const night: DeployWindow[] = [{ days: ["sat"], from: "22:00", to: "02:00" }];
    expect(isInWindow(night, at("2026-12-05T15:30:00Z"), tz)).toBe(true); // Sat 22:30
    expect(isInWindow(night, at("2026-12-05T18:30:00Z"), tz)).toBe(true); // Sun 01:30
    expect(isInWindow(night, at("2026-12-05T19:30:00Z"), tz)).toBe(false); // Sun 02:30
    expect(isInWindow(night, at("2026-12-04T18:30:00Z"), tz)).toBe(false); // Sat 01:30: Friday has no window
    expect(nextOpening(night, at("2026-12-06T00:00:00Z"), tz)).toEqual(at("2026-12-12T15:00:00Z"));
  });
});

describe("deploy windows across a daylight-saving change", () => {
  it("keeps 09:00 on the wall clock in Europe/Berlin when the clocks go back (25 Oct 2026)", () => {
    const tz = "Europe/Berlin";
    // Fri 23 Oct 2026 17:00 CEST (UTC+2) → next opening Mon 26 Oct 09:00 CET (UTC+1) = 08:00Z, not 07:00Z.
    const opening = nextOpening(weekdays, at("2026-10-23T15:00:00Z"), tz);
    expect(opening).toEqual(at("2026-10-26T08:00:00Z"));
    expect(wallClock(opening as Date, tz)).toMatchObject({ day: 26, weekday: 0, minutes: 9 * 60 });
    // 07:30Z on Monday is 08:30 local after the change: outside; before the change it would have been 09:30.
    expect(isInWindow(weekdays, at("2026-10-26T07:30:00Z"), tz)).toBe(false);
    expect(isInWindow(weekdays, at("2026-10-22T07:30:00Z"), tz)).toBe(true);
  });

  it("handles America/New_York springing forward (8 Mar 2026), including a time the clock skips", () => {
    const tz = "America/New_York";
    // Fri 6 Mar 17:00 EST → Mon 9 Mar 09:00 EDT (UTC-4) = 13:00Z.
    expect(nextOpening(weekdays, at("2026-03-06T22:00:00Z"), tz)).toEqual(at("2026-03-09T13:00:00Z"));
    // 02:30 does not exist on 8 Mar: a window opening then opens when the clock jumps to 03:00 EDT (07:00Z).
    expect(zonedInstant({ year: 2026, month: 3, day: 8 }, 150, tz)).toEqual(at("2026-03-08T07:00:00Z"));
    const sunday: DeployWindow[] = [{ days: ["sun"], from: "02:30", to: "05:00" }];
    expect(nextOpening(sunday, at("2026-03-08T05:00:00Z"), tz)).toEqual(at("2026-03-08T07:00:00Z"));
    // 01:30 happens twice on 1 Nov 2026: the first one (EDT) counts.
    expect(zonedInstant({ year: 2026, month: 11, day: 1 }, 90, tz)).toEqual(at("2026-11-01T05:30:00Z"));
  });
});

describe("freezes and the deploy decision", () => {
  const tz = "Asia/Bangkok";
  const now = at("2026-12-01T03:00:00Z"); // Tue 10:00 Bangkok
  const freeze = (endsAt: string, id = 1): FreezeFacts => ({
    id,
    environment: "production",
    reason: "holiday change freeze",
    createdBy: "U0ADMIN",
    startsAt: at("2026-12-01T00:00:00Z"),
    endsAt: at(endsAt),
  });

  it("reads `for 2d` and `until YYYY-MM-DD [HH:MM]` in the configured zone, and refuses what makes no sense", () => {
    expect(parseFreezePeriod("for 2d holiday change freeze", now, tz)).toEqual({ ok: true, endsAt: at("2026-12-03T03:00:00Z"), reason: "holiday change freeze" });
    expect(parseFreezePeriod("until 2026-12-26 09:00 year-end", now, tz)).toEqual({ ok: true, endsAt: at("2026-12-26T02:00:00Z"), reason: "year-end" });
    expect(parseFreezePeriod("until 2026-12-26 year-end", now, tz)).toEqual({ ok: true, endsAt: at("2026-12-25T17:00:00Z"), reason: "year-end" });
    expect(parseFreezePeriod("for 2 days", now, tz)).toEqual({ ok: false, reason: "`for` needs a duration like 2d, 36h or 90m (got `2`)" });
    expect(parseFreezePeriod("until 2026-02-30 x-mas", now, tz)).toEqual({ ok: false, reason: "`2026-02-30` is not a date on the calendar" });
    expect(parseFreezePeriod("until 2026-12-26 9:00 x-mas", now, tz)).toEqual({ ok: false, reason: "`9:00` is not a time: use HH:MM on the 24-hour clock, like 09:00" });
    expect(parseFreezePeriod("until 2026-11-30 past", now, tz)).toEqual({ ok: false, reason: "that end time has already passed" });
    expect(parseFreezePeriod("for 100d long", now, tz)).toEqual({ ok: false, reason: "a freeze may last at most 90 days" });
    expect(parseFreezePeriod("for 2d", now, tz)).toMatchObject({ ok: false, reason: expect.stringContaining("say why") });
    expect(parseFreezePeriod("tomorrow please", now, tz)).toMatchObject({ ok: false, reason: expect.stringContaining("`for 2d` or `until 2026-12-26 09:00`") });
  });

  it("starts now only outside every freeze and inside a window; otherwise names the earliest moment both hold", () => {
    expect(deployDecision({ windows: weekdays, freezes: [], now, timeZone: tz, emergency: false })).toEqual({ start: true });
    const frozen = deployDecision({ windows: [], freezes: [freeze("2026-12-02T05:00:00Z")], now, timeZone: tz, emergency: false });
    expect(frozen).toMatchObject({ start: false, at: at("2026-12-02T05:00:00Z"), freeze: { id: 1 }, outsideWindow: false });
    // The freeze ends Wed 16:30, after the window closed: the deploy waits for Thu 09:00.
    const both = deployDecision({ windows: weekdays, freezes: [freeze("2026-12-02T09:30:00Z")], now, timeZone: tz, emergency: false });
    expect(both).toMatchObject({ start: false, at: at("2026-12-03T02:00:00Z") });
    // Two overlapping freezes: the later end counts.
    const overlapping = deployDecision({ windows: [], freezes: [freeze("2026-12-02T05:00:00Z"), freeze("2026-12-04T05:00:00Z", 2)], now, timeZone: tz, emergency: false });
    expect(overlapping).toMatchObject({ start: false, at: at("2026-12-04T05:00:00Z") });
    // Outside the window, no freeze.
    expect(deployDecision({ windows: weekdays, freezes: [], now: at("2026-12-01T10:00:00Z"), timeZone: tz, emergency: false })).toMatchObject({
      start: false,
      at: at("2026-12-02T02:00:00Z"),
      outsideWindow: true,
    });
    // A freeze that has ended, or not begun, holds nothing; an emergency overrides both.
    expect(deployDecision({ windows: [], freezes: [freeze("2026-12-01T02:00:00Z")], now, timeZone: tz, emergency: false })).toEqual({ start: true });
    expect(deployDecision({ windows: weekdays, freezes: [freeze("2026-12-09T00:00:00Z")], now: at("2026-12-01T10:00:00Z"), timeZone: tz, emergency: true })).toEqual({ start: true });
  });
});

describe("rollback targets, approvals and states", () => {
  const went = (id: number, version: string, liveAt: string, state: WentLive["state"] = "live", gatesFrom: number | null = null): WentLive => ({
    id,
    version,
    semver: version,
    state,
    liveAt: at(liveAt),
    gatesFrom,
  });
  const history = [went(3, "1.4.0", "2026-12-03T00:00:00Z"), went(2, "1.3.0", "2026-12-02T00:00:00Z"), went(1, "1.2.0", "2026-12-01T00:00:00Z")];

  it("goes back to the version live before the current one, or a named earlier one", () => {
    expect(chooseRollbackTarget({ environment: "production", history })).toMatchObject({ ok: true, target: { id: 2 }, replacing: { id: 3 }, gatesFrom: 2 });
    expect(chooseRollbackTarget({ environment: "production", history, named: "1.2.0" })).toMatchObject({ ok: true, target: { id: 1 }, replacing: { id: 3 }, gatesFrom: 1 });
    expect(chooseRollbackTarget({ environment: "production", history, named: "1.4.0" })).toEqual({ ok: false, reason: "`1.4.0` is what is live on production now; there is nothing to roll back." });
    expect(chooseRollbackTarget({ environment: "production", history, named: "0.9.0" })).toEqual({
      ok: false,
      reason: "`0.9.0` was never live on production, so it cannot be rolled back to. Versions live there before: `1.3.0`, `1.2.0`.",
    });
  });

  it("passes over a rolled-back version, and after a rollback links the gates of the original release", () => {
    const afterRollback = [went(4, "1.3.0", "2026-12-04T00:00:00Z", "live", 2), went(3, "1.4.0", "2026-12-03T00:00:00Z", "rolled_back"), ...history.slice(1)];
    expect(chooseRollbackTarget({ environment: "production", history: afterRollback })).toMatchObject({ ok: true, target: { id: 1, version: "1.2.0" }, replacing: { id: 4 } });
    expect(chooseRollbackTarget({ environment: "production", history: [went(5, "1.2.0", "2026-12-05T00:00:00Z", "live", 1), ...afterRollback], named: "1.3.0" })).toMatchObject({
      ok: true,
      target: { id: 4 },
      gatesFrom: 2,
    });
  });

  it("after a failed deploy, puts back what was live before it; says plainly when nothing was", () => {
    const failed = { id: 9, version: "1.5.0", at: at("2026-12-05T00:00:00Z") };
    expect(chooseRollbackTarget({ environment: "production", history, lastFailedDeploy: failed })).toMatchObject({ ok: true, target: { id: 3, version: "1.4.0" }, replacing: undefined });
    // A failure older than the live version no longer matters.
    expect(chooseRollbackTarget({ environment: "production", history, lastFailedDeploy: { ...failed, at: at("2026-12-02T12:00:00Z") } })).toMatchObject({ ok: true, target: { id: 2 } });
    expect(chooseRollbackTarget({ environment: "production", history: [], lastFailedDeploy: failed })).toEqual({
      ok: false,
      reason: "Nothing was live on production before `1.5.0`, so there is no version to roll back to.",
    });
    expect(chooseRollbackTarget({ environment: "production", history: [] })).toEqual({ ok: false, reason: "Nothing has been live on production yet, so there is nothing to roll back to." });
    expect(chooseRollbackTarget({ environment: "production", history: history.slice(2) })).toEqual({
      ok: false,
      reason: "Nothing was live on production before `1.2.0`, so there is no earlier version to roll back to.",
    });
  });

  it("counts approvals: rollback.approvals for a rollback, an emergency never fewer than emergency.approvals or the environment's own", () => {
    const policy = { approvals: 2, rollbackApprovals: 1, emergencyApprovals: 2 };
    expect(approvalsNeeded(policy, { kind: "release", emergency: false })).toBe(2);
    expect(approvalsNeeded(policy, { kind: "rollback", emergency: false })).toBe(1);
    expect(approvalsNeeded(policy, { kind: "release", emergency: true })).toBe(2);
    expect(approvalsNeeded({ ...policy, approvals: 3 }, { kind: "release", emergency: true })).toBe(3);
    expect(approvalsNeeded({ ...policy, emergencyApprovals: 2 }, { kind: "rollback", emergency: true })).toBe(2);
  });

  it("holds back a waiting release when its version or a newer one went live meanwhile, never a rollback", () => {
    expect(isSuperseded({ kind: "release", semver: "1.4.0" }, { semver: "1.4.1" })).toBe(true);
    expect(isSuperseded({ kind: "release", semver: "1.4.0" }, { semver: "1.4.0" })).toBe(true);
    expect(isSuperseded({ kind: "release", semver: "1.4.1" }, { semver: "1.4.0" })).toBe(false);
    expect(isSuperseded({ kind: "release", semver: "1.4.1" }, undefined)).toBe(false);
    expect(isSuperseded({ kind: "rollback", semver: "1.3.0" }, { semver: "1.4.0" })).toBe(false);
  });

  it("moves through scheduled and rolled_back only along the SPEC §4 arrows", () => {
    expect(canTransition("awaiting_approval", "scheduled")).toBe(true);
    expect(canTransition("scheduled", "deploying")).toBe(true);
    expect(canTransition("scheduled", "rejected")).toBe(true);
    expect(canTransition("scheduled", "expired")).toBe(false);
    expect(canTransition("gating", "scheduled")).toBe(false);
    expect(canTransition("live", "rolled_back")).toBe(true);
    expect(canTransition("failed", "rolled_back")).toBe(false);
    expect(canTransition("rolled_back", "live")).toBe(false);
  });
});

describe("release messages for scheduled, emergency and rollback releases", () => {
  const base: ReleaseView = {
    id: 12,
    version: "1.4.1",
    environment: "production",
    state: "scheduled",
    requester: "U1",
    requiredApprovals: 2,
    gates: [],
    approvals: [],
    approvers: ["U0APPROVER1", "U0APPROVER2"],
    reason: null,
    outputTail: null,
    createdAt: at("2026-12-01T02:00:00Z"),
    updatedAt: at("2026-12-01T03:00:00Z"),
    kind: "release",
    emergency: null,
    gatesFrom: null,
    scheduledFor: at("2026-12-03T02:00:00Z"),
    freezes: [{ id: 1, environment: "production", reason: "year-end", createdBy: "U0ADMIN", startsAt: at("2026-12-01T00:00:00Z"), endsAt: at("2026-12-02T10:00:00Z") }],
    now: at("2026-12-01T10:00:00Z"),
  };

  it("says when a scheduled release deploys, shows the freeze, and keeps only Reject", () => {
    const message = releaseMessage(base, "Asia/Bangkok");
    expect(message.text).toBe("Release 1.4.1 to production: scheduled (approved), deploys at Thu 09:00 (Asia/Bangkok)");
    const shown = JSON.stringify(message.blocks);
    expect(shown).toContain("*Approved; deploys at Thu 09:00 (Asia/Bangkok)*");
    expect(shown).toContain(":snowflake: *production is frozen* until Wed 17:00 (Asia/Bangkok) by <@U0ADMIN>: year-end");
    expect(shown).toContain('"action_id":"release_reject"');
    expect(shown).not.toContain('"action_id":"release_approve"');
  });

  it("marks an emergency with 🚨 and a rollback with the release whose gates it relies on", () => {
    const emergency = releaseMessage({ ...base, state: "awaiting_approval", emergency: "grid outage", scheduledFor: null }, "Asia/Bangkok");
    expect(emergency.text).toBe("🚨 Release 1.4.1 to production (emergency): awaiting approval (0/2 approvals)");
    expect(JSON.stringify(emergency.blocks)).toContain("🚨 *Emergency:* grid outage");
    expect(JSON.stringify(emergency.blocks)).toContain("As an emergency release, it may deploy anyway.");
    const rollback = releaseMessage(
      { ...base, state: "awaiting_approval", kind: "rollback", gatesFrom: 7, gatesLink: "https://example.slack.com/archives/C0RELEASES/p1", scheduledFor: null, freezes: [] },
      "Asia/Bangkok",
    );
    expect(rollback.text).toBe("Release 1.4.1 to production (rollback): awaiting approval (0/2 approvals)");
    expect(JSON.stringify(rollback.blocks)).toContain("*Rollback* — no gates run: `1.4.1` passed them in <https://example.slack.com/archives/C0RELEASES/p1|release #7>.");
  });
});

describe("config for windows, rollback and emergency", () => {
  const problems = (yaml: string): string[] => {
    try {
      parseConfig(yaml, "test.yaml", {});
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  };
  const withProduction = (extra: string) =>
    testConfigYaml({
      dir: "/tmp",
      environments: `
  - name: staging
    approvals: 1
    deploy: { run: ["./deploy.sh"] }
  - name: production
    approvals: 2
    deploy: { run: ["./deploy.sh"] }
${extra}`,
    });

  it("fills the defaults: no windows, one rollback approval, two emergency approvals", () => {
    const config = parseConfig(withProduction(""), "test.yaml", {});
    expect(config.environments[1]).toMatchObject({ windows: [], rollback: { approvals: 1 } });
    expect(config.emergency.approvals).toBe(2);
  });

  it("names the path of each bad window, rollback or emergency setting", () => {
    expect(
      problems(
        withProduction(`    windows: [{ days: [mon, funday], from: "9:00", to: "16:00" }, { days: [], from: "10:00", to: "10:00" }]
    rollback: { approvals: 5 }`).replace("approval: { expiresAfter: 24h }", "approval: { expiresAfter: 24h }\nemergency: { approvals: 0 }"),
      ),
    ).toEqual([
      "environments[1].windows[0].days[1]: expected a day: mon, tue, wed, thu, fri, sat, sun",
      'environments[1].windows[0].from: expected a time like "09:00" (24-hour clock)',
      "environments[1].windows[1].days: expected at least one day",
      "environments[1].windows[1].to: from and to are the same time: a window needs a length (00:00 to 24:00 is the whole day)",
      "emergency.approvals: expected a number >= 1",
    ]);
  });
});

describe("the --emergency option takes the rest of the text as its reason", () => {
  const pattern = compilePattern("release <version> [to <env>] [--emergency <reason...>]");
  const match = (text: string) => matchArguments(pattern, text, tokenize(text));

  it("reads the reason in words, after the environment", () => {
    expect(match("release 1.4.1 to production --emergency grid outage in  Khon Kaen")).toEqual({
      ok: true,
      values: { version: "1.4.1", env: "production", emergency: "grid outage in  Khon Kaen" },
    });
    expect(match('release 1.4.1 --emergency "feeder 7 down"')).toEqual({ ok: true, values: { version: "1.4.1", emergency: "feeder 7 down" } });
    expect(match("release 1.4.1 --emergency=outage now")).toEqual({ ok: true, values: { version: "1.4.1", emergency: "outage now" } });
    expect(match("release 1.4.1 to production")).toEqual({ ok: true, values: { version: "1.4.1", env: "production" } });
  });

  it("refuses an empty reason and an unknown option", () => {
    expect(match("release 1.4.1 --emergency")).toEqual({ ok: false, reason: "`--emergency` needs text after it." });
    expect(match("release 1.4.1 --urgent now")).toEqual({ ok: false, reason: "Unknown option `--urgent`." });
  });
});
