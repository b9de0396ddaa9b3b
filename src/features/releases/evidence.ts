import { createHash } from "node:crypto";
import type { CommitRange, Evidence, GateResult } from "../../db/schema.js";

/**
 * What an approver approves (SPEC §4): the version, the gate results as measured, and the commit range
 * (the commits the tags resolve to). An approval stores the digest of this; when the digest of the
 * release's current evidence differs, the approval is void. Pure.
 */
export function evidenceOf(release: { semver: string; gates: readonly GateResult[]; commits: CommitRange | null }): Evidence {
  return {
    version: release.semver,
    gates: release.gates.map((g) => ({
      name: g.name,
      status: g.status,
      ...(g.kind !== "manual" ? { detail: g.detail } : {}),
      ...(g.measured ? { measured: g.measured.map((m) => ({ key: m.key, value: m.value })) } : {}),
    })),
    range: release.commits ? { from: release.commits.fromSha ?? null, to: release.commits.sha ?? null } : null,
  };
}

/** sha256 of the evidence in a fixed key order: equal evidence, equal digest. */
export function digestOf(evidence: Evidence): string {
  return createHash("sha256").update(stableJson(evidence)).digest("hex");
}

export function shortDigest(digest: string | null | undefined): string {
  return digest ? digest.slice(0, 12) : "none";
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** In words, how the commit range changed: "tag v1.5.0 moved from 1a2b3c4 to 5d6e7f8". Pure. */
export function describeRangeChange(before: CommitRange | null, after: CommitRange | null): string | undefined {
  const short = (sha: string | undefined) => (sha ? sha.slice(0, 7) : "nothing");
  if (!before && !after) return undefined;
  if (!before || !after) return "the repository's commit range changed";
  const changes: string[] = [];
  if (before.sha !== after.sha) changes.push(`tag ${after.tag} ${after.sha ? `moved from ${short(before.sha)} to ${short(after.sha)}` : "is gone"}`);
  if (before.fromSha !== after.fromSha || before.fromTag !== after.fromTag) {
    changes.push(
      after.fromTag ? `the live version's tag ${after.fromTag} now points at ${short(after.fromSha)} (was ${before.fromTag ?? "none"} at ${short(before.fromSha)})` : "the live version changed",
    );
  }
  return changes.length > 0 ? changes.join("; ") : undefined;
}
