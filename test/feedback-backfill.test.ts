import { asc, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { feedback } from "../src/db/schema.js";
import { serveEmulator } from "../src/emulator/server.js";
import { formatTs } from "../src/emulator/workspace.js";
import { startTestBot, testEmulator } from "./support/bot.js";
import { CHANNELS, testConfig, USERS } from "./support/config.js";
import { dbKinds, openTestDatabase } from "./support/db.js";
import { startBotBehindProxy } from "./support/proxy.js";

describe.each(dbKinds())("feedback backfill on %s", (kind) => {
  it("records at start-up what was posted while the bot was down, threads included, once", async () => {
    const db = await openTestDatabase(kind);
    const emulator = testEmulator();
    const served = await serveEmulator(emulator);
    const loaded = testConfig();
    try {
      // An old thread (3 days) the bot followed: its parent and a reply from yesterday are recorded.
      const now = Date.now();
      const oldParent = emulator.workspace.insert({
        type: "message",
        ts: formatTs((now - 3 * 86_400_000) * 1000),
        channel: CHANNELS.helpdesk,
        user: USERS.stakeholder,
        text: "Forecast for Udon Thani substation is off by 15%",
      });
      emulator.workspace.insert({ type: "message", ts: formatTs((now - 86_400_000) * 1000), channel: CHANNELS.helpdesk, user: USERS.engineer, text: "Looking into it", thread_ts: oldParent.ts });
      // A five-day-old thread nobody had replied to yet.
      const quietParent = emulator.workspace.insert({
        type: "message",
        ts: formatTs((now - 5 * 86_400_000) * 1000),
        channel: CHANNELS.stakeholders,
        user: USERS.stakeholder,
        text: "Can the portal show the MAPE per feeder?",
      });
      const first = await startTestBot({ db, loaded, emulator: { emulator, url: served.url } });
      await first.idle();
      expect((await db.database.db.select().from(feedback).orderBy(asc(feedback.ts))).map((r) => r.text)).toEqual([
        "Can the portal show the MAPE per feeder?",
        "Forecast for Udon Thani substation is off by 15%",
        "Looking into it",
      ]);
      const live = await emulator.message(USERS.stakeholder, CHANNELS.stakeholders, "Please add a weekly PDF summary for the board");
      await first.idle();
      await first.stop();

      // While the bot is down: new top-level messages, replies to a recent thread and to the old one, a bot post.
      const a = emulator.seed(USERS.stakeholder, CHANNELS.helpdesk, "Dashboard shows yesterday's data as today's");
      emulator.seed(USERS.engineer, CHANNELS.helpdesk, "Confirmed, cache issue", { threadTs: a.ts });
      emulator.seed(USERS.stakeholder, CHANNELS.stakeholders, "The PDF should include voltage violations", { threadTs: live.ts });
      emulator.seed(USERS.stakeholder, CHANNELS.helpdesk, "Still wrong today", { threadTs: oldParent.ts });
      emulator.seed(USERS.engineer, CHANNELS.stakeholders, "Yes, in the next sprint", { threadTs: quietParent.ts });
      emulator.workspace.insert({ type: "message", ts: emulator.workspace.nextTs(), channel: CHANNELS.helpdesk, bot_id: "B0GRAFANA", text: "CPU alert" });
      emulator.seed(USERS.engineer, CHANNELS.general, "Not a feedback channel");

      const second = await startTestBot({ db, loaded, emulator: { emulator, url: served.url } });
      try {
        await second.idle();
        const texts = (await db.database.db.select().from(feedback).orderBy(asc(feedback.ts))).map((r) => [r.text, r.capturedBy]);
        expect(texts).toEqual([
          ["Can the portal show the MAPE per feeder?", "backfill"],
          ["Forecast for Udon Thani substation is off by 15%", "backfill"],
          ["Looking into it", "backfill"],
          ["Please add a weekly PDF summary for the board", "message"],
          ["Dashboard shows yesterday's data as today's", "backfill"],
          ["Confirmed, cache issue", "backfill"],
          ["The PDF should include voltage violations", "backfill"],
          ["Still wrong today", "backfill"],
          ["Yes, in the next sprint", "backfill"],
        ]);
        // A second pass finds nothing new and reads from where the last one stopped.
        const again = await second.orchestrator.feedback.backfill();
        expect(again.reduce((n, r) => n + r.recorded, 0)).toBe(0);
        expect(emulator.workspace.find(CHANNELS.helpdesk, a.ts)?.reactions?.[0]?.name).toBe("inbox_tray");
      } finally {
        await second.stop();
      }
    } finally {
      await served.close();
      await db.close();
    }
  });

  it("pages through long histories and waits out Slack's rate limit", async () => {
    const db = await openTestDatabase(kind);
    const emulator = testEmulator();
    const served = await serveEmulator(emulator);
    try {
      for (let i = 0; i < 450; i += 1) emulator.seed(USERS.stakeholder, CHANNELS.helpdesk, `Seeded feedback number ${i}`);
      emulator.rateLimit("conversations.history", 1, 1);
      const bot = await startTestBot({ db, loaded: testConfig(), emulator: { emulator, url: served.url } });
      try {
        await bot.idle();
        const [count] = await db.database.db.select({ n: sql<number>`count(*)::int` }).from(feedback);
        expect(count?.n).toBe(450);
        const history = emulator.callsOf("conversations.history").filter((c) => c.args.channel === CHANNELS.helpdesk);
        expect(history.map((c) => c.error ?? "ok")).toEqual(["ratelimited", "ok", "ok", "ok"]);
      } finally {
        await bot.stop();
      }
    } finally {
      await served.close();
      await db.close();
    }
  });
});

describe.runIf(process.env.TEST_DATABASE_URL)("feedback while PostgreSQL drops", () => {
  it("loses nothing: events that could not be stored are refused, then backfill records them, each once", async () => {
    const { bot, emulator, database, proxy, stop } = await startBotBehindProxy(4);
    try {
      await bot.idle();
      const parents = [];
      for (let i = 0; i < 10; i += 1) parents.push(await emulator.message(USERS.stakeholder, CHANNELS.helpdesk, `Before the outage ${i}`));
      await bot.idle();

      await proxy.drop();
      for (let i = 0; i < 15; i += 1) await emulator.message(USERS.stakeholder, CHANNELS.helpdesk, `During the outage ${i}`);
      for (let i = 0; i < 10; i += 1) await emulator.message(USERS.engineer, CHANNELS.helpdesk, `Reply during the outage ${i}`, { threadTs: parents[i]!.ts });
      await emulator.idle();
      const refused = emulator.deliveries.filter((d) => d.kind === "event" && d.status >= 500);
      expect(refused.length).toBeGreaterThanOrEqual(25);
      expect((await fetch(`${bot.orchestrator.url}/healthz`)).status).toBe(503);
      const metrics = await (await fetch(`${bot.orchestrator.url}/metrics`)).text();
      expect(Number(/orchestrator_db_errors_total\{operation="slack request"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(25);
      expect(metrics).toContain("orchestrator_database_up 0");

      await proxy.restore();
      for (let i = 0; i < 5; i += 1) await emulator.message(USERS.stakeholder, CHANNELS.helpdesk, `After the outage ${i}`);
      await bot.idle();
      await bot.orchestrator.feedback.backfill();
      await bot.idle();

      const rows = await database.db.select({ text: feedback.text, ts: feedback.ts }).from(feedback);
      expect(rows).toHaveLength(40);
      expect(new Set(rows.map((r) => r.ts)).size).toBe(40);
      expect(rows.filter((r) => r.text.startsWith("During the outage"))).toHaveLength(15);
      expect(rows.filter((r) => r.text.startsWith("Reply during the outage"))).toHaveLength(10);
    } finally {
      await stop();
    }
  });
});
