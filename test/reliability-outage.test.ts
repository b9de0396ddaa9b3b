import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { queryRows } from "../src/db/client.js";
import { CHANNELS, USERS } from "./support/config.js";
import { TRANSPORTS } from "./support/bot.js";
import { startBotBehindProxy } from "./support/proxy.js";

const EVENTS = 1000;

describe.runIf(process.env.TEST_DATABASE_URL).each(TRANSPORTS)("PostgreSQL cut for 10 s during ingestion over %s", (transport) => {
  it("records all 1,000 messages exactly once: redelivery and backfill close the gap", async () => {
    const { bot, emulator, database, proxy, stop } = await startBotBehindProxy(8, transport);
    try {
      await bot.idle();
      const parents: string[] = [];
      const started = Date.now();
      let cut = false;
      let restored = false;
      for (let i = 0; i < EVENTS; i += 1) {
        const elapsed = Date.now() - started;
        if (!cut && elapsed > 1500) {
          await proxy.drop();
          cut = true;
        }
        if (cut && !restored && elapsed > 11_500) {
          await proxy.restore();
          restored = true;
        }
        // Half top-level messages, half replies in their threads, across two feedback channels.
        const channel = i % 4 < 2 ? CHANNELS.helpdesk : CHANNELS.stakeholders;
        const threadTs = i % 2 === 1 ? parents[parents.length - 1] : undefined;
        const message = await emulator.message(
          i % 3 === 0 ? USERS.engineer : USERS.stakeholder,
          channel,
          `Feedback number ${i}: the forecast for feeder ${i % 17} looks off`,
          threadTs ? { threadTs } : {},
        );
        if (!threadTs) parents.push(message.ts);
        await new Promise((resolve) => setTimeout(resolve, 12));
      }
      if (!restored) await proxy.restore();
      expect(cut).toBe(true);
      await bot.idle();
      const during = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from feedback`);
      expect(during[0]?.n).toBeLessThan(EVENTS);
      // Events that failed were answered 5xx over HTTP and left un-acked over Socket Mode, so Slack redelivered them.
      const failed = emulator.deliveries.filter((d) => d.kind === "event" && (transport === "http" ? d.status >= 500 : d.status !== 200));
      expect(failed.length).toBeGreaterThan(0);
      expect(emulator.deliveries.some((d) => d.kind === "event" && d.attempt > 0 && d.status === 200)).toBe(true);

      await bot.orchestrator.feedback.backfill();
      await bot.idle();
      const [after] = await queryRows<{ n: number; distinct_ts: number; texts: number }>(
        database.db,
        sql`select count(*)::int as n, count(distinct (channel, ts))::int as distinct_ts, count(distinct text)::int as texts from feedback`,
      );
      expect(after).toEqual({ n: EVENTS, distinct_ts: EVENTS, texts: EVENTS });
      expect((await fetch(`${bot.orchestrator.url}/healthz`)).status).toBe(200);
    } finally {
      await stop();
    }
  }, 120_000);
});
