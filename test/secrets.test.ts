import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { desc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConfigError, parseConfig } from "../src/config/load.js";
import { approvals, freezes, jobRuns, releases, releaseTransitions } from "../src/db/schema.js";
import { childEnvironment } from "../src/exec/run.js";
import { displayUrl, REDACTED, Redactor } from "../src/redact.js";
import { BOT_TOKEN, SIGNING_SECRET, startTestBot, type TestBot } from "./support/bot.js";
import { CHANNELS, testConfig, testConfigYaml, USERS, workDir } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";
import { buttonsOf, releaseRow, waitForMessageState } from "./support/releases.js";

const ANTHROPIC_KEY = "sk-ant-test-4f9a2c7e1b";
const DB_PASSWORD = "db-pass-8c1e5d2a";
const DEPLOY_TOKEN = "deploy-token-3b7f0e9d";
const METRICS_PASSWORD = "metrics-pw-6a2d4c8e";
const QUERY_KEY = "query-key-5e1b7f3a";

/** Every value the bot holds that must never leave it (SPEC §2a). */
const SECRETS = { BOT_TOKEN, SIGNING_SECRET, ANTHROPIC_KEY, DB_PASSWORD, DEPLOY_TOKEN, METRICS_PASSWORD };

/** The bot's process environment, as an operator would set it; restored afterwards. */
const PROCESS_ENV = {
  SLACK_BOT_TOKEN: BOT_TOKEN,
  SLACK_SIGNING_SECRET: SIGNING_SECRET,
  ANTHROPIC_API_KEY: ANTHROPIC_KEY,
  DATABASE_URL: `postgres://orch:${DB_PASSWORD}@127.0.0.1:5432/orchestrator`,
  DEPLOY_TOKEN,
  METRICS_PASSWORD,
  KUBECONFIG: "/etc/orchestrator/kubeconfig-test",
  ORCH_UNLISTED: "unlisted-variable-value",
};

/** No secret leaves the bot: not to a child process, not to Slack, not into the audit trail or the log (issue 11, item 1). */
describe.each(dbKinds())("secrets on %s", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;
  let server: Server;
  const hookAuthorizations: string[] = [];
  const metricsAuthorizations: string[] = [];
  let metricsRequests = 0;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    for (const [name, value] of Object.entries(PROCESS_ENV)) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
    server = createServer((req, res) => {
      if (req.url?.startsWith("/hooks/deploy")) {
        // A CI that echoes what it was sent in its error, as many do.
        hookAuthorizations.push(req.headers.authorization ?? "");
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(`deploy refused: cluster unreachable (request had authorization "${req.headers.authorization ?? ""}")`);
        return;
      }
      metricsRequests += 1;
      metricsAuthorizations.push(req.headers.authorization ?? "");
      // The first release's model check finds the metrics endpoint down; later ones pass.
      if (metricsRequests === 1) {
        res.writeHead(503);
        res.end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"mape": 4.2}');
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const dir = workDir();
    // A script that finds credentials some other way (a dotfile, a mounted secret) and prints them.
    writeFileSync(
      join(dir, "leak.txt"),
      Object.entries(SECRETS)
        .map(([name, value]) => `found ${name.toLowerCase()}: ${value}`)
        .join("\n"),
    );
    db = await openTestDatabase(kind);
    const loaded = testConfig({
      dir,
      env: process.env,
      environments: `
  - name: staging
    approvals: 1
    deploy: { webhook: { url: "http://127.0.0.1:${port}/hooks/deploy", headers: { Authorization: "Bearer \${DEPLOY_TOKEN}" }, retries: 0 } }`,
      gates: `
  - name: Environment printed
    run: ["sh", "-c", "env; cat leak.txt; case \\"$1\\" in *-bad*) exit 1 ;; esac; echo fine", "gate", "{version}"]
  - name: Model accuracy
    http: { url: "http://metrics:\${METRICS_PASSWORD}@127.0.0.1:${port}/model.json?key=${QUERY_KEY}", expect: { mape: { max: 10 } } }`,
      extra: "exec:\n  env: [KUBECONFIG]",
    });
    expect(loaded.interpolated.sort()).toEqual([DEPLOY_TOKEN, METRICS_PASSWORD].sort());
    bot = await startTestBot({
      db,
      loaded,
      anthropic: { apiKey: ANTHROPIC_KEY, baseUrl: "http://127.0.0.1:9", model: "claude-test" },
      env: { databaseUrl: PROCESS_ENV.DATABASE_URL },
      start: { claude: { maxRetries: 0, timeoutMs: 500 } },
    });
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
    await new Promise((resolve) => server?.close(resolve));
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  const command = async (user: string, text: string) => {
    await bot.emulator.command(user, CHANNELS.general, text);
    await bot.idle();
    return bot.emulator.ephemeralsFor(user, CHANNELS.general).at(-1)?.text ?? "";
  };

  it("gives a gate only PATH, HOME, LANG, TZ and exec.env, and shows what it printed redacted", async () => {
    await command(USERS.engineer, "release 1.0.0-bad");
    const blocked = await waitForMessageState(bot, "1.0.0-bad", "staging", "blocked");
    const row = await releaseRow(db.database.db, "1.0.0-bad", "staging");
    const output = row?.gates.find((g) => g.name === "Environment printed")?.output ?? "";
    const names = output
      .split("\n")
      .map((line) => /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(line)?.[1])
      .filter((name): name is string => name !== undefined);
    expect(names).toContain("PATH");
    expect(names).toContain("TZ");
    expect(output).toContain(`KUBECONFIG=${PROCESS_ENV.KUBECONFIG}`);
    expect(output).toContain("TZ=Asia/Bangkok");
    for (const name of names) expect(["PATH", "HOME", "LANG", "TZ", "KUBECONFIG", "PWD", "OLDPWD", "SHLVL", "_"]).toContain(name);
    expect(output).not.toContain("ORCH_UNLISTED");
    expect(output).not.toMatch(/SLACK_|ANTHROPIC_|DATABASE_URL/);
    // What the script found elsewhere is shown, but not the values.
    expect(output).toContain(`found deploy_token: ${REDACTED}`);
    expect(output).toContain(`found bot_token: ${REDACTED}`);
    const shown = JSON.stringify(blocked.blocks);
    expect(shown).toContain(`found signing_secret: ${REDACTED}`);
    // The model gate's URL is shown without its credentials and query string.
    expect(row?.gates.find((g) => g.name === "Model accuracy")?.detail).toBe(`HTTP 503 from http://127.0.0.1:${(server.address() as AddressInfo).port}/model.json`);
    // Credentials in the URL reach the server as Basic authorization (fetch refuses them in the URL).
    expect(metricsAuthorizations).toEqual([`Basic ${Buffer.from(`metrics:${METRICS_PASSWORD}`).toString("base64")}`]);
  });

  it("sends the webhook its real token, and redacts the token the CI echoed back in the failure alert", async () => {
    await command(USERS.engineer, "release 1.0.1");
    const awaiting = await waitForMessageState(bot, "1.0.1", "staging", "awaiting approval");
    expect(buttonsOf(awaiting)).toContain("release_approve");
    await bot.emulator.click(USERS.approver1, { channel: CHANNELS.releases, ts: awaiting.ts }, "release_approve");
    await waitForMessageState(bot, "1.0.1", "staging", "failed");
    await bot.idle();
    expect(hookAuthorizations).toEqual([`Bearer ${DEPLOY_TOKEN}`]);
    const alert = bot.emulator.workspace.history(CHANNELS.alerts).at(-1);
    expect(JSON.stringify(alert?.blocks)).toContain(`request had authorization \\"Bearer ${REDACTED}\\"`);
  });

  it("redacts a secret typed into a command, in the acknowledgement and in response_url answers", async () => {
    expect(await command(USERS.engineer, `release ${DEPLOY_TOKEN}`)).toContain(`\`${REDACTED}\` is not a version`);
    await command(USERS.admin, `feedback add the CI token ${DEPLOY_TOKEN} is in the runbook`);
    expect(await command(USERS.admin, "feedback list")).toContain(`the CI token ${REDACTED} is in the runbook`);
  });

  it("stores a secret typed into a reason redacted: a freeze's and an emergency release's", async () => {
    expect(await command(USERS.admin, `freeze staging for 2h the CI token ${DEPLOY_TOKEN} leaked`)).toContain("staging");
    await command(USERS.engineer, `release 7.7.7 to staging --emergency rotate ${DEPLOY_TOKEN} now`);
    const [freeze] = await db.database.db.select().from(freezes).orderBy(desc(freezes.id)).limit(1);
    const [release] = await db.database.db.select().from(releases).where(eq(releases.version, "7.7.7"));
    expect(freeze?.reason).toBe(`the CI token ${REDACTED} leaked`);
    expect(release?.emergency).toBe(`rotate ${REDACTED} now`);
    await command(USERS.admin, "unfreeze staging");
  });

  it("redacts what any part of the bot logs, however it got the secret", async () => {
    const before = bot.logs.length;
    // As a failure deep in a library would be logged: a message, an error, a URL with a token in it.
    bot.orchestrator.services.log
      .child({ webhook: `https://ci.example.org/hooks?token=${DEPLOY_TOKEN}` })
      .error(`webhook refused ${DEPLOY_TOKEN}`, { error: new Error(`401 for Bearer ${DEPLOY_TOKEN}`), key: ANTHROPIC_KEY });
    const lines = JSON.stringify(bot.logs.slice(before));
    expect(lines).not.toContain(DEPLOY_TOKEN);
    expect(lines).not.toContain(ANTHROPIC_KEY);
    expect(bot.logs.at(-1)).toMatchObject({
      msg: `webhook refused ${REDACTED}`,
      webhook: `https://ci.example.org/hooks?token=${REDACTED}`,
      key: REDACTED,
      error: { message: `401 for Bearer ${REDACTED}` },
    });
  });

  it("has no secret in any Slack call, response_url body, acknowledgement, audit row or log line", async () => {
    await bot.idle();
    const places: Record<string, string> = {
      "Slack Web API calls": JSON.stringify(bot.emulator.calls),
      "response_url bodies": JSON.stringify(bot.emulator.responses),
      "what people see": JSON.stringify([bot.emulator.workspace.ephemerals, ...Object.values(CHANNELS).map((c) => bot.emulator.workspace.history(c))]),
      "audit trail": JSON.stringify([
        await db.database.db.select().from(releases),
        await db.database.db.select().from(releaseTransitions),
        await db.database.db.select().from(approvals),
        await db.database.db.select().from(jobRuns),
        await db.database.db.select().from(freezes),
      ]),
      log: JSON.stringify(bot.logs),
    };
    expect(bot.emulator.calls.filter((c) => c.method === "chat.postMessage" || c.method === "chat.update").length).toBeGreaterThan(3);
    expect(bot.emulator.responses.length).toBeGreaterThan(0);
    for (const [where, text] of Object.entries(places)) {
      for (const [name, value] of Object.entries(SECRETS)) expect(text.includes(value), `${name} found in ${where}`).toBe(false);
      expect(text.includes(QUERY_KEY), `the gate URL's query string found in ${where}`).toBe(false);
    }
    expect(places.log).toContain(REDACTED);
  });
});

describe("the child environment and the redactor", () => {
  it("passes PATH, HOME, LANG, TZ and listed names only, never the bot's secrets", () => {
    const source = { PATH: "/bin", HOME: "/home/orch", LANG: "C.UTF-8", KUBECONFIG: "/k", OTHER: "x", SLACK_BOT_TOKEN: "xoxb-1", DATABASE_URL: "postgres://a:b@c/d" };
    expect(childEnvironment(["KUBECONFIG", "MISSING"], "Asia/Bangkok", source)).toEqual({ PATH: "/bin", HOME: "/home/orch", LANG: "C.UTF-8", TZ: "Asia/Bangkok", KUBECONFIG: "/k" });
    expect(childEnvironment([], "UTC", { ...source, TZ: "Europe/Berlin" }).TZ).toBe("Europe/Berlin");
  });

  it("refuses a config whose exec.env names the bot's own secrets", () => {
    const yaml = testConfigYaml({ extra: "exec:\n  env: [KUBECONFIG, SLACK_BOT_TOKEN, ANTHROPIC_API_KEY, DATABASE_URL, not a name]" });
    let problems: string[] = [];
    try {
      parseConfig(yaml, "orchestrator.yaml", {});
    } catch (error) {
      problems = (error as ConfigError).problems;
    }
    expect(problems).toEqual([
      "exec.env[1]: SLACK_BOT_TOKEN is one of Orchestrator's own secrets and is never passed to commands",
      "exec.env[2]: ANTHROPIC_API_KEY is one of Orchestrator's own secrets and is never passed to commands",
      "exec.env[3]: DATABASE_URL is one of Orchestrator's own secrets and is never passed to commands",
      "exec.env[4]: expected an environment variable name like KUBECONFIG",
    ]);
  });

  it("does not quote an interpolated value in a config error", () => {
    const yaml = testConfigYaml({ extra: "exec:\n  env: ${DEPLOY_TOKEN}" });
    expect(() => parseConfig(yaml, "orchestrator.yaml", { DEPLOY_TOKEN })).toThrow(`exec.env: expected a list, got string "${REDACTED}"`);
  });

  it("finds a secret in its JSON and URL spellings, ignores values too short to tell apart, and strips URLs", () => {
    const redactor = new Redactor(['pa"ss/word+1', "8080"]);
    expect(redactor.text('port 8080, {"p":"pa\\"ss/word+1"}, ?p=pa%22ss%2Fword%2B1')).toBe(`port 8080, {"p":"${REDACTED}"}, ?p=${REDACTED}`);
    expect(redactor.deep({ a: ['pa"ss/word+1'], n: 1 })).toEqual({ a: [REDACTED], n: 1 });
    expect(displayUrl("https://user:pw@ci.example.org:8443/hooks/deploy?token=abc#x")).toBe("https://ci.example.org:8443/hooks/deploy");
  });
});
