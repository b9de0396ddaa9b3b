import type { KnownBlock } from "@slack/types";
import { and, asc, desc, eq } from "drizzle-orm";
import type { Services } from "../../core/feature.js";
import { releaseTransitions, voidedApprovals } from "../../db/schema.js";
import { permalink } from "../../slack/permalink.js";
import { codeBlock, escapeMrkdwn } from "../../slack/text.js";
import { releaseMessage, type ReleaseView, rollbackButton, stateLabel } from "./blocks.js";
import { openFreezes } from "./freezes.js";
import { chooseRollbackTarget } from "./rollback.js";
import { liveHistory } from "./queries.js";
import { approversOf, forgetMessage, getRelease, type Release, setMessage } from "./store.js";

/**
 * What people see of a release: its one message in the releases channel (rendered from the database, posted
 * once, then updated in place), notes in its thread, and alerts. The lifecycle (service.ts) moves the state and
 * tells the announcer; a lost or late message update never changes what happened.
 */
export class ReleaseAnnouncer {
  private readonly refreshing = new Map<number, Promise<void>>();

  constructor(
    private readonly services: Services,
    private readonly now: () => Date,
  ) {}

  /** After a failed deploy: a button to put back what was live before it, or a plain word that nothing was. */
  async rollbackOffer(failed: Release): Promise<{ note: string; blocks: KnownBlock[] }> {
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
        note: `\nRoll back to \`${escapeMrkdwn(choice.target.version)}\`, the version live before it? It needs ${needed} approval${needed === 1 ? "" : "s"}, and no gates run.`,
        blocks: [rollbackButton(failed.id, choice.target.version, choice.target.semver)],
      };
    } catch (error) {
      this.services.log.warn("could not work out a rollback for a failed release", { releaseId: failed.id, error });
      return { note: "", blocks: [] };
    }
  }

  /** After a move: the message re-rendered, and a note in its thread (in the channel too when `broadcast`). */
  async note(moved: Release | undefined, note: string, broadcast = false): Promise<void> {
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
      db
        .select({ approver: voidedApprovals.approver, at: voidedApprovals.approvedAt, reason: voidedApprovals.reason })
        .from(voidedApprovals)
        .where(eq(voidedApprovals.releaseId, id))
        .orderBy(asc(voidedApprovals.id)),
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
    const repositoryUrl = this.services.config.repository?.url;
    const now = this.now();
    const freezes = (await openFreezes(db, now, release.environment)).filter((f) => f.endedAt === null);
    const source = release.gatesFrom !== null ? await getRelease(db, release.gatesFrom) : undefined;
    const gatesLink = source ? await this.permalink(source) : undefined;
    return {
      release,
      view: {
        ...release,
        approvals,
        voided,
        approvers: this.services.config.people.approvers,
        freezes,
        now,
        ...(repositoryUrl ? { repositoryUrl } : {}),
        ...(gatesLink ? { gatesLink } : {}),
        ...(rejectedBy ? { rejectedBy } : {}),
      },
    };
  }

  /** A reply in the release message's thread (and in the channel too when it matters to everyone). */
  async say(id: number, text: string, broadcast = false): Promise<void> {
    try {
      const release = await getRelease(this.services.db, id);
      if (!release?.messageTs || !release.channel) return;
      await this.services.poster.post(release.channel, { threadTs: release.messageTs, text, broadcast });
    } catch (error) {
      this.services.log.warn("could not post in a release thread", { releaseId: id, error });
    }
  }

  async alert(release: Release, text: string, tail: string, actions: KnownBlock[] = []): Promise<void> {
    try {
      const link = await this.permalink(release);
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

  permalink(release: Release): string | undefined {
    if (!release.channel || !release.messageTs) return undefined;
    return permalink(this.services.bot.workspaceUrl, release.channel, release.messageTs);
  }

  /** The refusal for a release already in flight, linking its message (posted again when it is gone, so it can always be acted on). */
  async inFlightRefusal(version: string, environment: string, flying: Release | undefined): Promise<string> {
    const shown = flying ? await this.showMessage(flying) : undefined;
    const where = !shown?.permalink ? "" : shown.reposted ? ` Its message was gone, so I posted it again: <${shown.permalink}|message>.` : ` <${shown.permalink}|See its message>.`;
    return `\`${version}\` is already in flight to ${environment}${
      flying
        ? ` (${stateLabel(flying.state)
            .replace(/^:[a-z_]+: /, "")
            .toLowerCase()}, release #${flying.id})`
        : ""
    }.${where}`;
  }
}
