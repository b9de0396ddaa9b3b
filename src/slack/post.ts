import type { KnownBlock } from "@slack/types";
import type { WebClient } from "@slack/web-api";

interface Message {
  text: string;
  blocks?: KnownBlock[];
}

/**
 * The one way the bot posts a message. Posts to channels no faster than Slack's limit of about one message per second per channel, so a
 * burst of alerts or digests is spread out instead of being rate limited. Updates are not paced.
 */
export class ChannelPoster {
  private readonly nextSlot = new Map<string, number>();

  constructor(
    private readonly client: WebClient,
    private readonly spacingMs = 1100,
  ) {}

  /** `broadcast`: a thread reply also shown in the channel. */
  async post(channel: string, message: Message & { threadTs?: string; broadcast?: boolean }): Promise<{ ts: string; channel: string }> {
    const now = Date.now();
    const slot = Math.max(now, this.nextSlot.get(channel) ?? 0);
    this.nextSlot.set(channel, slot + this.spacingMs);
    if (slot > now) await new Promise((resolve) => setTimeout(resolve, slot - now));
    const content = { channel, text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}), unfurl_links: false, unfurl_media: false } as const;
    const result = message.threadTs
      ? await this.client.chat.postMessage({ ...content, thread_ts: message.threadTs, reply_broadcast: message.broadcast === true })
      : await this.client.chat.postMessage(content);
    return { ts: result.ts as string, channel: (result.channel as string | undefined) ?? channel };
  }

  async update(channel: string, ts: string, message: Message): Promise<void> {
    await this.client.chat.update({ channel, ts, text: message.text, blocks: message.blocks ?? [] });
  }
}
