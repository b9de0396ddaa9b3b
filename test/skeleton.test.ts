import { createHmac } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { slackEvents } from "../src/db/schema.js";
import { SIGNING_SECRET, startTestBot, type TestBot } from "./support/bot.js";
import { CHANNELS, testConfig, USERS } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";

function sign(body: string, timestamp: number, secret = SIGNING_SECRET): Record<string, string> {
  return {
    "x-slack-request-timestamp": String(timestamp),
    "x-slack-signature": `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${body}`).digest("hex")}`,
  };
}

describe.each(dbKinds())("walking skeleton on %s", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    bot = await startTestBot({ db, loaded: testConfig() });
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
  });

  const ephemeralTexts = (user: string) => bot.emulator.ephemeralsFor(user, CHANNELS.general).map((e) => e.text);

  it("answers /orch help with every command and an example, only to the person who asked", async () => {
    const result = await bot.emulator.command(USERS.engineer, CHANNELS.general, "help");
    expect(result.status).toBe(200);
    await bot.idle();
    const [reply] = bot.emulator.ephemeralsFor(USERS.engineer, CHANNELS.general).slice(-1);
    expect(reply?.text).toContain("/orch status");
    expect(reply?.text).toContain("/orch help");
    const rendered = JSON.stringify(reply?.blocks);
    expect(rendered).toContain("e.g. `/orch status`");
    expect(bot.emulator.ephemeralsFor(USERS.stakeholder)).toHaveLength(0);
    expect(bot.emulator.workspace.history(CHANNELS.general)).toHaveLength(0);
  });

  it("answers /orch help for a command that does not exist with a refusal pointing to help", async () => {
    await bot.emulator.command(USERS.engineer, CHANNELS.general, "help deploy");
    await bot.idle();
    expect(ephemeralTexts(USERS.engineer).at(-1)).toBe("There is no `/orch deploy` command. `/orch help` lists them all.");
  });

  it("answers /orch status from the database", async () => {
    await db.database.db.execute(
      sql`insert into releases (version, semver, environment, state, requester, required_approvals, live_at) values ('1.3.0', '1.3.0', 'staging', 'live', 'U0ENGINEER', 1, now() - interval '2 hours')`,
    );
    await db.database.db.execute(
      sql`insert into feedback (channel, ts, author, text, source, kind, priority, captured_by) values ('C0HELPDESK', '1.000001', 'U0STAKEHOLDER', 'Forecast page slow', 'PEA Help Desk', 'support-ticket', 'high', 'message')`,
    );
    await bot.emulator.command(USERS.engineer, CHANNELS.general, "status");
    await bot.idle();
    const text = ephemeralTexts(USERS.engineer).at(-1) ?? "";
    expect(text).toContain("*staging*: `1.3.0` live since 2h ago");
    expect(text).toContain("*production*: nothing released yet");
    expect(text).toContain("1 open, 0 in progress, 0 closed — 1 open high/critical");
  });

  it("refuses an unknown command with a pointer to help, and changes nothing", async () => {
    const before = bot.emulator.calls.length;
    const result = await bot.emulator.command(USERS.engineer, CHANNELS.general, "deploy everything now");
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ response_type: "ephemeral" });
    expect(ephemeralTexts(USERS.engineer).at(-1)).toBe("I don't know the command `deploy`. See `/orch help` for every command.");
    await bot.emulator.command(USERS.engineer, CHANNELS.general, "stauts");
    expect(ephemeralTexts(USERS.engineer).at(-1)).toContain("Did you mean `/orch status`?");
    await bot.emulator.command(USERS.engineer, CHANNELS.general, "status please");
    expect(ephemeralTexts(USERS.engineer).at(-1)).toBe("Unexpected `please`.\nUsage: `/orch status`, for example `/orch status`");
    await bot.idle();
    expect(bot.emulator.calls.slice(before)).toEqual([]);
  });

  it("refuses forged, stale and unsigned requests with 401 and processes nothing", async () => {
    const url = `${bot.orchestrator.url}/slack/events`;
    const body = new URLSearchParams({
      command: "/orch",
      text: "status",
      user_id: USERS.engineer,
      channel_id: CHANNELS.general,
      response_url: `${bot.emulatorUrl}/response/x`,
      trigger_id: "1.2.3",
      team_id: "T0SANDBOX",
    }).toString();
    const now = Math.floor(Date.now() / 1000);
    const attempts = [
      { "content-type": "application/x-www-form-urlencoded", ...sign(body, now, "wrong-secret") },
      { "content-type": "application/x-www-form-urlencoded", ...sign(body, now - 6 * 60) },
      { "content-type": "application/x-www-form-urlencoded", ...sign(body, now + 6 * 60) },
      { "content-type": "application/x-www-form-urlencoded" },
      { "content-type": "application/x-www-form-urlencoded", ...sign(`${body}&text=help`, now) },
    ];
    const before = bot.emulator.calls.length;
    for (const headers of attempts) {
      const response = await fetch(url, { method: "POST", headers, body });
      expect(response.status).toBe(401);
    }
    const good = await fetch(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...sign(body, now) }, body });
    expect(good.status).toBe(200);
    await bot.idle();
    expect(bot.emulator.calls.slice(before).filter((c) => c.method !== "auth.test")).toEqual([]);
    // Only the correctly signed request reached the command, which answered through its response_url.
    expect(bot.emulator.responses.filter((r) => r.id === "x").length).toBeGreaterThan(0);
  });

  it("answers a malformed but signed body with 400", async () => {
    const body = "{not json";
    const response = await fetch(`${bot.orchestrator.url}/slack/events`, {
      method: "POST",
      headers: { "content-type": "application/json", ...sign(body, Math.floor(Date.now() / 1000)) },
      body,
    });
    expect(response.status).toBe(400);
  });

  it("answers Slack's URL verification challenge", async () => {
    const body = JSON.stringify({ type: "url_verification", challenge: "c-123", token: "t" });
    const response = await fetch(`${bot.orchestrator.url}/slack/events`, {
      method: "POST",
      headers: { "content-type": "application/json", ...sign(body, Math.floor(Date.now() / 1000)) },
      body,
    });
    expect(await response.json()).toEqual({ challenge: "c-123" });
  });

  it("records a redelivered event once and does not process it twice", async () => {
    const mention = await bot.emulator.message(USERS.engineer, CHANNELS.general, `<@${bot.emulator.botUserId}> status`);
    await bot.idle();
    const delivery = bot.emulator.deliveries.find((d) => d.kind === "event" && d.body.includes('"type":"app_mention"') && d.body.includes(mention.ts));
    const eventId = delivery?.eventId as string;
    const again = await bot.emulator.redeliver(eventId, 1);
    expect(again.status).toBe(200);
    await bot.idle();
    const rows = await db.database.db.select().from(slackEvents).where(sql`${slackEvents.eventId} = ${eventId}`);
    expect(rows).toHaveLength(1);
    expect(bot.logs.filter((l) => l.msg.startsWith("event already processed") && l.eventId === eventId)).toHaveLength(1);
    // Answered once in its thread, whatever Slack sends again.
    expect(bot.emulator.workspace.thread(CHANNELS.general, mention.ts).filter((m) => m.user === bot.emulator.botUserId)).toHaveLength(1);
  });

  it("serves /healthz and /metrics", async () => {
    const health = await fetch(`${bot.orchestrator.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", database: "up" });
    const metrics = await (await fetch(`${bot.orchestrator.url}/metrics`)).text();
    expect(metrics).toMatch(/orchestrator_slack_requests_total\{kind="command",outcome="ok"\} \d+/);
    expect(metrics).toMatch(/orchestrator_slack_requests_total\{kind="other",outcome="unauthorized"\} 5/);
    expect(metrics).toContain("orchestrator_handler_duration_seconds_bucket");
  });
});

describe.each(dbKinds())("health with the database gone on %s", (kind) => {
  it("answers 503 from /healthz once the database stops answering", async () => {
    const db = await openTestDatabase(kind);
    const bot = await startTestBot({ db, loaded: testConfig() });
    try {
      expect((await fetch(`${bot.orchestrator.url}/healthz`)).status).toBe(200);
      await db.database.close();
      const response = await fetch(`${bot.orchestrator.url}/healthz`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ status: "unavailable", database: "down" });
    } finally {
      await bot.stop();
      await db.close().catch(() => undefined);
    }
  });
});
