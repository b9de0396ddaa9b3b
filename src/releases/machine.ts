import semver from "semver";
import type { ReleaseState } from "../db/schema.js";

/**
 * The release state machine and approval rules of SPEC §4, as plain functions over plain data.
 *
 *   gating → awaiting_approval → deploying → verifying → live
 *      ↘ blocked        ↘ rejected | expired    ↘ failed    ↘ failed
 */
export const TRANSITIONS: Record<ReleaseState, readonly ReleaseState[]> = {
  gating: ["awaiting_approval", "blocked", "failed"],
  awaiting_approval: ["deploying", "rejected", "expired"],
  deploying: ["verifying", "failed"],
  verifying: ["live", "failed"],
  live: [],
  blocked: [],
  rejected: [],
  expired: [],
  failed: [],
};

export function canTransition(from: ReleaseState, to: ReleaseState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** States a transition to `to` may start from: the conditional update's WHERE clause. */
export function statesLeadingTo(to: ReleaseState): ReleaseState[] {
  return (Object.keys(TRANSITIONS) as ReleaseState[]).filter((from) => canTransition(from, to));
}

export const FINAL_STATES: readonly ReleaseState[] = ["live", "blocked", "rejected", "expired", "failed"];

export function isFinal(state: ReleaseState): boolean {
  return FINAL_STATES.includes(state);
}

export type VersionParse = { ok: true; version: string } | { ok: false; reason: string };

/**
 * The one canonical text of a version (`v1.4.0` → `1.4.0`, `v1.4.0-rc.1` → `1.4.0-rc.1`): what is stored,
 * shown, compared and substituted into `{version}`. Build metadata (`+evil`) is refused rather than
 * dropped, because semver ignores it when comparing: `1.2.3+evil` would pass as `1.2.3` while a
 * deploy script received other text.
 */
export function parseVersion(text: string): VersionParse {
  const shown = `\`${text.trim().slice(0, 40)}\``;
  const notVersion = { ok: false as const, reason: `${shown} is not a version: use semver like 1.4.0 or v1.4.0-rc.1` };
  if (text.length > 64) return notVersion;
  const parsed = semver.parse(text.trim());
  if (!parsed) return notVersion;
  if (parsed.build.length > 0) {
    return { ok: false, reason: `${shown} has build metadata (\`+${parsed.build.join(".")}\`), which is not allowed: release \`${parsed.version}\` instead` };
  }
  return { ok: true, version: parsed.version };
}

/** The canonical version, or undefined when the text is not one (see parseVersion). */
export function normalizeVersion(text: string): string | undefined {
  const parsed = parseVersion(text);
  return parsed.ok ? parsed.version : undefined;
}

export interface ApprovalFacts {
  state: ReleaseState;
  requester: string;
  approvers: readonly string[];
  approvedBy: readonly string[];
  required: number;
}

export type ClickVerdict = { ok: true } | { ok: false; reason: string };

/** Whether this person's Approve may count. The reason is shown to them as it is. */
export function checkApprove(facts: ApprovalFacts, user: string): ClickVerdict {
  if (!facts.approvers.includes(user)) return { ok: false, reason: "Only release approvers can approve releases." };
  if (facts.state !== "awaiting_approval") return { ok: false, reason: `This release is ${describeState(facts.state)}; there is nothing to approve.` };
  if (user === facts.requester) return { ok: false, reason: "You requested this release, so someone else has to approve it." };
  if (facts.approvedBy.includes(user)) {
    const missing = facts.required - facts.approvedBy.length;
    return { ok: false, reason: `You have already approved this release; it needs ${missing} more approval${missing === 1 ? "" : "s"} from someone else.` };
  }
  return { ok: true };
}

/** Whether this person may reject (a requester who is an approver may withdraw their own release). */
export function checkReject(facts: Pick<ApprovalFacts, "state" | "approvers">, user: string): ClickVerdict {
  if (!facts.approvers.includes(user)) return { ok: false, reason: "Only release approvers can reject releases." };
  if (facts.state !== "awaiting_approval") return { ok: false, reason: `This release is ${describeState(facts.state)}; there is nothing to reject.` };
  return { ok: true };
}

export function describeState(state: ReleaseState): string {
  switch (state) {
    case "gating":
      return "still running its gates";
    case "awaiting_approval":
      return "waiting for approval";
    case "deploying":
      return "already deploying";
    case "verifying":
      return "already deployed and being verified";
    case "live":
      return "already live";
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
