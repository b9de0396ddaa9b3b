import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EnvError, readEnv } from "../src/env.js";
import { workDir } from "./support/config.js";

function run(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PORT: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let stdout = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

describe("Slack mode from the environment", () => {
  it("chooses sandbox, HTTP and Socket Mode", () => {
    expect(readEnv({}).mode).toEqual({ kind: "sandbox", transport: "http" });
    expect(readEnv({ SLACK_BOT_TOKEN: "xoxb-1", SLACK_SIGNING_SECRET: "s" }).mode).toMatchObject({ kind: "http" });
    expect(readEnv({ SLACK_BOT_TOKEN: "xoxb-1", SLACK_APP_TOKEN: "xapp-1" }).mode).toMatchObject({ kind: "socket" });
  });

  it("runs the sandbox over signed HTTP unless SANDBOX_TRANSPORT=socket", () => {
    expect(readEnv({ SANDBOX_TRANSPORT: "socket" }).mode).toEqual({ kind: "sandbox", transport: "socket" });
    expect(readEnv({ SANDBOX_TRANSPORT: "http" }).mode).toEqual({ kind: "sandbox", transport: "http" });
    expect(() => readEnv({ SANDBOX_TRANSPORT: "websocket" })).toThrow("SANDBOX_TRANSPORT: expected http or socket");
  });

  it("names what is missing from a partial set", () => {
    expect(() => readEnv({ SLACK_SIGNING_SECRET: "s" })).toThrow(/^SLACK_BOT_TOKEN is missing: SLACK_SIGNING_SECRET is set/);
    expect(() => readEnv({ SLACK_BOT_TOKEN: "xoxb-1" })).toThrow(/^SLACK_SIGNING_SECRET or SLACK_APP_TOKEN is missing/);
    expect(() => readEnv({ SLACK_APP_TOKEN: "xapp-1" })).toThrow(EnvError);
    expect(() => readEnv({ PORT: "eighty" })).toThrow('PORT: expected a port number, got "eighty"');
    expect(() => readEnv({ LOG_LEVEL: "loud" })).toThrow(/LOG_LEVEL: expected one of debug, info, warn, error/);
  });
});

describe("start-up failures exit 1 with a readable message", () => {
  it("a missing Slack variable", async () => {
    const result = await run({ SLACK_BOT_TOKEN: "xoxb-123" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("SLACK_SIGNING_SECRET or SLACK_APP_TOKEN is missing");
  });

  it("an invalid config file, one line per problem", async () => {
    const dir = workDir();
    const path = join(dir, "bad.yaml");
    writeFileSync(
      path,
      "timezone: Asia/Bangkok\nchannels: { releases: C0R, digests: C0D, alerts: nope }\npeople: { approvers: [] }\nenvironments:\n  - name: staging\n    approvals: 0\n    deploy: { run: [] }\n",
    );
    const result = await run({ ORCH_CONFIG: path, DATA_DIR: dir });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split("\n")).toEqual([
      `${path}: invalid configuration`,
      "channels.alerts: expected a Slack channel id like C0123ABCD",
      "people.approvers: expected at least one approver",
      "environments[0].approvals: expected a number >= 1",
      "environments[0].deploy.run: expected at least the program to run",
    ]);
  });
});
