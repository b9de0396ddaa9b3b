import { StartupError, startOrchestrator } from "./app.js";
import { ConfigError, loadConfigFile } from "./config/load.js";
import { DataDirInUseError } from "./db/lock.js";
import { EnvError, readEnv } from "./env.js";

async function main(): Promise<void> {
  const env = readEnv();
  const loaded = loadConfigFile(env.configPath);
  // The sandbox console has no login: it is for a person on this machine, so it listens on loopback only.
  const say = (line: string) => process.stdout.write(`${line}\n`);
  for (const warning of loaded.warnings ?? []) say(`Warning: ${loaded.path}: ${warning}`);
  const orchestrator = await startOrchestrator({ env, loaded, progress: say, ...(env.mode.kind === "sandbox" ? { host: "127.0.0.1" } : {}) });
  const database = orchestrator.services.database;
  // The bot's log, which goes through the redactor.
  const log = orchestrator.services.log;
  const modeLine =
    env.mode.kind === "sandbox"
      ? `sandbox mode (built-in Slack emulator) — open http://localhost:${orchestrator.port}/`
      : env.mode.kind === "http"
        ? `HTTP mode — Slack Request URL: https://<your host>/slack/events (listening on port ${orchestrator.port})`
        : `Socket Mode — connected to Slack; /healthz and /metrics on port ${orchestrator.port}`;
  process.stdout.write(`Orchestrator is running in ${modeLine}\nDatabase: ${database.description}. Config: ${loaded.path}\n`);

  let signals = 0;
  const shutdown = (signal: string) => {
    signals += 1;
    if (signals > 1) process.exit(1);
    log.info("shutting down", { signal });
    orchestrator.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error("shutdown failed", { error });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  if (error instanceof EnvError || error instanceof ConfigError || error instanceof StartupError || error instanceof DataDirInUseError) {
    process.stderr.write(`${error.message}\n`);
  } else {
    process.stderr.write(`Orchestrator could not start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  process.exit(1);
});
