import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { healthChecks } from "../src/db/schema.js";
import { startTestBot, type TestBot } from "./support/bot.js";
import { CHANNELS, FIXTURES, testConfig, USERS, workDir } from "./support/config.js";
import { openTestDatabase, type TestDatabase } from "./support/db.js";

describe("/orch health", () => {
  let db: TestDatabase;
  let bot: TestBot;
  let server: Server;
  let productionUp = false;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const ok = req.url === "/staging" || productionUp;
      res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: ok ? "ok" : "down" }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dir = workDir();
    db = await openTestDatabase("pglite");
    bot = await startTestBot({
      db,
      loaded: testConfig({
        dir,
        environments: `
  - name: staging
    approvals: 1
    deploy: { run: ["${FIXTURES}/deploy.sh", "${dir}", "{environment}", "{version}"] }
    health: { url: "${base}/staging", maxLatencyMs: 2000 }
  - name: production
    approvals: 2
    after: staging
    deploy: { run: ["${FIXTURES}/deploy.sh", "${dir}", "{environment}", "{version}"] }
    health: { url: "${base}/production", maxLatencyMs: 2000 }
  - name: dr-site
    approvals: 1
    deploy: { run: ["${FIXTURES}/deploy.sh", "${dir}", "{environment}", "{version}"] }`,
      }),
    });
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const ask = async (text: string) => {
    await bot.emulator.command(USERS.stakeholder, CHANNELS.general, text);
    await bot.idle();
    return bot.emulator.ephemeralsFor(USERS.stakeholder, CHANNELS.general).at(-1)?.text ?? "";
  };

  it("checks every environment now, records the results and alerts on a change", async () => {
    const reply = await ask("health");
    expect(reply).toMatch(/^:large_green_circle: \*staging\*: healthy — HTTP 200 in \d+ ms\n:red_circle: \*production\*: failing — HTTP 503 in \d+ ms\n• \*dr-site\*: no health URL configured$/);
    expect((await db.database.db.select().from(healthChecks)).map((c) => [c.environment, c.ok])).toEqual([
      ["staging", true],
      ["production", false],
    ]);
    expect(bot.emulator.workspace.history(CHANNELS.alerts).map((m) => m.text)).toEqual([expect.stringContaining(":red_circle: *production* is failing: HTTP 503")]);
  });

  it("checks one environment, alerts on its recovery, and refuses an unknown one", async () => {
    productionUp = true;
    expect(await ask("health production")).toMatch(/^:large_green_circle: \*production\*: healthy — HTTP 200 in \d+ ms$/);
    expect(bot.emulator.workspace.history(CHANNELS.alerts).at(-1)?.text).toContain(":large_green_circle: *production* recovered");
    expect(await ask("health prod")).toContain("`prod` is not an environment: use `staging` or `production` or `dr-site`");
  });
});
