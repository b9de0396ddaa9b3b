import type { EnvironmentConfig } from "../../config/schema.js";
import type { Services } from "../../core/feature.js";
import { type Outcome, type Refusal, refuse } from "../../core/refusal.js";
import { escapeMrkdwn } from "../../slack/text.js";
import { formatDuration, formatWhen } from "../../time.js";
import { digestOf, evidenceOf } from "./evidence.js";
import { startRegate } from "./evidence-store.js";
import { ReleaseAnnouncer } from "./announcer.js";
import { FreezeDesk } from "./freeze-desk.js";
import { ReleaseRunner } from "./runner.js";
import { openFreezes } from "./freezes.js";
import { lastFailedDeploy, liveHistory, regateCandidate } from "./queries.js";
import { initialGates } from "./gates.js";
import { approvalsFor, checkApprove, checkReject, describeState, emergencyApprovals, isWithdrawal, normalizeVersion, parseVersion, WITHDRAWN } from "./machine.js";
import { chooseRollbackTarget } from "./rollback.js";
import { approve, type Approved, startScheduled } from "./deploy-start.js";
import { clickedRelease, createRelease, currentLive, expirePending, getRelease, type Release, rejectRelease, scheduledReleases } from "./store.js";

/** A request that started a release (or a rollback), with the link to its message. */
export type RequestResult = Outcome<{ release: Release; permalink?: string }>;

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
 * ever moves through the store's conditional updates; each step returns what happened (or a Refusal)
 * and the announcer renders it afterwards from the rows the moves returned, so a lost or late message
 * update never changes what happened.
 */
export class ReleaseService {
  /** `/orch freeze` and `unfreeze`, and freezes that run out. */
  readonly freezes: FreezeDesk;
  /** The release message, its thread notes and the alerts: everything people see of a release. */
  readonly announcer: ReleaseAnnouncer;
  /** Gates, deploy and verification as they run, and recovery of runs a dead replica left. */
  private readonly runner: ReleaseRunner;

  constructor(
    private readonly services: Services,
    private readonly timings: ReleaseTimings = {},
  ) {
    this.announcer = new ReleaseAnnouncer(services, () => this.now());
    this.runner = new ReleaseRunner(services, timings, this.announcer, () => this.now());
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
   * A reason a person typed (an emergency, a rejection), trimmed and redacted before it is stored: the
   * audit trail holds no secret (SPEC §2a), whatever someone pasted into it.
   */
  private typed(reason: string): string;
  private typed(reason: string | undefined): string | undefined;
  private typed(reason: string | undefined): string | undefined {
    return reason === undefined ? undefined : this.services.exec.redact(reason.trim());
  }

  private notEnvironment(name: string): Refusal {
    return refuse(`\`${name.slice(0, 40)}\` is not an environment: use ${this.config.environments.map((e) => `\`${e.name}\``).join(" or ")}`);
  }

  /** A refusal when the environment is frozen now and the request is no emergency. */
  private async frozenRefusal(env: EnvironmentConfig, kind: "release" | "rollback", retry: string): Promise<Refusal | undefined> {
    const now = this.now();
    const [freeze] = (await openFreezes(this.services.db, now, env.name)).sort((a, b) => b.endsAt.getTime() - a.endsAt.getTime());
    if (!freeze) return undefined;
    return refuse(
      `:snowflake: ${env.name} is frozen until ${formatWhen(freeze.endsAt, this.config.timezone, now)} by <@${freeze.createdBy}>: ${escapeMrkdwn(freeze.reason)}. No ${kind === "rollback" ? "deploy" : "new release"} may start there until then. If it cannot wait: \`${this.config.command} ${retry} --emergency <reason>\` (${emergencyApprovals(this.config, env, kind)} approvals, announced in alerts).`,
    );
  }

  /** Starts a release exactly as `/orch release` does; mentions use this same path. */
  async request(input: { version: string; environment?: string; requester: string; emergency?: string }): Promise<RequestResult> {
    const { db, background, replicaId } = this.services;
    const parsed = parseVersion(input.version);
    if (!parsed.ok) return parsed;
    const normalized = parsed.version;
    const envName = input.environment ?? this.config.environments[0]?.name ?? "";
    const env = this.environment(envName);
    if (!env) return this.notEnvironment(envName);
    if (env.after) {
      const upstream = await currentLive(db, env.after);
      if (upstream?.semver !== normalized) {
        return refuse(
          `${env.name} takes only a version that is live on ${env.after} first; ${env.after} has ${upstream ? `\`${upstream.version}\`` : "nothing"} live. Release \`${normalized}\` to ${env.after} first.`,
        );
      }
    }
    const live = await currentLive(db, env.name);
    if (live?.semver === normalized) return refuse(`\`${live.version}\` is already live on ${env.name}.`);
    const emergency = this.typed(input.emergency);
    if (!emergency) {
      const frozen = await this.frozenRefusal(env, "release", `release ${input.version.trim()} to ${env.name}`);
      if (frozen) return frozen;
    }
    const needed = approvalsFor(this.config, env, "release", Boolean(emergency), input.requester);
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
    if (!created.ok) return this.announcer.inFlightRefusal(normalized, env.name, created.inFlight);
    this.services.metrics.releases.inc({ environment: env.name, state: "gating" });
    const fresh = await this.announcer.requested(created.release);
    void background.runWork(`gates of release #${fresh.id}`, (signal) => this.runner.gatePhase(fresh, signal));
    const permalink = this.announcer.permalink(fresh);
    await this.announcer.emergencyRequested(fresh);
    return { ok: true, release: fresh, ...(permalink ? { permalink } : {}) };
  }

  /**
   * `/orch rollback <env> [to <version>]`, and the **Roll back** button on a failed deploy's alert
   * (`offered`: what the button showed, which must still be what the history says). No gates: the
   * version passed them in the release it went live with; `rollback.approvals` approvals.
   */
  async requestRollback(input: { environment: string; version?: string; requester: string; emergency?: string; offered?: { failedReleaseId: number; semver: string } }): Promise<RequestResult> {
    const { db } = this.services;
    const env = this.environment(input.environment);
    if (!env) return this.notEnvironment(input.environment);
    let named: string | undefined;
    if (input.version !== undefined) {
      named = normalizeVersion(input.version);
      if (!named) return refuse(`\`${input.version.slice(0, 40)}\` is not a version: use semver like 1.4.0 or v1.4.0-rc.1`);
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
      return refuse(
        `${env.name} has changed since that alert: a rollback now would deploy \`${choice.target.version}\`, not \`${input.offered.semver}\`. Nothing was started; check \`${this.config.command} status\` and use \`${this.config.command} rollback ${env.name} to <version>\`.`,
      );
    }
    const emergency = this.typed(input.emergency);
    if (!emergency) {
      const frozen = await this.frozenRefusal(env, "rollback", `rollback ${env.name} to ${choice.target.version}`);
      if (frozen) return frozen;
    }
    const needed = approvalsFor(this.config, env, "rollback", Boolean(emergency), input.requester);
    if (!needed.ok) return needed;
    const from = choice.replacing ? `from ${choice.replacing.version} ` : `after the failed deploy of ${failed?.version ?? "an earlier release"} `;
    // No gates run, so the evidence an approval covers is the version and its commit range from the start.
    const commits = await this.runner.commitsFor({ semver: choice.target.semver, environment: env.name });
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
    if (!created.ok) return this.announcer.inFlightRefusal(choice.target.version, env.name, created.inFlight);
    this.services.metrics.releases.inc({ environment: env.name, state: "awaiting_approval" });
    const fresh = await this.announcer.rollbackRequested(created.release, from);
    await this.announcer.emergencyRequested(fresh);
    const permalink = this.announcer.permalink(fresh);
    return { ok: true, release: fresh, ...(permalink ? { permalink } : {}) };
  }

  /**
   * The **Roll back** button on a failed deploy's alert. Only the failed release's id and the version the
   * button offered come from the click; the environment, target and approvals come from the database and
   * the current config, and a button whose offer no longer holds starts nothing.
   */
  async rollbackFromAlert(failedReleaseId: number, offeredSemver: string, user: string): Promise<RequestResult> {
    const failed = await getRelease(this.services.db, failedReleaseId);
    if (failed?.state !== "failed") return refuse("This alert's release is not a failed deploy (any more); nothing was started.");
    return this.requestRollback({ environment: failed.environment, requester: user, offered: { failedReleaseId, semver: offeredSemver } });
  }

  /**
   * An approver clicked Approve: what happened, or why nothing was counted (shown only to them). The
   * message and its thread are updated from the rows the approval returned before this returns.
   */
  async approve(releaseId: number, user: string): Promise<Outcome<Approved>> {
    const { db, replicaId, background } = this.services;
    const clicked = await clickedRelease(db, releaseId);
    if (!clicked) return refuse("This release no longer exists.");
    const { release, approvedBy, voided } = clicked;
    const verdict = checkApprove({ state: release.state, requester: release.requester, approvers: this.config.people.approvers, approvedBy, required: release.requiredApprovals }, user);
    if (!verdict.ok) return verdict;
    const changed = await this.runner.recheckEvidence(release);
    if (changed)
      return refuse(`The evidence changed since the approval request (${changed}), so earlier approvals are void and your click was not counted. Review the updated message and approve again.`);
    const rules = { expiresAfterMs: this.config.approval.expiresAfter, approvers: this.config.people.approvers };
    const outcome = await approve(db, release, user, replicaId, rules, this.runner.mayStart);
    switch (outcome.kind) {
      case "evidence_changed":
        return refuse("The evidence of this release changed while you clicked (gates re-run or a moved tag); your click was not counted. Review the updated message and approve again.");
      case "window_passed":
        void background.run(`expire release #${releaseId}`, async () => {
          await this.expire();
        });
        return refuse(`The approval window (${formatDuration(this.config.approval.expiresAfter)}) of this release has passed, so it can no longer be approved; release again to ask anew.`);
      case "not_awaiting":
        return refuse(`This release is ${describeState(outcome.state ?? release.state)}; your click did not change anything.`);
      case "duplicate":
        return refuse("You have already approved this release.");
      case "environment_busy":
        return refuse(
          `${release.environment} is busy with another deploy${outcome.deploying ? ` (\`${outcome.deploying.version}\`, release #${outcome.deploying.id})` : ""}. Your approval was not recorded; approve again when it has finished.`,
        );
    }
    if (outcome.kind !== "counted") this.services.metrics.releases.inc({ environment: release.environment, state: outcome.kind === "completed" ? "deploying" : "scheduled" });
    await this.announcer.approved(outcome, user, voided);
    if (outcome.kind === "completed") {
      const approvedBy = outcome.tally.approvals.map((a) => a.approver);
      void background.runWork(`deploy of release #${releaseId}`, (signal) => this.runner.deployPhase(outcome.release, signal, approvedBy));
    }
    return { ok: true, ...outcome };
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
      const outcome = await startScheduled(db, candidate.id, replicaId, this.runner.mayStart).catch((error: unknown) => {
        log.error("could not start a scheduled release", { releaseId: candidate.id, error });
        return { kind: "gone" as const };
      });
      if (outcome.kind === "superseded") this.services.metrics.releases.inc({ environment: outcome.release.environment, state: "rejected" });
      if (outcome.kind === "started") this.services.metrics.releases.inc({ environment: outcome.release.environment, state: "deploying" });
      await this.announcer.scheduledStart(outcome);
      if (outcome.kind !== "started") continue;
      started.push(outcome.release);
      void background.runWork(`deploy of release #${outcome.release.id}`, (signal) => this.runner.deployPhase(outcome.release, signal));
    }
    return started;
  }

  /** `release <version> regate`: runs the gates of a release awaiting approval again; its approvals become void. */
  async regate(input: { version: string; requester: string }): Promise<RequestResult> {
    const { db, replicaId, background } = this.services;
    const normalized = normalizeVersion(input.version);
    if (!normalized) return refuse(`\`${input.version.slice(0, 40)}\` is not a version: use semver like 1.4.0 or v1.4.0-rc.1`);
    const waiting = await regateCandidate(db, normalized);
    if (!waiting)
      return refuse(
        `No release of \`${input.version.slice(0, 40)}\` is awaiting approval, so there are no gates to re-run. \`${this.services.config.command} release log ${normalized}\` shows what happened to it.`,
      );
    if (waiting.state === "gating") return refuse(`\`${waiting.version}\` → ${waiting.environment} is already running its gates (release #${waiting.id}).`);
    const started = await startRegate(db, waiting.id, input.requester, replicaId, initialGates(this.config.gates));
    if (!started) return refuse(`\`${waiting.version}\` → ${waiting.environment} is no longer awaiting approval; nothing was re-run.`);
    const shown = await this.announcer.regated(started.release, input.requester, started.voided);
    void background.runWork(`gates of release #${waiting.id} (regate)`, (signal) => this.runner.gatePhase(shown, signal));
    const permalink = this.announcer.permalink(shown);
    return { ok: true, release: shown, ...(permalink ? { permalink } : {}) };
  }

  /** Whether this person may open the reject dialog; the reason when not. */
  async canReject(releaseId: number, user: string): Promise<Outcome<{ release: Release }>> {
    const release = await getRelease(this.services.db, releaseId);
    if (!release) return refuse("This release no longer exists.");
    const verdict = checkReject({ state: release.state, approvers: this.config.people.approvers, requester: release.requester }, user);
    return verdict.ok ? { ok: true, release } : verdict;
  }

  /**
   * Rejects with a reason, returning at once so the dialog can close within Slack's 3 seconds; the
   * message and thread are updated afterwards. The refusal when it could not (the state moved on).
   */
  async reject(releaseId: number, user: string, reason: string): Promise<Outcome<{ release: Release }>> {
    const allowed = await this.canReject(releaseId, user);
    if (!allowed.ok) return allowed;
    const withdrawn = isWithdrawal(allowed.release.requester, user);
    const typedReason = this.typed(reason);
    const outcome = await rejectRelease(this.services.db, releaseId, user, withdrawn ? `${WITHDRAWN}: ${typedReason}` : typedReason, typedReason);
    if (!("rejected" in outcome)) return refuse(`This release is ${describeState(outcome.state ?? allowed.release.state)}; it can no longer be ${withdrawn ? "withdrawn" : "rejected"}.`);
    const moved = outcome.rejected;
    this.services.metrics.releases.inc({ environment: moved.environment, state: "rejected" });
    void this.services.background.run(`announce rejection of release #${releaseId}`, () => this.announcer.rejected(moved, user, typedReason));
    return { ok: true, release: moved };
  }

  /** Feedback whose fix is now live on the last environment is closed and its threads told (never throws). */
  settleFixes(): Promise<{ closed: number; posted: number }> {
    return this.runner.settleFixes();
  }

  /** Pending approvals past `approval.expiresAfter` become expired; returns how many. */
  async expire(): Promise<Release[]> {
    const expired = await expirePending(this.services.db, this.config.approval.expiresAfter);
    for (const release of expired) {
      this.services.metrics.releases.inc({ environment: release.environment, state: "expired" });
      await this.announcer.expired(release);
    }
    return expired;
  }

  /** Releases left gating, deploying or verifying by a replica that died are marked failed and announced. */
  recoverInterrupted(): Promise<Release[]> {
    return this.runner.recoverInterrupted();
  }

  /** At start-up, and once more when a dead replica's claims have certainly lapsed. */
  startRecovery(): void {
    this.runner.startRecovery();
  }

  stop(): void {
    this.runner.stop();
  }
}
