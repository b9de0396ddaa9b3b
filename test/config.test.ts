import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfigFile, parseConfig } from "../src/config/load.js";
import { parseDuration } from "../src/config/duration.js";
import { formatDuration } from "../src/time.js";
import { testConfigYaml } from "./support/config.js";

function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(yaml, "test.yaml", env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

const valid = testConfigYaml({ dir: "/tmp" });

describe("config file", () => {
  it("accepts the test configuration and fills defaults", () => {
    const config = parseConfig(valid, "test.yaml", {});
    expect(config.environments.map((e) => e.name)).toEqual(["staging", "production"]);
    expect(config.approval.expiresAfter).toBe(24 * 3600 * 1000);
    expect(config.gates[0]).toMatchObject({ name: "Tests pass", timeout: 10 * 60 * 1000 });
    expect(config.feedback.reaction).toBe("memo");
  });

  it("accepts the shipped sandbox example", () => {
    const loaded = loadConfigFile("orchestrator.yaml", {});
    expect(loaded.config.environments.find((e) => e.name === "production")?.after).toBe("staging");
    expect(loaded.config.environments[0]?.health?.url).toBe("http://127.0.0.1:3000/healthz");
    expect(Object.keys(loaded.config.sandbox?.users ?? {})).toContain("U0STAKEHOLDER");
  });

  it("treats values of Orchestrator's own plain settings (DATA_DIR, PORT) as no secret (test/secrets.test.ts: every other value is one)", () => {
    const loaded = loadConfigFile("orchestrator.yaml", { PATH: process.env.PATH, DATA_DIR: "/srv/orchestrator-data", PORT: "4100" });
    expect(loaded.config.repository?.path).toBe("/srv/orchestrator-data/forecast-platform");
    expect(loaded.interpolated).toEqual([]);
  });

  it("names the path of every problem, one line each", () => {
    const yaml = valid.replace("approvals: 2", "approvals: 0").replace("timezone: Asia/Bangkok", "timezone: Mars/Olympus").replace("releases: C0RELEASES", "releases: general");
    expect(problems(yaml)).toEqual([
      "timezone: expected an IANA time zone like Asia/Bangkok",
      "channels.releases: expected a Slack channel id like C0123ABCD",
      "environments[1].approvals: expected a number >= 1",
    ]);
  });

  it("reports a wrong type, a missing key and an unknown key in the file's terms", () => {
    const yaml = valid
      .replace("approvals: 1", 'approvals: "one"')
      .replace("command: /orch", "command: /orch\ncolour: blue")
      .replace(/channels: \{ releases.*\}/, "");
    expect(problems(yaml)).toEqual(["channels: is required", "environments[0].approvals: expected a number >= 1", "colour: unknown key"]);
  });

  it("checks that promotion order and approval counts can work", () => {
    const yaml = valid.replace("after: staging", "after: qa").replace("approvers: [U0APPROVER1, U0APPROVER2, U0APPROVER3]", "approvers: [U0APPROVER1]");
    expect(problems(yaml)).toEqual(["environments[1].after: expected an environment listed before this one (staging)", "environments[1].approvals: needs 2 approvals but people.approvers lists 1"]);
  });

  it("validates gates, jobs and durations", () => {
    const yaml = `${valid}\njobs:\n  weekly-digest: { schedule: "every monday" }\n  nightly-build: { schedule: "0 1 * * *" }\n`.replace(
      "approval: { expiresAfter: 24h }",
      "approval: { expiresAfter: tomorrow }",
    );
    const found = problems(yaml.replace("- name: Tests pass\n    run:", "- name: Tests pass\n    runs:"));
    expect(found).toContain('approval.expiresAfter: expected a duration like 90s, 15m, 24h (got "tomorrow")');
    expect(found).toContain('jobs.weekly-digest.schedule: "every monday": expected five fields (minute hour day-of-month month day-of-week), e.g. "0 9 * * 1"; got 2');
    expect(found.some((p) => p.startsWith("jobs.nightly-build: expected a built-in job"))).toBe(true);
    expect(found).toContain("gates[0]: expected a gate with a name and one of run, http or manual: true");
  });

  it("replaces ${VAR} from the environment and reports a missing one at its path", () => {
    const withSecret = valid.replace(
      /deploy: \{ run: \[[^\]]*\], timeout: 20s \}\n(?![\s\S]*deploy: \{ run)/,
      'deploy: { webhook: { url: "https://ci.example.org/hooks/deploy", headers: { Authorization: "Bearer ${DEPLOY_TOKEN}" } } }\n',
    );
    expect(withSecret).toContain("${DEPLOY_TOKEN}");
    const config = parseConfig(withSecret, "test.yaml", { DEPLOY_TOKEN: "s3cret" });
    const production = config.environments[1];
    expect(production?.deploy).toMatchObject({ webhook: { headers: { Authorization: "Bearer s3cret" } } });
    expect(problems(withSecret, {})).toEqual(["environments[1].deploy.webhook.headers.Authorization: environment variable DEPLOY_TOKEN is not set"]);
  });

  it("reports YAML syntax errors with their line and column", () => {
    expect(problems("timezone: [unclosed\n")[0]).toMatch(/^line 1, column 11: Flow sequence .* \(noticed at line 2, column 1\)$/);
  });

  it("reports an unreadable file", () => {
    expect(() => loadConfigFile("/nonexistent/orchestrator.yaml")).toThrow(/cannot read the file: ENOENT/);
  });

  it("ships an example that documents every top-level key it uses", () => {
    const text = readFileSync("orchestrator.yaml", "utf8");
    for (const key of ["timezone", "command", "channels", "people", "feedback", "environments", "gates", "approval", "jobs"]) {
      expect(text).toMatch(new RegExp(`^${key}:`, "m"));
    }
  });
});

describe("durations", () => {
  it("parses and formats", () => {
    expect(parseDuration("15m")).toBe(900_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("24h")).toBe(86_400_000);
    expect(parseDuration("soon")).toBeUndefined();
    expect(parseDuration("0s")).toBeUndefined();
    expect(formatDuration(5_400_000)).toBe("1h 30m");
    expect(formatDuration(250)).toBe("250ms");
  });
});
