import { eq, inArray, lt } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { slackSignatures } from "../db/schema.js";
import type { Log } from "../log.js";
import type { Metrics } from "../metrics.js";

/** Slack's window for a request's timestamp; a signature is kept a little longer than it stays valid. */
export const REPLAY_WINDOW_SECONDS = 5 * 60;
const KEEP_SECONDS = REPLAY_WINDOW_SECONDS * 2;
const PRUNE_BATCH = 5000;

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
   * True when this is the first time the signature is seen. When the database cannot record it, the
   * request is let through (logged): whatever it would change needs the database too, and refusing
   * would turn an outage into lost commands.
   */
  async claim(signature: string, timestamp: number): Promise<boolean> {
    try {
      const rows = await this.db.insert(slackSignatures).values({ signature, requestTs: timestamp }).onConflictDoNothing().returning({ signature: slackSignatures.signature });
      return rows.length > 0;
    } catch (error) {
      this.metrics.dbErrors.inc({ operation: "slack request" });
      this.log.warn("could not record a request's signature; handling it without the replay check", { error });
      return true;
    }
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
