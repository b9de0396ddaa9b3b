import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { RunResult } from "../src/exec/run.js";
import { interpretRun, isNpmOutdated, isTrivyReport, parseNpmOutdated, parseTrivy } from "../src/features/reports/outputs.js";
import { FIXTURES } from "./support/config.js";

const sample = (name: string) => readFileSync(join(FIXTURES, name), "utf8");
const finished = (stdout: string, exitCode: number | null = 0, failure?: string): RunResult => ({
  ok: exitCode === 0 && !failure,
  exitCode,
  ...(failure ? { failure } : exitCode !== 0 && exitCode !== null ? { failure: `exit code ${exitCode}` } : {}),
  tail: stdout.slice(-400),
  stdout,
  durationMs: 2300,
});

describe("npm outdated --json", () => {
  const data = JSON.parse(sample("npm-outdated.json")) as unknown;

  it("lists packages with current, wanted and latest, majors (breaking) first", () => {
    expect(isNpmOutdated(data)).toBe(true);
    const packages = parseNpmOutdated(data as Record<string, unknown>);
    expect(packages.map((p) => [p.name, p.current, p.wanted, p.latest, p.major])).toEqual([
      ["@electric-sql/pglite", "0.2.17", "0.2.17", "0.3.4", true],
      ["react", "18.3.1", "18.3.1", "19.1.0", true],
      ["vite", "5.2.11", "5.4.19", "6.3.5", true],
      ["axios", "1.7.2", "1.7.9", "1.7.9", false],
      ["recharts", "2.12.7", "2.15.3", "2.15.3", false],
      ["typescript", "5.4.5", "5.4.5", "5.8.3", false],
      ["zod", null, "3.23.8", "3.25.67", false],
    ]);
  });

  it("is a succeeded run even though npm exits 1 when something is outdated", () => {
    const outcome = interpretRun(["npm", "outdated", "--json"], finished(sample("npm-outdated.json"), 1));
    expect(outcome.status).toBe("succeeded");
    expect(outcome.summary).toBe("7 outdated packages, 3 behind a major version: @electric-sql/pglite 0.2.17 → 0.3.4, react 18.3.1 → 19.1.0, vite 5.2.11 → 6.3.5.");
    expect(outcome.outputTail?.split("\n")[0]).toBe("@electric-sql/pglite 0.2.17 → 0.3.4 (major)");
    expect(outcome.outputTail).toContain("zod (not installed) → 3.25.67");
    expect(outcome.details).toMatchObject({ kind: "npm-outdated", majors: 3 });
  });

  it("says so when everything is up to date, and fails when npm printed an error instead", () => {
    expect(interpretRun(["npm", "outdated", "--json"], finished("{}\n", 0))).toMatchObject({ status: "succeeded", summary: "Every dependency is up to date." });
    const broken = interpretRun(["npm", "outdated", "--json"], finished('{"error":{"code":"ENOLOCK","summary":"This command requires an existing lockfile."}}', 1));
    expect(broken.status).toBe("failed");
    expect(broken.summary).toBe("npm outdated did not produce its JSON report (exit code 1).");
  });
});

describe("trivy --format json", () => {
  const data = JSON.parse(sample("trivy.json")) as unknown;

  it("counts findings by severity and lists HIGH/CRITICAL ones, critical first", () => {
    expect(isTrivyReport(data)).toBe(true);
    const report = parseTrivy(data as Record<string, unknown>);
    expect(report.counts).toEqual({ CRITICAL: 1, HIGH: 4, MEDIUM: 3, LOW: 1, UNKNOWN: 0 });
    expect(report.urgent.map((f) => `${f.severity} ${f.id} ${f.subject}`)).toEqual([
      "CRITICAL aws-access-key-id secret",
      "HIGH CVE-2024-21538 cross-spawn",
      "HIGH CVE-2024-45296 path-to-regexp",
      "HIGH CVE-2024-47874 starlette",
      "HIGH DS002 misconfiguration",
    ]);
  });

  it("fails a run with HIGH or CRITICAL findings, recognised by argv or by the JSON's shape", () => {
    for (const argv of [
      ["trivy", "fs", ".", "--format", "json"],
      ["cat", "scan.json"],
    ]) {
      const outcome = interpretRun(argv, finished(sample("trivy.json")));
      expect(outcome.status).toBe("failed");
      expect(outcome.summary).toBe(
        "1 critical and 4 high findings (1 critical, 4 high, 3 medium, 1 low): a secret (aws-access-key-id) in backend/app/core/settings.py, CVE-2024-21538 in cross-spawn (fix: 7.0.5, 6.0.6), CVE-2024-45296 in path-to-regexp (fix: 1.9.0, 0.1.10, 8.0.0, 3.3.0, 6.3.0) and 2 more.",
      );
      expect(outcome.outputTail).toContain(
        "HIGH CVE-2024-47874 in starlette 0.37.2 (fixed in 0.40.0) — backend/requirements.txt: starlette: Starlette Denial of service (DoS) via multipart/form-data",
      );
    }
  });

  it("passes a scan with only lower findings, even when trivy exits 1 through --exit-code", () => {
    const outcome = interpretRun(["trivy", "fs", ".", "-f", "json", "--exit-code", "1"], finished(sample("trivy-clean.json"), 1));
    expect(outcome).toMatchObject({ status: "succeeded", summary: "No HIGH or CRITICAL findings (1 low)." });
  });

  it("fails plainly when trivy could not run at all", () => {
    const outcome = interpretRun(["trivy", "fs", ".", "--format", "json"], finished("", null, "cannot run trivy: not found"));
    expect(outcome).toMatchObject({ status: "failed", summary: "trivy did not produce its JSON report (cannot run trivy: not found)." });
  });
});

describe("any other command", () => {
  it("is judged by its exit status and shown by its tail", () => {
    expect(interpretRun(["./scripts/km-sync.sh"], finished("synced 14 documents\n"))).toMatchObject({
      status: "succeeded",
      summary: "`./scripts/km-sync.sh` finished in 2s.",
      outputTail: "synced 14 documents\n",
    });
    expect(interpretRun(["./scripts/km-sync.sh"], finished("error: wiki unreachable\n", 3))).toMatchObject({
      status: "failed",
      summary: "`./scripts/km-sync.sh` failed: exit code 3.",
      outputTail: "error: wiki unreachable\n",
    });
    // JSON that is neither npm's nor trivy's is just output.
    expect(interpretRun(["./report.sh"], finished('{"documents": 14}'))).toMatchObject({ status: "succeeded" });
  });
});
