import type { EnvironmentConfig } from "../../config/schema.js";
import { splitCredentials } from "../../http/check.js";

export interface HealthResult {
  ok: boolean;
  detail: string;
  statusCode?: number;
  latencyMs: number;
}

/** GET the health URL: a 2xx within `maxLatencyMs` is healthy. */
export async function checkHealth(health: NonNullable<EnvironmentConfig["health"]>, signal?: AbortSignal): Promise<HealthResult> {
  const started = performance.now();
  try {
    const { url, authorization } = splitCredentials(health.url);
    const response = await fetch(url, {
      ...(authorization ? { headers: { authorization } } : {}),
      signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(health.timeout)]) : AbortSignal.timeout(health.timeout),
    });
    await response.arrayBuffer();
    const latencyMs = Math.round(performance.now() - started);
    if (!response.ok) return { ok: false, detail: `HTTP ${response.status} in ${latencyMs} ms`, statusCode: response.status, latencyMs };
    if (latencyMs > health.maxLatencyMs) return { ok: false, detail: `slow: ${latencyMs} ms (limit ${health.maxLatencyMs} ms)`, statusCode: response.status, latencyMs };
    return { ok: true, detail: `HTTP ${response.status} in ${latencyMs} ms`, statusCode: response.status, latencyMs };
  } catch (error) {
    const latencyMs = Math.round(performance.now() - started);
    const name = (error as Error).name;
    const detail =
      name === "TimeoutError" ? `no answer within ${Math.round(health.timeout / 1000)}s` : `unreachable (${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name})`;
    return { ok: false, detail, latencyMs };
  }
}
