import { basename } from "node:path";
import semver from "semver";
import { formatDuration } from "../../time.js";
import { type RunResult, TAIL_CHARS } from "../../exec/run.js";
import { andMore, nounFor, plural, truncate } from "../../slack/text.js";
import type { JobOutcome } from "../../core/jobs/registry.js";

/**
 * Understanding what a `run` job printed: `npm outdated --json` and `trivy … --format json` are read
 * for what they mean, recognised by the argv or by the JSON's shape; anything else is judged by its
 * exit status and shown by its tail. Pure functions.
 */

interface OutdatedPackage {
  name: string;
  current: string | null;
  wanted: string;
  latest: string;
  /** The latest version may break things (a new major): read its changelog before upgrading. */
  major: boolean;
}

const SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"] as const;
type Severity = (typeof SEVERITIES)[number];

interface Finding {
  id: string;
  severity: Severity;
  target: string;
  /** The package, or what else was found (a secret's rule, a misconfiguration's check). */
  subject: string;
  installed?: string;
  fixed?: string;
  title?: string;
}

interface TrivyReport {
  counts: Record<Severity, number>;
  /** HIGH and CRITICAL findings, critical first. */
  urgent: Finding[];
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);
const text = (value: unknown): string | undefined => (typeof value === "string" && value.length > 0 ? value : undefined);

function parseJson(output: string): unknown {
  const trimmed = output.trim();
  if (!trimmed.startsWith("{") && !trimmed.startsWith("[")) return undefined;
  try {
    return JSON.parse(trimmed);
  } catch {
    return undefined;
  }
}

/** `npm outdated --json`: `{ name: { current, wanted, latest } }`, or a list per dependent in workspaces. */
export function isNpmOutdated(data: unknown): data is Json {
  if (!isObject(data) || "error" in data) return false;
  const entries = Object.values(data);
  return entries.length === 0 || entries.every((entry) => (Array.isArray(entry) ? entry : [entry]).every((e) => isObject(e) && typeof e.latest === "string" && typeof e.wanted === "string"));
}

export function parseNpmOutdated(data: Json): OutdatedPackage[] {
  const packages = new Map<string, OutdatedPackage>();
  for (const [name, entry] of Object.entries(data)) {
    for (const e of (Array.isArray(entry) ? entry : [entry]) as Json[]) {
      const current = text(e.current) ?? null;
      const wanted = String(e.wanted);
      const latest = String(e.latest);
      const from = semver.coerce(current ?? wanted);
      const to = semver.coerce(latest);
      // Under semver a 0.x minor bump may break too, so it counts as a major one.
      const major = from !== null && to !== null && (to.major > from.major || (from.major === 0 && to.major === 0 && to.minor > from.minor));
      const known = packages.get(name);
      // Several dependents of one package: keep the one furthest behind.
      if (!known || (major && !known.major)) packages.set(name, { name, current, wanted, latest, major });
    }
  }
  return [...packages.values()].sort((a, b) => Number(b.major) - Number(a.major) || a.name.localeCompare(b.name));
}

/** Trivy's JSON report (schema 2): `{ SchemaVersion, ArtifactName, Results: [{ Target, Vulnerabilities }] }`. */
export function isTrivyReport(data: unknown): data is Json {
  return isObject(data) && typeof data.SchemaVersion === "number" && (data.Results === undefined || data.Results === null || Array.isArray(data.Results));
}

export function parseTrivy(data: Json): TrivyReport {
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  const urgent: Finding[] = [];
  const severityOf = (value: unknown): Severity => ((SEVERITIES as readonly string[]).includes(String(value)) ? (String(value) as Severity) : "UNKNOWN");
  const add = (finding: Finding) => {
    counts[finding.severity] += 1;
    if (finding.severity === "CRITICAL" || finding.severity === "HIGH") urgent.push(finding);
  };
  for (const result of (Array.isArray(data.Results) ? data.Results : []) as unknown[]) {
    if (!isObject(result)) continue;
    const target = text(result.Target) ?? "?";
    for (const v of (Array.isArray(result.Vulnerabilities) ? result.Vulnerabilities : []) as Json[]) {
      add({
        id: text(v.VulnerabilityID) ?? "?",
        severity: severityOf(v.Severity),
        target,
        subject: text(v.PkgName) ?? "?",
        ...(text(v.InstalledVersion) ? { installed: text(v.InstalledVersion) } : {}),
        ...(text(v.FixedVersion) ? { fixed: text(v.FixedVersion) } : {}),
        ...(text(v.Title) ? { title: text(v.Title) } : {}),
      });
    }
    for (const m of (Array.isArray(result.Misconfigurations) ? result.Misconfigurations : []) as Json[]) {
      if (m.Status !== undefined && m.Status !== "FAIL") continue;
      add({ id: text(m.ID) ?? text(m.AVDID) ?? "?", severity: severityOf(m.Severity), target, subject: "misconfiguration", ...(text(m.Title) ? { title: text(m.Title) } : {}) });
    }
    for (const s of (Array.isArray(result.Secrets) ? result.Secrets : []) as Json[]) {
      add({ id: text(s.RuleID) ?? "secret", severity: severityOf(s.Severity), target, subject: "secret", ...(text(s.Title) ? { title: text(s.Title) } : {}) });
    }
  }
  const rank = (s: Severity) => SEVERITIES.indexOf(s);
  urgent.sort((a, b) => rank(a.severity) - rank(b.severity) || a.id.localeCompare(b.id));
  return { counts, urgent };
}

const program = (argv: readonly string[]) => basename(argv[0] ?? "");
const looksLikeNpmOutdated = (argv: readonly string[]) => ["npm", "pnpm", "yarn"].includes(program(argv)) && argv.includes("outdated") && argv.includes("--json");
const looksLikeTrivy = (argv: readonly string[]) => program(argv) === "trivy" && argv.some((arg, i) => arg === "--format=json" || ((arg === "--format" || arg === "-f") && argv[i + 1] === "json"));

/** Turns a finished command into a job outcome, reading known JSON outputs for their meaning. */
export function interpretRun(argv: readonly string[], run: RunResult): JobOutcome {
  const took = formatDuration(run.durationMs);
  const data = parseJson(run.stdout);
  // npm outdated exits 1 when something is outdated, trivy when `--exit-code` is set: the JSON decides.
  const parsedFine = run.exitCode !== null && data !== undefined && !run.failure?.startsWith("timed out");
  if (parsedFine && (looksLikeTrivy(argv) || isTrivyReport(data))) return trivyOutcome(parseTrivy(data as Json));
  // An empty object is npm's "nothing outdated", but only when npm outdated is what ran.
  if (parsedFine && isNpmOutdated(data) && (looksLikeNpmOutdated(argv) || Object.keys(data).length > 0)) return outdatedOutcome(parseNpmOutdated(data));
  if (looksLikeTrivy(argv) || looksLikeNpmOutdated(argv)) {
    const what = looksLikeTrivy(argv) ? "trivy" : "npm outdated";
    return {
      status: "failed",
      summary: `${what} did not produce its JSON report (${run.failure ?? `exit code ${run.exitCode}`}).`,
      outputTail: run.tail,
      details: { exitCode: run.exitCode, durationMs: run.durationMs },
    };
  }
  return {
    status: run.ok ? "succeeded" : "failed",
    summary: run.ok ? `\`${argv.join(" ")}\` finished in ${took}.` : `\`${argv.join(" ")}\` failed: ${run.failure ?? `exit code ${run.exitCode}`}.`,
    outputTail: run.tail,
    details: { exitCode: run.exitCode, durationMs: run.durationMs },
  };
}

function outdatedOutcome(packages: OutdatedPackage[]): JobOutcome {
  const majors = packages.filter((p) => p.major);
  const line = (p: OutdatedPackage) => `${p.name} ${p.current ?? "(not installed)"} → ${p.latest}${p.major ? " (major)" : p.wanted !== p.latest ? ` (wanted ${p.wanted})` : ""}`;
  if (packages.length === 0) return { status: "succeeded", summary: "Every dependency is up to date.", details: { kind: "npm-outdated", packages: [], majors: 0 } };
  const named = majors.slice(0, 5).map((p) => `${p.name} ${p.current ?? "?"} → ${p.latest}`);
  const summary =
    `${plural(packages.length, "outdated package")}, ${majors.length} behind a major version` + `${named.length > 0 ? `: ${named.join(", ")}${andMore(majors.length - named.length)}` : ""}.`;
  return {
    status: "succeeded",
    summary,
    outputTail: truncate(packages.map(line).join("\n"), TAIL_CHARS),
    details: { kind: "npm-outdated", majors: majors.length, packages: packages.slice(0, 100) },
  };
}

function trivyOutcome(report: TrivyReport): JobOutcome {
  const { counts, urgent } = report;
  const total = SEVERITIES.reduce((n, s) => n + counts[s], 0);
  const breakdown = SEVERITIES.filter((s) => counts[s] > 0)
    .map((s) => `${counts[s]} ${s.toLowerCase()}`)
    .join(", ");
  const details = { kind: "trivy", counts, findings: urgent.slice(0, 50) };
  if (urgent.length === 0) {
    return { status: "succeeded", summary: total === 0 ? "No vulnerabilities found." : `No HIGH or CRITICAL findings (${breakdown}).`, details };
  }
  const describe = (f: Finding) =>
    `${f.severity} ${f.id} in ${f.subject}${f.installed ? ` ${f.installed}` : ""}${f.fixed ? ` (fixed in ${f.fixed})` : f.subject === "secret" || f.subject === "misconfiguration" ? "" : " (no fix yet)"} — ${f.target}${f.title ? `: ${f.title}` : ""}`;
  const name = (f: Finding) =>
    f.subject === "secret" ? `a secret (${f.id}) in ${f.target}` : f.subject === "misconfiguration" ? `${f.id} in ${f.target}` : `${f.id} in ${f.subject}${f.fixed ? ` (fix: ${f.fixed})` : ""}`;
  const named = urgent.slice(0, 3).map(name);
  return {
    status: "failed",
    summary: `${counts.CRITICAL} critical and ${counts.HIGH} high ${nounFor(counts.CRITICAL + counts.HIGH, "finding")} (${breakdown}): ${named.join(", ")}${andMore(urgent.length - named.length)}.`,
    outputTail: truncate(urgent.map(describe).join("\n"), TAIL_CHARS),
    details,
  };
}
