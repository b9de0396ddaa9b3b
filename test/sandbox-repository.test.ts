import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startOrchestrator } from "../src/app.js";
import { createLog } from "../src/log.js";
import { CHANNELS, testConfig, USERS, workDir } from "./support/config.js";
import { openTestDatabase, type TestDatabase } from "./support/db.js";

describe("the sandbox's demo repository", () => {
  const dir = workDir();
  const repoPath = join(dir, "data", "forecast-platform");
  const loaded = testConfig({
    dir,
    extra: `repository: { path: ./data/forecast-platform, tag: "v{version}", url: "https://git.example.org/pea/forecast" }
sandbox:
  users:
    ${USERS.engineer}: { name: Arthit Wongsa }
    ${USERS.approver1}: { name: Somchai Prasert }`,
  });
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    for (const db of databases) await db.close();
  });

  const start = async () => {
    const db = await openTestDatabase("pglite");
    databases.push(db);
    return startOrchestrator({
      env: { mode: { kind: "sandbox", transport: "http" }, port: 0, dataDir: "", configPath: loaded.path, anthropic: { model: "x" }, logLevel: "warn", shutdownGraceMs: 2000 },
      loaded,
      log: createLog("error"),
      database: db.database,
      host: "127.0.0.1",
      postSpacingMs: 0,
      reactionSpacingMs: 0,
      slackRetries: 1,
      shutdownGraceMs: 2000,
    });
  };
  const git = (...args: string[]) => execFileSync("git", args, { cwd: repoPath, encoding: "utf8" }).trim();

  it("is created once with tagged commits, and the approval message lists them", async () => {
    const first = await start();
    let stopped = false;
    try {
      expect(git("tag", "--list").split("\n")).toEqual(["v1.3.0", "v1.4.0", "v1.4.1"]);
      expect(Number(git("rev-list", "--count", "v1.4.0"))).toBe(8);
      const head = git("rev-parse", "HEAD");
      const emulator = first.emulator!;
      await emulator.command(USERS.engineer, CHANNELS.general, "release 1.4.0");
      await expect
        .poll(() => JSON.stringify(emulator.workspace.history(CHANNELS.releases).at(-1)?.blocks ?? []), { timeout: 15_000 })
        .toContain("*Commits* (up to v1.4.0 (first release here)) — 8 commits by Arthit Wongsa (4), Niran Chaiyaporn (2), Ploy Srisuk (1), Somchai Prasert (1)");
      await first.stop();
      stopped = true;
      const second = await start();
      await second.stop();
      expect(git("rev-parse", "HEAD")).toBe(head);
    } finally {
      if (!stopped) await first.stop();
    }
  });
});
