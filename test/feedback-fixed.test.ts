import { asc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { feedback, fixNotices } from "../src/db/schema.js";
import { fixFigures, settleFixes } from "../src/features/feedback/fixes.js";
import { eventually, startTestBot, type TestBot } from "./support/bot.js";
import { CHANNELS, FIXTURES, testConfig, USERS, workDir } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";
import { releaseMessageOf, waitForMessageState } from "./support/releases.js";

describe.each(dbKinds())("feedback closed by the release that fixes it on %s", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;
  const dir = workDir();

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    // Staging always deploys; production deploys fail for a version containing "fail".
    bot = await startTestBot({
      db,
      loaded: testConfig({
        dir,
        environments: `
  - name: staging
    approvals: 1
    deploy: { run: ["${FIXTURES}/deploy.sh", "${dir}", "{environment}", "staging-build"], timeout: 20s }
  - name: production
    approvals: 1
    after: staging
    deploy: { run: ["${FIXTURES}/deploy.sh", "${dir}", "{environment}", "{version}"], timeout: 20s }`,
      }),
    });
    await bot.idle();
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
  });

  const command = async (user: string, text: string) => {
    await bot.emulator.command(user, CHANNELS.general, text);
    await bot.idle();
    return bot.emulator.ephemeralsFor(user, CHANNELS.general).at(-1)?.text ?? "";
  };
  const ship = async (version: string, environment: string) => {
    await command(USERS.engineer, `release ${version}${environment === "staging" ? "" : ` to ${environment}`}`);
    await waitForMessageState(bot, version, environment, "awaiting approval");
    const message = releaseMessageOf(bot, version, environment)!;
    await bot.emulator.click(USERS.approver1, { channel: CHANNELS.releases, ts: message.ts }, "release_approve");
    await bot.idle();
  };
  const idOf = async (channel: string, ts: string) => (await db.database.db.select().from(feedback).where(eq(feedback.ts, ts))).find((r) => r.channel === channel)!.id;
  const botMessages = (channel: string, ts: string) =>
    bot.emulator.workspace
      .thread(channel, ts)
      .filter((m) => m.user === bot.emulator.botUserId)
      .map((m) => m.text);

  it("closes items fixed in a version once it is live on the last environment, telling each thread once", async () => {
    const parent = await bot.emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "Voltage chart shows the wrong feeder");
    const reply = await bot.emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "Also the legend is cut off", { threadTs: parent.ts });
    const other = await bot.emulator.message(USERS.stakeholder, CHANNELS.stakeholders, "Export to CSV loses the time zone");
    const unlucky = await bot.emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "Forecast page times out for Khon Kaen");
    await bot.idle();
    const [a, b, c, d] = [await idOf(CHANNELS.helpdesk, parent.ts), await idOf(CHANNELS.helpdesk, reply.ts), await idOf(CHANNELS.stakeholders, other.ts), await idOf(CHANNELS.helpdesk, unlucky.ts)];
    await command(USERS.admin, "feedback add Typed by hand: docs link broken");
    const [typed] = await db.database.db.select().from(feedback).where(eq(feedback.capturedBy, "command"));

    expect(await command(USERS.engineer, `feedback fixed ${a} 1.4.1`)).toContain("Only admins can use `/orch feedback fixed <id> <version>`");
    expect(await command(USERS.admin, `feedback fixed ${a} 1.4`)).toContain("`1.4` is not a version: use semver like 1.4.1 or v1.4.1-rc.1");
    expect(await command(USERS.admin, "feedback fixed 99999 1.4.1")).toBe("There is no feedback #99999. `/orch feedback list` shows the ids.");
    expect(await command(USERS.admin, `feedback fixed ${a} 1.4.1`)).toBe(`Feedback #${a} will be closed when \`1.4.1\` is live on production; its thread will be told then.`);
    for (const id of [b, c, typed!.id]) await command(USERS.admin, `feedback fixed ${id} v1.4.1`);
    expect(await command(USERS.admin, `feedback fixed ${d} 1.9.0-fail`)).toContain("will be closed when `1.9.0-fail` is live on production");

    await ship("1.4.1", "staging");
    await waitForMessageState(bot, "1.4.1", "staging", "live");
    expect((await db.database.db.select().from(feedback).where(eq(feedback.status, "closed"))).length).toBe(0);

    await ship("1.4.1", "production");
    await waitForMessageState(bot, "1.4.1", "production", "live");
    await bot.idle();
    // Closing and telling run right after the release goes live, in the deploy's own background task.
    await eventually(async () => {
      const notices = await db.database.db.select().from(fixNotices);
      if (notices.length !== 2 || notices.some((n) => !n.postedAt)) throw new Error("fix notices not posted yet");
    });
    const rows = await db.database.db.select().from(feedback).orderBy(asc(feedback.id));
    expect(rows.filter((r) => r.status === "closed").map((r) => r.id)).toEqual([a, b, c, d, typed!.id].filter((id) => id !== d).sort((x, y) => x - y));
    expect(rows.find((r) => r.id === d)?.status).toBe("open");

    const fixedIn = /^:white_check_mark: Fixed in `1\.4\.1`, live in production since [^()]+ \(Asia\/Bangkok\) \(feedback (#\d+(, )?)+\)\.$/;
    const threadA = botMessages(CHANNELS.helpdesk, parent.ts).filter((t) => t.includes("Fixed in"));
    expect(threadA).toEqual([expect.stringMatching(fixedIn)]);
    // Listed by id; the feedback writer batches inserts, so a thread's parent need not have the lower id.
    expect(threadA[0]).toContain(`(feedback #${Math.min(a, b)}, #${Math.max(a, b)})`);
    expect(botMessages(CHANNELS.stakeholders, other.ts).filter((t) => t.includes("Fixed in"))).toEqual([expect.stringContaining(`(feedback #${c})`)]);
    // Nothing about the fix went anywhere else (the digests channel never sees feedback text).
    expect(bot.emulator.workspace.history(CHANNELS.digests).filter((m) => m.text.includes("Fixed in"))).toEqual([]);

    // Sweeps on several replicas at once, and again later: no second message, nothing reopened.
    await Promise.all([settleFixes(bot.orchestrator.services), settleFixes(bot.orchestrator.services), settleFixes(bot.orchestrator.services)]);
    await command(USERS.admin, "jobs run approval-expiry");
    expect(botMessages(CHANNELS.helpdesk, parent.ts).filter((t) => t.includes("Fixed in"))).toHaveLength(1);
    expect(await db.database.db.select().from(fixNotices)).toHaveLength(2);

    // Tied after the version already shipped: closed at once, its thread told at once.
    const late = await bot.emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "The PDF report has no page numbers");
    await bot.idle();
    const lateId = await idOf(CHANNELS.helpdesk, late.ts);
    expect(await command(USERS.admin, `feedback fixed ${lateId} 1.4.1`)).toBe(`Feedback #${lateId} is closed: \`1.4.1\` is already live on production, and its thread was told.`);
    expect(botMessages(CHANNELS.helpdesk, late.ts).filter((t) => t.includes("Fixed in"))).toEqual([expect.stringContaining(`(feedback #${lateId})`)]);
    expect(await command(USERS.admin, `feedback fixed ${lateId} 1.4.2`)).toContain(`Feedback #${lateId} is already closed.`);
  });

  it("leaves items open whose version fails, and counts them as waiting on it", async () => {
    await ship("1.9.0-fail", "staging");
    await waitForMessageState(bot, "1.9.0-fail", "staging", "live");
    await ship("1.9.0-fail", "production");
    await waitForMessageState(bot, "1.9.0-fail", "production", "failed");
    await bot.idle();
    const open = await db.database.db.select().from(feedback).where(eq(feedback.fixedIn, "1.9.0-fail"));
    expect(open.map((r) => r.status)).toEqual(["open"]);
    const figures = await fixFigures(db.database.db, { since: new Date(Date.now() - 86_400_000), until: new Date(Date.now() + 60_000) });
    expect(figures).toEqual({ resolved: [{ version: "1.4.1", count: 5 }], waiting: [{ version: "1.9.0-fail", count: 1, urgent: 1 }] });
  });
});
