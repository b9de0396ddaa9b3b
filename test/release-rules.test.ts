import { describe, expect, it } from "vitest";
import { RELEASE_STATES } from "../src/db/schema.js";
import { releaseMessage, type ReleaseView } from "../src/features/releases/blocks.js";
import { canTransition, checkApprove, checkReject, isWithdrawal, normalizeVersion, tallyApprovals } from "../src/features/releases/machine.js";
import { IN_FLIGHT } from "../src/features/releases/queries.js";
import { checkBlocks } from "../src/emulator/limits.js";

describe("release state machine", () => {
  it("allows only the documented transitions", () => {
    const allowed = RELEASE_STATES.flatMap((from) => RELEASE_STATES.filter((to) => canTransition(from, to)).map((to) => `${from}→${to}`));
    expect(allowed.sort()).toEqual(
      [
        "gating→awaiting_approval",
        "gating→blocked",
        "gating→failed",
        "awaiting_approval→deploying",
        "awaiting_approval→rejected",
        "awaiting_approval→expired",
        "awaiting_approval→scheduled",
        "scheduled→deploying",
        "scheduled→rejected",
        "live→rolled_back",
        "awaiting_approval→gating",
        "deploying→awaiting_approval",
        "deploying→verifying",
        "deploying→failed",
        "verifying→live",
        "verifying→failed",
      ].sort(),
    );
    expect(RELEASE_STATES.filter((from) => canTransition(from, "failed")).sort()).toEqual(["deploying", "gating", "verifying"]);
    // The final states are exactly those the store does not count as in flight.
    expect(RELEASE_STATES.filter((state) => !IN_FLIGHT.includes(state)).sort()).toEqual(["blocked", "expired", "failed", "live", "rejected", "rolled_back"]);
  });

  it("normalizes versions", () => {
    expect(normalizeVersion("v1.4.0-rc.1")).toBe("1.4.0-rc.1");
    expect(normalizeVersion("1.4")).toBeUndefined();
    expect(normalizeVersion("1.4.0; rm -rf /")).toBeUndefined();
    expect(normalizeVersion(`1.0.0-${"a".repeat(80)}`)).toBeUndefined();
  });

  it("applies the approval rules", () => {
    const facts = { state: "awaiting_approval" as const, requester: "U1", approvers: ["U1", "U2", "U3"], approvedBy: ["U2"], required: 2 };
    expect(checkApprove(facts, "U3")).toEqual({ ok: true });
    expect(checkApprove(facts, "U1")).toEqual({ ok: false, reason: "You requested this release, so someone else has to approve it." });
    expect(checkApprove(facts, "U2")).toEqual({ ok: false, reason: "You have already approved this release; it needs 1 more approval from someone else." });
    expect(checkApprove(facts, "U9")).toEqual({ ok: false, reason: "Only release approvers can approve releases." });
    expect(checkApprove({ ...facts, state: "deploying" }, "U3")).toEqual({ ok: false, reason: "This release is already deploying; there is nothing to approve." });
    expect(checkReject(facts, "U1")).toEqual({ ok: true });
    expect(checkReject({ ...facts, state: "live" }, "U2")).toEqual({ ok: false, reason: "This release is already live; there is nothing to reject." });
  });

  it("counts only people who are approvers now and not the requester", () => {
    expect(tallyApprovals({ requester: "U1", approvers: ["U2", "U3"], approvedBy: ["U4", "U2", "U1", "U2"] })).toEqual({
      counting: ["U2"],
      notCounting: [
        { approver: "U4", why: "no longer an approver" },
        { approver: "U1", why: "requested the release" },
      ],
    });
    // A stale approval does not make the approver's own "already approved" count look complete.
    expect(checkApprove({ state: "awaiting_approval", requester: "U1", approvers: ["U2", "U3"], approvedBy: ["U4", "U2"], required: 2 }, "U2")).toEqual({
      ok: false,
      reason: "You have already approved this release; it needs 1 more approval from someone else.",
    });
  });

  it("lets the requester withdraw, and no one else who is not an approver", () => {
    const facts = { state: "awaiting_approval" as const, requester: "U7", approvers: ["U2", "U3"] };
    expect(checkReject(facts, "U7")).toEqual({ ok: true });
    expect(checkReject(facts, "U8")).toEqual({ ok: false, reason: "Only release approvers, or the person who requested the release, can reject it." });
    expect(checkReject({ ...facts, state: "live" }, "U7")).toEqual({ ok: false, reason: "This release is already live; there is nothing to withdraw." });
    expect(isWithdrawal("U7", "U7")).toBe(true);
    expect(isWithdrawal("U7", "U2")).toBe(false);
  });
});

describe("release message", () => {
  const base: ReleaseView = {
    id: 9,
    version: "1.4.0",
    environment: "production",
    state: "awaiting_approval",
    requester: "U1",
    requiredApprovals: 2,
    gates: [
      { name: "Tests pass", kind: "run", status: "passed", detail: "412 passed" },
      { name: "Runbooks updated", kind: "manual", status: "manual", detail: "confirmed by the approver" },
    ],
    approvals: [{ approver: "U2", at: new Date("2026-11-25T03:00:00Z") }],
    approvers: ["U2", "U3"],
    reason: null,
    outputTail: null,
    createdAt: new Date("2026-11-25T02:00:00Z"),
    updatedAt: new Date("2026-11-25T03:00:00Z"),
    kind: "release",
    emergency: null,
    gatesFrom: null,
    scheduledFor: null,
    freezes: [],
    now: new Date("2026-11-25T03:00:00Z"),
  };

  it("shows buttons only while approval is pending, with times in the configured zone", () => {
    const pending = releaseMessage(base, "Asia/Bangkok");
    expect(pending.text).toBe("Release 1.4.0 to production: awaiting approval (1/2 approvals)");
    expect(JSON.stringify(pending.blocks)).toContain("<@U2> — Wed, 25 Nov 2026, 10:00");
    expect(pending.blocks.some((b) => b.type === "actions")).toBe(true);
    expect(releaseMessage({ ...base, state: "deploying" }, "Asia/Bangkok").blocks.some((b) => b.type === "actions")).toBe(false);
  });

  it("strikes through an approval that no longer counts and counts the rest", () => {
    const stale = releaseMessage({ ...base, approvals: [...base.approvals, { approver: "U9", at: new Date("2026-11-25T03:30:00Z") }], approvers: ["U2"] }, "Asia/Bangkok");
    expect(stale.text).toBe("Release 1.4.0 to production: awaiting approval (1/2 approvals)");
    const shown = JSON.stringify(stale.blocks);
    expect(shown).toContain(":heavy_minus_sign: ~<@U9> — Wed, 25 Nov 2026, 10:30~ _not counting: no longer an approver_");
    expect(shown).toContain(":white_check_mark: <@U2> — Wed, 25 Nov 2026, 10:00");
  });

  it("tells a withdrawal from a rejection", () => {
    const withdrawn = releaseMessage({ ...base, state: "rejected", reason: "typo", rejectedBy: "U1" }, "UTC");
    expect(withdrawn.text).toBe("Release 1.4.0 to production: withdrawn by the requester");
    expect(JSON.stringify(withdrawn.blocks)).toContain("*Withdrawn by the requester <@U1>:* typo");
    const rejected = releaseMessage({ ...base, state: "rejected", reason: "regressed", rejectedBy: "U2" }, "UTC");
    expect(rejected.text).toBe("Release 1.4.0 to production: rejected");
    expect(JSON.stringify(rejected.blocks)).toContain("*Rejected by <@U2>:* regressed");
  });

  it("stays inside Block Kit limits with a huge output and many gates", () => {
    const huge: ReleaseView = {
      ...base,
      state: "failed",
      reason: "x".repeat(5000),
      outputTail: "line\n".repeat(5000),
      gates: Array.from({ length: 60 }, (_, i) => ({ name: `gate ${i}`, kind: "run" as const, status: "failed" as const, detail: "y".repeat(400) })),
      commits: {
        status: "ok",
        tag: "v1.4.0",
        fromTag: "v1.3.0",
        total: 5000,
        authors: Array.from({ length: 40 }, (_, i) => ({ name: `Author ${"z".repeat(100)} ${i}`, commits: 100 })),
        commits: Array.from({ length: 15 }, (_, i) => ({ sha: "a".repeat(40), author: "A", subject: `Subject #${i} ${"s".repeat(500)}` })),
      },
      voided: Array.from({ length: 30 }, (_, i) => ({ approver: `U${i}`, at: new Date(), reason: "r".repeat(500) })),
      repositoryUrl: "https://git.example.org/pea/forecast",
      evidenceDigest: "f".repeat(64),
    };
    expect(checkBlocks(releaseMessage(huge, "UTC").blocks)).toBeUndefined();
  });
});
