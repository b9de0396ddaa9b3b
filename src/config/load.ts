import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { CST, LineCounter, Parser, parseDocument } from "yaml";
import type { z } from "zod";
import { checkPrograms } from "./programs.js";
import { Redactor } from "../redact.js";
import { type Config, configSchema } from "./schema.js";

export interface LoadedConfig {
  config: Config;
  /** Folder of the config file: `run` commands execute here. */
  dir: string;
  path: string;
  /** Problems that do not stop the bot (a job's program missing on PATH), one line each with its path. */
  warnings?: string[];
  /** Every value `${VAR}` interpolation put into the config: secrets to redact (SPEC §2a). */
  interpolated: string[];
}

/** Thrown with one line per problem, each naming its path in the file. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid configuration\n${problems.join("\n")}`);
    this.name = "ConfigError";
  }
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const absolute = resolve(path);
  let text: string;
  try {
    text = readFileSync(absolute, "utf8");
  } catch (error) {
    throw new ConfigError(absolute, [`cannot read the file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
  }
  const { config, interpolated } = parseConfigText(text, absolute, env);
  const dir = dirname(absolute);
  const programs = checkPrograms(config, dir, env.PATH ?? "").map((p) => ({ ...p, line: `${formatPath(p.path)}: ${p.message}` }));
  const errors = programs.filter((p) => p.blocking).map((p) => p.line);
  if (errors.length > 0) throw new ConfigError(absolute, errors);
  return { config, interpolated, dir, path: absolute, warnings: programs.filter((p) => !p.blocking).map((p) => p.line) };
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfigText(text, file, env).config;
}

function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv): Pick<LoadedConfig, "config" | "interpolated"> {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { prettyErrors: false, lineCounter });
  if (document.errors.length > 0) {
    throw new ConfigError(
      file,
      document.errors.map((e) => {
        const message = e.message.split("\n")[0] ?? "";
        const noticed = lineCounter.linePos(e.pos[0]);
        // An unclosed [, { or quote is noticed where the next line starts: point at where it was opened.
        const opened = /end with a|Missing closing/.test(message)
          ? unclosedOpenings(text)
              .filter((offset) => offset < e.pos[0])
              .at(-1)
          : undefined;
        if (opened === undefined) return `line ${noticed.line}, column ${noticed.col}: ${message}`;
        const { line, col } = lineCounter.linePos(opened);
        return `line ${line}, column ${col}: ${message.replace(/ at line \d+, column \d+:?$/, "")} (noticed at line ${noticed.line}, column ${noticed.col})`;
      }),
    );
  }
  const raw: unknown = document.toJS() ?? {};
  const missing = new Map<string, string[]>();
  const values = new Set<string>();
  const interpolated = interpolate(raw, [], env, missing, values);
  // Each unset variable once, at the first place it is used; a value left unreplaced is not judged again.
  const problems = [...missing].map(([name, paths]) => `${paths[0]}: environment variable ${name} is not set${paths.length > 1 ? ` (also used at ${paths.slice(1).join(", ")})` : ""}`);
  const unreplaced = new Set([...missing.values()].flat());
  const result = configSchema.safeParse(interpolated, { error: describeIssue });
  if (!result.success) {
    // A problem may quote the value it found, and an interpolated value is a secret.
    const redactor = new Redactor(values);
    for (const issue of result.error.issues) if (!unreplaced.has(formatPath(issue.path))) problems.push(redactor.text(formatIssue(issue)));
  }
  if (problems.length > 0) throw new ConfigError(file, [...new Set(problems)]);
  if (!result.success) throw new ConfigError(file, ["invalid configuration"]);
  return { config: result.data, interpolated: [...values] };
}

/** Where each flow collection or quoted string that is never closed begins (offsets into the text). */
function unclosedOpenings(text: string): number[] {
  const offsets: number[] = [];
  for (const token of new Parser().parse(text)) {
    if (token.type !== "document") continue;
    CST.visit(token, (item) => {
      const value = item.value;
      if (value?.type === "flow-collection" && !value.end.some((t) => t.type === "flow-seq-end" || t.type === "flow-map-end")) offsets.push(value.offset);
      if ((value?.type === "double-quoted-scalar" || value?.type === "single-quoted-scalar") && !/["']\s*$/.test(value.source.slice(1))) offsets.push(value.offset);
    });
  }
  return offsets.sort((a, b) => a - b);
}

/**
 * Orchestrator's own settings that are no secret (SPEC §1): a value they put into the config (a path
 * under `${DATA_DIR}`, a port) is shown as it is. Every other interpolated value is treated as a secret.
 */
const PLAIN_SETTINGS = new Set(["PORT", "DATA_DIR", "ORCH_CONFIG", "LOG_LEVEL", "SANDBOX_TRANSPORT", "SLACK_API_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL"]);

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` (and `${VAR:-default}`) in every string, collecting the values taken from the
 * environment into `values`; a missing variable is noted with the paths that use it.
 */
function interpolate(value: unknown, path: PropertyKey[], env: NodeJS.ProcessEnv, missing: Map<string, string[]>, values: Set<string>): unknown {
  if (typeof value === "string") {
    return value.replace(VARIABLE, (match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== "") {
        if (!PLAIN_SETTINGS.has(name)) values.add(found);
        return found;
      }
      if (fallback !== undefined) return fallback;
      const paths = missing.get(name) ?? [];
      const here = formatPath(path);
      if (!paths.includes(here)) paths.push(here);
      missing.set(name, paths);
      return match;
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolate(item, [...path, index], env, missing, values));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolate(item, [...path, key], env, missing, values)]));
  }
  return value;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out || "(top level)";
}

function formatIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key`).join("\n");
  }
  if (issue.code === "invalid_key") return `${formatPath(issue.path)}: ${issue.issues[0]?.message ?? issue.message}`;
  return `${formatPath(issue.path)}: ${issue.message}`;
}

/** Messages for issues whose schema did not set its own, in the file's terms rather than JavaScript's. */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case "invalid_type":
      if (issue.input === undefined) return "is required";
      return `expected ${article(issue.expected)}, got ${describeValue(issue.input)}`;
    case "too_small":
      if (issue.origin === "string") return "must not be empty";
      if (issue.origin === "array") return `expected at least ${String(issue.minimum)} item(s)`;
      return `expected a number >= ${String(issue.minimum)}`;
    case "too_big":
      return issue.origin === "number" ? `expected a number <= ${String(issue.maximum)}` : `expected at most ${String(issue.maximum)}`;
    case "invalid_value":
      return `expected one of ${issue.values.map(String).join(", ")}`;
    case "invalid_format":
      return issue.format === "url" ? "expected an http(s) URL" : `expected a valid ${issue.format}`;
    default:
      return undefined;
  }
}

function article(type: string): string {
  if (type === "array") return "a list";
  if (type === "object") return "a mapping";
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `${typeof value} ${JSON.stringify(value)}`;
}
