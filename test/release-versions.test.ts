import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releases } from "../src/db/schema.js";
import { readBody } from "../src/http/body.js";
import { startTestBot, type TestBot } from "./support/bot.js";
import { CHANNELS, FIXTURES, testConfig, USERS, workDir } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";
import { buttonsOf, deploysIn, lastEphemeral, releaseMessageOf, waitForMessageState } from "./support/releases.js";

/** One exact text per version: build metadata is refused, and what is stored, compared and deployed is canonical (issue 11, item 4). */
describe.each(dbKinds())("version text on %s", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;
  let dir: string;
  let hook: Server;
  const hookBodies: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    hook = createServer((req, res) => {
      void readBody(req).then((raw) => {
        hookBodies.push(JSON.parse(raw) as Record<string, unknown>);
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, "127.0.0.1", resolve));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/deploy`;
    db = await openTestDatabase(kind);
    dir = workDir();
    const environments = `
  - name: staging
    approvals: 1
    deploy: { run: ["${FIXTURES}/deploy.sh", "${dir}", "{environment}", "{version}"], timeout: 20s }
  - name: production
    approvals: 1
    after: staging
    deploy: { webhook: { url: "${hookUrl}", retries: 0 } }`;
    bot = await startTestBot({ db, loaded: testConfig({ dir, environments }) });
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
    await new Promise((resolve) => hook?.close(resolve));
  });

  const command = async (user: string, text: string) => {
    await bot.emulator.command(user, CHANNELS.general, text);
    await bot.idle();
    return bot.emulator.ephemeralsFor(user, CHANNELS.general).at(-1)?.text ?? "";
  };
  const approve = async (version: string, environment: string) => {
    const message = await waitForMessageState(bot, version, environment, "awaiting approval");
    expect(buttonsOf(message)).toContain("release_approve");
    await bot.emulator.click(USERS.approver1, { channel: CHANNELS.releases, ts: message.ts }, "release_approve");
    await bot.idle();
    return lastEphemeral(bot, USERS.approver1);
  };
  const releaseCount = async () => (await db.database.db.select({ n: sql<number>`count(*)::int` }).from(releases))[0]?.n;

  it("stores, shows and deploys v1.2.3 as 1.2.3", async () => {
    expect(await command(USERS.engineer, "release v1.2.3")).toMatch(/^Release #\d+: `1\.2\.3` to staging is running its gates/);
    expect(await approve("1.2.3", "staging")).toBe("Your approval completed the release; deploying `1.2.3` to staging.");
    await waitForMessageState(bot, "1.2.3", "staging", "live");
    expect(deploysIn(dir)).toEqual(["staging 1.2.3"]);
    const [row] = await db.database.db.select({ version: releases.version, semver: releases.semver }).from(releases);
    expect(row).toEqual({ version: "1.2.3", semver: "1.2.3" });
  });

  it("refuses build metadata with a clear message, changing nothing, even while the bare version is live upstream", async () => {
    const before = await releaseCount();
    expect(await command(USERS.engineer, "release v1.2.3+evil to production")).toBe(
      "`v1.2.3+evil` has build metadata (`+evil`), which is not allowed: release `1.2.3` instead.\nUsage: `/orch release <version> [to <env>] [--emergency <reason...>]`, for example `/orch release 1.4.0 to staging`",
    );
    expect(await command(USERS.engineer, "release 1.2.4+build.7")).toContain("`1.2.4+build.7` has build metadata (`+build.7`), which is not allowed");
    await bot.idle();
    expect(await releaseCount()).toBe(before);
    expect(hookBodies).toEqual([]);
    expect(releaseMessageOf(bot, "v1.2.3+evil", "production")).toBeUndefined();
  });

  it("takes the live upstream version in any spelling to production, and the webhook gets the canonical text", async () => {
    expect(await command(USERS.engineer, "release v1.2.3 to production")).toMatch(/^Release #\d+: `1\.2\.3` to production is running its gates/);
    expect(await approve("1.2.3", "production")).toBe("Your approval completed the release; deploying `1.2.3` to production.");
    await waitForMessageState(bot, "1.2.3", "production", "live");
    expect(hookBodies.map((b) => b.version)).toEqual(["1.2.3"]);
    expect(await command(USERS.engineer, "release 1.2.3 to production")).toBe("`1.2.3` is already live on production.");
    expect(await command(USERS.engineer, "release log v1.2.3")).toContain("*Release #");
  });

  it("keeps a pre-release tag and compares the same text upstream", async () => {
    expect(await command(USERS.engineer, "release v1.3.0-RC.1 to production")).toBe(
      "production takes only a version that is live on staging first; staging has `1.2.3` live. Release `1.3.0-RC.1` to staging first.",
    );
    expect(await command(USERS.engineer, "release v1.3.0-rc.1")).toMatch(/^Release #\d+: `1\.3\.0-rc\.1` to staging/);
  });
});
