import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { plainTopic } from "../src/features/ai/plain.js";
import { startTestBot, type TestBot } from "./support/bot.js";
import { CHANNELS, testConfig, USERS } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";
import { waitForMessageState } from "./support/releases.js";

const BOT = "U0ORCHBOT";

describe("which part of the data a plain question is about", () => {
  const environments = ["staging", "production"];
  it.each([
    ["what is live on production?", "releases"],
    ["is 1.4.0 approved yet?", "releases"],
    ["what's on staging", "releases"],
    ["any new feedback from the help desk?", "feedback"],
    ["when is the next digest?", "jobs"],
    ["is production healthy?", "health"],
    ["what's going on?", "status"],
    ["what can you do?", "help"],
    ["tell me a joke", undefined],
  ] as const)("%s → %s", (question, topic) => {
    expect(plainTopic(question, environments)).toBe(topic);
  });
});

describe.each(dbKinds())("a mention without Claude is answered in one message (%s)", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    bot = await startTestBot({ db, loaded: testConfig() });
    await bot.idle();
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
  });

  /** The bot's messages in the mention's thread. */
  const ask = async (text: string, user: string = USERS.engineer) => {
    const mention = await bot.emulator.message(user, CHANNELS.general, `<@${BOT}> ${text}`);
    await bot.idle();
    return bot.emulator.workspace.thread(CHANNELS.general, mention.ts).filter((m) => m.ts !== mention.ts);
  };

  it("answers a question about releases from the data, with nothing stacked around it", async () => {
    await bot.emulator.command(USERS.engineer, CHANNELS.general, "release 1.4.0");
    await waitForMessageState(bot, "1.4.0", "staging", "awaiting approval");
    const replies = await ask("what is live on production?");
    expect(replies).toHaveLength(1);
    const answer = replies[0]?.text ?? "";
    expect(answer).toMatch(/^Environments: • \*staging\*: nothing released yet/);
    expect(answer).toContain("*production*: nothing released yet");
    expect(answer).toContain("Releases in flight: • `1.4.0` → staging");
    expect(answer).not.toContain("Claude is not set up");
    expect(answer).not.toContain("I don't know the command");
    expect(answer).not.toContain("Feedback:");
    expect(JSON.stringify(replies[0]?.blocks)).toContain('"text":"Releases"');
  });

  it("answers feedback questions with counts only, never an item's text", async () => {
    await bot.emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "The Udon Thani voltage export is broken");
    await bot.idle();
    const [answer] = await ask("any new feedback?");
    expect(answer?.text).toMatch(/^Feedback: 1 open, 0 in progress, 0 closed — 1 open high\/critical$/);
    expect(answer?.text).not.toContain("Udon Thani");
  });

  it("answers a jobs question with the jobs list", async () => {
    const replies = await ask("when is the next digest?");
    expect(replies).toHaveLength(1);
    expect(replies[0]?.text).toContain("weekly-digest");
  });

  it("runs a command, says what was wrong with a mistaken one, and otherwise says once what it can do", async () => {
    const [started] = await ask("release 1.4.1 to production");
    expect(started?.text).toContain("production takes only a version that is live on staging first");
    const [wrong] = await ask("release banana");
    expect(wrong?.text).toContain("`banana` is not a version");
    const replies = await ask("tell me a joke");
    expect(replies).toHaveLength(1);
    const text = replies[0]?.text ?? "";
    expect(text.match(/Claude is not set up/g)).toHaveLength(1);
    expect(text).toContain("`@Orchestrator what is live on production?`");
    expect(text).toContain("`/orch help` lists every command.");
    expect(text).not.toContain("I don't know the command");
  });
});
