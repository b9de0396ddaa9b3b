import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../src/db/client.js";
import { serveEmulator } from "../src/emulator/server.js";
import { startTestBot, type TestBot, testEmulator, TRANSPORTS } from "./support/bot.js";
import { CHANNELS, testConfig, USERS, workDir } from "./support/config.js";
import { createPostgresDatabase, dropPostgresDatabase } from "./support/db.js";
import { deploysIn, releaseMessageOf, releaseRow, transitionsOf, waitForMessageState } from "./support/releases.js";

/** Three replicas, each with its own connection pool, on one PostgreSQL database behind one Slack workspace. */
describe.runIf(process.env.TEST_DATABASE_URL).each(TRANSPORTS)("three replicas on one PostgreSQL over %s", (transport) => {
  let url: string;
  const databases: Database[] = [];
  const bots: TestBot[] = [];
  let closeEmulator: () => Promise<void>;
  const dir = workDir();

  beforeAll(async () => {
    url = await createPostgresDatabase();
    const emulator = testEmulator(transport);
    const served = await serveEmulator(emulator);
    closeEmulator = served.close;
    const loaded = testConfig({ dir });
    for (const replica of ["replica-a", "replica-b", "replica-c"]) {
      const database = await openDatabase({ databaseUrl: url, poolSize: 4 });
      databases.push(database);
      bots.push(await startTestBot({ db: { database, close: async () => {} }, loaded, emulator: { emulator, url: served.url }, replicaId: replica, transport }));
    }
    // Slack's requests reach the replicas in turn, as through a load balancer; over Socket Mode each envelope goes to one of their connections.
    if (transport === "http") emulator.setRequestUrl(bots.map((b) => `${b.orchestrator.url}/slack/events`));
  });

  afterAll(async () => {
    for (const bot of bots) await bot.stop();
    for (const database of databases) await database.close();
    await closeEmulator?.();
    if (url) await dropPostgresDatabase(url);
  });

  const idle = async () => {
    for (const bot of bots) await bot.idle();
  };

  const clickTogether = async (version: string, env: string, users: string[]) => {
    const message = releaseMessageOf(bots[0]!, version, env);
    if (!message) throw new Error("no release message");
    const blocks = structuredClone(message.blocks ?? []);
    await Promise.all(users.map((user) => bots[0]!.emulator.click(user, { channel: CHANNELS.releases, ts: message.ts }, "release_approve", blocks)));
    await idle();
  };

  it("deploys exactly once when three approvers click at the same moment on three replicas", async () => {
    const emulator = bots[0]!.emulator;
    await emulator.command(USERS.engineer, CHANNELS.general, "release 4.0.0");
    await idle();
    await waitForMessageState(bots[0]!, "4.0.0", "staging", "awaiting approval");
    await clickTogether("4.0.0", "staging", [USERS.approver1, USERS.approver2, USERS.approver3]);
    await waitForMessageState(bots[0]!, "4.0.0", "staging", "live");
    expect(deploysIn(dir)).toEqual(["staging 4.0.0"]);

    await emulator.command(USERS.engineer, CHANNELS.general, "release 4.0.0 to production");
    await idle();
    await waitForMessageState(bots[0]!, "4.0.0", "production", "awaiting approval");
    await clickTogether("4.0.0", "production", [USERS.approver1, USERS.approver2, USERS.approver3]);
    await waitForMessageState(bots[0]!, "4.0.0", "production", "live");
    expect(deploysIn(dir)).toEqual(["staging 4.0.0", "production 4.0.0"]);

    const production = await releaseRow(databases[0]!.db, "4.0.0", "production");
    const moves = (await transitionsOf(databases[0]!.db, production!.id)).filter((t) => t.toState === "deploying");
    expect(moves).toHaveLength(1);
    const counted = await databases[0]!.db.execute(sql`select count(*)::int as n from approvals where release_id = ${production!.id}`);
    // Two approvals were needed; the third click arrived after the release had moved on and was refused.
    expect((counted as unknown as Array<{ n: number }>)[0]?.n).toBe(2);
  });

  it("starts a version once when three replicas get the same request at the same moment", async () => {
    const emulator = bots[0]!.emulator;
    await Promise.all([USERS.engineer, USERS.admin, USERS.stakeholder].map((user) => emulator.command(user, CHANNELS.general, "release 4.1.0")));
    await idle();
    const rows = await databases[1]!.db.execute(sql`select count(*)::int as n from releases where semver = '4.1.0'`);
    expect((rows as unknown as Array<{ n: number }>)[0]?.n).toBe(1);
    const refusals = [USERS.engineer, USERS.admin, USERS.stakeholder].map((u) => emulator.ephemeralsFor(u, CHANNELS.general).at(-1)?.text ?? "");
    expect(refusals.filter((t) => t.startsWith("`4.1.0` is already in flight to staging"))).toHaveLength(2);
  });
});
