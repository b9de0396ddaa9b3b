import { spawn } from "node:child_process";
import { connect } from "node:net";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { platform, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Database, inTransaction, openDatabase, queryRows } from "../src/db/client.js";
import { feedback } from "../src/db/schema.js";
import { serveEmulator } from "../src/emulator/server.js";
import { BOT_TOKEN, SIGNING_SECRET, testEmulator } from "./support/bot.js";
import { CHANNELS, testConfig, USERS } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";
import { copyOfTemplate } from "./support/pglite-template.js";
import { spawnBot } from "./support/process.js";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The inodes of the TCP sockets in LISTEN state on this machine (Linux /proc). */
function tcpListenInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === "0A" && fields[9]) inodes.add(fields[9]);
    }
  }
  return inodes;
}

function socketInodes(pid: number): string[] {
  const inodes: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1]) inodes.push(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

describe("embedded PGlite serves the bot only", () => {
  let test: TestDatabase;
  let database: Database;

  beforeAll(async () => {
    test = await openTestDatabase("pglite");
    database = test.database;
    expect(await database.ping()).toBe(true);
  });
  afterAll(async () => {
    await test?.close();
  });

  it("runs in a process of its own, listening on a Unix socket in a folder only this user may enter", () => {
    const embedded = database.embedded;
    expect(embedded).toBeDefined();
    expect(embedded!.pid).not.toBe(process.pid);
    expect(alive(embedded!.pid)).toBe(true);
    const folder = statSync(dirname(embedded!.socketPath));
    expect(folder.mode & 0o777).toBe(0o700);
    expect(folder.uid).toBe(process.getuid?.());
    expect(statSync(embedded!.socketPath).isSocket()).toBe(true);
  });

  it.runIf(platform() === "linux")("has no TCP port open for anyone to reach", () => {
    const listening = tcpListenInodes();
    const inodes = socketInodes(database.embedded!.pid);
    expect(inodes.length).toBeGreaterThan(0);
    expect(inodes.filter((inode) => listening.has(inode))).toEqual([]);
  });

  it.runIf(process.getuid?.() === 0)("refuses a client running as another user", async () => {
    const probe = `require("net").connect(${JSON.stringify(database.embedded!.socketPath)})
      .on("connect", () => { console.log("connected"); process.exit(0); })
      .on("error", (e) => { console.log(e.code); process.exit(0); });`;
    const child = spawn(process.execPath, ["-e", probe], { uid: 65534, gid: 65534, env: {}, cwd: "/", stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    await new Promise((resolve) => child.on("exit", resolve));
    expect(output.trim()).toBe("EACCES");
  });

  it("refuses a second client of this same user while the bot is connected, and the bot carries on", async () => {
    const intruder = postgres({ path: database.embedded!.socketPath, user: "postgres", database: "postgres", max: 1, connect_timeout: 3, onnotice: () => {} });
    try {
      await expect(intruder`select count(*) from feedback`).rejects.toThrow();
    } finally {
      await intruder.end({ timeout: 1 }).catch(() => undefined);
    }
    expect(await database.ping()).toBe(true);
  });

  it("starts its database process again when it dies, on the same socket, with the data kept", async () => {
    await database.db
      .insert(feedback)
      .values({ channel: CHANNELS.helpdesk, ts: "1.000042", author: USERS.stakeholder, text: "kept across a crash", source: "PEA Help Desk", kind: "bug", priority: "high", capturedBy: "message" });
    const crashed = database.embedded!.pid;
    process.kill(crashed, "SIGKILL");
    await until(() => !alive(crashed), 10_000, "the killed process to end");
    expect(await database.ping(500)).toBe(false);
    await until(() => database.embedded!.pid !== crashed, 60_000, "a new database process");
    let up = false;
    for (let i = 0; i < 120 && !up; i += 1) up = await database.ping(1000);
    expect(up).toBe(true);
    const rows = await database.db.select({ text: feedback.text }).from(feedback).where(sql`${feedback.ts} = '1.000042'`);
    expect(rows).toEqual([{ text: "kept across a crash" }]);
  }, 120_000);
});

describe.each(dbKinds())("advisory locks on %s", (kind) => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await openTestDatabase(kind);
  });
  afterAll(async () => {
    await test?.close();
  });

  it("exclude: transactions holding one advisory lock never overlap, and none of their writes is lost", async () => {
    const { db } = test.database;
    await db.execute(sql`create table lock_probe (n int not null)`);
    await db.execute(sql`insert into lock_probe values (0)`);
    const spans: Array<{ from: number; to: number }> = [];
    await Promise.all(
      [1, 2, 3, 4].map(() =>
        inTransaction(db, async (tx) => {
          await tx.execute(sql`select pg_advisory_xact_lock(4242, 1)`);
          const from = performance.now();
          const [row] = await queryRows<{ n: number }>(tx, sql`select n from lock_probe`);
          await tx.execute(sql`select pg_sleep(0.15)`);
          await tx.execute(sql`update lock_probe set n = ${(row?.n ?? 0) + 1}`);
          spans.push({ from, to: performance.now() });
        }),
      ),
    );
    const [final] = await queryRows<{ n: number }>(db, sql`select n from lock_probe`);
    expect(final?.n).toBe(4);
    spans.sort((a, b) => a.from - b.from);
    for (let i = 1; i < spans.length; i += 1) expect(spans[i]!.from).toBeGreaterThanOrEqual(spans[i - 1]!.to);
  });
});

describe("kill -9 during feedback ingestion, then a restart", () => {
  const emulator = testEmulator();
  let served: Awaited<ReturnType<typeof serveEmulator>>;
  const folders: string[] = [];

  beforeAll(async () => {
    served = await serveEmulator(emulator);
  });
  afterAll(async () => {
    await served?.close();
    for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  });

  /**
   * Starts the bot on a DATA_DIR, sends feedback messages in bursts until `acked` of them were
   * acknowledged, then kills the bot (and with `alsoDatabase` its database process) with SIGKILL.
   * Returns the folder and the messages Slack saw acknowledged.
   */
  async function killDuringIngestion(acked: number, alsoDatabase: boolean) {
    const dataDir = mkdtempSync(join(tmpdir(), "orch-kill-"));
    folders.push(dataDir);
    copyOfTemplate(inject("pgliteTemplate"), dataDir);
    const loaded = testConfig();
    const env = { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: `${served.url}/api/`, DATA_DIR: dataDir, ORCH_CONFIG: loaded.path };
    const bot = await spawnBot(env, 90_000);
    const pidLine = /embedded PGlite in .* \(process (\d+)\)/;
    await until(() => pidLine.test(bot.output()), 10_000, "the start-up line");
    const databasePid = Number(pidLine.exec(bot.output())?.[1]);
    expect(alive(databasePid)).toBe(true);
    emulator.setRequestUrl(`${bot.url}/slack/events`);
    const deliveredBefore = emulator.deliveries.length;
    const ackedTs = () =>
      emulator.deliveries
        .slice(deliveredBefore)
        .filter((d) => d.kind === "event" && d.status === 200)
        .map((d) => (JSON.parse(d.body) as { event: { ts: string } }).event.ts);
    let sent = 0;
    const sendBatch = () => {
      for (let i = 0; i < 20; i += 1) {
        sent += 1;
        void emulator.message(USERS.stakeholder, CHANNELS.helpdesk, `Feedback ${sent}: the solar forecast for feeder ${sent % 13} lags`);
      }
    };
    while (ackedTs().length < acked) {
      sendBatch();
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    // One more batch without waiting, so writes are surely in flight at the kill (a fast bot may have acknowledged every earlier one).
    sendBatch();
    // Writes are in flight now: messages sent and not yet acknowledged.
    expect(sent).toBeGreaterThan(ackedTs().length);
    if (alsoDatabase) process.kill(databasePid, "SIGKILL");
    bot.child.kill("SIGKILL");
    const seen = ackedTs();
    await bot.exited;
    // Killed or not, it is gone before anything opens the folder again: a bot's database process ends
    // by itself when the bot does (its IPC channel closed), closing PGlite cleanly.
    await until(() => !alive(databasePid), 30_000, "the database process to end");
    return { dataDir, env, seen: [...new Set(seen)] };
  }

  async function expectAllThere(dataDir: string, seen: string[]): Promise<void> {
    const reopened = await openDatabase({ dataDir });
    try {
      const rows = await queryRows<{ ts: string; n: number }>(reopened.db, sql`select ts, count(*)::int as n from feedback where channel = ${CHANNELS.helpdesk} group by ts`);
      const stored = new Map(rows.map((r) => [r.ts, r.n]));
      expect(seen.filter((ts) => !stored.has(ts))).toEqual([]);
      expect(rows.filter((r) => r.n > 1)).toEqual([]);
    } finally {
      await reopened.close();
    }
  }

  it("keeps every acknowledged row when the bot is killed (its database process then closes cleanly)", async () => {
    const { dataDir, env, seen } = await killDuringIngestion(150, false);
    expect(seen.length).toBeGreaterThanOrEqual(150);
    await expectAllThere(dataDir, seen);
    // And the bot starts again on that folder.
    const again = await spawnBot(env, 90_000);
    expect((await fetch(`${again.url}/healthz`)).status).toBe(200);
    expect(await again.stop()).toBe(0);
  }, 240_000);

  it("keeps every acknowledged row when the bot and its database process are both killed mid-write", async () => {
    const socketFolders = () => new Set(readdirSync(tmpdir()).filter((name) => name.startsWith("orch-db-")));
    const before = socketFolders();
    const { dataDir, seen } = await killDuringIngestion(150, true);
    expect(seen.length).toBeGreaterThanOrEqual(150);
    await expectAllThere(dataDir, seen);
    // With both killed, nobody removed the socket's folder: this test's is the new one whose socket nobody serves.
    for (const name of socketFolders()) {
      if (before.has(name)) continue;
      const socket = join(tmpdir(), name, ".s.PGSQL.5432");
      const served = await new Promise<boolean>((resolve) => {
        const probe = connect(socket);
        probe.once("connect", () => {
          probe.destroy();
          resolve(true);
        });
        probe.once("error", () => resolve(false));
      });
      if (!served) rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }, 240_000);
});
