import type { GateConfig } from "../../config/schema.js";
import type { GateResult } from "../../db/schema.js";
import { type ExecContext, runArgv, substitute } from "../../exec/run.js";
import { runHttpCheck } from "../../http/check.js";
import { measuredValues } from "./measured.js";

/** Each configured gate before it runs; manual gates are confirmed by approving. */
export function initialGates(gates: readonly GateConfig[]): GateResult[] {
  return gates.map((gate) => {
    if ("manual" in gate) return { name: gate.name, kind: "manual", status: "manual", detail: "confirmed by the approver" };
    return { name: gate.name, kind: "run" in gate ? "run" : "http", status: "pending", detail: "waiting" };
  });
}

interface GateRunContext {
  exec: ExecContext;
  version: string;
  environment: string;
  signal: AbortSignal;
}

/**
 * Runs every automatic gate at once; `onProgress` sees the list each time one starts or finishes.
 * Resolves with the final list; passed when no gate failed.
 */
export async function runGates(
  gates: readonly GateConfig[],
  context: GateRunContext,
  onProgress: (results: GateResult[]) => Promise<void> | void,
): Promise<{ passed: boolean; results: GateResult[] }> {
  const results = initialGates(gates);
  const update = async (index: number, result: Partial<GateResult>) => {
    results[index] = { ...(results[index] as GateResult), ...result };
    await onProgress(results.map((r) => ({ ...r })));
  };
  await Promise.all(
    gates.map(async (gate, index) => {
      if ("manual" in gate) return;
      await update(index, { status: "running", detail: "running" });
      const started = performance.now();
      if ("run" in gate) {
        const run = await runArgv({ argv: substitute(gate.run, context), exec: context.exec, timeoutMs: gate.timeout, signal: context.signal });
        const lastLine = run.tail.split("\n").filter(Boolean).at(-1) ?? "";
        await update(index, {
          status: run.ok ? "passed" : "failed",
          detail: run.ok ? lastLine.slice(0, 200) || "exit code 0" : `${run.failure ?? "failed"}${lastLine ? `: ${lastLine.slice(0, 200)}` : ""}`,
          output: run.tail,
          durationMs: run.durationMs,
          exitCode: run.exitCode,
        });
        return;
      }
      const check = await runHttpCheck(gate.http, context.signal);
      await update(index, {
        status: check.ok ? "passed" : "failed",
        detail: check.detail.slice(0, 300),
        durationMs: Math.round(performance.now() - started),
        ...(Object.keys(check.values).length > 0 ? { measured: measuredValues(check.values, gate.http.expect) } : {}),
      });
    }),
  );
  return { passed: results.every((r) => r.status === "passed" || r.status === "manual"), results };
}
