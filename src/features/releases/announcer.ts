import type { KnownBlock } from "@slack/types";
import type { Services } from "../../core/feature.js";
import { type Refusal, refuse } from "../../core/refusal.js";
import { permalink } from "../../slack/permalink.js";
import { codeBlock, escapeMrkdwn, plural } from "../../slack/text.js";
import { formatWhen } from "../../time.js";
import { holdReason, releaseMessage, type ReleaseView, rollbackButton, stateLabel } from "./blocks.js";
import type { Approved, StartOutcome } from "./deploy-start.js";
import { isWithdrawal, WITHDRAWN } from "./machine.js";
import { type Freeze, openFreezes } from "./freezes.js";
import { chooseRollbackTarget } from "./rollback.js";
import type { DeployOutcome, GateOutcome } from "./runner.js";
import { liveHistory, rejecterOf } from "./queries.js";
import { type Approval, approversOf, forgetMessage, getRelease, type Release, revisionOf, setMessage, type VoidedApproval, voidedOf } from "./store.js";

/** Parts of a release message the caller has read already (the tally an approval returned, say). */
interface Known {
  approvals?: Approval[];
  voided?: VoidedApproval[];
  freezes?: Freeze[];
  rejectedBy?: string;
}

/**
 * What people see of a release: its one message in the releases channel (posted once, then updated in place),
 * notes in its thread, and alerts. The lifecycle (service.ts, runner.ts) moves the state and hands the
 * announcer what happened with the rows the moves returned; the announcer renders from those and reads only
 * what they do not carry. A lost or late message update never changes what happened.
 */
export class ReleaseAnnouncer {
  private readonly refreshing = new Map<number, Promise<Release>>();

  constructor(
    private readonly services: Services,
    private readonly now: () => Date,
  ) {}

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
      const needed = this.services.config.environments.find((e) => e.name === failed.environment)?.rollback.approvals ?? 1;
      return {
        note: `\nRoll back to \`${escapeMrkdwn(choice.target.version)}\`, the version live before it? It needs ${plural(needed, "approval")}, and no gates run.`,
        blocks: [rollbackButton(failed.id, choice.target.version, choice.target.semver)],
      };
    } catch (error) {
      this.services.log.warn("could not work out a rollback for a failed release", { releaseId: failed.id, error });
      return { note: "", blocks: [] };
    }
  }

  /** After a move: the message re-rendered from the moved row, and a note in its thread (in the channel too when `broadcast`). */
  async note(moved: Release | undefined, note: string, broadcast = false, known: Known = {}): Promise<void> {
    if (!moved) return;
    await this.say(await this.refresh(moved, known), note, broadcast);
  }

  /** A counted approval on the message and in its thread, from what the approval returned. */
  async approved(approval: Approved, user: string, voided: VoidedApproval[]): Promise<void> {
    const { release, tally } = approval;
    const counted = `<@${user}> approved (${tally.count}/${release.requiredApprovals}).`;
    const next =
      approval.kind === "completed"
        ? ` Deploying \`${release.version}\` to ${release.environment} now.`
        : approval.kind === "scheduled"
          ? ` ${holdReason(approval.decision, release.environment)}, so \`${release.version}\` is scheduled: it deploys at ${formatWhen(approval.decision.at, this.services.config.timezone, this.now())}.`
          : "";
    await this.note(release, `${counted}${next}`, false, { approvals: tally.approvals, voided, ...(approval.kind !== "counted" ? { freezes: approval.freezes } : {}) });
  }

  /** A new release's first message: nothing is approved or void yet. Returns the row with its message. */
  requested(release: Release): Promise<Release> {
    return this.refresh(release, { approvals: [], voided: [] });
  }

  /** A rollback was requested: its message, and who it waits for in the thread. `from`: what it replaces, in words. */
  async rollbackRequested(release: Release, from: string): Promise<Release> {
    const shown = await this.requested(release);
    await this.say(
      shown,
      `<@${shown.requester}> asked to roll ${shown.environment} back ${from}to \`${shown.version}\`. Waiting for ${plural(shown.requiredApprovals, "approval")} from ${this.approversBesides(shown.requester)}.`,
    );
    return shown;
  }

  /** An emergency request is announced in the alerts channel as well. */
  async emergencyRequested(release: Release): Promise<void> {
    if (release.emergency === null) return;
    const what =
      release.kind === "rollback"
        ? `🚨 *Emergency rollback of ${release.environment} to \`${escapeMrkdwn(release.version)}\`* requested by <@${release.requester}>: ${escapeMrkdwn(release.emergency)}. It needs ${release.requiredApprovals} approvals.`
        : `🚨 *Emergency release \`${escapeMrkdwn(release.version)}\` to ${release.environment}* requested by <@${release.requester}>: ${escapeMrkdwn(release.emergency)}. It needs ${release.requiredApprovals} approvals and may deploy during a freeze or outside the deploy windows.`;
    await this.alert(release, what, "");
  }

  /** `regate`: the message back to gating, and in the thread who re-ran them and how many approvals became void. */
  async regated(release: Release, by: string, voided: number): Promise<Release> {
    const shown = await this.refresh(release);
    await this.say(shown, `<@${by}> re-ran the gates.${voided > 0 ? ` ${plural(voided, "earlier approval is", "earlier approvals are")} void and must be given again.` : ""}`);
    return shown;
  }

  async rejected(release: Release, by: string, reason: string): Promise<void> {
    const note = isWithdrawal(release.requester, by) ? `<@${by}> withdrew the release (${WITHDRAWN}): ${escapeMrkdwn(reason)}` : `<@${by}> rejected the release: ${escapeMrkdwn(reason)}`;
    await this.note(release, note, false, { rejectedBy: by });
  }

  async expired(release: Release): Promise<void> {
    await this.note(release, ":hourglass: No decision within the approval window; the release expired. Release again to ask anew.");
  }

  /** What the sweep of scheduled releases did to one: started it, found it superseded, or moved its expected start. */
  async scheduledStart(outcome: StartOutcome): Promise<void> {
    if (outcome.kind === "held" && outcome.moved) {
      const when = formatWhen(outcome.decision.at, this.services.config.timezone, this.now());
      await this.note(outcome.release, `The expected start moved: \`${outcome.release.version}\` now deploys at ${when}.`);
    }
    if (outcome.kind === "superseded") {
      const { release, live } = outcome;
      await this.note(
        release,
        `:no_entry_sign: Not deployed: \`${live.version}\` went live on ${release.environment} while this release waited, and deploying \`${release.version}\` now would undo it. Release again if it is still wanted.`,
        true,
      );
    }
    if (outcome.kind === "started") await this.note(outcome.release, `:rocket: The wait is over: deploying \`${outcome.release.version}\` to ${outcome.release.environment} now.`, true);
  }

  private approversBesides(requester: string): string {
    return this.services.config.people.approvers
      .filter((u) => u !== requester)
      .map((u) => `<@${u}>`)
      .join(", ");
  }

  /** How the gates ended, on the message and in its thread. */
  async gated(outcome: GateOutcome): Promise<void> {
    const { release } = outcome;
    switch (outcome.kind) {
      case "passed":
        return this.note(release, `All gates passed. Waiting for ${plural(release.requiredApprovals, "approval")} from ${this.approversBesides(release.requester)}.`);
      case "blocked":
        return this.note(
          release,
          `<@${release.requester}> the release is blocked: ${outcome.failed.map((g) => `*${escapeMrkdwn(g.name)}* failed (${escapeMrkdwn(g.detail)})`).join("; ")}. Fix it and release again.`,
        );
      case "interrupted":
        return this.note(release, "Gates were interrupted because Orchestrator shut down.");
      case "broken":
        return this.note(release, "The gates could not run; see the alerts channel.");
    }
  }

  /** The evidence of a release changed and its approvals became void (`from`: the state it was found in). */
  async evidenceChanged(change: { release: Release; from: Release["state"]; reason: string; voided: number }): Promise<void> {
    const { voided } = change;
    await this.note(
      change.release,
      `:warning: The evidence changed: ${escapeMrkdwn(change.reason)}. ${voided > 0 ? `${plural(voided, "approval is", "approvals are")} void; ` : ""}${change.from === "deploying" ? "nothing was deployed; " : ""}approvals must be given again.`,
      true,
    );
  }

  async emergencyDeploying(release: Release): Promise<void> {
    await this.alert(
      release,
      `🚨 *Emergency ${release.kind === "rollback" ? "rollback" : "release"} \`${escapeMrkdwn(release.version)}\` to ${release.environment} is deploying now* (requested by <@${release.requester}>: ${escapeMrkdwn(release.emergency ?? "")}).`,
      "",
    );
  }

  /** Deployed; the smoke test and health check run next. */
  async verifying(release: Release, detail: string): Promise<void> {
    await this.note(release, `Deployed (${escapeMrkdwn(detail)}). Running the smoke test and health check.`);
  }

  /** How a deploy ended: the message, its thread, and an alert when it failed. */
  async deployed(outcome: DeployOutcome): Promise<void> {
    const { release } = outcome;
    switch (outcome.kind) {
      case "live":
        await this.note(release, `:white_check_mark: \`${release.version}\` is live on ${release.environment} (${escapeMrkdwn(outcome.detail)}).`, true);
        if (outcome.replaced) {
          await this.note(
            outcome.replaced,
            `:leftwards_arrow_with_hook: Rolled back: ${release.environment} is back on \`${release.version}\` (release #${release.id}, requested by <@${release.requester}>).`,
          );
        }
        return;
      case "failed": {
        const { during, detail, tail } = outcome;
        await this.note(release, `:boom: The release failed while ${during}: ${escapeMrkdwn(detail)}`, true);
        const offer = await this.rollbackOffer(release);
        const what = `${release.emergency !== null ? "🚨 Emergency " : ""}${release.kind === "rollback" ? "Rollback to" : release.emergency !== null ? "release" : "Release"}`;
        await this.alert(release, `:boom: *${what} \`${escapeMrkdwn(release.version)}\` to ${release.environment} failed* while ${during}: ${escapeMrkdwn(detail)}${offer.note}`, tail, offer.blocks);
        return;
      }
      case "interrupted":
        await this.note(release, `:warning: Orchestrator shut down while ${outcome.during}; the release is marked failed and will not be re-run by itself.`, true);
        await this.alert(
          release,
          `:warning: *Release \`${escapeMrkdwn(release.version)}\` to ${release.environment} was interrupted* while ${outcome.during} (shutdown). Check ${release.environment}.`,
          release.outputTail ?? "",
        );
    }
  }

  /** A release marked failed because the replica driving it died. */
  async abandoned(release: Release): Promise<void> {
    await this.note(release, `:warning: ${escapeMrkdwn(release.reason ?? "Interrupted.")}`, true);
    await this.alert(release, `:warning: *Release \`${escapeMrkdwn(release.version)}\` to ${release.environment} was interrupted*: ${escapeMrkdwn(release.reason ?? "")}`, release.outputTail ?? "");
  }

  /**
   * Renders the release message from this row (what the flow that moved it holds), posting it if it has
   * none yet, and returns the row as shown, with its message. `known`: parts the caller read already.
   */
  refresh(release: Release, known: Known = {}): Promise<Release> {
    const { id } = release;
    // One render at a time per release, in the order asked, so an older row never overwrites a newer one.
    const previous = this.refreshing.get(id) ?? Promise.resolve(release);
    const next = previous
      .then(() => this.render(release, known))
      .catch((error: unknown) => {
        this.services.log.warn("could not update a release message", { releaseId: id, error });
        return release;
      });
    this.refreshing.set(id, next);
    void next.finally(() => {
      if (this.refreshing.get(id) === next) this.refreshing.delete(id);
    });
    return next;
  }

  private async render(release: Release, known: Known): Promise<Release> {
    const { db, poster, config } = this.services;
    let shown = release;
    let parts = known;
    // Another replica may change the release while this one renders: render until the revision holds still.
    for (let round = 0; round < 3; round += 1) {
      const message = releaseMessage(await this.view(shown, parts), config.timezone);
      let current: Release | undefined;
      if (shown.messageTs && shown.channel) {
        await poster.update(shown.channel, shown.messageTs, message);
        const revision = await revisionOf(db, shown.id);
        if (revision === undefined || revision === shown.revision) return shown;
      } else {
        const posted = await poster.post(config.channels.releases, message);
        // The row as recorded with its message; none when another replica's message was recorded first.
        current = await setMessage(db, shown.id, posted.channel, posted.ts);
        if (current?.revision === shown.revision) return current;
      }
      current ??= await getRelease(db, shown.id);
      if (!current) return shown;
      if (current.revision === shown.revision) return current;
      shown = current;
      parts = {};
    }
    return shown;
  }

  private async view(release: Release, known: Known): Promise<ReleaseView> {
    const { db, config } = this.services;
    const now = this.now();
    const [approvals, voided, freezes, rejectedBy, source] = await Promise.all([
      known.approvals ?? approversOf(db, release.id),
      known.voided ?? voidedOf(db, release.id),
      known.freezes ?? openFreezes(db, now, release.environment),
      release.state === "rejected" ? (known.rejectedBy ?? rejecterOf(db, release.id)) : undefined,
      release.gatesFrom !== null ? getRelease(db, release.gatesFrom) : undefined,
    ]);
    const repositoryUrl = config.repository?.url;
    const gatesLink = source ? this.permalink(source) : undefined;
    return {
      ...release,
      approvals,
      voided,
      approvers: config.people.approvers,
      freezes,
      now,
      ...(repositoryUrl ? { repositoryUrl } : {}),
      ...(gatesLink ? { gatesLink } : {}),
      ...(rejectedBy ? { rejectedBy } : {}),
    };
  }

  /** A reply in the release message's thread (and in the channel too when it matters to everyone). */
  async say(release: Release, text: string, broadcast = false): Promise<void> {
    if (!release.messageTs || !release.channel) return;
    try {
      await this.services.poster.post(release.channel, { threadTs: release.messageTs, text, broadcast });
    } catch (error) {
      this.services.log.warn("could not post in a release thread", { releaseId: release.id, error });
    }
  }

  async alert(release: Release, text: string, tail: string, actions: KnownBlock[] = []): Promise<void> {
    try {
      const link = this.permalink(release);
      const body = `${text}${link ? `\n<${link}|Release #${release.id}>` : ""}`;
      await this.services.poster.post(this.services.config.channels.alerts, {
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
  async showMessage(release: Release): Promise<{ permalink?: string; reposted: boolean }> {
    const { db, slack, log } = this.services;
    let shown = release;
    let reposted = false;
    if (release.channel && release.messageTs) {
      const gone = await slack.conversations
        .history({ channel: release.channel, latest: release.messageTs, oldest: release.messageTs, inclusive: true, limit: 1 })
        .then((result) => !(result.messages ?? []).some((m) => m.ts === release.messageTs && m.subtype !== "tombstone"))
        .catch((error: unknown) => {
          log.warn("could not check a release message", { releaseId: release.id, error });
          return false;
        });
      const forgotten = gone ? await forgetMessage(db, release.id, release.messageTs) : undefined;
      if (forgotten) {
        log.info("release message gone from Slack; posting it again", { releaseId: release.id, previousTs: release.messageTs });
        shown = await this.refresh(forgotten);
        reposted = true;
      }
    } else {
      shown = await this.refresh(release);
      reposted = true;
    }
    const permalink = this.permalink(shown);
    return { ...(permalink ? { permalink } : {}), reposted };
  }

  permalink(release: Release): string | undefined {
    if (!release.channel || !release.messageTs) return undefined;
    return permalink(this.services.bot.workspaceUrl, release.channel, release.messageTs);
  }

  /** The refusal for a release already in flight, linking its message (posted again when it is gone, so it can always be acted on). */
  async inFlightRefusal(version: string, environment: string, flying: Release | undefined): Promise<Refusal> {
    const shown = flying ? await this.showMessage(flying) : undefined;
    const where = !shown?.permalink ? "" : shown.reposted ? ` Its message was gone, so I posted it again: <${shown.permalink}|message>.` : ` <${shown.permalink}|See its message>.`;
    return refuse(
      `\`${version}\` is already in flight to ${environment}${
        flying
          ? ` (${stateLabel(flying.state)
              .replace(/^:[a-z_]+: /, "")
              .toLowerCase()}, release #${flying.id})`
          : ""
      }.${where}`,
    );
  }
}
