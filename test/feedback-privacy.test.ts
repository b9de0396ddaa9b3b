import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveEmulator } from "../src/emulator/server.js";
import { forAudience, maySeeText } from "../src/features/feedback/visibility.js";
import { startTestBot, type TestBot, testEmulator } from "./support/bot.js";
import { CHANNELS, testConfig, USERS, workDir } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";
import { type ClaudeRequest, FakeClaude, textReply, toolReply } from "./support/fake-claude.js";

const BOT = "U0ORCHBOT";
const SECRET = "Nakhon substation meter is miscalibrated by 4 percent";
const PUBLIC = "Help desk login page takes ages";
const BY_HAND = "Board asked for a private tariff model";

describe("who may read feedback text", () => {
  it("is members of its source channel, admins and its author; in public only its own channel", () => {
    const item = { channel: "C1", author: "U1" };
    const person = (user: string, memberOf: string[], admin = false) => ({ kind: "person" as const, user, admin, memberOf: new Set(memberOf) });
    expect(maySeeText(item, person("U2", ["C1"]))).toBe(true);
    expect(maySeeText(item, person("U2", ["C2"]))).toBe(false);
    expect(maySeeText(item, person("U9", [], true))).toBe(true);
    expect(maySeeText(item, person("U1", []))).toBe(true);
    expect(maySeeText(item, { kind: "channel", channel: "C1" })).toBe(true);
    expect(maySeeText(item, { kind: "channel", channel: "C2" })).toBe(false);
    expect(forAudience([{ ...item, text: "x", id: 1 }], person("U2", []))).toEqual([{ ...item, text: null, id: 1 }]);
  });
});

/**
 * SPEC §2a: feedback from a private stakeholder channel is read only by its members and admins, and
 * posted in public only there: in `/orch feedback list`, in mentions (with and without Claude), in
 * Claude's tools, and in the digests.
 */
describe.each(dbKinds())("private feedback stays private on %s", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;
  let served: Awaited<ReturnType<typeof serveEmulator>>;
  const emulator = testEmulator();
  const fake = new FakeClaude();
  const dir = workDir();
  const loaded = testConfig({ dir });

  beforeAll(async () => {
    // The stakeholder channel is private; its members take two pages of conversations.members.
    const stakeholders = emulator.workspace.channels.get(CHANNELS.stakeholders)!;
    stakeholders.isPrivate = true;
    stakeholders.members = [...Array.from({ length: 230 }, (_, i) => `U0GUEST${i}`), USERS.stakeholder, USERS.approver1, BOT];
    served = await serveEmulator(emulator);
    await fake.start();
    db = await openTestDatabase(kind);
    bot = await startTestBot({ db, loaded, emulator: { emulator, url: served.url } });
    await emulator.message(USERS.stakeholder, CHANNELS.stakeholders, SECRET);
    await emulator.message(USERS.engineer, CHANNELS.helpdesk, PUBLIC);
    await emulator.command(USERS.stakeholder, CHANNELS.stakeholders, `feedback add ${BY_HAND} --priority high`);
    await bot.idle();
  });

  afterAll(async () => {
    await bot?.stop();
    await served?.close();
    await db?.close();
    await fake.stop();
  });

  /** Everything the bot made visible to more than one person: posts, updates, in-channel responses. */
  const publicText = () =>
    JSON.stringify([
      ...emulator.calls.filter((c) => c.method === "chat.postMessage" || c.method === "chat.update").map((c) => c.args),
      ...emulator.responses.filter((r) => r.body.response_type === "in_channel").map((r) => r.body),
    ]);
  const list = async (user: string) => {
    await emulator.command(user, CHANNELS.general, "feedback list");
    await bot.idle();
    return emulator.ephemeralsFor(user, CHANNELS.general).at(-1)?.text ?? "";
  };
  const mention = async (user: string, text: string) => {
    const asked = await emulator.message(user, CHANNELS.general, `<@${BOT}> ${text}`);
    await bot.idle();
    const answers = emulator.ephemeralsFor(user, CHANNELS.general).filter((e) => e.thread_ts === asked.ts);
    return {
      asked,
      answer: answers.at(-1)?.text ?? "",
      privateAnswers: answers.length,
      thread: emulator.workspace
        .thread(CHANNELS.general, asked.ts)
        .slice(1)
        .map((m) => m.text),
    };
  };

  it("lists private feedback text only to members of its channel and admins", async () => {
    const outsider = await list(USERS.engineer);
    expect(outsider).toContain("*3 open or in-progress feedback*");
    expect(outsider).toContain(PUBLIC);
    expect(outsider).not.toContain(SECRET);
    expect(outsider).not.toContain(BY_HAND);
    expect(outsider).toContain(`_text visible to members of <#${CHANNELS.stakeholders}>_`);
    // The member is on the second page of members; the admin is no member at all.
    expect(await list(USERS.stakeholder)).toContain(SECRET);
    expect(await list(USERS.approver1)).toContain(BY_HAND);
    expect(await list(USERS.admin)).toContain(SECRET);
    expect(emulator.callsOf("conversations.members").filter((c) => c.args.channel === CHANNELS.stakeholders).length).toBeGreaterThanOrEqual(2);
    expect(publicText()).not.toContain(SECRET);
  });

  it("answers a mention that quotes feedback privately, in its thread, without Claude", async () => {
    const { answer, thread, privateAnswers } = await mention(USERS.admin, "feedback list");
    expect(privateAnswers).toBe(1);
    expect(answer).toContain(SECRET);
    expect(answer).toContain(PUBLIC);
    expect(thread).toEqual([`<@${USERS.admin}> I answered you privately: the answer quotes feedback that not everyone here may read.`]);
    const outsider = await mention(USERS.engineer, "feedback list");
    expect(outsider.answer).not.toContain(SECRET);
    expect(outsider.answer).toContain(PUBLIC);
    expect(publicText()).not.toContain(SECRET);
    expect(publicText()).not.toContain(PUBLIC);
  });

  it("keeps other channels' feedback text out of the digests and out of /orch report for non-members", async () => {
    await emulator.command(USERS.admin, CHANNELS.general, "jobs run weekly-digest");
    await bot.idle();
    const digest = JSON.stringify(emulator.workspace.history(CHANNELS.digests).at(-1)?.blocks ?? []);
    expect(digest).toContain("Recommendations");
    expect(digest).toContain("critical direct-feedback from Stakeholder Meetings");
    expect(digest).toContain(`_text visible to members of <#${CHANNELS.stakeholders}>_`);
    expect(digest).not.toContain(SECRET);
    expect(digest).not.toContain(PUBLIC);

    await emulator.command(USERS.engineer, CHANNELS.general, "report");
    await bot.idle();
    const forOutsider = JSON.stringify(emulator.ephemeralsFor(USERS.engineer, CHANNELS.general).at(-1));
    expect(forOutsider).toContain(PUBLIC);
    expect(forOutsider).not.toContain(SECRET);
    await emulator.command(USERS.stakeholder, CHANNELS.general, "report");
    await bot.idle();
    expect(JSON.stringify(emulator.ephemeralsFor(USERS.stakeholder, CHANNELS.general).at(-1))).toContain(SECRET);
    expect(publicText()).not.toContain(SECRET);
  });

  describe("with Claude", () => {
    let claudeBot: TestBot;
    const isMention = (r: ClaudeRequest) => (r.tools?.length ?? 0) > 0;
    const toolResults = () =>
      fake.requests
        .filter(isMention)
        .flatMap((r) => r.messages.flatMap((m) => (Array.isArray(m.content) ? m.content : [])))
        .filter((b) => b.type === "tool_result")
        .map((b) => String(b.content));

    beforeAll(async () => {
      await bot.stop();
      // A model that repeats whatever its tools returned: the worst case for a leak.
      fake.responder = (request) => {
        if (!isMention(request)) return textReply("[]");
        const last = request.messages.at(-1);
        const results = Array.isArray(last?.content) ? last.content.filter((b) => b.type === "tool_result") : [];
        if (results.length > 0) return textReply(results.map((b) => String(b.content)).join("\n"));
        return toolReply([
          { name: "list_feedback", input: {} },
          { name: "feedback_stats", input: { days: 30 } },
        ]);
      };
      claudeBot = await startTestBot({
        db,
        loaded,
        emulator: { emulator, url: served.url },
        anthropic: { apiKey: "sk-ant-test", baseUrl: fake.url, model: "claude-test" },
        start: { claude: { maxRetries: 0, timeoutMs: 3000 }, mentionDeadlineMs: 10_000 },
      });
      bot = claudeBot;
      await bot.idle();
    });

    it("gives Claude only what the asker may read, and answers privately when it quotes feedback", async () => {
      fake.requests.length = 0;
      const outsider = await mention(USERS.engineer, "what feedback is open?");
      expect(toolResults().join("\n")).toContain(PUBLIC);
      expect(toolResults().join("\n")).not.toContain(SECRET);
      expect(toolResults().join("\n")).toContain("only members of its source channel may read this text");
      expect(outsider.answer).toContain(PUBLIC);
      expect(outsider.thread).toEqual([`<@${USERS.engineer}> I answered you privately: the answer quotes feedback that not everyone here may read.`]);

      fake.requests.length = 0;
      const member = await mention(USERS.stakeholder, "what feedback is open?");
      expect(toolResults().join("\n")).toContain(SECRET);
      expect(member.answer).toContain(SECRET);
      expect(member.thread).toHaveLength(1);
      expect(publicText()).not.toContain(SECRET);
      expect(publicText()).not.toContain(PUBLIC);
    });
  });
});
