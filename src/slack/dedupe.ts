import type { AnyMiddlewareArgs, Middleware } from "@slack/bolt";
import { eq, sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { slackEvents } from "../db/schema.js";
import type { Log } from "../log.js";

/**
 * Events whose handling is idempotent by its own key: a message is one feedback row by (channel, ts),
 * an edit sets the text, a deletion marks the row, a reaction records its message once. Processing
 * one of them twice changes nothing, so they skip the claim and its extra write on the ingestion path.
 */
const IDEMPOTENT_EVENTS = new Set(["message", "reaction_added"]);

/**
 * Each Events API event is processed once, across redeliveries, restarts and replicas: the event id is
 * claimed with an insert that does nothing on conflict, and only the request that inserted it goes on.
 * A claim whose processing failed is given back so Slack's redelivery can try again.
 */
export function dedupeEvents(db: Db, log: Log): Middleware<AnyMiddlewareArgs> {
  return async ({ body, next }) => {
    const envelope = body as { type?: string; event_id?: string; event?: { type?: string } };
    if (envelope.type !== "event_callback" || typeof envelope.event_id !== "string" || IDEMPOTENT_EVENTS.has(envelope.event?.type ?? "")) {
      await next();
      return;
    }
    const eventId = envelope.event_id;
    const claimed = await db
      .insert(slackEvents)
      .values({ eventId, eventType: envelope.event?.type ?? "unknown" })
      .onConflictDoNothing()
      .returning({ eventId: slackEvents.eventId });
    if (claimed.length === 0) {
      log.info("event already processed; acknowledged without processing again", { eventId });
      return;
    }
    try {
      await next();
    } catch (error) {
      await db
        .delete(slackEvents)
        .where(eq(slackEvents.eventId, eventId))
        .catch((releaseError: unknown) => log.warn("could not release the claim of a failed event", { eventId, error: releaseError }));
      throw error;
    }
  };
}

/** Forgets event ids older than Slack's redelivery window (about five minutes), keeping a day for safety. */
export async function pruneEventIds(db: Db): Promise<void> {
  await db.delete(slackEvents).where(sql`${slackEvents.receivedAt} < now() - interval '1 day'`);
}
