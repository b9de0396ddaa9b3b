import semver from "semver";
import type { Config, EnvironmentConfig } from "../../config/schema.js";
import type { ReleaseState } from "../../db/schema.js";
import { type Outcome, refuse } from "../../core/refusal.js";
import { plural } from "../../slack/text.js";

/**
 * The release state machine and approval rules of SPEC §4, as plain functions over plain data.
 *
 *   gating → awaiting_approval → [scheduled →] deploying → verifying → live [→ rolled_back]
 *      ↘ blocked        ↘ rejected | expired    ↘ rejected       ↘ failed    ↘ failed
 *
 * A rollback starts at awaiting_approval (its version passed the gates once). `scheduled`: approved,
 * waiting for a deploy window or the end of a freeze; it may still be rejected. `rolled_back`: a live
 * release replaced by a rollback.
 *
 * Back edges, both voiding the approvals: awaiting_approval → gating (`release <version> regate`), and
 * deploying → awaiting_approval when the evidence changed (a moved tag) before the deploy started.
 */
const TRANSITIONS: Record<ReleaseState, readonly ReleaseState[]> = {
  gating: ["awaiting_approval", "blocked", "failed"],
  awaiting_approval: ["scheduled", "deploying", "rejected", "expired", "gating"],
  scheduled: ["deploying", "rejected"],
  deploying: ["verifying", "failed", "awaiting_approval"],
  verifying: ["live", "failed"],
  live: ["rolled_back"],
  rolled_back: [],
  blocked: [],
  rejected: [],
  expired: [],
  failed: [],
};

export function canTransition(from: ReleaseState, to: ReleaseState): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * The one canonical text of a version (`v1.4.0` → `1.4.0`, `v1.4.0-rc.1` → `1.4.0-rc.1`): what is stored,
 * shown, compared and substituted into `{version}`. Build metadata (`+evil`) is refused rather than
 * dropped, because semver ignores it when comparing: `1.2.3+evil` would pass as `1.2.3` while a
 * deploy script received other text.
 */
export function parseVersion(text: string): Outcome<{ version: string }> {
  const shown = `\`${text.trim().slice(0, 40)}\``;
  const notVersion = refuse(`${shown} is not a version: use semver like 1.4.0 or v1.4.0-rc.1`);
  if (text.length > 64) return notVersion;
  const parsed = semver.parse(text.trim());
  if (!parsed) return notVersion;
  if (parsed.build.length > 0) {
    return refuse(`${shown} has build metadata (\`+${parsed.build.join(".")}\`), which is not allowed: release \`${parsed.version}\` instead`);
  }
  return { ok: true, version: parsed.version };
}

/** The canonical version, or undefined when the text is not one (see parseVersion). */
export function normalizeVersion(text: string): string | undefined {
  const parsed = parseVersion(text);
  return parsed.ok ? parsed.version : undefined;
}

interface ApprovalFacts {
  state: ReleaseState;
  requester: string;
  approvers: readonly string[];
  approvedBy: readonly string[];
  required: number;
}

interface ApprovalTally {
  /** Approvals that count toward `required`, in the order given. */
  counting: string[];
  /** Approvals on record that do not count, with why (shown on the release message). */
  notCounting: Array<{ approver: string; why: string }>;
}

/**
 * Which recorded approvals count (SPEC §4): only people who are approvers *now*, per the current config,
 * and never the requester. The one rule behind both the move to deploying and the release message.
 */
export function tallyApprovals(facts: Pick<ApprovalFacts, "requester" | "approvers" | "approvedBy">): ApprovalTally {
  const tally: ApprovalTally = { counting: [], notCounting: [] };
  for (const approver of new Set(facts.approvedBy)) {
    if (approver === facts.requester) tally.notCounting.push({ approver, why: "requested the release" });
    else if (!facts.approvers.includes(approver)) tally.notCounting.push({ approver, why: "no longer an approver" });
    else tally.counting.push(approver);
  }
  return tally;
}

/** Whether this person's Approve may count. The reason is shown to them as it is. */
export function checkApprove(facts: ApprovalFacts, user: string): Outcome {
  if (!facts.approvers.includes(user)) return refuse("Only release approvers can approve releases.");
  if (facts.state !== "awaiting_approval") return refuse(`This release is ${describeState(facts.state)}; there is nothing to approve.`);
  if (user === facts.requester) return refuse("You requested this release, so someone else has to approve it.");
  if (facts.approvedBy.includes(user)) {
    const missing = facts.required - tallyApprovals(facts).counting.length;
    return refuse(`You have already approved this release; it needs ${plural(missing, "more approval")} from someone else.`);
  }
  return { ok: true };
}

/** Whether this person may reject: an approver, or the requester withdrawing their own release (SPEC §4). */
export function checkReject(facts: Pick<ApprovalFacts, "state" | "approvers" | "requester">, user: string): Outcome {
  if (!facts.approvers.includes(user) && user !== facts.requester) return refuse("Only release approvers, or the person who requested the release, can reject it.");
  if (facts.state !== "awaiting_approval" && facts.state !== "scheduled")
    return refuse(`This release is ${describeState(facts.state)}; there is nothing to ${isWithdrawal(facts.requester, user) ? "withdraw" : "reject"}.`);
  return { ok: true };
}

/** A rejection by the requester is a withdrawal: recorded and shown as "withdrawn by the requester", not as an approver's verdict. */
export function isWithdrawal(requester: string, rejectedBy: string | undefined): boolean {
  return rejectedBy === requester;
}

export const WITHDRAWN = "withdrawn by the requester";

export function describeState(state: ReleaseState): string {
  switch (state) {
    case "gating":
      return "still running its gates";
    case "awaiting_approval":
      return "waiting for approval";
    case "scheduled":
      return "approved and scheduled";
    case "deploying":
      return "already deploying";
    case "verifying":
      return "already deployed and being verified";
    case "live":
      return "already live";
    case "rolled_back":
      return "rolled back";
    case "blocked":
      return "blocked by a failed gate";
    case "rejected":
      return "rejected";
    case "expired":
      return "expired";
    case "failed":
      return "failed";
  }
}

interface ApprovalPolicy {
  /** The environment's own `approvals`. */
  approvals: number;
  /** The environment's `rollback.approvals`. */
  rollbackApprovals: number;
  /** `emergency.approvals`. */
  emergencyApprovals: number;
}

/**
 * Approvals a release needs: the environment's own, a rollback's `rollback.approvals`, and an emergency
 * never fewer than `emergency.approvals` nor than what it would have needed without the emergency.
 */
export function approvalsNeeded(policy: ApprovalPolicy, release: { kind: "release" | "rollback"; emergency: boolean }): number {
  const ordinary = release.kind === "rollback" ? policy.rollbackApprovals : policy.approvals;
  return release.emergency ? Math.max(policy.emergencyApprovals, ordinary) : ordinary;
}

/**
 * A scheduled release whose version is older than what went live on its environment while it waited
 * (an emergency fix, say): starting it would undo that, so it does not start. A rollback is meant to go
 * back, so it never counts as superseded.
 */
export function isSuperseded(waiting: { kind: "release" | "rollback"; semver: string }, live: { semver: string } | undefined): boolean {
  return waiting.kind === "release" && live !== undefined && semver.gte(live.semver, waiting.semver);
}

/** Approvals an emergency needs on this environment. */
export function emergencyApprovals(config: Pick<Config, "emergency">, env: EnvironmentConfig, kind: "release" | "rollback"): number {
  return approvalsNeeded({ approvals: env.approvals, rollbackApprovals: env.rollback.approvals, emergencyApprovals: config.emergency.approvals }, { kind, emergency: true });
}

/** Approvals this request needs, or why it cannot get them (too few approvers besides the requester). */
export function approvalsFor(config: Pick<Config, "emergency" | "people">, env: EnvironmentConfig, kind: "release" | "rollback", emergency: boolean, requester: string): Outcome<{ required: number }> {
  const required = approvalsNeeded({ approvals: env.approvals, rollbackApprovals: env.rollback.approvals, emergencyApprovals: config.emergency.approvals }, { kind, emergency });
  const others = config.people.approvers.filter((u) => u !== requester).length;
  if (others >= required) return { ok: true, required };
  return refuse(
    `${emergency ? "An emergency " : kind === "rollback" ? "A rollback " : "A release "}to ${env.name} needs ${required} approvals from approvers other than the requester, and people.approvers has only ${others} besides you.`,
  );
}
