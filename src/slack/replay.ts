import { eq, inArray, lt } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { slackSignatures } from "../db/schema.js";
import type { Log } from "../log.js";
import type { Metrics } from "../metrics.js";

/** Slack's window for a request's timestamp; a signature is kept a little longer than it stays valid. */
export const REPLAY_WINDOW_SECONDS = 5 * 60;
const KEEP_SECONDS = REPLAY_WINDOW_SECONDS * 2;
const PRUNE_BATCH = 5000;
/** An indexed insert answers in milliseconds; waiting longer would spend Slack's 3-second budget on an outage. */
const CLAIM_TIMEOUT_MS = 1000;

/**
 * Remembers each accepted request signature in the database for its 5-minute window (SPEC §2a), so a
 * signed request replayed — to this replica, another one, or after a restart — is acknowledged and
 * changes nothing. One indexed insert per request on the way in; old entries go in batches, on a timer.
 */
export class ReplayGuard {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly log: Log,
    private readonly metrics: Metrics,
  ) {}

  /**
   * Whether this is the first time the signature is seen. An insert that fails or does not answer in
   * time (the database is down) is "unavailable": the request was not recorded, and an insert that
   * lands later is taken back, so Slack's redelivery of a refused request still goes through.
   */
  async claim(signature: string, timestamp: number): Promise<"first" | "replay" | "unavailable"> {
    const insert = this.db.insert(slackSignatures).values({ signature, requestTs: timestamp }).onConflictDoNothing().returning({ signature: slackSignatures.signature }).execute();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), CLAIM_TIMEOUT_MS);
    });
    const outcome = await Promise.race([
      insert.then(
        (rows) => (rows.length > 0 ? ("first" as const) : ("replay" as const)),
        (error: unknown) => error,
      ),
      deadline,
    ]).finally(() => clearTimeout(timer));
    if (outcome === "first" || outcome === "replay") return outcome;
    if (outcome === "timeout") {
      insert.then(
        (rows) => {
          if (rows.length > 0) void this.release(signature);
        },
        () => undefined,
      );
    }
    this.metrics.dbErrors.inc({ operation: "slack request" });
    this.log.warn("could not record a request's signature", { error: outcome === "timeout" ? `no answer within ${CLAIM_TIMEOUT_MS} ms` : outcome });
    return "unavailable";
  }

  /** Forgets a signature whose request was refused (5xx), so Slack's redelivery of it is processed. */
  async release(signature: string): Promise<void> {
    await this.db
      .delete(slackSignatures)
      .where(eq(slackSignatures.signature, signature))
      .catch((error: unknown) => this.log.warn("could not release the signature of a refused request", { error }));
  }

  start(intervalMs = 60_000): void {
    this.timer = setInterval(() => {
      pruneSignatures(this.db).catch((error: unknown) => this.log.warn("could not prune old request signatures", { error }));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Deletes signatures past their window, a batch at a time; returns how many went. */
export async function pruneSignatures(db: Db, nowSeconds = Math.floor(Date.now() / 1000)): Promise<number> {
  let total = 0;
  for (;;) {
    const old = db
      .select({ signature: slackSignatures.signature })
      .from(slackSignatures)
      .where(lt(slackSignatures.requestTs, nowSeconds - KEEP_SECONDS))
      .limit(PRUNE_BATCH);
    const deleted = await db.delete(slackSignatures).where(inArray(slackSignatures.signature, old)).returning({ signature: slackSignatures.signature });
    total += deleted.length;
    if (deleted.length < PRUNE_BATCH) return total;
  }
}
