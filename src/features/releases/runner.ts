import type { EnvironmentConfig } from "../../config/schema.js";
import type { Tx } from "../../db/client.js";
import type { CommitRange, GateResult, ReleaseState } from "../../db/schema.js";
import type { Services } from "../../core/feature.js";
import { settleFixes } from "../feedback/index.js";
import { readCommitRange } from "./commits.js";
import { runDeploy, verifyDeploy } from "./deploy.js";
import { describeRangeChange, digestOf, evidenceOf } from "./evidence.js";
import { replaceEvidence } from "./evidence-store.js";
import { deployDecision } from "./freeze.js";
import type { ReleaseAnnouncer } from "./announcer.js";
import { lockEnvironment, openFreezes } from "./freezes.js";
import type { StartDecision } from "./deploy-start.js";
import { runGates } from "./gates.js";
import { approversOf, currentLive, failInterrupted, failOnShutdown, getRelease, goLive, HEARTBEAT_MS, heartbeat, LEASE_SECONDS, type Release, saveGates, transition } from "./store.js";

import type { ReleaseTimings } from "./service.js";

/** How a release's gates ended, with the release as they left it. */
export type GateOutcome =
  | { kind: "passed"; release: Release }
  | { kind: "blocked"; release: Release; failed: GateResult[] }
  /** Shutdown stopped them. */
  | { kind: "interrupted"; release: Release }
  /** They could not run at all. */
  | { kind: "broken"; release: Release };

/** How a deploy ended, with the release as it left it. */
export type DeployOutcome =
  | { kind: "live"; release: Release; detail: string; replaced: Release | undefined }
  | { kind: "failed"; release: Release; during: ReleaseState; detail: string; tail: string }
  | { kind: "interrupted"; release: Release; during: ReleaseState };

/** The outcome of a move that only happened if the release was still where it was. */
function moved<K extends "passed" | "interrupted" | "broken">(kind: K, release: Release | undefined): { kind: K; release: Release } | undefined {
  return release && { kind, release };
}

/**
 * A release as it runs: its gates, its deploy, smoke test and health check, each under this replica's claim
 * (renewed by a heartbeat, so a run whose claim is lost stops), and the recovery of runs a dead replica left.
 * Each phase moves the state through the store's conditional updates and hands its outcome to the announcer.
 */
export class ReleaseRunner {
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly services: Services,
    private readonly timings: ReleaseTimings,
    private readonly announcer: ReleaseAnnouncer,
    private readonly now: () => Date,
  ) {}

  /** Feedback whose fix is now live on the last environment is closed and its threads told (never throws). */
  async settleFixes(): Promise<{ closed: number; posted: number }> {
    try {
      return await settleFixes(this.services);
    } catch (error) {
      this.services.log.error("could not close feedback fixed by a release; the approval-expiry sweep will try again", { error });
      return { closed: 0, posted: 0 };
    }
  }

  private environment(name: string): EnvironmentConfig | undefined {
    return this.services.config.environments.find((e) => e.name === name);
  }

  /**
   * Whether a deploy may start now, asked inside the transaction that would start it: the environment's
   * deploy lock is taken first, so a freeze committed a moment earlier is seen (SPEC §4).
   */
  readonly mayStart = async (tx: Tx, release: Release): Promise<StartDecision> => {
    await lockEnvironment(tx, release.environment);
    const now = this.now();
    const freezes = await openFreezes(tx, now, release.environment);
    const decision = deployDecision({ windows: this.environment(release.environment)?.windows ?? [], freezes, now, timeZone: this.services.config.timezone, emergency: release.emergency !== null });
    return { decision, freezes };
  };

  async gatePhase(release: Release, shutdown: AbortSignal): Promise<void> {
    const { signal, stop: stopHeartbeat } = this.keepAlive(release.id, shutdown);
    try {
      const outcome = await this.runGates(release, signal);
      if (outcome) await this.announcer.gated(outcome);
    } finally {
      stopHeartbeat();
    }
  }

  /** Runs the gates and moves the release by their result; undefined when it had moved on meanwhile. */
  private async runGates(release: Release, signal: AbortSignal): Promise<GateOutcome | undefined> {
    const { db, replicaId, exec, log } = this.services;
    let queue: Promise<void> = Promise.resolve();
    try {
      const commitsRead = this.commitsFor(release, signal);
      const { passed, results } = await runGates(this.services.config.gates, { exec, version: release.version, environment: release.environment, signal }, (gates) => {
        // Progress is saved and shown in order, so an older snapshot never overwrites a newer one.
        queue = queue.then(async () => {
          const saved = await saveGates(db, release.id, gates);
          if (saved) await this.announcer.refresh(saved);
        });
        return queue;
      });
      await queue;
      if (signal.aborted) return moved("interrupted", await failOnShutdown(db, release.id, "gating"));
      const commits = await commitsRead;
      const evidence = { commits, oldestCommitAt: commits?.oldestAt ? new Date(commits.oldestAt) : null, evidenceDigest: digestOf(evidenceOf({ semver: release.semver, gates: results, commits })) };
      if (passed) return moved("passed", await transition(db, release.id, "awaiting_approval", "orchestrator", "all gates passed", { gates: results, awaiting: true, ...evidence }));
      const failed = results.filter((g) => g.status === "failed");
      const blocked = await transition(db, release.id, "blocked", "orchestrator", `gate failed: ${failed.map((g) => g.name).join(", ")}`, {
        gates: results,
        ...evidence,
        reason: failed.map((g) => `${g.name}: ${g.detail}`).join("; "),
        outputTail:
          failed
            .map((g) => (g.output ? `[${g.name}]\n${g.output}` : ""))
            .filter(Boolean)
            .join("\n\n") || null,
      });
      return blocked && { kind: "blocked", release: blocked, failed };
    } catch (error) {
      log.error("gates failed to run", { releaseId: release.id, replica: replicaId, error });
      return moved("broken", await transition(db, release.id, "failed", "orchestrator", "gates could not run", { reason: `Gates could not run: ${(error as Error).message}` }).catch(() => undefined));
    }
  }

  /** The commits this release ships, from `repository`; null without one. Never throws. */
  async commitsFor(release: Pick<Release, "semver" | "environment"> & { id?: number }, signal?: AbortSignal): Promise<CommitRange | null> {
    const repository = this.services.config.repository;
    if (!repository) return null;
    const live = await currentLive(this.services.db, release.environment);
    return readCommitRange({ repository, exec: this.services.exec, ...(signal ? { signal } : {}) }, { semver: release.semver, fromSemver: live && live.id !== release.id ? live.semver : undefined });
  }

  /**
   * Checks the release's evidence against the repository now (tags can move). When it changed, stores the
   * new evidence and voids the approvals of the old one (a deploying release goes back to awaiting
   * approval) and returns what changed; undefined when it still holds.
   */
  async recheckEvidence(release: Release, signal?: AbortSignal): Promise<string | undefined> {
    const commits = await this.commitsFor(release, signal);
    const digest = digestOf(evidenceOf({ ...release, commits }));
    if (signal?.aborted || digest === release.evidenceDigest) return undefined;
    const reason = describeRangeChange(release.commits, commits) ?? "the evidence is not what was approved";
    const replaced = await replaceEvidence(this.services.db, release, { commits, digest }, reason);
    if (replaced) {
      this.services.log.warn("release evidence changed; approvals void", { releaseId: release.id, reason, voided: replaced.voided });
      await this.announcer.evidenceChanged({ release: replaced.release, from: release.state, reason, voided: replaced.voided });
    }
    return reason;
  }

  /** Deploys and verifies an approved release. `approvedBy`: who approved it, when the caller has the tally in hand. */
  async deployPhase(release: Release, shutdown: AbortSignal, approvedBy?: string[]): Promise<void> {
    const { signal, stop: stopHeartbeat } = this.keepAlive(release.id, shutdown);
    try {
      const outcome = await this.deploy(release, signal, approvedBy);
      if (!outcome) return;
      await this.announcer.deployed(outcome);
      if (outcome.kind === "live" && release.environment === this.services.config.environments.at(-1)?.name) await this.settleFixes();
    } finally {
      stopHeartbeat();
    }
  }

  /** The deploy, smoke test and health check, moving the release as they go; undefined when nothing here moved it. */
  private async deploy(release: Release, signal: AbortSignal, approvedBy: string[] | undefined): Promise<DeployOutcome | undefined> {
    const { db, exec, log, replicaId, metrics } = this.services;
    const env = this.environment(release.environment);
    try {
      // Still ours, still deploying: the claim is checked once more right before anything runs.
      if (!(await heartbeat(db, release.id, replicaId))) {
        log.warn("release is no longer this replica's to deploy; not deploying", { releaseId: release.id });
        return undefined;
      }
      if (!env) return await this.fail(release, "deploying", `Environment ${release.environment} is no longer in the configuration.`, "");
      // The tags may have moved since the last approval: what deploys must be what was approved.
      if (await this.recheckEvidence(release, signal)) return undefined;
      if (release.emergency !== null) await this.announcer.emergencyDeploying(release);
      const approvers = approvedBy ?? (await approversOf(db, release.id)).map((a) => a.approver);
      const request = { releaseId: release.id, version: release.version, environment: release.environment, requester: release.requester, approvers };
      const options = { exec, signal, webhookBackoffMs: this.timings.webhookBackoffMs, healthAttempts: this.timings.healthAttempts, healthIntervalMs: this.timings.healthIntervalMs };
      const deployed = await runDeploy(env, request, options);
      if (signal.aborted) return await this.interrupted(release, "deploying");
      if (!deployed.ok) return await this.fail(release, "deploying", deployed.detail, deployed.tail);
      const verifying = await transition(db, release.id, "verifying", "orchestrator", deployed.detail, { outputTail: deployed.tail || null, leaseSeconds: LEASE_SECONDS });
      if (verifying) await this.announcer.verifying(verifying, deployed.detail);
      const verified = await verifyDeploy(env, request, options);
      if (signal.aborted) return await this.interrupted(release, "verifying");
      if (!verified.ok) return await this.fail(release, "verifying", verified.detail, [deployed.tail, verified.tail].filter(Boolean).join("\n"));
      const { live, replaced } = await goLive(db, release, verified.detail, verified.tail || null);
      if (!live) return undefined;
      metrics.releases.inc({ environment: release.environment, state: "live" });
      if (replaced) metrics.releases.inc({ environment: release.environment, state: "rolled_back" });
      return { kind: "live", release: live, detail: verified.detail, replaced };
    } catch (error) {
      log.error("deploy failed to run", { releaseId: release.id, error });
      // Where it stopped is unknown here: the state is read back.
      const current = await getRelease(db, release.id).catch(() => undefined);
      if (current && (current.state === "deploying" || current.state === "verifying")) {
        return await this.fail(current, current.state, `Orchestrator could not finish the deploy: ${(error as Error).message}`, "");
      }
      return undefined;
    }
  }

  private async fail(release: Release, during: ReleaseState, detail: string, tail: string): Promise<DeployOutcome | undefined> {
    const moved = await transition(this.services.db, release.id, "failed", "orchestrator", detail, { reason: detail, outputTail: tail || null });
    if (!moved) return undefined;
    this.services.metrics.releases.inc({ environment: release.environment, state: "failed" });
    return { kind: "failed", release: moved, during, detail, tail };
  }

  private async interrupted(release: Release, during: ReleaseState): Promise<DeployOutcome | undefined> {
    const moved = await failOnShutdown(this.services.db, release.id, during);
    return moved && { kind: "interrupted", release: moved, during };
  }

  /** Releases left gating, deploying or verifying by a replica that died are marked failed and announced. */
  async recoverInterrupted(): Promise<Release[]> {
    const failed = await failInterrupted(this.services.db);
    for (const release of failed) {
      this.services.metrics.releases.inc({ environment: release.environment, state: "failed" });
      await this.announcer.abandoned(release);
    }
    return failed;
  }

  /** At start-up, and once more when a dead replica's claims have certainly lapsed. */
  startRecovery(): void {
    const run = () => this.recoverInterrupted().catch((error: unknown) => this.services.log.error("could not check for interrupted releases", { error }));
    void this.services.background.run("recover interrupted releases", async () => {
      await run();
    });
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        void this.services.background.run("recover interrupted releases", async () => {
          await run();
        });
      },
      (LEASE_SECONDS + 5) * 1000,
    );
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
}
