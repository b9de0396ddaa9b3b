import { randomUUID } from "node:crypto";
import type { DeliveryKind, InteractionResult } from "./delivery.js";
import type { ResponseUrls, ResponseUrlState } from "./response-urls.js";
import { fileObject, richTextBlocks } from "./shapes.js";
import { addReaction, publicMessage, str } from "./web-api.js";
import type { EmulatedChannel, EmulatedUser, SlackMessage, Workspace } from "./workspace.js";

/** People acting in the emulated workspace: what they type and click, sent to the bot as Slack sends it. */

interface PeopleHost {
  workspace: Workspace;
  botUserId: string;
  botId: string;
  appId: string;
  responseUrls: ResponseUrls;
  user(id: string): EmulatedUser;
  channel(id: string): EmulatedChannel;
  newTrigger(user: string): string;
  threadFields(channel: string, threadTs: string): Pick<SlackMessage, "thread_ts" | "parent_user_id">;
  addRoot(message: SlackMessage): void;
  send(kind: DeliveryKind, body: string, contentType: string): Promise<InteractionResult>;
  dispatchEvent(event: Record<string, unknown>): string;
}

export class People {
  constructor(private readonly host: PeopleHost) {}

  /** A person types `/orch <text>` in a channel (optionally in a thread, as Slack allows). */
  async command(userId: string, channelId: string, text: string, options: { command?: string; threadTs?: string } = {}): Promise<InteractionResult> {
    const user = this.host.user(userId);
    const channel = this.host.channel(channelId);
    const command = options.command ?? "/orch";
    const form = new URLSearchParams({
      token: "verification-token-unused",
      team_id: this.host.workspace.teamId,
      team_domain: this.host.workspace.teamDomain,
      channel_id: channel.id,
      channel_name: channel.name,
      user_id: user.id,
      user_name: user.name,
      command,
      text,
      api_app_id: this.host.appId,
      is_enterprise_install: "false",
      response_url: this.host.responseUrls.create({ user: user.id, channel: channel.id, ...(options.threadTs ? { threadTs: options.threadTs } : {}) }),
      trigger_id: this.host.newTrigger(user.id),
    });
    const result = await this.host.send("command", form.toString(), "application/x-www-form-urlencoded");
    this.showImmediateReply(result, user.id, channel.id, options.threadTs, command);
    return result;
  }

  /** A person posts a message (or a thread reply); a mention of the bot also sends `app_mention`. */
  async message(userId: string, channelId: string, text: string, options: { threadTs?: string; broadcast?: boolean; files?: SlackMessage["files"] } = {}): Promise<SlackMessage> {
    const user = this.host.user(userId);
    this.host.channel(channelId);
    const message = this.host.workspace.insert({
      type: "message",
      ts: this.host.workspace.nextTs(),
      channel: channelId,
      user: user.id,
      client_msg_id: randomUUID(),
      text,
      blocks: richTextBlocks(text),
      team: this.host.workspace.teamId,
      ...(options.threadTs ? this.host.threadFields(channelId, options.threadTs) : {}),
      ...(options.threadTs && options.broadcast ? { subtype: "thread_broadcast" } : {}),
      ...(options.files?.length ? { files: options.files.map((f) => fileObject(f, user.id, channelId, this.host.workspace)), subtype: "file_share", upload: false, display_as_bot: false } : {}),
    });
    this.host.addRoot(message);
    const event: Record<string, unknown> = { ...publicMessage(message), channel: channelId, event_ts: message.ts, channel_type: "channel" };
    this.host.dispatchEvent(event);
    if (text.includes(`<@${this.host.botUserId}>`)) {
      this.host.dispatchEvent({
        type: "app_mention",
        user: user.id,
        client_msg_id: message.client_msg_id,
        text,
        blocks: message.blocks,
        team: this.host.workspace.teamId,
        ts: message.ts,
        channel: channelId,
        event_ts: message.ts,
        ...(options.threadTs ? { thread_ts: options.threadTs } : {}),
      });
    }
    return message;
  }

  /** Puts a message straight into history without telling the bot: what happened while it was away. */
  seed(userId: string, channelId: string, text: string, options: { threadTs?: string } = {}): SlackMessage {
    this.host.user(userId);
    this.host.channel(channelId);
    return this.host.workspace.insert({
      type: "message",
      ts: this.host.workspace.nextTs(),
      channel: channelId,
      user: userId,
      client_msg_id: randomUUID(),
      text,
      blocks: richTextBlocks(text),
      team: this.host.workspace.teamId,
      ...(options.threadTs ? this.host.threadFields(channelId, options.threadTs) : {}),
    });
  }

  async edit(userId: string, channelId: string, ts: string, text: string): Promise<void> {
    const message = this.host.workspace.find(channelId, ts);
    if (!message || message.user !== userId) throw new Error(`${userId} cannot edit ${channelId}/${ts}`);
    const previous = publicMessage(message);
    message.text = text;
    if (message.client_msg_id) message.blocks = richTextBlocks(text);
    message.edited = { user: userId, ts: this.host.workspace.nextTs() };
    this.host.workspace.changed(channelId, ts);
    this.host.dispatchEvent({
      type: "message",
      subtype: "message_changed",
      hidden: true,
      channel: channelId,
      message: { ...publicMessage(message) },
      previous_message: previous,
      ts: this.host.workspace.nextTs(),
      event_ts: this.host.workspace.nextTs(),
      channel_type: "channel",
    });
  }

  async remove(userId: string, channelId: string, ts: string): Promise<void> {
    const message = this.host.workspace.find(channelId, ts);
    if (!message || message.user !== userId) throw new Error(`${userId} cannot delete ${channelId}/${ts}`);
    const previous = publicMessage(message);
    message.deleted = true;
    if (message.thread_ts && message.thread_ts !== message.ts) {
      const parent = this.host.workspace.find(channelId, message.thread_ts);
      if (parent) parent.reply_count = this.host.workspace.thread(channelId, parent.ts).length - 1;
    }
    this.host.workspace.changed(channelId, ts);
    const eventTs = this.host.workspace.nextTs();
    this.host.dispatchEvent({
      type: "message",
      subtype: "message_deleted",
      hidden: true,
      channel: channelId,
      deleted_ts: ts,
      previous_message: previous,
      ts: eventTs,
      event_ts: eventTs,
      channel_type: "channel",
    });
  }

  async react(userId: string, channelId: string, ts: string, name: string): Promise<void> {
    const message = this.host.workspace.find(channelId, ts);
    if (!message) throw new Error(`no message ${channelId}/${ts}`);
    if (addReaction(message, name, userId)) return;
    this.host.workspace.changed(channelId, ts);
    const eventTs = this.host.workspace.nextTs();
    this.host.dispatchEvent({
      type: "reaction_added",
      user: userId,
      reaction: name,
      item: { type: "message", channel: channelId, ts },
      item_user: message.user ?? message.bot_id,
      event_ts: eventTs,
    });
  }

  /**
   * A person clicks a button on a message (or on one of their ephemeral messages). `asSeen` is the
   * message's blocks as their client still showed them: a click on a button that has since gone.
   */
  async click(userId: string, target: { channel: string; ts: string } | { ephemeralId: string }, actionId: string, asSeen?: unknown[]): Promise<InteractionResult> {
    const user = this.host.user(userId);
    let channelId: string;
    let blocks: unknown[] | undefined;
    let container: Record<string, unknown>;
    let message: Record<string, unknown> | undefined;
    let source: ResponseUrlState["source"];
    let threadTs: string | undefined;
    if ("ephemeralId" in target) {
      const ephemeral = this.host.workspace.ephemerals.find((e) => e.id === target.ephemeralId);
      if (!ephemeral || ephemeral.user !== userId) throw new Error(`no ephemeral ${target.ephemeralId} for ${userId}`);
      channelId = ephemeral.channel;
      blocks = ephemeral.blocks;
      container = { type: "message", message_ts: ephemeral.ts, channel_id: channelId, is_ephemeral: true };
      source = { kind: "ephemeral", id: ephemeral.id };
      threadTs = ephemeral.thread_ts;
    } else {
      const found = this.host.workspace.find(target.channel, target.ts);
      if (!found || found.deleted) throw new Error(`no message ${target.channel}/${target.ts}`);
      channelId = target.channel;
      blocks = found.blocks;
      message = publicMessage(found);
      container = { type: "message", message_ts: found.ts, channel_id: channelId, is_ephemeral: false };
      source = { kind: "message", ts: found.ts };
      // Only a reply lives in a thread; a parent's own thread_ts names the thread it starts.
      threadTs = found.thread_ts !== found.ts ? found.thread_ts : undefined;
    }
    const located = findAction(asSeen ?? blocks, actionId);
    if (!located) throw new Error(`no button ${actionId} on that message`);
    const channel = this.host.channel(channelId);
    const payload = {
      type: "block_actions",
      user: { id: user.id, username: user.name, name: user.name, team_id: this.host.workspace.teamId },
      api_app_id: this.host.appId,
      token: "verification-token-unused",
      container,
      trigger_id: this.host.newTrigger(user.id),
      team: { id: this.host.workspace.teamId, domain: this.host.workspace.teamDomain },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: channel.id, name: channel.name },
      ...(message ? { message } : {}),
      state: { values: {} },
      response_url: this.host.responseUrls.create({ user: user.id, channel: channel.id, source, ...(threadTs ? { threadTs } : {}) }),
      actions: [
        {
          action_id: located.element.action_id,
          block_id: located.blockId,
          text: located.element.text,
          value: located.element.value,
          ...(located.element.style ? { style: located.element.style } : {}),
          type: "button",
          action_ts: this.host.workspace.nextTs(),
        },
      ],
    };
    const result = await this.host.send("action", new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), "application/x-www-form-urlencoded");
    if (result.failure) this.host.workspace.emit("change", { kind: "notice", user: userId, text: result.failure });
    return result;
  }

  /** A person submits an open modal with the given input values: { block_id: { action_id: value } }. */
  async submitView(userId: string, viewId: string, values: Record<string, Record<string, string>>): Promise<InteractionResult> {
    const user = this.host.user(userId);
    const open = this.host.workspace.views.get(viewId);
    if (!open || open.closed || open.user !== userId) throw new Error(`no open view ${viewId} for ${userId}`);
    const stateValues = Object.fromEntries(
      Object.entries(values).map(([blockId, actions]) => [blockId, Object.fromEntries(Object.entries(actions).map(([actionId, value]) => [actionId, { type: "plain_text_input", value }]))]),
    );
    const view = { ...open.view, state: { values: stateValues } };
    const payload = {
      type: "view_submission",
      team: { id: this.host.workspace.teamId, domain: this.host.workspace.teamDomain },
      user: { id: user.id, username: user.name, name: user.name, team_id: this.host.workspace.teamId },
      api_app_id: this.host.appId,
      token: "verification-token-unused",
      trigger_id: this.host.newTrigger(user.id),
      view,
      response_urls: [],
      is_enterprise_install: false,
      enterprise: null,
    };
    const result = await this.host.send("view", new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), "application/x-www-form-urlencoded");
    const body = result.body as Record<string, unknown> | undefined;
    if (result.status === 200 && body?.response_action !== "errors") {
      open.closed = true;
      this.host.workspace.emit("change", { kind: "view", user: userId, id: viewId });
    }
    return result;
  }

  /** A person closes a modal without submitting. */
  closeView(userId: string, viewId: string): void {
    const open = this.host.workspace.views.get(viewId);
    if (!open || open.user !== userId) return;
    open.closed = true;
    this.host.workspace.emit("change", { kind: "view", user: userId, id: viewId });
  }

  /** A person uses a message shortcut (the "…" menu of a message). */
  async shortcut(userId: string, channelId: string, ts: string, callbackId: string): Promise<InteractionResult> {
    const user = this.host.user(userId);
    const channel = this.host.channel(channelId);
    const message = this.host.workspace.find(channelId, ts);
    if (!message) throw new Error(`no message ${channelId}/${ts}`);
    const payload = {
      type: "message_action",
      callback_id: callbackId,
      trigger_id: this.host.newTrigger(user.id),
      response_url: this.host.responseUrls.create({ user: user.id, channel: channel.id, ...(message.thread_ts && message.thread_ts !== message.ts ? { threadTs: message.thread_ts } : {}) }),
      team: { id: this.host.workspace.teamId, domain: this.host.workspace.teamDomain },
      channel: { id: channel.id, name: channel.name },
      user: { id: user.id, name: user.name, team_id: this.host.workspace.teamId },
      message: publicMessage(message),
      message_ts: message.ts,
      token: "verification-token-unused",
      action_ts: this.host.workspace.nextTs(),
      is_enterprise_install: false,
    };
    return this.host.send("shortcut", new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), "application/x-www-form-urlencoded");
  }

  /** What Slack shows the person after a slash command: the bot's immediate reply, or Slack's own error. */
  private showImmediateReply(result: InteractionResult, user: string, channel: string, threadTs: string | undefined, command: string): void {
    if (result.failure) {
      this.host.workspace.addEphemeral({ channel, user, text: `${command} ${result.failure}`, ...(threadTs ? { thread_ts: threadTs } : {}) });
      return;
    }
    const body = result.body;
    if (typeof body === "string" && body.trim()) {
      this.host.workspace.addEphemeral({ channel, user, text: body, ...(threadTs ? { thread_ts: threadTs } : {}) });
      return;
    }
    if (body && typeof body === "object") {
      const reply = body as Record<string, unknown>;
      const text = str(reply.text) ?? "";
      const blocks = Array.isArray(reply.blocks) ? reply.blocks : undefined;
      if (!text && !blocks) return;
      if (reply.response_type === "in_channel") {
        this.host.workspace.insert({ type: "message", ts: this.host.workspace.nextTs(), channel, user: this.host.botUserId, bot_id: this.host.botId, text, ...(blocks ? { blocks } : {}) });
      } else {
        this.host.workspace.addEphemeral({ channel, user, text, ...(blocks ? { blocks } : {}), ...(threadTs ? { thread_ts: threadTs } : {}) });
      }
    }
  }
}

interface ButtonElement {
  type: string;
  action_id: string;
  text: unknown;
  value?: string;
  style?: string;
}

function findAction(blocks: unknown[] | undefined, actionId: string): { blockId: string; element: ButtonElement } | undefined {
  for (const block of blocks ?? []) {
    const b = block as { block_id?: string; type?: string; elements?: unknown[]; accessory?: unknown };
    const elements = b.type === "actions" ? (b.elements ?? []) : b.accessory ? [b.accessory] : [];
    for (const element of elements) {
      const e = element as ButtonElement;
      if (e.action_id === actionId) return { blockId: b.block_id ?? "", element: e };
    }
  }
  return undefined;
}
