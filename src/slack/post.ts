import type { KnownBlock } from "@slack/types";
import type { WebClient } from "@slack/web-api";

interface Message {
  text: string;
  blocks?: KnownBlock[];
}

/**
 * The one way the bot posts a message. Posts to channels, ephemeral ones included, no faster than Slack's limit of about one message per
 * second per channel, so a burst of alerts or digests is spread out instead of being rate limited. Updates are not paced.
 */
export class ChannelPoster {
  private readonly nextSlot = new Map<string, number>();

  constructor(
    private readonly client: WebClient,
    private readonly spacingMs = 1100,
  ) {}

  /** `broadcast`: a thread reply also shown in the channel. */
  async post(channel: string, message: Message & { threadTs?: string; broadcast?: boolean }): Promise<{ ts: string; channel: string }> {
    await this.turn(channel);
    const content = { channel, text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}), unfurl_links: false, unfurl_media: false } as const;
    const result = message.threadTs
      ? await this.client.chat.postMessage({ ...content, thread_ts: message.threadTs, reply_broadcast: message.broadcast === true })
      : await this.client.chat.postMessage(content);
    return { ts: result.ts as string, channel: (result.channel as string | undefined) ?? channel };
  }

  /** A message in the channel (or one of its threads) that only `user` sees. */
  async ephemeral(channel: string, user: string, message: Message & { threadTs?: string }): Promise<void> {
    await this.turn(channel);
    await this.client.chat.postEphemeral({
      channel,
      user,
      text: message.text,
      ...(message.blocks ? { blocks: message.blocks } : {}),
      ...(message.threadTs ? { thread_ts: message.threadTs } : {}),
    });
  }

  async update(channel: string, ts: string, message: Message): Promise<void> {
    await this.client.chat.update({ channel, ts, text: message.text, blocks: message.blocks ?? [] });
  }

  /** Waits for the channel's next free slot and takes it. */
  private async turn(channel: string): Promise<void> {
    const now = Date.now();
    const slot = Math.max(now, this.nextSlot.get(channel) ?? 0);
    this.nextSlot.set(channel, slot + this.spacingMs);
    if (slot > now) await new Promise((resolve) => setTimeout(resolve, slot - now));
  }
}
