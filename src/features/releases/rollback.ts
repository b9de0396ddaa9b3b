import type { ReleaseState } from "../../db/schema.js";
import { type Outcome, refuse } from "../../core/refusal.js";

/** Which version a rollback deploys (SPEC §3 `rollback`), as a plain function over an environment's history. */

export interface WentLive {
  id: number;
  version: string;
  semver: string;
  state: ReleaseState;
  liveAt: Date;
  /** Set on a rollback: the release whose gates it relied on. */
  gatesFrom: number | null;
}

interface RollbackFacts {
  environment: string;
  /** Every release on the environment that went live, latest first. */
  history: readonly WentLive[];
  /** The latest failed deploy on the environment; it matters when it came after the live version went live. */
  lastFailedDeploy?: { id: number; version: string; at: Date };
  /** `to <version>`, normalized. */
  named?: string;
}

type RollbackChoice = Outcome<{
  target: WentLive;
  /** The live release the rollback replaces; none when it restores the live version after a failed deploy. */
  replacing: WentLive | undefined;
  /** The release that passed the gates the rollback skips. */
  gatesFrom: number;
}>;

/**
 * The version live before the current one (rolled-back versions are passed over), or a named version
 * that was live there before. After a failed deploy, what was live before it is what comes back.
 */
export function chooseRollbackTarget(facts: RollbackFacts): RollbackChoice {
  const { environment, history, lastFailedDeploy, named } = facts;
  const current = history.find((r) => r.state === "live");
  const failedSince = lastFailedDeploy && (!current || lastFailedDeploy.at.getTime() > current.liveAt.getTime()) ? lastFailedDeploy : undefined;
  if (!current) {
    return refuse(
      failedSince
        ? `Nothing was live on ${environment} before \`${failedSince.version}\`, so there is no version to roll back to.`
        : `Nothing has been live on ${environment} yet, so there is nothing to roll back to.`,
    );
  }
  const chosen = (target: WentLive, replacing: WentLive | undefined): RollbackChoice => ({ ok: true, target, replacing, gatesFrom: target.gatesFrom ?? target.id });
  if (failedSince && (named === undefined || named === current.semver)) return chosen(current, undefined);
  if (named !== undefined) {
    if (named === current.semver) return refuse(`\`${current.version}\` is what is live on ${environment} now; there is nothing to roll back.`);
    const earlier = history.find((r) => r.semver === named && r.liveAt.getTime() <= current.liveAt.getTime());
    if (!earlier) {
      const known = [...new Set(history.filter((r) => r.semver !== current.semver).map((r) => `\`${r.version}\``))].slice(0, 8);
      return refuse(
        `\`${named}\` was never live on ${environment}, so it cannot be rolled back to. ${known.length > 0 ? `Versions live there before: ${known.join(", ")}.` : `Nothing was live there before \`${current.version}\`.`}`,
      );
    }
    return chosen(earlier, current);
  }
  const previous = history.find((r) => r.liveAt.getTime() < current.liveAt.getTime() && r.semver !== current.semver && r.state !== "rolled_back");
  if (!previous) return refuse(`Nothing was live on ${environment} before \`${current.version}\`, so there is no earlier version to roll back to.`);
  return chosen(previous, current);
}
