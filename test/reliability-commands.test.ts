import { createHmac } from "node:crypto";
import { sql } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryRows } from "../src/db/client.js";
import { SIGNING_SECRET, startTestBot, type TestBot } from "./support/bot.js";
import { CHANNELS, testConfig, USERS } from "./support/config.js";
import { openTestDatabase, type TestDatabase } from "./support/db.js";

async function countRows(db: TestDatabase, table: string): Promise<number> {
  const [row] = await queryRows<{ n: number }>(db.database.db, sql.raw(`select count(*)::int as n from ${table}`));
  return row?.n ?? -1;
}

const TABLES = ["releases", "release_transitions", "approvals", "feedback", "feedback_events", "job_runs"] as const;

const NASTY = [
  "'; DROP TABLE feedback;--",
  "1; DELETE FROM releases",
  "<!channel>",
  "<!here|here>",
  "<@U0ADMIN>",
  "<#C0RELEASES|releases>",
  "*bold*",
  "_it_",
  "`code`",
  "```block```",
  "~strike~",
  '"',
  "“curly”",
  "'",
  "--kind",
  "--priority",
  "--kind=bug",
  "--",
  "v1.2.3",
  "1.4",
  "1.4.0",
  "99999999999999999999.0.0",
  "#42",
  "42",
  "-1",
  "0",
  "to",
  "staging",
  "production",
  "prod",
  "open",
  "closed",
  "weekly",
  "30d",
  "9999d",
  "&lt;script&gt;",
  "<script>alert(1)</script>",
  "ü🔥日本語",
  "\u0000",
  "\u202e",
  "%s%n",
  "${DEPLOY_TOKEN}",
  "{version}",
  "../../etc/passwd",
];

const WORDS = [
  "help",
  "status",
  "release",
  "log",
  "health",
  "feedback",
  "add",
  "list",
  "analyze",
  "link",
  "jobs",
  "run",
  "report",
  "ask",
  "swe",
  "security-auditor",
  "weekly-digest",
  "approve",
  "deploy",
  "",
];

const token = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...WORDS) },
  { weight: 4, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 2000, maxLength: 4500 }) },
);
const commandText = fc.array(token, { minLength: 0, maxLength: 7 }).map((tokens) => tokens.join(fc.sample(fc.constantFrom(" ", "  ", "\n", "\t"), 1)[0] ?? " "));

describe("1,000 generated command texts", () => {
  let db: TestDatabase;
  let bot: TestBot;

  beforeAll(async () => {
    db = await openTestDatabase("pglite");
    // No cron timers: a scheduled job (approval-expiry runs every minute) would add a job_runs row mid-check.
    bot = await startTestBot({ db, loaded: testConfig(), start: { jobs: { timers: false } } });
    await bot.idle();
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
  });

  const counts = () => Promise.all(TABLES.map((table) => countRows(db, table)));

  it("answers every one, never with a 5xx, and an invalid one changes no row", async () => {
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(commandText, fc.constantFrom(USERS.engineer, USERS.admin, USERS.approver1), async (text, user) => {
        const before = await counts();
        const responsesBefore = bot.emulator.responses.length;
        const ephemeralsBefore = bot.emulator.ephemeralsFor(user).length;
        const result = await bot.emulator.command(user, CHANNELS.general, text);
        expect(result.status).toBe(200);
        const ack = result.body as { text?: string; response_type?: string } | string | undefined;
        if (ack && typeof ack === "object" && typeof ack.text === "string") {
          // Refused at once: the person sees why, and nothing in the database moved.
          refused += 1;
          expect(ack.response_type).toBe("ephemeral");
          expect(ack.text.length).toBeGreaterThan(10);
          expect(await counts()).toEqual(before);
          return;
        }
        await bot.idle();
        const replied = bot.emulator.responses.length > responsesBefore || bot.emulator.ephemeralsFor(user).length > ephemeralsBefore;
        expect(replied).toBe(true);
      }),
      { numRuns: 1000, seed: 20261125 },
    );
    expect(refused).toBeGreaterThan(300);
    const health = await fetch(`${bot.orchestrator.url}/healthz`);
    expect(health.status).toBe(200);
    expect(bot.logs.filter((l) => l.msg === "command failed")).toEqual([]);
  }, 180_000);
});

describe("forged, stale and malformed requests", () => {
  let db: TestDatabase;
  let bot: TestBot;

  beforeAll(async () => {
    db = await openTestDatabase("pglite");
    bot = await startTestBot({ db, loaded: testConfig() });
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
  });

  const post = (body: string, headers: Record<string, string>) => fetch(`${bot.orchestrator.url}/slack/events`, { method: "POST", headers, body });
  const signed = (body: string, at = Math.floor(Date.now() / 1000), secret = SIGNING_SECRET) => ({
    "x-slack-request-timestamp": String(at),
    "x-slack-signature": `v0=${createHmac("sha256", secret).update(`v0:${at}:${body}`).digest("hex")}`,
  });
  const event = (text: string) =>
    JSON.stringify({
      type: "event_callback",
      event_id: `Ev${Math.random().toString(36).slice(2, 12)}`,
      team_id: "T0SANDBOX",
      event: { type: "message", channel: CHANNELS.helpdesk, user: USERS.stakeholder, text, ts: `${Math.floor(Date.now() / 1000)}.000001` },
    });

  it("answers 401 to anything not signed with the secret, within five minutes, over the exact body", async () => {
    const forgedEvents = await fc.sample(
      fc.record({
        body: fc.string({ maxLength: 300 }).map(event),
        skewSeconds: fc.oneof(fc.integer({ min: 301, max: 100_000 }), fc.integer({ min: -100_000, max: -301 })),
        secret: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s !== SIGNING_SECRET),
      }),
      60,
    );
    for (const { body, skewSeconds, secret } of forgedEvents) {
      const now = Math.floor(Date.now() / 1000);
      for (const headers of [signed(body, now, secret), signed(body, now + skewSeconds), { ...signed(body), "x-slack-signature": "v0=00" }, signed(`${body} `)]) {
        const response = await post(body, { "content-type": "application/json", ...headers });
        expect(response.status).toBe(401);
      }
    }
    await bot.idle();
    expect(await countRows(db, "feedback")).toBe(0);
    expect(await countRows(db, "slack_events")).toBe(0);
    expect(bot.emulator.calls.filter((c) => c.method === "reactions.add")).toEqual([]);
  });

  it("answers 400 to signed bodies that are not Slack payloads, and 413 to huge ones", async () => {
    for (const [body, type] of [
      ["{not json", "application/json"],
      ["[1,2,3]", "application/json"],
      ["payload=%7Bnot%20json", "application/x-www-form-urlencoded"],
      ["", "application/x-www-form-urlencoded"],
      [JSON.stringify({ type: "who_knows" }), "application/json"],
    ] as const) {
      const response = await post(body, { "content-type": type, ...signed(body) });
      expect(response.status).toBe(400);
    }
    const huge = "x".repeat(2 * 1024 * 1024);
    const response = await post(huge, { "content-type": "application/json", ...signed(huge) }).catch(() => ({ status: 413 }));
    expect(response.status).toBe(413);
    expect((await fetch(`${bot.orchestrator.url}/healthz`)).status).toBe(200);
  });
});
