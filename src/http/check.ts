import type { HttpCheckConfig } from "../config/schema.js";
import { displayUrl } from "../redact.js";

interface HttpCheckResult {
  ok: boolean;
  detail: string;
  statusCode?: number;
  latencyMs: number;
  /** The values found for each expected key. */
  values: Record<string, unknown>;
}

type Threshold = HttpCheckConfig["expect"][string];

/** Reads `a.b.c` from parsed JSON. */
function readPath(data: unknown, path: string): unknown {
  let current: unknown = data;
  for (const part of path.split(".")) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** Checks one value against its threshold; undefined when it passes, else why not. Pure. */
export function checkThreshold(key: string, value: unknown, threshold: Threshold): string | undefined {
  if (value === undefined) return `${key} is missing`;
  if (threshold.equals !== undefined && value !== threshold.equals) return `${key} is ${JSON.stringify(value)}, expected ${JSON.stringify(threshold.equals)}`;
  if (threshold.max !== undefined || threshold.min !== undefined) {
    if (typeof value !== "number" || Number.isNaN(value)) return `${key} is ${JSON.stringify(value)}, not a number`;
    if (threshold.max !== undefined && value > threshold.max) return `${key} ${value} is above the maximum ${threshold.max}`;
    if (threshold.min !== undefined && value < threshold.min) return `${key} ${value} is below the minimum ${threshold.min}`;
  }
  return undefined;
}

/** Evaluates every expectation against a JSON document; the detail lists each value and each failure. */
function evaluateExpectations(data: unknown, expect: HttpCheckConfig["expect"]): { ok: boolean; detail: string; values: Record<string, unknown> } {
  const values: Record<string, unknown> = {};
  const failures: string[] = [];
  const passes: string[] = [];
  for (const [key, threshold] of Object.entries(expect)) {
    const value = readPath(data, key);
    values[key] = value;
    const problem = checkThreshold(key, value, threshold);
    if (problem) failures.push(problem);
    else passes.push(`${key} ${JSON.stringify(value)}${threshold.max !== undefined ? ` ≤ ${threshold.max}` : ""}${threshold.min !== undefined ? ` ≥ ${threshold.min}` : ""}`);
  }
  return { ok: failures.length === 0, detail: failures.length > 0 ? failures.join("; ") : passes.join(", ") || "reachable", values };
}

/** GET a URL, expect 2xx JSON, and check the expected keys. */
export async function runHttpCheck(check: { url: string; expect: HttpCheckConfig["expect"]; timeout: number }, signal?: AbortSignal): Promise<HttpCheckResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const { url, authorization } = splitCredentials(check.url);
    const response = await fetch(url, {
      headers: { accept: "application/json", ...(authorization ? { authorization } : {}) },
      signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(check.timeout)]) : AbortSignal.timeout(check.timeout),
    });
    const body = await response.text();
    const latencyMs = elapsed();
    if (!response.ok) return { ok: false, detail: `HTTP ${response.status} from ${displayUrl(check.url)}`, statusCode: response.status, latencyMs, values: {} };
    if (Object.keys(check.expect).length === 0) return { ok: true, detail: `HTTP ${response.status} in ${latencyMs} ms`, statusCode: response.status, latencyMs, values: {} };
    let data: unknown;
    try {
      data = JSON.parse(body);
    } catch {
      return { ok: false, detail: `${displayUrl(check.url)} did not return JSON`, statusCode: response.status, latencyMs, values: {} };
    }
    return { ...evaluateExpectations(data, check.expect), statusCode: response.status, latencyMs };
  } catch (error) {
    const name = (error as Error).name;
    const reason =
      name === "TimeoutError"
        ? `no answer within ${Math.round(check.timeout / 1000)}s`
        : name === "AbortError"
          ? "interrupted"
          : `cannot reach ${displayUrl(check.url)} (${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name})`;
    return { ok: false, detail: reason, latencyMs: elapsed(), values: {} };
  }
}

/** fetch refuses URLs with credentials: `https://user:pw@host/…` becomes the bare URL and a Basic authorization header. */
export function splitCredentials(text: string): { url: string; authorization?: string } {
  const url = new URL(text);
  if (!url.username && !url.password) return { url: text };
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  url.username = "";
  url.password = "";
  return { url: url.toString(), authorization: `Basic ${Buffer.from(credentials).toString("base64")}` };
}
