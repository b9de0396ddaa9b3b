import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfigFile, parseConfig } from "../src/config/load.js";
import { cronProblem } from "../src/config/cron.js";
import { testConfigYaml, workDir } from "./support/config.js";

function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(yaml, "test.yaml", env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

function loadProblems(path: string, env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfigFile(path, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

const valid = testConfigYaml({ dir: "/tmp" });

describe("config errors point at the place", () => {
  it("a YAML syntax error names its line and column", () => {
    expect(problems("timezone: Asia/Bangkok\nchannels:\n\treleases: C0RELEASES\n")).toEqual(["line 3, column 1: Tabs are not allowed as indentation"]);
    expect(problems("timezone: Asia/Bangkok\nchannels:\n  releases: C0R\n  digests: : x\n")).toEqual(["line 4, column 12: Nested mappings are not allowed in compact mappings"]);
  });

  it("an unclosed bracket or quote is placed where it opens, not where the parser noticed", () => {
    expect(problems("timezone: Asia/Bangkok\npeople:\n  approvers: [U0A, U0B\nenvironments: []\n")).toEqual([
      "line 3, column 14: Flow sequence in block collection must be sufficiently indented and end with a ] (noticed at line 4, column 1)",
    ]);
    expect(problems('timezone: Asia/Bangkok\ncommand: "/orch\nchannels: {}\n')).toEqual(['line 2, column 10: Missing closing "quote (noticed at line 4, column 1)']);
  });

  it("an unset ${VAR} is reported once, with every place that uses it, and its unreplaced value is not judged again", () => {
    const yaml = valid.replace(
      "approval: { expiresAfter: 24h }",
      `approval: { expiresAfter: 24h }
jobs:
  health-check: { schedule: "*/5 * * * *", http: { url: "https://\${STATUS_HOST}/healthz", expect: { ok: { equals: true } } } }
  weekly-digest: { schedule: "0 9 * * 1", http: { url: "https://\${STATUS_HOST}/digest" } }`,
    );
    expect(problems(yaml)).toEqual(["jobs.health-check.http.url: environment variable STATUS_HOST is not set (also used at jobs.weekly-digest.http.url)"]);
    expect(problems(yaml, { STATUS_HOST: "status.example.org" })).toEqual([]);
  });

  it("a cron field out of range is named", () => {
    const yaml = `${valid}\njobs:\n  weekly-digest: { schedule: "0 25 * * *" }\n  monthly-digest: { schedule: "0 9 32 * *" }\n`;
    expect(problems(yaml)).toEqual(['jobs.weekly-digest.schedule: "0 25 * * *": hour 25 is out of range 0–23', 'jobs.monthly-digest.schedule: "0 9 32 * *": day of month 32 is out of range 1–31']);
  });

  it("judges each cron field in cron's own terms, and leaves cron-parser's extensions to it", () => {
    expect(cronProblem("60 * * * *")).toBe("minute 60 is out of range 0–59");
    expect(cronProblem("0 9 * 13 *")).toBe("month 13 is out of range 1–12");
    expect(cronProblem("0 9 * * 8")).toBe("day of week 8 is out of range 0–7");
    expect(cronProblem("0 9 5-1 * *")).toBe("day of month range 5-1 runs backwards");
    expect(cronProblem("*/0 * * * *")).toBe('minute step "/0" must be at least 1');
    expect(cronProblem("x * * * *")).toBe('minute "x" is not a number');
    for (const fine of ["*/5 * * * *", "0 9 * * 1", "15 8 * * mon-fri", "0 0 * JAN,jul *", "0 9 L * *", "0 9 * * 5L", "0 9 * * 1#2", "0 9 * * 7"]) {
      expect(cronProblem(fine)).toBeUndefined();
    }
  });

  describe("run programs are checked at start-up, relative to the config file's folder", () => {
    const write = (dir: string, environments: string, jobs = "") => {
      const path = join(dir, "orchestrator.yaml");
      writeFileSync(path, testConfigYaml({ dir, environments, gates: "\n  - name: Runbooks updated\n    manual: true", ...(jobs ? { jobs } : {}) }));
      return path;
    };
    const staging = (run: string) => `\n  - name: staging\n    approvals: 1\n    deploy: { run: [${run}, "{version}"] }`;

    it("a program that does not exist or is not executable is an error naming its path in the config", () => {
      const dir = workDir();
      mkdirSync(join(dir, "scripts"));
      writeFileSync(join(dir, "scripts", "smoke.sh"), "#!/bin/sh\n");
      const path = write(dir, `${staging('"./scripts/deploy.sh"')}\n    smoke: { run: ["./scripts/smoke.sh"] }`);
      expect(loadProblems(path, { PATH: process.env.PATH })).toEqual([
        "environments[0].deploy.run[0]: ./scripts/deploy.sh does not exist",
        "environments[0].smoke.run[0]: ./scripts/smoke.sh is not executable (chmod +x ./scripts/smoke.sh)",
      ]);
    });

    it("finds a script beside the config file whatever the working folder, and a bare name on PATH", () => {
      const dir = workDir();
      mkdirSync(join(dir, "scripts"));
      writeFileSync(join(dir, "scripts", "deploy.sh"), "#!/bin/sh\n");
      chmodSync(join(dir, "scripts", "deploy.sh"), 0o755);
      const path = write(dir, `${staging('"./scripts/deploy.sh"')}\n    smoke: { run: ["node", "--version"] }`);
      expect(process.cwd()).not.toBe(dir);
      expect(loadConfigFile(path, { PATH: process.env.PATH }).warnings).toEqual([]);
    });

    it("a release step's program missing on PATH is an error; a job's is a warning that does not block start-up", () => {
      const dir = workDir();
      const path = write(dir, staging('"no-such-deployer"'));
      expect(loadProblems(path, { PATH: process.env.PATH })).toEqual(["environments[0].deploy.run[0]: no-such-deployer is not on PATH"]);

      const withJob = write(dir, staging('"node"'), '\n  security-patches: { schedule: "0 8 * * 1", run: ["no-such-trivy", "fs", "."] }');
      expect(loadConfigFile(withJob, { PATH: process.env.PATH }).warnings).toEqual(["jobs.security-patches.run[0]: no-such-trivy is not on PATH"]);
    });
  });
});
