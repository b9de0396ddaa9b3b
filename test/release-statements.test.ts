import type { Sql } from "postgres";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startTestBot, type TestBot } from "./support/bot.js";
import { FIXTURES, testConfig, USERS, workDir } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";
import { releaseMessageOf, releaseRow, waitForMessageState, waitForState } from "./support/releases.js";

/**
 * How many SQL statements an Approve click costs before its ephemeral answer, counted as postgres.js sends
 * them (BEGIN and COMMIT included). The bounds are the measured figures: a change that adds a statement to
 * the click's path fails here. Work the click starts in the background (the deploy) is held until the
 * answer is in, so only the click's own statements are counted. Before the lifecycle returned outcomes
 * and the announcer rendered from the rows in hand, the same count was 13 and 19.
 */
const COUNTED_CLICK = 7;
const COMPLETING_CLICK = 10;

describe.each(dbKinds())("statements of an Approve click on %s", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;
  let dir: string;

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    dir = workDir();
    const environments = `
  - name: staging
    approvals: 2
    deploy: { run: ["${FIXTURES}/deploy.sh", "${dir}", "{environment}", "{version}"], timeout: 20s }`;
    // No scheduler timers or heartbeats during the count: only the click talks to the database.
    bot = await startTestBot({ db, loaded: testConfig({ dir, environments }), start: { jobs: { timers: false, heartbeatMs: 3_600_000 } } });
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
  });

  /** The statements sent while `fn` runs, with the background work it starts held until it has returned. */
  const statementsOf = async <T>(fn: () => Promise<T>): Promise<{ result: T; statements: string[] }> => {
    const { background } = bot.orchestrator.services;
    const held: Array<() => void> = [];
    const runWork = background.runWork.bind(background);
    const spy = vi.spyOn(background, "runWork").mockImplementation((name, task) => new Promise<void>((resolve) => held.push(() => void runWork(name, task).then(resolve))));
    // postgres.js reads `debug` from its options on every statement it sends, on every connection of the pool.
    const { options } = (bot.orchestrator.services.db as unknown as { $client: Sql }).$client;
    const statements: string[] = [];
    options.debug = (_connection: number, query: string) => statements.push(query);
    try {
      return { result: await fn(), statements };
    } finally {
      options.debug = false;
      spy.mockRestore();
      for (const start of held) start();
    }
  };

  it("counts the statements of a counted click and of the click that completes the release", async () => {
    await bot.emulator.command(USERS.engineer, "C0GENERAL", "release 1.4.0");
    await waitForMessageState(bot, "1.4.0", "staging", "awaiting approval");
    await bot.idle();
    const release = await releaseRow(db.database.db, "1.4.0", "staging");

    const counted = await statementsOf(() => bot.orchestrator.releases.approve(release!.id, USERS.approver1));
    expect(counted.result).toMatchObject({ ok: true, kind: "counted", tally: { count: 1 } });
    expect(counted.statements.length, counted.statements.join("\n")).toBeLessThanOrEqual(COUNTED_CLICK);
    // The count sees the statements (the tally's transaction among them), and the message shows the tally it rendered from.
    expect(counted.statements.map((q) => q.trim()).filter((q) => q === "begin" || q === "commit")).toEqual(["begin", "commit"]);
    expect(releaseMessageOf(bot, "1.4.0", "staging")?.text).toContain("awaiting approval (1/2 approvals)");

    const completing = await statementsOf(() => bot.orchestrator.releases.approve(release!.id, USERS.approver2));
    expect(completing.result).toMatchObject({ ok: true, kind: "completed", release: { state: "deploying" }, tally: { count: 2 } });
    expect(completing.statements.length, completing.statements.join("\n")).toBeLessThanOrEqual(COMPLETING_CLICK);
    console.log(`approve click statements on ${kind}: counted ${counted.statements.length}, completing ${completing.statements.length}`);

    await waitForState(db.database.db, release!.id, "live");
    await bot.idle();
  });
});
