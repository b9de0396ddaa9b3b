import type { IncomingMessage, ServerResponse } from "node:http";
import type { Config } from "../config/schema.js";
import type { SlackEmulator } from "../emulator/emulator.js";
import { consoleRoutes, isLoopbackRequest } from "./console.js";

/** Everything sandbox mode serves besides the bot's own endpoints: the console, demo data for the gates, and the Slack emulator. */
export function sandboxRoutes(emulator: SlackEmulator, config: Config): (req: IncomingMessage, res: ServerResponse, pathname: string) => Promise<boolean> {
  const serveConsole = consoleRoutes(emulator, config);
  return async (req, res, pathname) => {
    if (!isLoopbackRequest(req)) {
      res.writeHead(403, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify({ ok: false, error: "the sandbox answers only http://localhost:<port>/, http://127.0.0.1:<port>/ or http://[::1]:<port>/" }));
      return true;
    }
    if (req.method === "GET" && pathname === "/sandbox/model-metrics.json") {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify(modelMetrics()));
      return true;
    }
    if (await serveConsole(req, res, pathname)) return true;
    return emulator.handle(req, res, pathname);
  };
}

/** What a model-evaluation service would report; the shipped orchestrator.yaml's http gate checks it (MAPE < 10 %, MAE < 2 V). */
function modelMetrics(now = new Date()): Record<string, unknown> {
  return {
    model: "voltage-lstm-v7",
    task: "grid-voltage forecast, day-ahead",
    mape: 7.8,
    mae_volts: 1.42,
    rmse_volts: 1.97,
    samples: 8760,
    evaluated_at: now.toISOString(),
  };
}
