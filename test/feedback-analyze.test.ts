import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { feedback } from "../src/db/schema.js";
import { feedbackStats } from "../src/features/feedback/stats.js";
import { startTestBot, type TestBot } from "./support/bot.js";
import { CHANNELS, testConfig, USERS } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";

const DAY = 86_400_000;

/** Hand-made feedback: id, days ago, kind, priority, source, status, theme, closed days ago, deleted. */
const SEED = [
  [1, 2, "bug", "high", "PEA Help Desk", "open", "performance", null, false],
  [2, 3, "bug", "critical", "Stakeholder Meetings", "in-progress", "forecast accuracy", null, false],
  [3, 5, "feature-request", "medium", "User Portal", "open", "performance", null, false],
  [4, 10, "question", "low", "PEA Help Desk", "closed", null, 1, false],
  [5, 12, "bug", "high", "PEA Help Desk", "open", "performance", null, false],
  [6, 20, "praise", "low", "Stakeholder Meetings", "closed", "forecast accuracy", 15, false],
  [7, 40, "bug", "critical", "PEA Help Desk", "open", "login and access", null, false],
  [8, 1, "bug", "high", "PEA Help Desk", "open", "performance", null, true],
] as const;

/** Monday of the week a moment falls in, in Bangkok (UTC+7, no daylight saving), as YYYY-MM-DD. */
function bangkokWeek(at: Date): string {
  const local = new Date(at.getTime() + 7 * 3600_000);
  const monday = new Date(Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate() - ((local.getUTCDay() + 6) % 7)));
  return monday.toISOString().slice(0, 10);
}

describe.each(dbKinds())("feedback analytics on %s", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;
  const now = Date.now();

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    for (const [id, daysAgo, k, priority, source, status, theme, closedDaysAgo, deleted] of SEED) {
      await db.database.db.insert(feedback).values({
        id,
        // Not a feedback channel: these rows have no Slack message, which backfill would take for deleted.
        channel: CHANNELS.general,
        ts: `${Math.floor((now - daysAgo * DAY) / 1000)}.00000${id}`,
        author: USERS.stakeholder,
        text: `Seeded item ${id}`,
        source,
        kind: k,
        priority,
        status,
        theme,
        capturedBy: "message",
        postedAt: new Date(now - daysAgo * DAY),
        closedAt: closedDaysAgo === null ? null : new Date(now - closedDaysAgo * DAY),
        deletedAt: deleted ? new Date(now) : null,
      });
    }
    await db.database.db.execute(sql`select setval('feedback_id_seq', 100)`);
    bot = await startTestBot({ db, loaded: testConfig() });
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
  });

  it("computes every figure in SQL, matching the hand count", async () => {
    const stats = await feedbackStats(db.database.db, { since: new Date(now - 30 * DAY), until: new Date(now + 1000), timeZone: "Asia/Bangkok" });
    expect(stats.total).toBe(6);
    expect(stats.byKind).toEqual([
      { key: "bug", count: 3 },
      { key: "feature-request", count: 1 },
      { key: "praise", count: 1 },
      { key: "question", count: 1 },
    ]);
    expect(stats.byPriority).toEqual([
      { key: "critical", count: 1 },
      { key: "high", count: 2 },
      { key: "medium", count: 1 },
      { key: "low", count: 2 },
    ]);
    expect(stats.bySource).toEqual([
      { key: "PEA Help Desk", count: 3 },
      { key: "Stakeholder Meetings", count: 2 },
      { key: "User Portal", count: 1 },
    ]);
    expect(stats.byStatus).toEqual([
      { key: "open", count: 3 },
      { key: "closed", count: 2 },
      { key: "in-progress", count: 1 },
    ]);
    expect(stats.topThemes).toEqual([
      { key: "performance", count: 3 },
      { key: "forecast accuracy", count: 2 },
    ]);
    expect([stats.open, stats.inProgress, stats.closedInPeriod]).toEqual([4, 1, 2]);
    expect(stats.oldestUrgent.map((f) => f.id)).toEqual([7, 5, 2, 1]);
    expect(stats.recentlyClosed.map((f) => f.id)).toEqual([4, 6]);
    const expectedWeeks = new Map<string, number>();
    for (const [, daysAgo, , , , , , , deleted] of SEED) {
      if (deleted || daysAgo > 30) continue;
      const week = bangkokWeek(new Date(now - daysAgo * DAY));
      expectedWeeks.set(week, (expectedWeeks.get(week) ?? 0) + 1);
    }
    expect(stats.weekly).toEqual([...expectedWeeks.entries()].sort().map(([week, count]) => ({ week, count })));
  });

  it("answers /orch feedback analyze with those figures", async () => {
    await bot.emulator.command(USERS.engineer, CHANNELS.general, "feedback analyze 30d");
    await bot.idle();
    const reply = bot.emulator.ephemeralsFor(USERS.engineer, CHANNELS.general).at(-1);
    expect(reply?.text).toBe(
      "Feedback, last 30 days: 6 new; kinds: bug 3, feature-request 1, praise 1, question 1; priorities: critical 1, high 2, medium 1, low 2; top themes: performance 3, forecast accuracy 2",
    );
    const blocks = JSON.stringify(reply?.blocks);
    expect(blocks).toContain("6 new · backlog now: 4 open, 1 in progress · 2 closed in the period");
    expect(blocks).toContain("*By source*\\nPEA Help Desk *3* · Stakeholder Meetings *2* · User Portal *1*");
    expect(blocks).toContain("1. performance (3)\\n2. forecast accuracy (2)");
  });

  it("narrows to the period asked for and refuses a bad one", async () => {
    await bot.emulator.command(USERS.engineer, CHANNELS.general, "feedback analyze 4d");
    await bot.idle();
    expect(bot.emulator.ephemeralsFor(USERS.engineer, CHANNELS.general).at(-1)?.text).toMatch(/^Feedback, last 4 days: 2 new; kinds: bug 2;/);
    await bot.emulator.command(USERS.engineer, CHANNELS.general, "feedback analyze month");
    expect(bot.emulator.ephemeralsFor(USERS.engineer, CHANNELS.general).at(-1)?.text).toContain("`month` is not a period: use days, e.g. 30d");
    await bot.emulator.command(USERS.engineer, CHANNELS.general, "feedback analyze 900d");
    expect(bot.emulator.ephemeralsFor(USERS.engineer, CHANNELS.general).at(-1)?.text).toContain("The period must be between 1d and 365d");
  });
});
