import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { App, type AppOptions, type ReceiverEvent } from "@slack/bolt";
import { WebClient } from "@slack/web-api";
import { Background } from "./core/background.js";
import { Claude, type ClaudeOptions } from "./features/ai/claude.js";
import { aiFeature } from "./features/ai/feature.js";
import { loadPrompts, PromptError } from "./features/ai/prompts.js";
import { ClaudeTriage, type TriageTimings } from "./features/ai/claude-triage.js";
import { claudeWriter } from "./features/ai/writer.js";
import { helpFeature } from "./features/help/feature.js";
import { listenForCommands } from "./core/commands/listener.js";
import { CommandRouter } from "./core/commands/router.js";
import { CommandRunner } from "./core/commands/runner.js";
import type { LoadedConfig } from "./config/load.js";
import { type Database, isDatabaseError, openDatabase } from "./db/client.js";
import type { SlackEmulator } from "./emulator/emulator.js";
import type { Env } from "./env.js";
import { childEnvironment, type ExecContext } from "./exec/run.js";
import type { Feature, FeatureContext, Services } from "./core/feature.js";
import { doraFeature } from "./features/dora/feature.js";
import { feedbackFeature } from "./features/feedback/feature.js";
import { healthFeature } from "./features/health/feature.js";
import { FeedbackService } from "./features/feedback/service.js";
import { FeedbackAccess } from "./features/feedback/visibility.js";
import { type HttpServer, startHttpServer } from "./http/server.js";
import { reportsFeature } from "./features/reports/feature.js";
import { JobBodies } from "./core/jobs/registry.js";
import type { SchedulerTimings } from "./core/jobs/scheduler.js";
import { createLog, type Log, slackLogger } from "./log.js";
import { createMetrics } from "./metrics.js";
import { Redactor, redactingFetch, redactLog, secretsOf } from "./redact.js";
import { releasesFeature } from "./features/releases/feature.js";
import { ReleaseService, type ReleaseTimings } from "./features/releases/service.js";
import { type PersistedWorkspace, persistWorkspace } from "./sandbox/persist.js";
import { ensureDemoRepository } from "./sandbox/repository.js";
import { sandboxRoutes } from "./sandbox/routes.js";
import { createSandboxEmulator } from "./sandbox/seed.js";
import { dedupeEvents } from "./slack/dedupe.js";
import { ReplayGuard } from "./slack/replay.js";
import { ChannelPoster } from "./slack/post.js";
import { SignedRequestReceiver } from "./slack/receiver.js";
import { SlackListeners } from "./slack/listeners.js";
import { LosslessSocketModeReceiver } from "./slack/socket-receiver.js";
import { StatusBoard } from "./core/status/board.js";
import { statusFeature } from "./features/status/feature.js";

export interface StartOptions {
  env: Env;
  loaded: LoadedConfig;
  log?: Log;
  /** An open database to use instead of opening one from the environment; the caller closes it. */
  database?: Database;
  replicaId?: string;
  /** Interface to listen on; all interfaces when omitted. */
  host?: string;
  /** Pause between posts to one channel (Slack allows about one per second). */
  postSpacingMs?: number;
  /** Pause between :inbox_tray: reactions (Slack allows about 50 a minute). */
  reactionSpacingMs?: number;
  /** Retries of a failed Slack Web API call (a rate-limited call waits for Retry-After and counts as one). */
  slackRetries?: number;
  /** How long shutdown waits for running work before interrupting it (default: SHUTDOWN_GRACE_SECONDS). */
  shutdownGraceMs?: number;
  releaseTimings?: ReleaseTimings;
  /** Scheduler leases, heartbeats and timers (tests shorten them or fire slots by hand). */
  jobs?: SchedulerTimings;
  /** Claude client settings (tests shorten timeouts and retries). */
  claude?: Partial<Pick<ClaudeOptions, "timeoutMs" | "maxRetries">>;
  triage?: TriageTimings;
  mentionDeadlineMs?: number;
  /** Told each start-up step as a sentence, for the person starting the bot (main prints them). */
  progress?: (line: string) => void;
  /** Pauses between start-up attempts to reach Slack's Web API after the first failure. */
  slackConnectRetriesMs?: number[];
  /** Socket Mode client timings (tests shorten the reconnect backoff). */
  socketMode?: { clientPingTimeoutMs?: number; serverPingTimeoutMs?: number };
}

export interface Orchestrator {
  url: string;
  port: number;
  services: Services;
  releases: ReleaseService;
  feedback: FeedbackService;
  emulator?: SlackEmulator;
  stop(): Promise<void>;
}

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

export async function startOrchestrator(options: StartOptions): Promise<Orchestrator> {
  const { env, loaded } = options;
  const { config } = loaded;
  const mode = env.mode;
  // The sandbox's own credentials for its built-in emulator, made up per start.
  const sandboxCredentials = {
    botToken: `xoxb-sandbox-${randomBytes(12).toString("hex")}`,
    signingSecret: randomBytes(16).toString("hex"),
    appToken: `xapp-1-sandbox-${randomBytes(12).toString("hex")}`,
  };
  // Built first, so that nothing the bot logs, posts or stores can pass it by.
  const redactor = new Redactor([...secretsOf(env, loaded), ...(mode.kind === "sandbox" ? Object.values(sandboxCredentials) : [])]);
  const log = redactLog(options.log ?? createLog(env.logLevel), redactor);
  // How every configured command runs: in the config's folder, with an explicit environment, its output redacted.
  const exec: ExecContext = { cwd: loaded.dir, env: childEnvironment(config.exec.env, config.timezone), redact: (text) => redactor.text(text) };
  const metrics = createMetrics();
  const replicaId = options.replicaId ?? `${hostname()}-${process.pid}-${randomBytes(2).toString("hex")}`;
  let prompts: ReturnType<typeof loadPrompts>;
  try {
    prompts = loadPrompts();
  } catch (error) {
    if (error instanceof PromptError) throw new StartupError(error.message);
    throw error;
  }
  const ownsDatabase = options.database === undefined;
  const database =
    options.database ??
    (await openDatabase({
      databaseUrl: env.databaseUrl,
      dataDir: env.dataDir,
      onDatabaseError: (error) => log.error("database failure", { error }),
      ...(options.progress ? { progress: options.progress } : {}),
    }));
  const cleanup: Array<() => Promise<void>> = [];
  if (ownsDatabase) cleanup.push(() => database.close());

  try {
    let emulator: SlackEmulator | undefined;
    let persisted: PersistedWorkspace | undefined;
    let botToken: string;
    // HTTP mode and the HTTP sandbox take signed requests; Socket Mode (and the socket sandbox) connects with the app token.
    let signed: SignedRequestReceiver | undefined;
    let appToken: string | undefined;
    let apiUrl: string | undefined;
    const replay = new ReplayGuard(database.db, database.urgent, log, metrics, { inProcess: database.kind === "pglite" });
    if (mode.kind === "sandbox") {
      botToken = sandboxCredentials.botToken;
      const signingSecret = sandboxCredentials.signingSecret;
      if (mode.transport === "socket") appToken = sandboxCredentials.appToken;
      else signed = new SignedRequestReceiver({ signingSecret, log, metrics, replay });
      emulator = createSandboxEmulator(config, { botToken, signingSecret, ...(appToken ? { appToken } : {}) });
      // Tokens are new on every start; the conversation is not, so its buttons still work after a restart.
      if (env.dataDir) {
        persisted = persistWorkspace(emulator, env.dataDir, log);
        cleanup.push(async () => persisted?.close());
      }
      if (config.repository) await ensureDemoRepository(config.repository, exec, log);
    } else if (mode.kind === "http") {
      botToken = mode.botToken;
      apiUrl = mode.apiUrl;
      signed = new SignedRequestReceiver({ signingSecret: mode.signingSecret, log, metrics, replay });
    } else {
      botToken = mode.botToken;
      apiUrl = mode.apiUrl;
      appToken = mode.appToken;
    }

    const health = async () => {
      const up = await database.ping();
      metrics.up.set(up ? 1 : 0);
      if (!up) metrics.dbErrors.inc({ operation: "health ping" });
      const body = { status: up ? "ok" : "unavailable", database: up ? "up" : "down", databaseKind: database.kind, mode: mode.kind, replica: replicaId };
      return { status: up ? 200 : 503, body };
    };
    const http: HttpServer = await startHttpServer(
      {
        health,
        metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
        ...(signed ? { slack: (req, res, raw) => signed.handle(req, res, raw) } : {}),
        ...(emulator ? { extra: sandboxRoutes(emulator, config) } : {}),
        ...(emulator?.socketMode ? { upgrade: (req, socket, head) => emulator.socketMode?.upgrade(req, socket, head) ?? false } : {}),
      },
      env.port,
      log,
      options.host,
    );
    cleanup.unshift(() => http.close());
    const localUrl = `http://127.0.0.1:${http.port}`;
    if (emulator) {
      emulator.setBaseUrl(localUrl);
      emulator.setRequestUrl(`${localUrl}/slack/events`);
      apiUrl = `${localUrl}/api/`;
    }

    const clientOptions = {
      ...(apiUrl ? { slackApiUrl: apiUrl } : {}),
      retryConfig: { retries: options.slackRetries ?? 5, factor: 2, minTimeout: 500, maxTimeout: 30_000, randomize: true },
      logger: slackLogger(log, env.logLevel),
      timeout: 30_000,
      // Every Web API call and every response_url post (Bolt's respond uses this fetch too) is redacted on its way out.
      fetch: redactingFetch(redactor),
    };
    const slack = new WebClient(botToken, clientOptions);
    // Checked without the client's retries (and their bare "fetch failed" warnings) so an unreachable Slack is named at once.
    const bot = await identify(new WebClient(botToken, { ...clientOptions, retryConfig: { retries: 0 }, logger: slackLogger(log, "error") }), {
      url: withoutCredentials(apiUrl ?? "https://slack.com/api/"),
      progress: options.progress ?? ((line) => log.warn(line)),
      pausesMs: options.slackConnectRetriesMs ?? [1000, 2000, 4000, 8000, 15_000],
    });
    const socket = appToken ? new LosslessSocketModeReceiver({ appToken, ...(apiUrl ? { apiUrl } : {}), log, metrics, logger: slackLogger(log, env.logLevel), ...options.socketMode }) : undefined;
    const receiver = signed ?? socket;
    if (!receiver) throw new StartupError("no Slack receiver for this mode");

    const app = new RedactingApp(redactor, {
      token: botToken,
      botId: bot.botId,
      botUserId: bot.userId,
      receiver,
      logger: slackLogger(log, env.logLevel),
      clientOptions,
      convoStore: false,
      ignoreSelf: true,
    });
    app.error(async (error) => {
      const cause = error.original ?? error;
      log.error("slack listener failed", { error: cause });
      if (isDatabaseError(cause)) metrics.dbErrors.inc({ operation: "slack request" });
      throw cause;
    });
    app.use(dedupeEvents(database.db, log));

    const background = new Background(log, (task, error) => {
      if (isDatabaseError(error)) metrics.dbErrors.inc({ operation: task.split(" ")[0] ?? "task" });
    });
    const services: Services = {
      config,
      configDir: loaded.dir,
      exec,
      db: database.db,
      database,
      log,
      metrics,
      slack,
      poster: new ChannelPoster(slack, options.postSpacingMs ?? 1100),
      background,
      replicaId,
      bot,
      mode: mode.kind,
    };
    const commands = new CommandRouter(
      config.command,
      (user) => config.people.admins.includes(user),
      () => (config.people.admins.length > 0 ? `Admins: ${config.people.admins.map((u) => `<@${u}>`).join(", ")}.` : "No admins are configured (people.admins)."),
    );
    const commandRunner = new CommandRunner(config.command, services);
    const starters: Array<() => Promise<void> | void> = [() => replay.start()];
    const stoppers: Array<() => Promise<void> | void> = [() => replay.stop()];
    const context: FeatureContext = {
      listeners: new SlackListeners(app),
      services,
      commands,
      commandRunner,
      status: new StatusBoard(),
      jobs: new JobBodies(),
      onStart: (fn) => starters.push(fn),
      onStop: (fn) => stoppers.push(fn),
    };
    const releases = new ReleaseService(services, options.releaseTimings);
    // Every capability, each registering its own listeners, commands, status lines and jobs.
    const feedback = new FeedbackService(services, options.reactionSpacingMs);
    const feedbackAccess = new FeedbackAccess(slack, () => config.people.admins, log);
    const claude = env.anthropic.apiKey
      ? new Claude(
          { apiKey: env.anthropic.apiKey, model: env.anthropic.model, ...(env.anthropic.baseUrl ? { baseUrl: env.anthropic.baseUrl } : {}), ...options.claude },
          { db: database.db, log, metrics },
        )
      : undefined;
    const triage = claude ? new ClaudeTriage(claude, prompts.triage.body, services, options.triage) : undefined;
    if (triage) feedback.useTriager(triage);
    const features: Feature[] = [
      helpFeature,
      statusFeature,
      releasesFeature(releases),
      doraFeature(),
      healthFeature,
      feedbackFeature(feedback, feedbackAccess),
      reportsFeature({ access: feedbackAccess, timings: options.jobs, ...(claude ? { writer: claudeWriter(claude, prompts.digest.body) } : {}) }),
      aiFeature({
        prompts,
        releases,
        access: feedbackAccess,
        ...(claude ? { claude } : {}),
        ...(triage ? { triage } : {}),
        ...(options.mentionDeadlineMs ? { mentionDeadlineMs: options.mentionDeadlineMs } : {}),
      }),
    ];
    for (const feature of features) feature(context);
    listenForCommands(context.listeners, commands, commandRunner);

    if (socket) {
      try {
        await app.start();
      } catch (error) {
        const slackError = (error as { data?: { error?: string } }).data?.error;
        throw new StartupError(
          slackError ? `Slack refused the app token (${slackError}): check SLACK_APP_TOKEN and that Socket Mode is enabled` : `cannot open a Socket Mode connection: ${(error as Error).message}`,
        );
      }
    }
    for (const start of starters) await start();
    log.info("orchestrator started", { mode: mode.kind, database: database.kind, location: database.location, port: http.port, replica: replicaId });

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        // A deploy, gates or a job started from now on (by an envelope that arrives while the connection closes) runs no command.
        background.close();
        // Take no new envelopes first (an un-acked one goes to another replica), as closing the HTTP server takes no new requests.
        if (socket) await app.stop().catch((error: unknown) => log.warn("socket mode disconnect failed", { error }));
        await http.close();
        for (const stopFn of stoppers.reverse()) await Promise.resolve(stopFn()).catch((error: unknown) => log.error("stop hook failed", { error }));
        await background.drain(options.shutdownGraceMs ?? env.shutdownGraceMs);
        emulator?.stop();
        persisted?.close();
        if (ownsDatabase) await database.close();
        log.info("orchestrator stopped", { replica: replicaId });
      })();
      return stopping;
    };
    return { url: localUrl, port: http.port, services, releases, feedback, ...(emulator ? { emulator } : {}), stop };
  } catch (error) {
    for (const fn of cleanup) await fn().catch(() => undefined);
    throw error;
  }
}

/** Bolt's App whose acknowledgements (the HTTP or Socket Mode reply to Slack) are redacted like every other text. */
class RedactingApp extends App {
  constructor(
    private readonly redactor: Redactor,
    options: AppOptions,
  ) {
    super(options);
  }

  override processEvent(event: ReceiverEvent): Promise<void> {
    return super.processEvent({ ...event, ack: (response?: unknown) => event.ack(this.redactor.deep(response)) });
  }
}

async function identify(slack: WebClient, reach: { url: string; progress: (line: string) => void; pausesMs: number[] }): Promise<Services["bot"]> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      const result = await slack.auth.test();
      if (!result.user_id || !result.team_id) throw new StartupError("Slack's auth.test did not name the bot user");
      if (attempt > 0) reach.progress(`Reached Slack's Web API at ${reach.url}.`);
      return { userId: result.user_id, botId: result.bot_id ?? "", teamId: result.team_id, workspaceUrl: result.url ?? "https://slack.com/" };
    } catch (error) {
      if (error instanceof StartupError) throw error;
      const slackError = (error as { data?: { error?: string } }).data?.error;
      if (slackError) throw new StartupError(`Slack refused the bot token (${slackError}): check SLACK_BOT_TOKEN`);
      const reason = unreachableReason(error);
      const pause = reach.pausesMs[attempt];
      if (pause === undefined) throw new StartupError(`cannot reach Slack's Web API at ${reach.url} (${reason}): check SLACK_API_URL and the network`);
      if (attempt === 0) {
        const total = Math.round(reach.pausesMs.reduce((sum, ms) => sum + ms, 0) / 1000);
        reach.progress(`cannot reach Slack's Web API at ${reach.url} (${reason}); trying again for ${total} s…`);
      }
      await new Promise((resolveWait) => setTimeout(resolveWait, pause));
    }
  }
}

/** A URL as people may see it: no credentials, no query string. */
function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
}

/** The network's own words for a failed request (ECONNREFUSED, ENOTFOUND, a timeout) rather than "fetch failed". */
function unreachableReason(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && /^E[A-Z]+$|^UND_ERR/.test(code)) return code;
    current = (current as { original?: unknown; cause?: unknown }).original ?? (current as { cause?: unknown }).cause;
  }
  return error instanceof Error ? error.message : String(error);
}
