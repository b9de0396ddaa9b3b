import { eq, sql } from "drizzle-orm";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryRows } from "../src/db/client.js";
import { releases, releaseTransitions } from "../src/db/schema.js";
import { failInterrupted, heartbeat, staleReleases, sweepInterrupted } from "../src/features/releases/store.js";
import { eventually } from "./support/bot.js";
import { USERS } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";

/** The sweep that marks releases of dead replicas failed must not touch one whose claim was renewed meanwhile (issue 11, item 8). */
describe.each(dbKinds())("the interrupted-release sweep on %s", (kind) => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await openTestDatabase(kind);
  });

  afterAll(async () => {
    await db?.close();
  });

  // One deploy at a time per environment (a unique index), so each case deploys to its own.
  const deployingWithLapsedLease = async (version: string, owner: string, environment: string) => {
    const [row] = await db.database.db
      .insert(releases)
      .values({ version, semver: version, environment, state: "deploying", requester: USERS.engineer, requiredApprovals: 1, owner, leaseUntil: sql`now() - interval '1 second'` })
      .returning();
    return row!;
  };
  const stateOf = async (id: number) => (await db.database.db.select({ state: releases.state }).from(releases).where(eq(releases.id, id)))[0]?.state;
  const transitionsTo = async (id: number, state: "failed") => (await db.database.db.select().from(releaseTransitions).where(eq(releaseTransitions.releaseId, id))).filter((t) => t.toState === state);

  it("leaves a release alone when its renewal commits after the sweep saw it stale", async () => {
    const release = await deployingWithLapsedLease("5.0.0", "slow-replica", "staging");
    const seen = await staleReleases(db.database.db);
    expect(seen).toContainEqual({ id: release.id, state: "deploying" });
    // The driving replica was only late: its heartbeat lands between the sweep's select and its update.
    expect(await heartbeat(db.database.db, release.id, "slow-replica")).toBe(true);
    expect(await sweepInterrupted(db.database.db, release.id, "deploying")).toBeUndefined();
    expect(await stateOf(release.id)).toBe("deploying");
    expect(await transitionsTo(release.id, "failed")).toEqual([]);
    // Still its replica's: the next heartbeat keeps it.
    expect(await heartbeat(db.database.db, release.id, "slow-replica")).toBe(true);
  });

  it("still sweeps a release whose claim really lapsed", async () => {
    const release = await deployingWithLapsedLease("5.0.1", "dead-replica", "production");
    const swept = await failInterrupted(db.database.db);
    expect(swept.map((r) => r.id)).toContain(release.id);
    expect(await stateOf(release.id)).toBe("failed");
    expect((await transitionsTo(release.id, "failed"))[0]).toMatchObject({ fromState: "deploying", actor: "orchestrator", detail: "interrupted while deploying" });
  });

  it.runIf(kind === "postgres")("waits for a renewal holding the row lock, then sees it and sweeps nothing", async () => {
    const release = await deployingWithLapsedLease("5.0.2", "busy-replica", "performance");
    const other = postgres(db.url as string, { max: 1, onnotice: () => {} });
    try {
      let locked: () => void = () => {};
      const lockTaken = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const renewal = other.begin(async (tx) => {
        await tx`select id from releases where id = ${release.id} for update`;
        await tx`update releases set lease_until = now() + interval '30 seconds' where id = ${release.id}`;
        locked();
        // Hold the lock until the sweep, which saw the old lease, is waiting for it.
        await eventually(async () => {
          const [waiting] = await queryRows<{ n: number }>(db.database.db, sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`);
          if (waiting?.n !== 1) throw new Error("the sweep is not waiting for the row lock yet");
        });
      });
      await lockTaken;
      const sweep = failInterrupted(db.database.db);
      await renewal;
      expect((await sweep).map((r) => r.id)).not.toContain(release.id);
      expect(await stateOf(release.id)).toBe("deploying");
      expect(await transitionsTo(release.id, "failed")).toEqual([]);
    } finally {
      await other.end();
    }
  });
});
