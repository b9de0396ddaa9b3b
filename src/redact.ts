import type { LoadedConfig } from "./config/load.js";
import type { Env } from "./env.js";
import { describeError, type Log } from "./log.js";

export const REDACTED = "[redacted]";

/**
 * Values shorter than this are not treated as secrets: they cannot be told apart from ordinary text
 * (a `${PORT}` of 8080 would otherwise blank every 8080 in every message).
 */
const MIN_SECRET_LENGTH = 6;

/**
 * The one redactor (SPEC §2a): built at start-up from every secret the bot holds, it replaces each of
 * them with `[redacted]` in any text on its way out — to Slack, into the database, into the logs.
 * A secret is also found in the spellings it takes inside JSON strings and URLs.
 */
export class Redactor {
  private readonly pattern: RegExp | undefined;

  constructor(secrets: Iterable<string | undefined>) {
    const spellings = new Set<string>();
    for (const secret of secrets) {
      if (!secret || secret.length < MIN_SECRET_LENGTH) continue;
      spellings.add(secret);
      spellings.add(JSON.stringify(secret).slice(1, -1));
      spellings.add(encodeURIComponent(secret));
    }
    // Longest first, so a secret that contains another is replaced whole.
    const alternatives = [...spellings].sort((a, b) => b.length - a.length).map(escapeRegExp);
    this.pattern = alternatives.length > 0 ? new RegExp(alternatives.join("|"), "g") : undefined;
  }

  text(text: string): string {
    return this.pattern ? text.replace(this.pattern, REDACTED) : text;
  }

  /** The same value with every string in it (keys too) redacted; other values as they are. */
  deep<T>(value: T): T {
    if (!this.pattern) return value;
    return this.walk(value, 0) as T;
  }

  private walk(value: unknown, depth: number): unknown {
    if (typeof value === "string") return this.text(value);
    if (depth > 20 || value === null || typeof value !== "object") return value;
    if (Array.isArray(value)) return value.map((item) => this.walk(item, depth + 1));
    if (value instanceof Date || Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return value;
    if (value instanceof Error) return this.walk(describeError(value), depth + 1);
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [this.text(key), this.walk(item, depth + 1)]));
  }
}

/** Every secret the bot holds: its Slack and Anthropic credentials, the database password, and what `${VAR}` put into the config. */
export function secretsOf(env: Env, loaded: Pick<LoadedConfig, "interpolated">): string[] {
  const secrets: Array<string | undefined> = [env.anthropic.apiKey, databasePassword(env.databaseUrl), ...loaded.interpolated];
  if (env.mode.kind === "http") secrets.push(env.mode.botToken, env.mode.signingSecret);
  if (env.mode.kind === "socket") secrets.push(env.mode.botToken, env.mode.appToken);
  return secrets.filter((s): s is string => typeof s === "string" && s.length > 0);
}

function databasePassword(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const password = new URL(url).password;
    return password ? decodeURIComponent(password) : undefined;
  } catch {
    return undefined;
  }
}

/** A URL as it may be shown: without credentials, query string or fragment (they often carry tokens). */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    parsed.search = "";
    parsed.hash = "";
    return parsed.toString();
  } catch {
    return url.replace(/[?#].*$/, "").replace(/\/\/[^/@]*@/, "//");
  }
}

/** The same log with every message and field redacted, children included. */
export function redactLog(log: Log, redactor: Redactor): Log {
  const fields = (f?: Record<string, unknown>) => (f ? redactor.deep(f) : f);
  return {
    debug: (msg, f) => log.debug(redactor.text(msg), fields(f)),
    info: (msg, f) => log.info(redactor.text(msg), fields(f)),
    warn: (msg, f) => log.warn(redactor.text(msg), fields(f)),
    error: (msg, f) => log.error(redactor.text(msg), fields(f)),
    child: (f) => redactLog(log.child(redactor.deep(f)), redactor),
  };
}

type Fetch = typeof globalThis.fetch;
type Body = NonNullable<RequestInit["body"]>;

/**
 * The fetch every Slack Web API client and Bolt's `respond` use: request bodies (form-encoded API calls,
 * JSON response_url posts, multipart uploads) are redacted on their way to Slack, whatever built them.
 */
export function redactingFetch(redactor: Redactor, base: Fetch = globalThis.fetch): Fetch {
  return (input, init) => {
    if (!init?.body) return base(input, init);
    const contentType = new Headers(init.headers).get("content-type") ?? "";
    return base(input, { ...init, body: redactBody(init.body, contentType, redactor) });
  };
}

function redactBody(body: Body, contentType: string, redactor: Redactor): Body {
  if (typeof body === "string") {
    // Form-encoded: each value decoded, so a secret is found however it was percent-encoded.
    return contentType.includes("application/x-www-form-urlencoded") ? redactForm(new URLSearchParams(body), redactor).toString() : redactor.text(body);
  }
  if (body instanceof URLSearchParams) return redactForm(body, redactor);
  if (body instanceof FormData) {
    const out = new FormData();
    for (const [key, value] of body) {
      if (typeof value === "string") out.append(key, redactor.text(value));
      else out.append(key, value);
    }
    return out;
  }
  return body;
}

function redactForm(form: URLSearchParams, redactor: Redactor): URLSearchParams {
  const out = new URLSearchParams();
  // `token` is the credential addressed to Slack itself, not text for people to read.
  for (const [key, value] of form) out.append(key, key === "token" ? value : redactor.text(value));
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
