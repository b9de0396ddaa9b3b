import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { Redactor } from "../redact.js";
import { type Config, configSchema } from "./schema.js";

export interface LoadedConfig {
  config: Config;
  /** Folder of the config file: `run` commands execute here. */
  dir: string;
  path: string;
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
  return { ...parseConfigText(text, absolute, env), dir: dirname(absolute), path: absolute };
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfigText(text, file, env).config;
}

function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv): Pick<LoadedConfig, "config" | "interpolated"> {
  const document = parseDocument(text, { prettyErrors: false });
  if (document.errors.length > 0) {
    throw new ConfigError(
      file,
      document.errors.map((e) => `line ${(e.linePos?.[0].line ?? 0).toString()}: ${e.message.split("\n")[0]}`),
    );
  }
  const raw: unknown = document.toJS() ?? {};
  const problems: string[] = [];
  const values = new Set<string>();
  const interpolated = interpolate(raw, [], env, problems, values);
  const result = configSchema.safeParse(interpolated, { error: describeIssue });
  if (!result.success) {
    // A problem may quote the value it found, and an interpolated value is a secret.
    const redactor = new Redactor(values);
    for (const issue of result.error.issues) problems.push(redactor.text(formatIssue(issue)));
  }
  if (problems.length > 0) throw new ConfigError(file, [...new Set(problems)]);
  if (!result.success) throw new ConfigError(file, ["invalid configuration"]);
  return { config: result.data, interpolated: [...values] };
}

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` (and `${VAR:-default}`) in every string, collecting the values taken from the
 * environment into `values`; a missing variable is a problem at that path.
 */
function interpolate(value: unknown, path: PropertyKey[], env: NodeJS.ProcessEnv, problems: string[], values: Set<string>): unknown {
  if (typeof value === "string") {
    return value.replace(VARIABLE, (match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== "") {
        values.add(found);
        return found;
      }
      if (fallback !== undefined) return fallback;
      problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
      return match;
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolate(item, [...path, index], env, problems, values));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolate(item, [...path, key], env, problems, values)]));
  }
  return value;
}

export function formatPath(path: readonly PropertyKey[]): string {
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
