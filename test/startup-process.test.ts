import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { StartupError, startOrchestrator } from "../src/app.js";
import { DataDirInUseError, LOCK_FILE, lockDataDir } from "../src/db/lock.js";
import { resetSandbox } from "../src/sandbox/reset.js";
import { WORKSPACE_FILE } from "../src/sandbox/persist.js";
import { eventually } from "./support/bot.js";
import { testConfig, workDir } from "./support/config.js";
import { openTestDatabase } from "./support/db.js";
import { type BotProcess, freePort, spawnBot } from "./support/process.js";

const ROOT = resolve(import.meta.dirname, "..");

interface Started {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function start(command: string, args: string[], env: Record<string, string>): Started {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolveExit) => child.on("exit", (code) => resolveExit(code)));
  return { child, output: () => output, exited };
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A pid that belonged to a process that has ended. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((r) => child.on("exit", r));
  return child.pid ?? 999_999;
}

const cleanup: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const fn of cleanup) await fn().catch(() => undefined);
});

describe("one process per embedded data folder", () => {
  it("a second process on the same DATA_DIR exits 1 naming the process that holds it", async () => {
    const dir = workDir();
    const first: BotProcess = await spawnBot({ DATA_DIR: dir });
    cleanup.push(() => first.stop());
    const second = start(process.execPath, ["--import", "tsx", "src/main.ts"], { DATA_DIR: dir, PORT: String(await freePort()) });
    expect(await second.exited).toBe(1);
    expect(second.output().trim().split("\n").at(-1)).toBe(`\`${dir}\` is in use by process ${first.child.pid}; stop it or set DATA_DIR`);
    // The first one is unaffected, and once it stops the folder is free again.
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    expect(await first.stop()).toBe(0);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  }, 60_000);

  it("takes over a lock whose process is gone, and refuses one whose process runs", async () => {
    const dir = workDir();
    writeFileSync(join(dir, LOCK_FILE), `${await deadPid()}\n`);
    const lock = lockDataDir(dir);
    expect(readFileSync(join(dir, LOCK_FILE), "utf8").trim()).toBe(String(process.pid));
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);

    const sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
    cleanup.push(async () => sleeper.kill("SIGKILL"));
    writeFileSync(join(dir, LOCK_FILE), `${sleeper.pid}\n`);
    const error = (() => {
      try {
        lockDataDir(dir);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(DataDirInUseError);
    expect((error as Error).message).toBe(`\`${dir}\` is in use by process ${sleeper.pid}; stop it or set DATA_DIR`);
    sleeper.kill("SIGKILL");
    await eventually(() => expect(running(sleeper.pid ?? 0)).toBe(false));
    lockDataDir(dir).release();
  });
});

describe("npm start", () => {
  it("prints one line per start-up step, and SIGTERM to the npm process stops the bot within the grace period", async () => {
    const dir = workDir();
    const port = await freePort();
    const npm = start("npm", ["start", "--silent"], { DATA_DIR: dir, PORT: String(port), SHUTDOWN_GRACE_SECONDS: "5" });
    cleanup.push(async () => npm.child.kill("SIGKILL"));
    await eventually(() => expect(npm.output()).toContain("Orchestrator is running in sandbox mode"), 60_000, 100);
    const steps = npm
      .output()
      .split("\n")
      .filter((line) => line && !line.startsWith("{"));
    expect(steps.slice(0, 4)).toEqual([
      "Building Orchestrator into dist/…",
      `Creating the embedded database in ${join(dir, "pgdata")}…`,
      "Migrating the database schema…",
      `Orchestrator is running in sandbox mode (built-in Slack emulator) — open http://localhost:${port}/`,
    ]);
    const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { replica: string };
    const botPid = Number(/-(\d+)-[0-9a-f]{4}$/.exec(health.replica)?.[1]);
    expect(running(botPid)).toBe(true);

    const signalled = Date.now();
    npm.child.kill("SIGTERM");
    expect(await npm.exited).toBe(0);
    await eventually(() => expect(running(botPid)).toBe(false), 7_000);
    // What the bot logged while stopping says which work held it up, should it be slow.
    expect(Date.now() - signalled, npm.output().slice(-4000)).toBeLessThan(7_000);
    expect(npm.output()).toContain('"msg":"orchestrator stopped"');
    // It stopped cleanly: the folder is free for the next start.
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  }, 90_000);
});

describe("start-up with a bot token but no reachable Slack", () => {
  it("says it cannot reach Slack's Web API at once, not after a run of bare fetch failures", async () => {
    const apiUrl = `http://127.0.0.1:${await freePort()}/api/`;
    const bot = start(process.execPath, ["--import", "tsx", "src/main.ts"], {
      SLACK_BOT_TOKEN: "xoxb-1",
      SLACK_SIGNING_SECRET: "secret",
      SLACK_API_URL: apiUrl,
      DATA_DIR: workDir(),
      PORT: String(await freePort()),
    });
    cleanup.push(async () => bot.child.kill("SIGKILL"));
    await eventually(() => expect(bot.output()).toContain(`cannot reach Slack's Web API at ${apiUrl} (ECONNREFUSED); trying again for 30 s…`), 30_000, 50);
    const before = bot.output().slice(0, bot.output().indexOf("cannot reach"));
    expect(before).not.toContain("fetch failed");
    bot.child.kill("SIGKILL");
    await bot.exited;
  }, 40_000);
});

describe("start-up that never reaches Slack", () => {
  it("stops with a sentence naming the URL after its retries, having said so once at the first failure", async () => {
    const db = await openTestDatabase("pglite");
    cleanup.push(() => db.close());
    const loaded = testConfig();
    const apiUrl = `http://127.0.0.1:${await freePort()}/api/`;
    const said: string[] = [];
    const starting = startOrchestrator({
      env: {
        mode: { kind: "http", botToken: "xoxb-1", signingSecret: "s", apiUrl },
        port: 0,
        dataDir: "",
        configPath: loaded.path,
        anthropic: { model: "x" },
        logLevel: "error",
        shutdownGraceMs: 1000,
      },
      loaded,
      database: db.database,
      host: "127.0.0.1",
      progress: (line) => said.push(line),
      slackConnectRetriesMs: [20, 20],
    });
    await expect(starting).rejects.toThrow(new StartupError(`cannot reach Slack's Web API at ${apiUrl} (ECONNREFUSED): check SLACK_API_URL and the network`));
    expect(said).toEqual([`cannot reach Slack's Web API at ${apiUrl} (ECONNREFUSED); trying again for 0 s…`]);
  });
});

describe("npm run sandbox:reset", () => {
  it("removes the sandbox's workspace and database, refuses while a bot runs, and leaves a non-sandbox folder alone", async () => {
    const dir = workDir();
    mkdirSync(join(dir, "pgdata"));
    expect(resetSandbox(dir, false)).toMatchObject({ ok: false, message: expect.stringContaining("holds no sandbox workspace") });
    expect(existsSync(join(dir, "pgdata"))).toBe(true);

    writeFileSync(join(dir, WORKSPACE_FILE), "{}");
    const sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
    cleanup.push(async () => sleeper.kill("SIGKILL"));
    writeFileSync(join(dir, LOCK_FILE), `${sleeper.pid}\n`);
    expect(resetSandbox(dir, false)).toEqual({ ok: false, message: `\`${dir}\` is in use by process ${sleeper.pid}; stop it first` });
    sleeper.kill("SIGKILL");
    await eventually(() => expect(running(sleeper.pid ?? 0)).toBe(false));

    const reset = start("npm", ["run", "--silent", "sandbox:reset"], { DATA_DIR: dir });
    expect(await reset.exited).toBe(0);
    expect(reset.output()).toContain(`Sandbox reset: removed its workspace and its embedded database from \`${dir}\``);
    expect(existsSync(join(dir, WORKSPACE_FILE))).toBe(false);
    expect(existsSync(join(dir, "pgdata"))).toBe(false);
  }, 30_000);
});
