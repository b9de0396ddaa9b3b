import { eq, gte, inArray, lt } from "drizzle-orm";
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
const MAX_BATCH = 500;
const MAX_CONCURRENT_WRITES = 2;

type Claim = "first" | "replay" | "unavailable";

interface PendingWrite {
  signature: string;
  timestamp: number;
  resolve: (first: boolean) => void;
  reject: (error: unknown) => void;
}

interface ReplayGuardOptions {
  /**
   * The database belongs to this process alone (embedded PGlite: one process, no replicas). Then the
   * signatures of the window are held in memory, loaded from the table at start, and written to it
   * behind the request, so the acknowledgement never waits for the single-threaded database.
   */
  inProcess: boolean;
}

/**
 * Remembers each accepted request signature in the database for its 5-minute window (SPEC §2a), so a
 * signed request replayed — to this replica, another one, or after a restart — is acknowledged and
 * changes nothing. With PostgreSQL the table decides, for every replica: a request goes on only once its
 * insert … on conflict do nothing has stored the signature. Writes are group-committed: signatures
 * arriving in the same turn of the event loop, or while the previous write runs, are one multi-row
 * insert. Entries past the window are pruned in batches, on a timer. (Events are recorded by their
 * event_id instead, which a replay repeats: see dedupe.ts.)
 */
export class ReplayGuard {
  private timer: NodeJS.Timeout | undefined;
  private queue: PendingWrite[] = [];
  private running = 0;
  private scheduled = false;
  private readonly drained: Array<() => void> = [];
  /** In-process mode: signature → request timestamp, for the window. */
  private readonly recent = new Map<string, number>();
  /** In-process mode: signatures still being written behind their requests. */
  private readonly writing = new Map<string, Promise<unknown>>();
  private readonly loaded: Promise<void>;

  /** `db` for everything; `urgent` (see Database.urgent) for the signature inserts requests wait for. */
  constructor(
    private readonly db: Db,
    private readonly urgent: Db,
    private readonly log: Log,
    private readonly metrics: Metrics,
    private readonly options: ReplayGuardOptions,
  ) {
    this.loaded = options.inProcess ? this.load() : Promise.resolve();
  }

  /**
   * Whether this is the first time the signature is seen. A database that fails or does not answer in
   * time (an outage) makes it "unavailable": the request was not recorded, and an insert that lands
   * later is taken back, so the request is not taken for a replay if it comes again.
   */
  async claim(signature: string, timestamp: number): Promise<Claim> {
    await this.loaded;
    if (this.options.inProcess) {
      if (this.recent.has(signature)) return "replay";
      this.recent.set(signature, timestamp);
      const written = this.write(signature, timestamp)
        .catch((error: unknown) => this.log.warn("could not store a request's signature; a replay after a restart would not be recognized", { error }))
        .finally(() => this.writing.delete(signature));
      this.writing.set(signature, written);
      return "first";
    }
    const inserted = this.write(signature, timestamp);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), CLAIM_TIMEOUT_MS);
    });
    const outcome = await Promise.race([
      inserted.then(
        (first) => (first ? ("first" as const) : ("replay" as const)),
        (error: unknown) => ({ error }),
      ),
      deadline,
    ]).finally(() => clearTimeout(timer));
    if (outcome === "first" || outcome === "replay") return outcome;
    if (outcome === "timeout") {
      inserted.then(
        (first) => {
          if (first) void this.release(signature);
        },
        () => undefined,
      );
    }
    this.metrics.dbErrors.inc({ operation: "slack request" });
    this.log.warn("could not record a request's signature", { error: outcome === "timeout" ? `no answer within ${CLAIM_TIMEOUT_MS} ms` : outcome.error });
    return "unavailable";
  }

  /** Forgets a signature whose request was refused (5xx): it was not handled, so it may come again. */
  async release(signature: string): Promise<void> {
    this.recent.delete(signature);
    await this.writing.get(signature);
    await this.db
      .delete(slackSignatures)
      .where(eq(slackSignatures.signature, signature))
      .catch((error: unknown) => this.log.warn("could not release the signature of a refused request", { error }));
  }

  start(intervalMs = 60_000): void {
    this.timer = setInterval(() => {
      const cutoff = Math.floor(Date.now() / 1000) - KEEP_SECONDS;
      for (const [signature, timestamp] of this.recent) if (timestamp < cutoff) this.recent.delete(signature);
      pruneSignatures(this.db).catch((error: unknown) => this.log.warn("could not prune old request signatures", { error }));
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops pruning and waits for the signatures still being written. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (this.queue.length === 0 && this.running === 0) return;
    await new Promise<void>((resolve) => this.drained.push(resolve));
  }

  private async load(): Promise<void> {
    try {
      const rows = await this.db
        .select({ signature: slackSignatures.signature, requestTs: slackSignatures.requestTs })
        .from(slackSignatures)
        .where(gte(slackSignatures.requestTs, Math.floor(Date.now() / 1000) - KEEP_SECONDS));
      for (const row of rows) this.recent.set(row.signature, row.requestTs);
    } catch (error) {
      this.log.warn("could not load recent request signatures; replays from before the start may not be recognized", { error });
    }
  }

  /** True when this write stored the signature (it was not there yet). */
  private write(signature: string, timestamp: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ signature, timestamp, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running >= MAX_CONCURRENT_WRITES) return;
    if (this.queue.length === 0) {
      if (this.running === 0) for (const resolve of this.drained.splice(0)) resolve();
      return;
    }
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, MAX_BATCH);
    this.running += 1;
    try {
      const rows = await this.urgent
        .insert(slackSignatures)
        .values(batch.map((write) => ({ signature: write.signature, requestTs: write.timestamp })))
        .onConflictDoNothing()
        .returning({ signature: slackSignatures.signature });
      const inserted = new Set(rows.map((row) => row.signature));
      for (const write of batch) {
        write.resolve(inserted.has(write.signature));
        // The same signature twice in one batch: only the first caller stored it.
        inserted.delete(write.signature);
      }
    } catch (error) {
      for (const write of batch) write.reject(error);
    } finally {
      this.running -= 1;
      this.schedule();
    }
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
