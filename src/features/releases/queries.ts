import { and, asc, desc, eq, inArray, isNotNull, type SQL, sql } from "drizzle-orm";
import type { Executor } from "../../db/client.js";
import { approvals, type ReleaseState, releases, releaseTransitions, voidedApprovals } from "../../db/schema.js";
import type { Release } from "./store.js";

export const IN_FLIGHT: ReleaseState[] = ["gating", "awaiting_approval", "scheduled", "deploying", "verifying"];

/** The version live on each environment: the latest release there to have gone live. */
export async function liveVersions(db: Executor): Promise<Map<string, { version: string; liveAt: Date; id: number }>> {
  const rows = await db
    .selectDistinctOn([releases.environment], { environment: releases.environment, version: releases.version, liveAt: releases.liveAt, id: releases.id })
    .from(releases)
    .where(and(isNotNull(releases.liveAt), inArray(releases.state, ["live"])))
    .orderBy(releases.environment, desc(releases.liveAt));
  return new Map(rows.map((r) => [r.environment, { version: r.version, liveAt: r.liveAt as Date, id: r.id }]));
}

export async function releasesInFlight(db: Executor) {
  return db
    .select({
      id: releases.id,
      version: releases.version,
      environment: releases.environment,
      state: releases.state,
      requester: releases.requester,
      requiredApprovals: releases.requiredApprovals,
      createdAt: releases.createdAt,
      kind: releases.kind,
      emergency: releases.emergency,
      scheduledFor: releases.scheduledFor,
      /** Everyone who approved; `tallyApprovals` says which of them count. */
      approvedBy: sql<string[]>`array(select ${approvals.approver} from ${approvals} where ${approvals.releaseId} = ${releases.id} order by ${approvals.at})`,
    })
    .from(releases)
    .where(inArray(releases.state, IN_FLIGHT))
    .orderBy(releases.createdAt);
}

/** The latest rollback to go live on each environment. */
export async function lastRollbacks(db: Executor): Promise<Map<string, { id: number; version: string; requester: string; liveAt: Date; state: ReleaseState }>> {
  const rows = await db
    .selectDistinctOn([releases.environment], {
      environment: releases.environment,
      id: releases.id,
      version: releases.version,
      requester: releases.requester,
      liveAt: releases.liveAt,
      state: releases.state,
    })
    .from(releases)
    .where(and(eq(releases.kind, "rollback"), isNotNull(releases.liveAt)))
    .orderBy(releases.environment, desc(releases.liveAt));
  return new Map(rows.map((r) => [r.environment, { ...r, liveAt: r.liveAt as Date }]));
}

/** Every release of a version, newest first, with its transitions and approvals: the audit trail. */
export async function auditTrail(db: Executor, semverText: string) {
  const rows = await db.select().from(releases).where(eq(releases.semver, semverText)).orderBy(desc(releases.createdAt));
  const ids = rows.map((r) => r.id);
  if (ids.length === 0) return [];
  const [transitions, approvalRows, voidedRows] = await Promise.all([
    db.select().from(releaseTransitions).where(inArray(releaseTransitions.releaseId, ids)).orderBy(asc(releaseTransitions.id)),
    db.select().from(approvals).where(inArray(approvals.releaseId, ids)).orderBy(asc(approvals.at)),
    db.select().from(voidedApprovals).where(inArray(voidedApprovals.releaseId, ids)).orderBy(asc(voidedApprovals.id)),
  ]);
  return rows.map((release) => ({
    release,
    transitions: transitions.filter((t) => t.releaseId === release.id),
    approvals: approvalRows.filter((a) => a.releaseId === release.id),
    voided: voidedRows.filter((a) => a.releaseId === release.id),
  }));
}

/** Every release on an environment that went live, latest first: what a rollback may go back to. */
export async function liveHistory(db: Executor, environment: string): Promise<Release[]> {
  return db
    .select()
    .from(releases)
    .where(and(eq(releases.environment, environment), inArray(releases.state, ["live", "rolled_back"])))
    .orderBy(desc(releases.liveAt), desc(releases.id))
    .limit(100);
}

/** The latest release on an environment whose deploy started and then failed. */
export async function lastFailedDeploy(db: Executor, environment: string): Promise<Release | undefined> {
  const [row] = await db
    .select()
    .from(releases)
    .where(
      and(
        eq(releases.environment, environment),
        eq(releases.state, "failed"),
        sql`exists (select 1 from ${releaseTransitions} where ${releaseTransitions.releaseId} = ${releases.id} and ${releaseTransitions.toState} = 'deploying')`,
      ),
    )
    .orderBy(desc(releases.updatedAt), desc(releases.id))
    .limit(1);
  return row;
}

/** The release of a version that `regate` acts on: one awaiting approval, else one already gating (to say so); the newest. */
export async function regateCandidate(db: Executor, semverText: string): Promise<Release | undefined> {
  const [row] = await db
    .select()
    .from(releases)
    .where(and(eq(releases.semver, semverText), inArray(releases.state, ["awaiting_approval", "gating"])))
    .orderBy(asc(releases.state), desc(releases.id))
    .limit(1);
  return row;
}

/** Releases in flight on these environments. */
export async function inFlightOn(db: Executor, environments: string[]): Promise<Release[]> {
  if (environments.length === 0) return [];
  return db
    .select()
    .from(releases)
    .where(and(inArray(releases.environment, environments), inArray(releases.state, IN_FLIGHT)));
}

/** When a release went live; null if it never did (or there is no such release). */
export async function releaseLiveAt(db: Executor, id: number): Promise<Date | null> {
  const [row] = await db.select({ liveAt: releases.liveAt }).from(releases).where(eq(releases.id, id));
  return row?.liveAt ?? null;
}

/*
 * Relations for one statement that needs releases beside another feature's tables (closing feedback
 * whose fix went live must be one statement, so concurrent sweeps close each item once). They are
 * plain subqueries: PostgreSQL flattens them into the statement, so plans and indexes stay as if the
 * table were named. Alias them where they are used: `from ${liveReleasesRelation()} r`.
 */

/** Releases that went live and were not rolled back: (id, environment, semver, version, live_at). */
export function liveReleasesRelation(): SQL {
  return sql`(select ${releases.id} as id, ${releases.environment} as environment, ${releases.semver} as semver, ${releases.version} as version, ${releases.liveAt} as live_at
    from ${releases} where ${releases.liveAt} is not null and ${releases.state} <> 'rolled_back')`;
}

/** Every release's version: (id, version). */
export function releaseVersionsRelation(): SQL {
  return sql`(select ${releases.id} as id, ${releases.version} as version from ${releases})`;
}

/** Who rejected (or withdrew) a rejected release: the actor of its last move to `rejected`. */
export async function rejecterOf(db: Executor, releaseId: number): Promise<string | undefined> {
  const [row] = await db
    .select({ actor: releaseTransitions.actor })
    .from(releaseTransitions)
    .where(and(eq(releaseTransitions.releaseId, releaseId), eq(releaseTransitions.toState, "rejected")))
    .orderBy(desc(releaseTransitions.id))
    .limit(1);
  return row?.actor;
}
