import type { EnvironmentConfig } from "../../config/schema.js";
import type { Tx } from "../../db/client.js";
import type { CommitRange, ReleaseState } from "../../db/schema.js";
import type { Services } from "../../core/feature.js";
import { settleFixes } from "../feedback/index.js";
import { escapeMrkdwn } from "../../slack/text.js";
import { readCommitRange } from "./commits.js";
import { runDeploy, verifyDeploy } from "./deploy.js";
import { describeRangeChange, digestOf, evidenceOf } from "./evidence.js";
import { replaceEvidence } from "./evidence-store.js";
import { type DeployDecision, deployDecision } from "./freeze.js";
import type { ReleaseAnnouncer } from "./announcer.js";
import { lockEnvironment, openFreezes } from "./freezes.js";
import { runGates } from "./gates.js";
import { approversOf, currentLive, failInterrupted, failOnShutdown, getRelease, goLive, HEARTBEAT_MS, heartbeat, LEASE_SECONDS, type Release, saveGates, transition } from "./store.js";

import type { ReleaseTimings } from "./service.js";

/**
 * A release as it runs: its gates, its deploy, smoke test and health check, each under this replica's claim
 * (renewed by a heartbeat, so a run whose claim is lost stops), and the recovery of runs a dead replica left.
 * It moves the state through the store's conditional updates and tells the announcer.
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
  readonly mayStart = async (tx: Tx, release: Release): Promise<DeployDecision> => {
    await lockEnvironment(tx, release.environment);
    const now = this.now();
    const freezes = await openFreezes(tx, now, release.environment);
    return deployDecision({ windows: this.environment(release.environment)?.windows ?? [], freezes, now, timeZone: this.services.config.timezone, emergency: release.emergency !== null });
  };

  async gatePhase(release: Release, shutdown: AbortSignal): Promise<void> {
    const { db, replicaId, exec, log } = this.services;
    const { signal, stop: stopHeartbeat } = this.keepAlive(release.id, shutdown);
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
      if (signal.aborted) {
        await this.announcer.note(await failOnShutdown(db, release.id, "gating"), "Gates were interrupted because Orchestrator shut down.");
        return;
      }
      const commits = await commitsRead;
      const evidence = { commits, oldestCommitAt: commits?.oldestAt ? new Date(commits.oldestAt) : null, evidenceDigest: digestOf(evidenceOf({ semver: release.semver, gates: results, commits })) };
      if (passed) {
        const moved = await transition(db, release.id, "awaiting_approval", "orchestrator", "all gates passed", { gates: results, awaiting: true, ...evidence });
        const who = this.services.config.people.approvers
          .filter((u) => u !== release.requester)
          .map((u) => `<@${u}>`)
          .join(", ");
        await this.announcer.note(moved, `All gates passed. Waiting for ${release.requiredApprovals} approval${release.requiredApprovals === 1 ? "" : "s"} from ${who}.`);
        return;
      }
      const failed = results.filter((g) => g.status === "failed");
      const moved = await transition(db, release.id, "blocked", "orchestrator", `gate failed: ${failed.map((g) => g.name).join(", ")}`, {
        gates: results,
        ...evidence,
        reason: failed.map((g) => `${g.name}: ${g.detail}`).join("; "),
        outputTail:
          failed
            .map((g) => (g.output ? `[${g.name}]\n${g.output}` : ""))
            .filter(Boolean)
            .join("\n\n") || null,
      });
      await this.announcer.note(
        moved,
        `<@${release.requester}> the release is blocked: ${failed.map((g) => `*${escapeMrkdwn(g.name)}* failed (${escapeMrkdwn(g.detail)})`).join("; ")}. Fix it and release again.`,
      );
    } catch (error) {
      log.error("gates failed to run", { releaseId: release.id, replica: replicaId, error });
      await this.announcer.note(
        await transition(db, release.id, "failed", "orchestrator", "gates could not run", { reason: `Gates could not run: ${(error as Error).message}` }).catch(() => undefined),
        "The gates could not run; see the alerts channel.",
      );
    } finally {
      stopHeartbeat();
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
      await this.announcer.note(
        replaced.release,
        `:warning: The evidence changed: ${escapeMrkdwn(reason)}. ${replaced.voided > 0 ? `${replaced.voided} approval${replaced.voided === 1 ? " is" : "s are"} void; ` : ""}${release.state === "deploying" ? "nothing was deployed; " : ""}approvals must be given again.`,
        true,
      );
    }
    return reason;
  }

  async deployPhase(release: Release, shutdown: AbortSignal): Promise<void> {
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
        await this.announcer.alert(
          release,
          `🚨 *Emergency ${release.kind === "rollback" ? "rollback" : "release"} \`${escapeMrkdwn(release.version)}\` to ${release.environment} is deploying now* (requested by <@${release.requester}>: ${escapeMrkdwn(release.emergency)}).`,
          "",
        );
      }
      const approvers = (await approversOf(db, release.id)).map((a) => a.approver);
      const request = { releaseId: release.id, version: release.version, environment: release.environment, requester: release.requester, approvers };
      const options = { exec, signal, webhookBackoffMs: this.timings.webhookBackoffMs, healthAttempts: this.timings.healthAttempts, healthIntervalMs: this.timings.healthIntervalMs };
      const deployed = await runDeploy(env, request, options);
      if (signal.aborted) return await this.interrupted(release, "deploying");
      if (!deployed.ok) return await this.fail(release, "deploying", deployed.detail, deployed.tail);
      const verifying = await transition(db, release.id, "verifying", "orchestrator", deployed.detail, { outputTail: deployed.tail || null, leaseSeconds: LEASE_SECONDS });
      await this.announcer.note(verifying, `Deployed (${escapeMrkdwn(deployed.detail)}). Running the smoke test and health check.`);
      const verified = await verifyDeploy(env, request, options);
      if (signal.aborted) return await this.interrupted(release, "verifying");
      if (!verified.ok) return await this.fail(release, "verifying", verified.detail, [deployed.tail, verified.tail].filter(Boolean).join("\n"));
      const { live, replaced } = await goLive(db, release, verified.detail, verified.tail || null);
      this.services.metrics.releases.inc({ environment: release.environment, state: "live" });
      await this.announcer.note(live, `:white_check_mark: \`${release.version}\` is live on ${release.environment} (${escapeMrkdwn(verified.detail)}).`, true);
      if (replaced) {
        this.services.metrics.releases.inc({ environment: release.environment, state: "rolled_back" });
        await this.announcer.note(
          replaced,
          `:leftwards_arrow_with_hook: Rolled back: ${release.environment} is back on \`${release.version}\` (release #${release.id}, requested by <@${release.requester}>).`,
        );
      }
      if (release.environment === this.services.config.environments.at(-1)?.name) await this.settleFixes();
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
    await this.announcer.note(moved, `:boom: The release failed while ${during}: ${escapeMrkdwn(detail)}`, true);
    const offer = await this.announcer.rollbackOffer(moved);
    const what = `${moved.emergency !== null ? "🚨 Emergency " : ""}${moved.kind === "rollback" ? "Rollback to" : moved.emergency !== null ? "release" : "Release"}`;
    await this.announcer.alert(moved, `:boom: *${what} \`${escapeMrkdwn(moved.version)}\` to ${moved.environment} failed* while ${during}: ${escapeMrkdwn(detail)}${offer.note}`, tail, offer.blocks);
  }

  private async interrupted(release: Release, during: ReleaseState): Promise<void> {
    const moved = await failOnShutdown(this.services.db, release.id, during);
    if (!moved) return;
    await this.announcer.note(moved, `:warning: Orchestrator shut down while ${during}; the release is marked failed and will not be re-run by itself.`, true);
    await this.announcer.alert(
      moved,
      `:warning: *Release \`${escapeMrkdwn(moved.version)}\` to ${moved.environment} was interrupted* while ${during} (shutdown). Check ${moved.environment}.`,
      moved.outputTail ?? "",
    );
  }

  /** Releases left gating, deploying or verifying by a replica that died are marked failed and announced. */
  async recoverInterrupted(): Promise<Release[]> {
    const failed = await failInterrupted(this.services.db);
    for (const release of failed) {
      this.services.metrics.releases.inc({ environment: release.environment, state: "failed" });
      await this.announcer.note(release, `:warning: ${escapeMrkdwn(release.reason ?? "Interrupted.")}`, true);
      await this.announcer.alert(
        release,
        `:warning: *Release \`${escapeMrkdwn(release.version)}\` to ${release.environment} was interrupted*: ${escapeMrkdwn(release.reason ?? "")}`,
        release.outputTail ?? "",
      );
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
