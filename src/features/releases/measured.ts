import type { HttpCheckConfig } from "../../config/schema.js";
import type { MeasuredValue } from "../../db/schema.js";
import { checkThreshold } from "../../http/check.js";

/** Unit suffixes of metric keys: `mae_volts` is MAE in V. */
const UNIT_SUFFIXES: Array<[RegExp, string]> = [
  [/_volts?$/, "V"],
  [/_ms$/, "ms"],
  [/_(percent|pct)$/, "%"],
  [/_seconds?$/, "s"],
];

/** A key's label and unit: explicit in the config, else from the key (`mae_volts` → MAE, V; short names upper-cased). Pure. */
export function labelOf(key: string, threshold: HttpCheckConfig["expect"][string]): { label: string; unit?: string } {
  const leaf = key.split(".").at(-1) ?? key;
  let unit: string | undefined;
  let name = leaf;
  for (const [suffix, u] of UNIT_SUFFIXES) {
    if (suffix.test(leaf)) {
      unit = u;
      name = leaf.replace(suffix, "");
      break;
    }
  }
  const derived = name.length <= 4 && /^[a-z0-9]+$/.test(name) ? name.toUpperCase() : name.replace(/_/g, " ");
  const finalUnit = threshold.unit ?? unit;
  return { label: threshold.label ?? derived, ...(finalUnit ? { unit: finalUnit } : {}) };
}

/** Each expected value as measured, with its threshold and whether it passed. Pure. */
export function measuredValues(values: Record<string, unknown>, expect: HttpCheckConfig["expect"]): MeasuredValue[] {
  return Object.entries(expect).map(([key, threshold]) => {
    const value = values[key];
    return {
      key,
      ...labelOf(key, threshold),
      value: value === undefined ? null : value,
      ...(threshold.max !== undefined ? { max: threshold.max } : {}),
      ...(threshold.min !== undefined ? { min: threshold.min } : {}),
      ...(threshold.equals !== undefined ? { equals: threshold.equals } : {}),
      ok: checkThreshold(key, value, threshold) === undefined,
    };
  });
}

/** `MAPE 7.2 (max 10) · MAE 1.4 V (max 2)`: values against thresholds, a failing one marked. Pure. */
export function measuredLine(measured: readonly MeasuredValue[]): string {
  return measured
    .map((m) => {
      const unit = m.unit ? (m.unit === "%" ? "%" : ` ${m.unit}`) : "";
      const value = m.value === null ? "missing" : `${typeof m.value === "string" ? m.value : JSON.stringify(m.value)}${typeof m.value === "number" ? unit : ""}`;
      const limits = [m.max !== undefined ? `max ${m.max}` : "", m.min !== undefined ? `min ${m.min}` : "", m.equals !== undefined ? `expected ${JSON.stringify(m.equals)}` : ""]
        .filter(Boolean)
        .join(", ");
      return `${m.ok ? "" : ":warning: "}${m.label} ${value}${limits ? ` (${limits})` : ""}`;
    })
    .join(" · ");
}

/** "exit 0 · 3.2 s" for a run gate. Pure. */
export function runOutcome(gate: { exitCode?: number | null; durationMs?: number }): string {
  const exit = gate.exitCode === undefined ? "" : gate.exitCode === null ? "no exit status" : `exit ${gate.exitCode}`;
  const duration = gate.durationMs === undefined ? "" : gate.durationMs < 10_000 ? `${(gate.durationMs / 1000).toFixed(1)} s` : `${Math.round(gate.durationMs / 1000)} s`;
  return [exit, duration].filter(Boolean).join(" · ");
}
