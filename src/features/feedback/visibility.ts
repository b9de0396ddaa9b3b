import type { WebClient } from "@slack/web-api";
import { z } from "zod";
import type { Log } from "../../log.js";

/**
 * Who may read a feedback item's text (SPEC §2a): members of its source channel and admins; in public
 * it appears only in its own channel. Counts and themes are for everyone. The source channel is where the
 * message was posted; for `feedback add` it is the channel the command was typed in. The author may
 * always read what they wrote themselves (it covers `feedback add` in a direct message, whose members
 * the bot cannot list).
 */
export type Audience =
  /** One person reading an answer only they see (an ephemeral reply). */
  | { kind: "person"; user: string; admin: boolean; memberOf: ReadonlySet<string> }
  /** Everyone in a channel (a message posted there). */
  | { kind: "channel"; channel: string };

interface SourcedText {
  channel: string;
  author: string;
}

export function maySeeText(item: SourcedText, audience: Audience): boolean {
  if (audience.kind === "channel") return item.channel === audience.channel;
  return audience.admin || item.author === audience.user || audience.memberOf.has(item.channel);
}

/** What stands in for text this audience may not read. */
export function hiddenText(channel: string): string {
  return `_text visible to members of <#${channel}>_`;
}

/** Items with the text replaced by null where this audience may not read it. Pure. */
export function forAudience<T extends SourcedText & { text: string | null }>(items: readonly T[], audience: Audience): Array<Omit<T, "text"> & { text: string | null }> {
  return items.map((item) => (item.text !== null && !maySeeText(item, audience) ? { ...item, text: null } : item));
}

const membersPage = z.object({
  members: z.array(z.string()).default([]),
  response_metadata: z.object({ next_cursor: z.string().optional() }).optional(),
});

const MEMBERS_TTL_MS = 60_000;

/**
 * Channel membership from `conversations.members`, paginated, cached briefly so a burst of commands
 * asks Slack once per channel. A channel the bot cannot list counts as having no members (only admins
 * and authors then read its feedback): privacy fails closed.
 */
export class FeedbackAccess {
  private readonly cache = new Map<string, { until: number; members: Promise<ReadonlySet<string>> }>();

  constructor(
    private readonly slack: WebClient,
    private readonly admins: () => readonly string[],
    private readonly log: Log,
    private readonly ttlMs = MEMBERS_TTL_MS,
  ) {}

  /** The audience of an answer only `user` sees, knowing their membership of the channels given. */
  async person(user: string, channels: Iterable<string>): Promise<Audience> {
    const admin = this.admins().includes(user);
    const memberOf = new Set<string>();
    if (!admin) {
      const distinct = [...new Set(channels)];
      const sets = await Promise.all(distinct.map((channel) => this.members(channel)));
      distinct.forEach((channel, i) => {
        if (sets[i]?.has(user)) memberOf.add(channel);
      });
    }
    return { kind: "person", user, admin, memberOf };
  }

  members(channel: string): Promise<ReadonlySet<string>> {
    const now = Date.now();
    const cached = this.cache.get(channel);
    if (cached && cached.until > now) return cached.members;
    const members = this.fetch(channel);
    this.cache.set(channel, { until: now + this.ttlMs, members });
    return members;
  }

  private async fetch(channel: string): Promise<ReadonlySet<string>> {
    const members = new Set<string>();
    try {
      let cursor: string | undefined;
      do {
        const page = membersPage.parse(await this.slack.conversations.members({ channel, limit: 200, ...(cursor ? { cursor } : {}) }));
        for (const member of page.members) members.add(member);
        cursor = page.response_metadata?.next_cursor || undefined;
      } while (cursor);
    } catch (error) {
      this.log.warn("could not list a channel's members; its feedback text stays hidden from non-admins", { channel, error });
      // A failed lookup is not remembered: the next question asks Slack again.
      this.cache.delete(channel);
      return new Set();
    }
    return members;
  }
}
