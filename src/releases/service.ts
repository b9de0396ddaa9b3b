import { and, desc, eq } from "drizzle-orm";
import { formatDuration } from "../config/duration.js";
import type { EnvironmentConfig } from "../config/schema.js";
import { type ReleaseState, releaseTransitions } from "../db/schema.js";
import type { Services } from "../feature.js";
import { codeBlock, escapeMrkdwn } from "../slack/text.js";
import { stateLabel, releaseMessage, type ReleaseView } from "./blocks.js";
import { runDeploy, verifyDeploy } from "./deploy.js";
import { runGates } from "./gates.js";
import { checkApprove, checkReject, describeState, parseVersion } from "./machine.js";
import {
  approve,
  approversOf,
  createRelease,
  currentLive,
  expirePending,
  failInterrupted,
  failOnShutdown,
  getRelease,
  HEARTBEAT_MS,
  heartbeat,
  LEASE_SECONDS,
  type Release,
  saveGates,
  setMessage,
  transition,
} from "./store.js";

export type RequestResult = { ok: true; release: Release; permalink?: string } | { ok: false; reason: string };

export interface ReleaseTimings {
  /** How often a replica renews its claim on a release it drives. */
  heartbeatMs?: number;
  webhookBackoffMs?: number;
  healthAttempts?: number;
  healthIntervalMs?: number;
}

/**
 * Drives releases through SPEC §4: request, gates, approvals, deploy, verification. The state only
 * ever moves through the store's conditional updates; Slack messages are rendered from the database
 * afterwards, so a lost or late message update never changes what happened.
 */
export class ReleaseService {
  private readonly refreshing = new Map<number, Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly services: Services,
    private readonly timings: ReleaseTimings = {},
  ) {}

  private get config() {
    return this.services.config;
  }

  environment(name: string): EnvironmentConfig | undefined {
    return this.config.environments.find((e) => e.name === name);
  }

  /** Starts a release exactly as `/orch release` does; mentions use this same path. */
  async request(input: { version: string; environment?: string; requester: string }): Promise<RequestResult> {
    const { db, background, replicaId } = this.services;
    const parsed = parseVersion(input.version);
    if (!parsed.ok) return { ok: false, reason: parsed.reason };
    const normalized = parsed.version;
    const envName = input.environment ?? this.config.environments[0]?.name ?? "";
    const env = this.environment(envName);
    if (!env) return { ok: false, reason: `\`${envName.slice(0, 40)}\` is not an environment: use ${this.config.environments.map((e) => `\`${e.name}\``).join(" or ")}` };
    if (env.after) {
      const upstream = await currentLive(db, env.after);
      if (upstream?.semver !== normalized) {
        return {
          ok: false,
          reason: `${env.name} takes only a version that is live on ${env.after} first; ${env.after} has ${upstream ? `\`${upstream.version}\`` : "nothing"} live. Release \`${normalized}\` to ${env.after} first.`,
        };
      }
    }
    const live = await currentLive(db, env.name);
    if (live?.semver === normalized) return { ok: false, reason: `\`${live.version}\` is already live on ${env.name}.` };
    const created = await createRelease(db, {
      version: normalized,
      semver: normalized,
      environment: env.name,
      requester: input.requester,
      requiredApprovals: env.approvals,
      gates: [],
      owner: replicaId,
    });
    if (!created.ok) {
      const flying = created.inFlight;
      const link = flying ? await this.permalink(flying) : undefined;
      return {
        ok: false,
        reason: `\`${normalized}\` is already in flight to ${env.name}${flying ? ` (${stateLabel(flying.state).replace(/^:[a-z_]+: /, "").toLowerCase()}, release #${flying.id})` : ""}.${link ? ` <${link}|See its message>.` : ""}`,
      };
    }
    const release = created.release;
    this.services.metrics.releases.inc({ environment: env.name, state: "gating" });
    await this.refresh(release.id);
    void background.run(`gates of release #${release.id}`, (signal) => this.gatePhase(release, signal));
    const fresh = (await getRelease(db, release.id)) ?? release;
    const permalink = await this.permalink(fresh);
    return { ok: true, release: fresh, ...(permalink ? { permalink } : {}) };
  }

  private async gatePhase(release: Release, shutdown: AbortSignal): Promise<void> {
    const { db, replicaId, exec, log } = this.services;
    const { signal, stop: stopHeartbeat } = this.keepAlive(release.id, shutdown);
    let queue: Promise<void> = Promise.resolve();
    try {
      const { passed, results } = await runGates(this.config.gates, { exec, version: release.version, environment: release.environment, signal }, (gates) => {
        // Progress is saved and shown in order, so an older snapshot never overwrites a newer one.
        queue = queue.then(async () => {
          if (await saveGates(db, release.id, gates)) await this.refresh(release.id);
        });
        return queue;
      });
      await queue;
      if (signal.aborted) {
        await this.afterMove(await failOnShutdown(db, release.id, "gating"), "Gates were interrupted because Orchestrator shut down.");
        return;
      }
      if (passed) {
        const moved = await transition(db, release.id, "awaiting_approval", "orchestrator", "all gates passed", { gates: results, awaiting: true });
        const who = this.config.people.approvers.filter((u) => u !== release.requester).map((u) => `<@${u}>`).join(", ");
        await this.afterMove(moved, `All gates passed. Waiting for ${release.requiredApprovals} approval${release.requiredApprovals === 1 ? "" : "s"} from ${who}.`);
        return;
      }
      const failed = results.filter((g) => g.status === "failed");
      const moved = await transition(db, release.id, "blocked", "orchestrator", `gate failed: ${failed.map((g) => g.name).join(", ")}`, {
        gates: results,
        reason: failed.map((g) => `${g.name}: ${g.detail}`).join("; "),
        outputTail: failed.map((g) => (g.output ? `[${g.name}]\n${g.output}` : "")).filter(Boolean).join("\n\n") || null,
      });
      await this.afterMove(moved, `<@${release.requester}> the release is blocked: ${failed.map((g) => `*${escapeMrkdwn(g.name)}* failed (${escapeMrkdwn(g.detail)})`).join("; ")}. Fix it and release again.`);
    } catch (error) {
      log.error("gates failed to run", { releaseId: release.id, replica: replicaId, error });
      await this.afterMove(
        await transition(db, release.id, "failed", "orchestrator", "gates could not run", { reason: `Gates could not run: ${(error as Error).message}` }).catch(() => undefined),
        "The gates could not run; see the alerts channel.",
      );
    } finally {
      stopHeartbeat();
    }
  }

  /** An approver clicked Approve. Returns what only they should read, if anything. */
  async approveClick(releaseId: number, user: string): Promise<string> {
    const { db, replicaId, background } = this.services;
    const release = await getRelease(db, releaseId);
    if (!release) return "This release no longer exists.";
    const approvedBy = (await approversOf(db, releaseId)).map((a) => a.approver);
    const verdict = checkApprove({ state: release.state, requester: release.requester, approvers: this.config.people.approvers, approvedBy, required: release.requiredApprovals }, user);
    if (!verdict.ok) return verdict.reason;
    const outcome = await approve(db, releaseId, user, replicaId, this.config.approval.expiresAfter);
    switch (outcome.kind) {
      case "window_passed":
        void background.run(`expire release #${releaseId}`, async () => {
          await this.expire();
        });
        return `The approval window (${formatDuration(this.config.approval.expiresAfter)}) of this release has passed, so it can no longer be approved; release again to ask anew.`;
      case "not_awaiting":
        return `This release is ${describeState(outcome.state ?? release.state)}; your click did not change anything.`;
      case "duplicate":
        return "You have already approved this release.";
      case "environment_busy":
        return `${release.environment} is busy with another deploy${outcome.deploying ? ` (\`${outcome.deploying.version}\`, release #${outcome.deploying.id})` : ""}. Your approval was not recorded; approve again when it has finished.`;
      case "counted": {
        await this.refresh(releaseId);
        await this.say(releaseId, `<@${user}> approved (${outcome.approvals}/${release.requiredApprovals}).`);
        const missing = release.requiredApprovals - outcome.approvals;
        return `Your approval is counted (${outcome.approvals}/${release.requiredApprovals}); it needs ${missing} more.`;
      }
      case "deploy": {
        this.services.metrics.releases.inc({ environment: release.environment, state: "deploying" });
        await this.refresh(releaseId);
        await this.say(releaseId, `<@${user}> approved (${outcome.approvals}/${release.requiredApprovals}). Deploying \`${release.version}\` to ${release.environment} now.`);
        void background.run(`deploy of release #${releaseId}`, (signal) => this.deployPhase(outcome.release, signal));
        return `Your approval completed the release; deploying \`${release.version}\` to ${release.environment}.`;
      }
    }
  }

  /** Whether this person may open the reject dialog; the reason when not. */
  async canReject(releaseId: number, user: string): Promise<{ ok: true; release: Release } | { ok: false; reason: string }> {
    const release = await getRelease(this.services.db, releaseId);
    if (!release) return { ok: false, reason: "This release no longer exists." };
    const verdict = checkReject({ state: release.state, approvers: this.config.people.approvers }, user);
    return verdict.ok ? { ok: true, release } : verdict;
  }

  /**
   * Rejects with a reason, returning at once so the dialog can close within Slack's 3 seconds; the
   * message and thread are updated afterwards. The refusal when it could not (the state moved on).
   */
  async reject(releaseId: number, user: string, reason: string): Promise<string | undefined> {
    const allowed = await this.canReject(releaseId, user);
    if (!allowed.ok) return allowed.reason;
    const moved = await transition(this.services.db, releaseId, "rejected", user, reason, { reason });
    if (!moved) {
      const now = await getRelease(this.services.db, releaseId);
      return `This release is ${describeState(now?.state ?? allowed.release.state)}; it can no longer be rejected.`;
    }
    this.services.metrics.releases.inc({ environment: moved.environment, state: "rejected" });
    void this.services.background.run(`announce rejection of release #${releaseId}`, () => this.afterMove(moved, `<@${user}> rejected the release: ${escapeMrkdwn(reason)}`));
    return undefined;
  }

  private async deployPhase(release: Release, shutdown: AbortSignal): Promise<void> {
    const { db, exec, log, replicaId } = this.services;
    const env = this.environment(release.environment);
    const { signal, stop: stopHeartbeat } = this.keepAlive(release.id, shutdown);
    try {
      // Still ours, still deploying: the claim is checked once more right before anything runs.
      if (!(await heartbeat(db, release.id, replicaId))) {
        log.warn("release is no longer this replica's to deploy; not deploying", { releaseId: release.id });
        return;
      }
      if (!env) {
        await this.fail(release, "deploying", `Environment ${release.environment} is no longer in the configuration.`, "");
        return;
      }
      const approvers = (await approversOf(db, release.id)).map((a) => a.approver);
      const request = { releaseId: release.id, version: release.version, environment: release.environment, requester: release.requester, approvers };
      const options = { exec, signal, webhookBackoffMs: this.timings.webhookBackoffMs, healthAttempts: this.timings.healthAttempts, healthIntervalMs: this.timings.healthIntervalMs };
      const deployed = await runDeploy(env, request, options);
      if (signal.aborted) return await this.interrupted(release, "deploying");
      if (!deployed.ok) return await this.fail(release, "deploying", deployed.detail, deployed.tail);
      const verifying = await transition(db, release.id, "verifying", "orchestrator", deployed.detail, { outputTail: deployed.tail || null, leaseSeconds: LEASE_SECONDS });
      await this.afterMove(verifying, `Deployed (${escapeMrkdwn(deployed.detail)}). Running the smoke test and health check.`);
      const verified = await verifyDeploy(env, request, options);
      if (signal.aborted) return await this.interrupted(release, "verifying");
      if (!verified.ok) return await this.fail(release, "verifying", verified.detail, [deployed.tail, verified.tail].filter(Boolean).join("\n"));
      const live = await transition(db, release.id, "live", "orchestrator", verified.detail, { live: true, outputTail: verified.tail || null });
      this.services.metrics.releases.inc({ environment: release.environment, state: "live" });
      await this.afterMove(live, `:white_check_mark: \`${release.version}\` is live on ${release.environment} (${escapeMrkdwn(verified.detail)}).`, true);
    } catch (error) {
      log.error("deploy failed to run", { releaseId: release.id, error });
      const current = await getRelease(db, release.id).catch(() => undefined);
      if (current && (current.state === "deploying" || current.state === "verifying")) {
        await this.fail(current, current.state, `Orchestrator could not finish the deploy: ${(error as Error).message}`, "");
      }
    } finally {
      stopHeartbeat();
    }
  }

  private async fail(release: Release, during: ReleaseState, detail: string, tail: string): Promise<void> {
    const moved = await transition(this.services.db, release.id, "failed", "orchestrator", detail, { reason: detail, outputTail: tail || null });
    if (!moved) return;
    this.services.metrics.releases.inc({ environment: release.environment, state: "failed" });
    await this.afterMove(moved, `:boom: The release failed while ${during}: ${escapeMrkdwn(detail)}`, true);
    await this.alert(moved, `:boom: *Release \`${escapeMrkdwn(moved.version)}\` to ${moved.environment} failed* while ${during}: ${escapeMrkdwn(detail)}`, tail);
  }

  private async interrupted(release: Release, during: ReleaseState): Promise<void> {
    const moved = await failOnShutdown(this.services.db, release.id, during);
    if (!moved) return;
    await this.afterMove(moved, `:warning: Orchestrator shut down while ${during}; the release is marked failed and will not be re-run by itself.`, true);
    await this.alert(moved, `:warning: *Release \`${escapeMrkdwn(moved.version)}\` to ${moved.environment} was interrupted* while ${during} (shutdown). Check ${moved.environment}.`, moved.outputTail ?? "");
  }

  /** Pending approvals past `approval.expiresAfter` become expired; returns how many. */
  async expire(): Promise<Release[]> {
    const expired = await expirePending(this.services.db, this.config.approval.expiresAfter);
    for (const release of expired) {
      this.services.metrics.releases.inc({ environment: release.environment, state: "expired" });
      await this.afterMove(release, `:hourglass: No decision within the approval window; the release expired. Release again to ask anew.`);
    }
    return expired;
  }

  /** Releases left gating, deploying or verifying by a replica that died are marked failed and announced. */
  async recoverInterrupted(): Promise<Release[]> {
    const failed = await failInterrupted(this.services.db);
    for (const release of failed) {
      this.services.metrics.releases.inc({ environment: release.environment, state: "failed" });
      await this.afterMove(release, `:warning: ${escapeMrkdwn(release.reason ?? "Interrupted.")}`, true);
      await this.alert(release, `:warning: *Release \`${escapeMrkdwn(release.version)}\` to ${release.environment} was interrupted*: ${escapeMrkdwn(release.reason ?? "")}`, release.outputTail ?? "");
    }
    return failed;
  }

  /** At start-up, and once more when a dead replica's claims have certainly lapsed. */
  startRecovery(): void {
    const run = () =>
      this.recoverInterrupted().catch((error: unknown) => this.services.log.error("could not check for interrupted releases", { error }));
    void this.services.background.run("recover interrupted releases", async () => {
      await run();
    });
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.services.background.run("recover interrupted releases", async () => {
        await run();
      });
    }, (LEASE_SECONDS + 5) * 1000);
    timer.unref();
    this.timers.add(timer);
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  /**
   * Renews this replica's claim on a release it drives. If the claim is gone (another replica found it
   * lapsed and marked the release interrupted), the returned signal aborts, stopping the gate or deploy
   * command, so a release never keeps deploying after it was declared failed.
   */
  private keepAlive(id: number, shutdown: AbortSignal): { signal: AbortSignal; stop: () => void } {
    const lost = new AbortController();
    const timer = setInterval(() => {
      heartbeat(this.services.db, id, this.services.replicaId).then(
        (ours) => {
          if (ours || lost.signal.aborted) return;
          this.services.log.error("lost the claim on a running release; stopping its work", { releaseId: id, replica: this.services.replicaId });
          lost.abort();
        },
        (error: unknown) => this.services.log.warn("release heartbeat failed", { releaseId: id, error }),
      );
    }, this.timings.heartbeatMs ?? HEARTBEAT_MS);
    timer.unref();
    return { signal: AbortSignal.any([shutdown, lost.signal]), stop: () => clearInterval(timer) };
  }

  private async afterMove(moved: Release | undefined, note: string, broadcast = false): Promise<void> {
    if (!moved) return;
    await this.refresh(moved.id);
    await this.say(moved.id, note, broadcast);
  }

  /** Renders the release message from the database, posting it if it has none yet. */
  refresh(id: number): Promise<void> {
    const previous = this.refreshing.get(id) ?? Promise.resolve();
    const next = previous.then(() => this.render(id)).catch((error: unknown) => this.services.log.warn("could not update a release message", { releaseId: id, error }));
    this.refreshing.set(id, next);
    void next.finally(() => {
      if (this.refreshing.get(id) === next) this.refreshing.delete(id);
    });
    return next;
  }

  private async render(id: number): Promise<void> {
    const { db, poster, config } = this.services;
    // Another replica may change the release while this one renders: render until the revision holds still.
    for (let round = 0; round < 3; round += 1) {
      const view = await this.view(id);
      if (!view) return;
      const message = releaseMessage(view.view, config.timezone);
      if (view.release.messageTs && view.release.channel) {
        await poster.update(view.release.channel, view.release.messageTs, message);
      } else {
        const posted = await poster.post(config.channels.releases, message);
        await setMessage(db, id, posted.channel, posted.ts);
      }
      const after = await getRelease(db, id);
      if (!after || after.revision === view.release.revision) return;
    }
  }

  async view(id: number): Promise<{ release: Release; view: ReleaseView } | undefined> {
    const { db } = this.services;
    const release = await getRelease(db, id);
    if (!release) return undefined;
    const approvals = await approversOf(db, id);
    let rejectedBy: string | undefined;
    if (release.state === "rejected") {
      const [row] = await db
        .select({ actor: releaseTransitions.actor })
        .from(releaseTransitions)
        .where(and(eq(releaseTransitions.releaseId, id), eq(releaseTransitions.toState, "rejected")))
        .orderBy(desc(releaseTransitions.id))
        .limit(1);
      rejectedBy = row?.actor;
    }
    return { release, view: { ...release, approvals, ...(rejectedBy ? { rejectedBy } : {}) } };
  }

  /** A reply in the release message's thread (and in the channel too when it matters to everyone). */
  private async say(id: number, text: string, broadcast = false): Promise<void> {
    try {
      const release = await getRelease(this.services.db, id);
      if (!release?.messageTs || !release.channel) return;
      await this.services.slack.chat.postMessage({ channel: release.channel, thread_ts: release.messageTs, text, reply_broadcast: broadcast, unfurl_links: false });
    } catch (error) {
      this.services.log.warn("could not post in a release thread", { releaseId: id, error });
    }
  }

  private async alert(release: Release, text: string, tail: string): Promise<void> {
    try {
      const link = await this.permalink(release);
      const body = `${text}${link ? `\n<${link}|Release #${release.id}>` : ""}`;
      await this.services.poster.post(this.config.channels.alerts, {
        text: body,
        blocks: [
          { type: "section", text: { type: "mrkdwn", text: body.slice(0, 3000) } },
          ...(tail ? [{ type: "section" as const, text: { type: "mrkdwn" as const, text: codeBlock("Output (last lines)", tail) } }] : []),
        ],
      });
    } catch (error) {
      this.services.log.error("could not post an alert", { releaseId: release.id, error });
    }
  }

  async permalink(release: Release): Promise<string | undefined> {
    if (!release.channel || !release.messageTs) return undefined;
    try {
      const result = await this.services.slack.chat.getPermalink({ channel: release.channel, message_ts: release.messageTs });
      return result.permalink;
    } catch {
      return undefined;
    }
  }
}
