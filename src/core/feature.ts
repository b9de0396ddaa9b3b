import type { WebClient } from "@slack/web-api";
import type { Background } from "./background.js";
import type { CommandRouter } from "./commands/router.js";
import type { CommandRunner } from "./commands/runner.js";
import type { Config } from "../config/schema.js";
import type { Database, Db } from "../db/client.js";
import type { ExecContext } from "../exec/run.js";
import type { Log } from "../log.js";
import type { JobBodies } from "./jobs/registry.js";
import type { Metrics } from "../metrics.js";
import type { SlackListeners } from "../slack/listeners.js";
import type { ChannelPoster } from "../slack/post.js";
import type { StatusBoard } from "./status/board.js";

/** What every feature may use: the configuration, the one db handle, Slack, logs and metrics. */
export interface Services {
  config: Config;
  /** Folder of the config file, where `run` commands execute. */
  configDir: string;
  /** How every configured command runs: folder, explicit environment, redaction of its output. */
  exec: ExecContext;
  db: Db;
  database: Database;
  log: Log;
  metrics: Metrics;
  slack: WebClient;
  poster: ChannelPoster;
  background: Background;
  /** This process among the replicas sharing the database. */
  replicaId: string;
  /** The bot's identity and its workspace's URL (for permalinks), from auth.test. */
  bot: { userId: string; botId: string; teamId: string; workspaceUrl: string };
  mode: "http" | "socket" | "sandbox";
}

interface Lifecycle {
  onStart(fn: () => Promise<void> | void): void;
  onStop(fn: () => Promise<void> | void): void;
}

/** A feature is a function that registers its listeners, commands, status lines and jobs (Probot's app model). */
export interface FeatureContext extends Lifecycle {
  /** Where a feature registers its Slack listeners (buttons, dialogs, shortcuts, events). */
  listeners: SlackListeners;
  services: Services;
  commands: CommandRouter;
  /** Runs a resolved command as the slash command does (same queue, same answers): for another surface that runs commands, a mention. */
  commandRunner: CommandRunner;
  status: StatusBoard;
  jobs: JobBodies;
}

export type Feature = (ctx: FeatureContext) => void;
