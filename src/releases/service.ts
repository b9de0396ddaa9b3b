import type { KnownBlock } from "@slack/types";
import { and, asc, desc, eq, inArray } from "drizzle-orm";
import { formatDuration } from "../config/duration.js";
import type { EnvironmentConfig } from "../config/schema.js";
import type { Tx } from "../db/client.js";
import { type CommitRange, type ReleaseState, releases as releasesTable, releaseTransitions, voidedApprovals } from "../db/schema.js";
import type { Services } from "../feature.js";
import { settleFixes } from "../feedback/fixes.js";
import { codeBlock, escapeMrkdwn } from "../slack/text.js";
import { formatWhen } from "../time.js";
import { releaseMessage, type ReleaseView, rollbackButton, stateLabel } from "./blocks.js";
import { readCommitRange } from "./commits.js";
import { runDeploy, verifyDeploy } from "./deploy.js";
import { describeRangeChange, digestOf, evidenceOf } from "./evidence.js";
import { replaceEvidence, startRegate } from "./evidence-store.js";
import { type DeployDecision, deployDecision } from "./freeze.js";
import { FreezeDesk } from "./freeze-desk.js";
import { lockEnvironment, openFreezes } from "./freezes.js";
import { initialGates, runGates } from "./gates.js";
import { approvalsNeeded, checkApprove, checkReject, describeState, isWithdrawal, normalizeVersion, parseVersion, WITHDRAWN } from "./machine.js";
import { chooseRollbackTarget } from "./rollback.js";
import {
  approve,
  approversOf,
  createRelease,
  currentLive,
  expirePending,
  failInterrupted,
  failOnShutdown,
  forgetMessage,
  getRelease,
  goLive,
  HEARTBEAT_MS,
  heartbeat,
  lastFailedDeploy,
  LEASE_SECONDS,
  liveHistory,
  type Release,
  saveGates,
  scheduledReleases,
  setMessage,
  startScheduled,
  transition,
} from "./store.js";

export type RequestResult = { ok: true; release: Release; permalink?: string } | { ok: false; reason: string };

export interface ReleaseTimings {
  /** How often a replica renews its claim on a release it drives. */
  heartbeatMs?: number;
  webhookBackoffMs?: number;
  healthAttempts?: number;
  healthIntervalMs?: number;
  /** The clock freezes and deploy windows are decided by (tests move it). */
  now?: () => Date;
}

/**
 * Drives releases through SPEC §4: request, gates, approvals, deploy, verification. The state only
 * ever moves through the store's conditional updates; Slack messages are rendered from the database
 * afterwards, so a lost or late message update never changes what happened.
 */
export class ReleaseService {
  private readonly refreshing = new Map<number, Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();

  /** `/orch freeze` and `unfreeze`, and freezes that run out. */
  readonly freezes: FreezeDesk;

  constructor(
    private readonly services: Services,
    private readonly timings: ReleaseTimings = {},
  ) {
    this.freezes = new FreezeDesk(services, this);
  }

  private get config() {
    return this.services.config;
  }

  environment(name: string): EnvironmentConfig | undefined {
    return this.config.environments.find((e) => e.name === name);
  }

  now(): Date {
    return this.timings.now?.() ?? new Date();
  }

  /**
   * Whether a deploy may start now, asked inside the transaction that would start it: the environment's
   * deploy lock is taken first, so a freeze committed a moment earlier is seen (SPEC §4).
   */
  private readonly mayStart = async (tx: Tx, release: Release): Promise<DeployDecision> => {
    await lockEnvironment(tx, release.environment);
    const now = this.now();
    const freezes = await openFreezes(tx, now, release.environment);
    return deployDecision({ windows: this.environment(release.environment)?.windows ?? [], freezes, now, timeZone: this.config.timezone, emergency: release.emergency !== null });
  };

  /** A refusal when the environment is frozen now and the request is no emergency. */
  private async frozenRefusal(env: EnvironmentConfig, kind: "release" | "rollback", retry: string): Promise<string | undefined> {
    const now = this.now();
    const [freeze] = (await openFreezes(this.services.db, now, env.name)).sort((a, b) => b.endsAt.getTime() - a.endsAt.getTime());
    if (!freeze) return undefined;
    return `:snowflake: ${env.name} is frozen until ${formatWhen(freeze.endsAt, this.config.timezone, now)} by <@${freeze.createdBy}>: ${escapeMrkdwn(freeze.reason)}. No ${kind === "rollback" ? "deploy" : "new release"} may start there until then. If it cannot wait: \`${this.config.command} ${retry} --emergency <reason>\` (${this.emergencyApprovals(env, kind)} approvals, announced in alerts).`;
  }

  private emergencyApprovals(env: EnvironmentConfig, kind: "release" | "rollback"): number {
    return approvalsNeeded({ approvals: env.approvals, rollbackApprovals: env.rollback.approvals, emergencyApprovals: this.config.emergency.approvals }, { kind, emergency: true });
  }

  /** Approvals this request needs, or why it cannot get them (too few approvers besides the requester). */
  private approvalsFor(env: EnvironmentConfig, kind: "release" | "rollback", emergency: boolean, requester: string): { ok: true; required: number } | { ok: false; reason: string } {
    const required = approvalsNeeded({ approvals: env.approvals, rollbackApprovals: env.rollback.approvals, emergencyApprovals: this.config.emergency.approvals }, { kind, emergency });
    const others = this.config.people.approvers.filter((u) => u !== requester).length;
    if (others >= required) return { ok: true, required };
    return {
      ok: false,
      reason: `${emergency ? "An emergency " : kind === "rollback" ? "A rollback " : "A release "}to ${env.name} needs ${required} approvals from approvers other than the requester, and people.approvers has only ${others} besides you.`,
    };
  }

  /** Starts a release exactly as `/orch release` does; mentions use this same path. */
  async request(input: { version: string; environment?: string; requester: string; emergency?: string }): Promise<RequestResult> {
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
    const emergency = input.emergency?.trim();
    if (!emergency) {
      const frozen = await this.frozenRefusal(env, "release", `release ${input.version.trim()} to ${env.name}`);
      if (frozen) return { ok: false, reason: frozen };
    }
    const needed = this.approvalsFor(env, "release", Boolean(emergency), input.requester);
    if (!needed.ok) return needed;
    const created = await createRelease(db, {
      version: normalized,
      semver: normalized,
      environment: env.name,
      requester: input.requester,
      requiredApprovals: needed.required,
      gates: [],
      owner: replicaId,
      ...(emergency ? { emergency, detail: `🚨 emergency release of ${input.version.trim()} to ${env.name} requested: ${emergency}` } : {}),
    });
    if (!created.ok) return { ok: false, reason: await this.inFlightRefusal(normalized, env.name, created.inFlight) };
    const release = created.release;
    this.services.metrics.releases.inc({ environment: env.name, state: "gating" });
    await this.refresh(release.id);
    void background.runWork(`gates of release #${release.id}`, (signal) => this.gatePhase(release, signal));
    const fresh = (await getRelease(db, release.id)) ?? release;
    const permalink = await this.permalink(fresh);
    if (emergency) {
      await this.alert(fresh, `🚨 *Emergency release \`${escapeMrkdwn(fresh.version)}\` to ${fresh.environment}* requested by <@${fresh.requester}>: ${escapeMrkdwn(emergency)}. It needs ${fresh.requiredApprovals} approvals and may deploy during a freeze or outside the deploy windows.`, "");
    }
    return { ok: true, release: fresh, ...(permalink ? { permalink } : {}) };
  }

  /** The refusal for a release already in flight, linking its message (posted again when it is gone, so it can always be acted on). */
  private async inFlightRefusal(version: string, environment: string, flying: Release | undefined): Promise<string> {
    const shown = flying ? await this.showMessage(flying) : undefined;
    const where = !shown?.permalink ? "" : shown.reposted ? ` Its message was gone, so I posted it again: <${shown.permalink}|message>.` : ` <${shown.permalink}|See its message>.`;
    return `\`${version}\` is already in flight to ${environment}${flying ? ` (${stateLabel(flying.state).replace(/^:[a-z_]+: /, "").toLowerCase()}, release #${flying.id})` : ""}.${where}`;
  }

  /**
   * `/orch rollback <env> [to <version>]`, and the **Roll back** button on a failed deploy's alert
   * (`offered`: what the button showed, which must still be what the history says). No gates: the
   * version passed them in the release it went live with; `rollback.approvals` approvals.
   */
  async requestRollback(input: { environment: string; version?: string; requester: string; emergency?: string; offered?: { failedReleaseId: number; semver: string } }): Promise<RequestResult> {
    const { db } = this.services;
    const env = this.environment(input.environment);
    if (!env) return { ok: false, reason: `\`${input.environment.slice(0, 40)}\` is not an environment: use ${this.config.environments.map((e) => `\`${e.name}\``).join(" or ")}` };
    let named: string | undefined;
    if (input.version !== undefined) {
      named = normalizeVersion(input.version);
      if (!named) return { ok: false, reason: `\`${input.version.slice(0, 40)}\` is not a version: use semver like 1.4.0 or v1.4.0-rc.1` };
    }
    const [history, failed] = await Promise.all([liveHistory(db, env.name), lastFailedDeploy(db, env.name)]);
    const choice = chooseRollbackTarget({
      environment: env.name,
      history: history.map((r) => ({ id: r.id, version: r.version, semver: r.semver, state: r.state, liveAt: r.liveAt as Date, gatesFrom: r.gatesFrom })),
      ...(failed ? { lastFailedDeploy: { id: failed.id, version: failed.version, at: failed.updatedAt } } : {}),
      ...(named !== undefined ? { named } : {}),
    });
    if (!choice.ok) return choice;
    if (input.offered && (choice.target.semver !== input.offered.semver || failed?.id !== input.offered.failedReleaseId)) {
      return {
        ok: false,
        reason: `${env.name} has changed since that alert: a rollback now would deploy \`${choice.target.version}\`, not \`${input.offered.semver}\`. Nothing was started; check \`${this.config.command} status\` and use \`${this.config.command} rollback ${env.name} to <version>\`.`,
      };
    }
    const emergency = input.emergency?.trim();
    if (!emergency) {
      const frozen = await this.frozenRefusal(env, "rollback", `rollback ${env.name} to ${choice.target.version}`);
      if (frozen) return { ok: false, reason: frozen };
    }
    const needed = this.approvalsFor(env, "rollback", Boolean(emergency), input.requester);
    if (!needed.ok) return needed;
    const from = choice.replacing ? `from ${choice.replacing.version} ` : `after the failed deploy of ${failed?.version ?? "an earlier release"} `;
    // No gates run, so the evidence an approval covers is the version and its commit range from the start.
    const commits = await this.commitsFor({ semver: choice.target.semver, environment: env.name });
    const created = await createRelease(db, {
      commits,
      oldestCommitAt: commits?.oldestAt ? new Date(commits.oldestAt) : null,
      evidenceDigest: digestOf(evidenceOf({ semver: choice.target.semver, gates: [], commits })),
      version: choice.target.version,
      semver: choice.target.semver,
      environment: env.name,
      requester: input.requester,
      requiredApprovals: needed.required,
      gates: [],
      owner: this.services.replicaId,
      kind: "rollback",
      gatesFrom: choice.gatesFrom,
      start: "awaiting_approval",
      ...(emergency ? { emergency } : {}),
      detail: `${emergency ? `🚨 emergency (${emergency}): ` : ""}rollback of ${env.name} ${from}to ${choice.target.version} requested; gates skipped, passed in release #${choice.gatesFrom}`,
    });
    if (!created.ok) return { ok: false, reason: await this.inFlightRefusal(choice.target.version, env.name, created.inFlight) };
    const release = created.release;
    this.services.metrics.releases.inc({ environment: env.name, state: "awaiting_approval" });
    await this.refresh(release.id);
    const who = this.config.people.approvers.filter((u) => u !== release.requester).map((u) => `<@${u}>`).join(", ");
    await this.say(release.id, `<@${release.requester}> asked to roll ${env.name} back ${from}to \`${release.version}\`. Waiting for ${release.requiredApprovals} approval${release.requiredApprovals === 1 ? "" : "s"} from ${who}.`);
    const fresh = (await getRelease(db, release.id)) ?? release;
    if (emergency) {
      await this.alert(fresh, `🚨 *Emergency rollback of ${env.name} to \`${escapeMrkdwn(fresh.version)}\`* requested by <@${fresh.requester}>: ${escapeMrkdwn(emergency)}. It needs ${fresh.requiredApprovals} approvals.`, "");
    }
    const permalink = await this.permalink(fresh);
    return { ok: true, release: fresh, ...(permalink ? { permalink } : {}) };
  }

  private async gatePhase(release: Release, shutdown: AbortSignal): Promise<void> {
    const { db, replicaId, exec, log } = this.services;
    const { signal, stop: stopHeartbeat } = this.keepAlive(release.id, shutdown);
    let queue: Promise<void> = Promise.resolve();
    try {
      const commitsRead = this.commitsFor(release, signal);
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
      const commits = await commitsRead;
      const evidence = { commits, oldestCommitAt: commits?.oldestAt ? new Date(commits.oldestAt) : null, evidenceDigest: digestOf(evidenceOf({ semver: release.semver, gates: results, commits })) };
      if (passed) {
        const moved = await transition(db, release.id, "awaiting_approval", "orchestrator", "all gates passed", { gates: results, awaiting: true, ...evidence });
        const who = this.config.people.approvers.filter((u) => u !== release.requester).map((u) => `<@${u}>`).join(", ");
        await this.afterMove(moved, `All gates passed. Waiting for ${release.requiredApprovals} approval${release.requiredApprovals === 1 ? "" : "s"} from ${who}.`);
        return;
      }
      const failed = results.filter((g) => g.status === "failed");
      const moved = await transition(db, release.id, "blocked", "orchestrator", `gate failed: ${failed.map((g) => g.name).join(", ")}`, {
        gates: results,
        ...evidence,
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

  /**
   * The **Roll back** button on a failed deploy's alert. Only the failed release's id and the version the
   * button offered come from the click; the environment, target and approvals come from the database and
   * the current config, and a button whose offer no longer holds starts nothing.
   */
  async rollbackFromAlert(failedReleaseId: number, offeredSemver: string, user: string): Promise<RequestResult> {
    const failed = await getRelease(this.services.db, failedReleaseId);
    if (!failed || failed.state !== "failed") return { ok: false, reason: "This alert's release is not a failed deploy (any more); nothing was started." };
    return this.requestRollback({ environment: failed.environment, requester: user, offered: { failedReleaseId, semver: offeredSemver } });
  }

  /** An approver clicked Approve. Returns what only they should read, if anything. */
  async approveClick(releaseId: number, user: string): Promise<string> {
    const { db, replicaId, background } = this.services;
    const release = await getRelease(db, releaseId);
    if (!release) return "This release no longer exists.";
    const approvedBy = (await approversOf(db, releaseId)).map((a) => a.approver);
    const verdict = checkApprove({ state: release.state, requester: release.requester, approvers: this.config.people.approvers, approvedBy, required: release.requiredApprovals }, user);
    if (!verdict.ok) return verdict.reason;
    const changed = await this.recheckEvidence(release);
    if (changed) return `The evidence changed since the approval request (${changed}), so earlier approvals are void and your click was not counted. Review the updated message and approve again.`;
    const outcome = await approve(db, releaseId, user, replicaId, { expiresAfterMs: this.config.approval.expiresAfter, approvers: this.config.people.approvers }, this.mayStart, release.evidenceDigest);
    switch (outcome.kind) {
      case "evidence_changed":
        return "The evidence of this release changed while you clicked (gates re-run or a moved tag); your click was not counted. Review the updated message and approve again.";
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
        void background.runWork(`deploy of release #${releaseId}`, (signal) => this.deployPhase(outcome.release, signal));
        return `Your approval completed the release; deploying \`${release.version}\` to ${release.environment}.`;
      }
      case "scheduled": {
        this.services.metrics.releases.inc({ environment: release.environment, state: "scheduled" });
        const when = formatWhen(outcome.decision.at, this.config.timezone, this.now());
        const why = this.holdReason(outcome.decision, release.environment);
        await this.refresh(releaseId);
        await this.say(releaseId, `<@${user}> approved (${outcome.approvals}/${release.requiredApprovals}). ${why}, so \`${release.version}\` is scheduled: it deploys at ${when}.`);
        return `Your approval completed the release; ${why.charAt(0).toLowerCase()}${why.slice(1)}, so it deploys at ${when}.`;
      }
    }
  }

  private holdReason(decision: Extract<DeployDecision, { start: false }>, environment: string): string {
    const parts = [
      ...(decision.freeze ? [`${environment} is frozen (${escapeMrkdwn(decision.freeze.reason)})`] : []),
      ...(decision.outsideWindow ? [`it is outside ${environment}'s deploy windows`] : []),
    ];
    return parts.join(" and ").replace(/^./, (c) => c.toUpperCase());
  }

  /**
   * Starts every scheduled release whose freeze has ended and whose window is open. Each start is claimed
   * in the database (see `startScheduled`), so however many replicas run this at once, each release
   * deploys once; one still held gets its expected time updated on its message. Returns what started.
   */
  async startDue(): Promise<Release[]> {
    const { db, replicaId, background, log } = this.services;
    const started: Release[] = [];
    for (const candidate of await scheduledReleases(db)) {
      const outcome = await startScheduled(db, candidate.id, replicaId, this.mayStart).catch((error: unknown) => {
        log.error("could not start a scheduled release", { releaseId: candidate.id, error });
        return { kind: "gone" as const };
      });
      if (outcome.kind === "held" && outcome.moved) {
        await this.afterMove(outcome.release, `The expected start moved: \`${outcome.release.version}\` now deploys at ${formatWhen(outcome.decision.at, this.config.timezone, this.now())}.`);
      }
      if (outcome.kind === "superseded") {
        this.services.metrics.releases.inc({ environment: outcome.release.environment, state: "rejected" });
        await this.afterMove(outcome.release, `:no_entry_sign: Not deployed: \`${outcome.live.version}\` went live on ${outcome.release.environment} while this release waited, and deploying \`${outcome.release.version}\` now would undo it. Release again if it is still wanted.`, true);
      }
      if (outcome.kind !== "started") continue;
      started.push(outcome.release);
      this.services.metrics.releases.inc({ environment: outcome.release.environment, state: "deploying" });
      await this.afterMove(outcome.release, `:rocket: The wait is over: deploying \`${outcome.release.version}\` to ${outcome.release.environment} now.`, true);
      void background.runWork(`deploy of release #${outcome.release.id}`, (signal) => this.deployPhase(outcome.release, signal));
    }
    return started;
  }

  /** `release <version> regate`: runs the gates of a release awaiting approval again; its approvals become void. */
  async regate(input: { version: string; requester: string }): Promise<RequestResult> {
    const { db, replicaId, background } = this.services;
    const normalized = normalizeVersion(input.version);
    if (!normalized) return { ok: false, reason: `\`${input.version.slice(0, 40)}\` is not a version: use semver like 1.4.0 or v1.4.0-rc.1` };
    const [waiting] = await db
      .select()
      .from(releasesTable)
      .where(and(eq(releasesTable.semver, normalized), inArray(releasesTable.state, ["awaiting_approval", "gating"])))
      .orderBy(asc(releasesTable.state), desc(releasesTable.id))
      .limit(1);
    if (!waiting) return { ok: false, reason: `No release of \`${input.version.slice(0, 40)}\` is awaiting approval, so there are no gates to re-run. \`${this.services.config.command} release log ${normalized}\` shows what happened to it.` };
    if (waiting.state === "gating") return { ok: false, reason: `\`${waiting.version}\` → ${waiting.environment} is already running its gates (release #${waiting.id}).` };
    const started = await startRegate(db, waiting.id, input.requester, replicaId, initialGates(this.config.gates));
    if (!started) return { ok: false, reason: `\`${waiting.version}\` → ${waiting.environment} is no longer awaiting approval; nothing was re-run.` };
    await this.refresh(waiting.id);
    await this.say(
      waiting.id,
      `<@${input.requester}> re-ran the gates.${started.voided > 0 ? ` ${started.voided} earlier approval${started.voided === 1 ? " is" : "s are"} void and must be given again.` : ""}`,
    );
    void background.runWork(`gates of release #${waiting.id} (regate)`, (signal) => this.gatePhase(started.release, signal));
    const permalink = await this.permalink(started.release);
    return { ok: true, release: started.release, ...(permalink ? { permalink } : {}) };
  }

  /** The commits this release ships, from `repository`; null without one. Never throws. */
  private async commitsFor(release: Pick<Release, "semver" | "environment"> & { id?: number }, signal?: AbortSignal): Promise<CommitRange | null> {
    const repository = this.config.repository;
    if (!repository) return null;
    const live = await currentLive(this.services.db, release.environment);
    return readCommitRange(
      { repository, exec: this.services.exec, ...(signal ? { signal } : {}) },
      { semver: release.semver, fromSemver: live && live.id !== release.id ? live.semver : undefined },
    );
  }

  /**
   * Checks the release's evidence against the repository now (tags can move). When it changed, stores the
   * new evidence and voids the approvals of the old one (a deploying release goes back to awaiting
   * approval) and returns what changed; undefined when it still holds.
   */
  private async recheckEvidence(release: Release, signal?: AbortSignal): Promise<string | undefined> {
    const commits = await this.commitsFor(release, signal);
    const digest = digestOf(evidenceOf({ ...release, commits }));
    if (signal?.aborted || digest === release.evidenceDigest) return undefined;
    const reason = describeRangeChange(release.commits, commits) ?? "the evidence is not what was approved";
    const replaced = await replaceEvidence(this.services.db, release, { commits, digest }, reason);
    if (replaced) {
      this.services.log.warn("release evidence changed; approvals void", { releaseId: release.id, reason, voided: replaced.voided });
      await this.afterMove(
        replaced.release,
        `:warning: The evidence changed: ${escapeMrkdwn(reason)}. ${replaced.voided > 0 ? `${replaced.voided} approval${replaced.voided === 1 ? " is" : "s are"} void; ` : ""}${release.state === "deploying" ? "nothing was deployed; " : ""}approvals must be given again.`,
        true,
      );
    }
    return reason;
  }

  /** Whether this person may open the reject dialog; the reason when not. */
  async canReject(releaseId: number, user: string): Promise<{ ok: true; release: Release } | { ok: false; reason: string }> {
    const release = await getRelease(this.services.db, releaseId);
    if (!release) return { ok: false, reason: "This release no longer exists." };
    const verdict = checkReject({ state: release.state, approvers: this.config.people.approvers, requester: release.requester }, user);
    return verdict.ok ? { ok: true, release } : verdict;
  }

  /**
   * Rejects with a reason, returning at once so the dialog can close within Slack's 3 seconds; the
   * message and thread are updated afterwards. The refusal when it could not (the state moved on).
   */
  async reject(releaseId: number, user: string, reason: string): Promise<string | undefined> {
    const allowed = await this.canReject(releaseId, user);
    if (!allowed.ok) return allowed.reason;
    const withdrawn = isWithdrawal(allowed.release.requester, user);
    const moved = await transition(this.services.db, releaseId, "rejected", user, withdrawn ? `${WITHDRAWN}: ${reason}` : reason, { reason });
    if (!moved) {
      const now = await getRelease(this.services.db, releaseId);
      return `This release is ${describeState(now?.state ?? allowed.release.state)}; it can no longer be ${withdrawn ? "withdrawn" : "rejected"}.`;
    }
    this.services.metrics.releases.inc({ environment: moved.environment, state: "rejected" });
    const note = withdrawn ? `<@${user}> withdrew the release (${WITHDRAWN}): ${escapeMrkdwn(reason)}` : `<@${user}> rejected the release: ${escapeMrkdwn(reason)}`;
    void this.services.background.run(`announce rejection of release #${releaseId}`, () => this.afterMove(moved, note));
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
      // The tags may have moved since the last approval: what deploys must be what was approved.
      if (await this.recheckEvidence(release, signal)) return;
      if (release.emergency !== null) {
        await this.alert(release, `🚨 *Emergency ${release.kind === "rollback" ? "rollback" : "release"} \`${escapeMrkdwn(release.version)}\` to ${release.environment} is deploying now* (requested by <@${release.requester}>: ${escapeMrkdwn(release.emergency)}).`, "");
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
      const { live, replaced } = await goLive(db, release, verified.detail, verified.tail || null);
      this.services.metrics.releases.inc({ environment: release.environment, state: "live" });
      await this.afterMove(live, `:white_check_mark: \`${release.version}\` is live on ${release.environment} (${escapeMrkdwn(verified.detail)}).`, true);
      if (replaced) {
        this.services.metrics.releases.inc({ environment: release.environment, state: "rolled_back" });
        await this.afterMove(replaced, `:leftwards_arrow_with_hook: Rolled back: ${release.environment} is back on \`${release.version}\` (release #${release.id}, requested by <@${release.requester}>).`);
      }
      if (release.environment === this.config.environments.at(-1)?.name) await this.settleFixes();
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
    const offer = await this.rollbackOffer(moved);
    const what = `${moved.emergency !== null ? "🚨 Emergency " : ""}${moved.kind === "rollback" ? "Rollback to" : moved.emergency !== null ? "release" : "Release"}`;
    await this.alert(moved, `:boom: *${what} \`${escapeMrkdwn(moved.version)}\` to ${moved.environment} failed* while ${during}: ${escapeMrkdwn(detail)}${offer.note}`, tail, offer.blocks);
  }

  /** After a failed deploy: a button to put back what was live before it, or a plain word that nothing was. */
  private async rollbackOffer(failed: Release): Promise<{ note: string; blocks: KnownBlock[] }> {
    try {
      const history = await liveHistory(this.services.db, failed.environment);
      const choice = chooseRollbackTarget({
        environment: failed.environment,
        history: history.map((r) => ({ id: r.id, version: r.version, semver: r.semver, state: r.state, liveAt: r.liveAt as Date, gatesFrom: r.gatesFrom })),
        lastFailedDeploy: { id: failed.id, version: failed.version, at: failed.updatedAt },
      });
      if (!choice.ok) return { note: `\n${choice.reason}`, blocks: [] };
      const needed = this.environment(failed.environment)?.rollback.approvals ?? 1;
      return {
        note: `\nRoll back to \`${escapeMrkdwn(choice.target.version)}\`, the version live before it? It needs ${needed} approval${needed === 1 ? "" : "s"}, and no gates run.`,
        blocks: [rollbackButton(failed.id, choice.target.version, choice.target.semver)],
      };
    } catch (error) {
      this.services.log.warn("could not work out a rollback for a failed release", { releaseId: failed.id, error });
      return { note: "", blocks: [] };
    }
  }

  private async interrupted(release: Release, during: ReleaseState): Promise<void> {
    const moved = await failOnShutdown(this.services.db, release.id, during);
    if (!moved) return;
    await this.afterMove(moved, `:warning: Orchestrator shut down while ${during}; the release is marked failed and will not be re-run by itself.`, true);
    await this.alert(moved, `:warning: *Release \`${escapeMrkdwn(moved.version)}\` to ${moved.environment} was interrupted* while ${during} (shutdown). Check ${moved.environment}.`, moved.outputTail ?? "");
  }

  /** Feedback whose fix is now live on the last environment is closed and its threads told (never throws). */
  async settleFixes(): Promise<{ closed: number; posted: number }> {
    try {
      return await settleFixes(this.services);
    } catch (error) {
      this.services.log.error("could not close feedback fixed by a release; the approval-expiry sweep will try again", { error });
      return { closed: 0, posted: 0 };
    }
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
    const [approvals, voided] = await Promise.all([
      approversOf(db, id),
      db.select({ approver: voidedApprovals.approver, at: voidedApprovals.approvedAt, reason: voidedApprovals.reason }).from(voidedApprovals).where(eq(voidedApprovals.releaseId, id)).orderBy(asc(voidedApprovals.id)),
    ]);
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
    const repositoryUrl = this.config.repository?.url;
    const now = this.now();
    const freezes = (await openFreezes(db, now, release.environment)).filter((f) => f.endedAt === null);
    const source = release.gatesFrom !== null ? await getRelease(db, release.gatesFrom) : undefined;
    const gatesLink = source ? await this.permalink(source) : undefined;
    return { release, view: { ...release, approvals, voided, approvers: this.config.people.approvers, freezes, now, ...(repositoryUrl ? { repositoryUrl } : {}), ...(gatesLink ? { gatesLink } : {}), ...(rejectedBy ? { rejectedBy } : {}) } };
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

  private async alert(release: Release, text: string, tail: string, actions: KnownBlock[] = []): Promise<void> {
    try {
      const link = await this.permalink(release);
      const body = `${text}${link ? `\n<${link}|Release #${release.id}>` : ""}`;
      await this.services.poster.post(this.config.channels.alerts, {
        text: body,
        blocks: [
          { type: "section", text: { type: "mrkdwn", text: body.slice(0, 3000) } },
          ...(tail ? [{ type: "section" as const, text: { type: "mrkdwn" as const, text: codeBlock("Output (last lines)", tail) } }] : []),
          ...actions,
        ],
      });
    } catch (error) {
      this.services.log.error("could not post an alert", { releaseId: release.id, error });
    }
  }

  /**
   * The link to a release's message, posting the message again when Slack no longer has it (deleted, or a
   * workspace that lost it), so a release in flight can always be acted on. Only a definite "not there"
   * reposts: an error reaching Slack leaves the message as it is.
   */
  private async showMessage(release: Release): Promise<{ permalink?: string; reposted: boolean }> {
    const { db, slack, log } = this.services;
    let reposted = false;
    if (release.channel && release.messageTs) {
      const gone = await slack.conversations
        .history({ channel: release.channel, latest: release.messageTs, oldest: release.messageTs, inclusive: true, limit: 1 })
        .then((result) => !(result.messages ?? []).some((m) => m.ts === release.messageTs && m.subtype !== "tombstone"))
        .catch((error: unknown) => {
          log.warn("could not check a release message", { releaseId: release.id, error });
          return false;
        });
      if (gone && (await forgetMessage(db, release.id, release.messageTs))) {
        log.info("release message gone from Slack; posting it again", { releaseId: release.id, previousTs: release.messageTs });
        reposted = true;
      }
    } else {
      reposted = true;
    }
    if (reposted) await this.refresh(release.id);
    const current = (await getRelease(db, release.id)) ?? release;
    const permalink = await this.permalink(current);
    return { ...(permalink ? { permalink } : {}), reposted };
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
