import { randomUUID } from "node:crypto";
import { postContent } from "./web-api.js";
import type { SlackMessage, Workspace } from "./workspace.js";

/** response_url: at most 5 uses within 30 minutes; ephemeral by default, in the channel or replacing the clicked message when asked. */

const RESPONSE_URL_USES = 5;
const RESPONSE_URL_TTL_MS = 30 * 60 * 1000;

export interface ResponseUrlState {
  id: string;
  user: string;
  channel: string;
  uses: number;
  createdAt: number;
  /** The message a click came from: `replace_original` targets it. */
  source?: { kind: "message"; ts: string } | { kind: "ephemeral"; id: string };
  threadTs?: string;
}

interface ResponseUrlHost {
  workspace: Workspace;
  botUserId: string;
  botId: string;
  appId: string;
  echo(message: SlackMessage): void;
  /** Where the emulator is reachable. */
  baseUrl(): string;
}

export class ResponseUrls {
  private readonly states = new Map<string, ResponseUrlState>();

  constructor(private readonly host: ResponseUrlHost) {}

  create(state: Omit<ResponseUrlState, "id" | "uses" | "createdAt">): string {
    const id = randomUUID();
    this.states.set(id, { ...state, id, uses: 0, createdAt: Date.now() });
    return `${this.host.baseUrl()}/response/${id}`;
  }

  all(): ResponseUrlState[] {
    return [...this.states.values()];
  }

  restore(states: ResponseUrlState[]): void {
    this.states.clear();
    for (const state of states) this.states.set(state.id, state);
  }

  /** A post to a response URL; the error Slack would answer, or undefined. */
  respond(id: string, body: Record<string, unknown>): string | undefined {
    const state = this.states.get(id);
    if (!state) return "invalid_url";
    if (Date.now() - state.createdAt > RESPONSE_URL_TTL_MS) return "expired_url";
    if (state.uses >= RESPONSE_URL_USES) return "used_url";
    state.uses += 1;
    const content = postContent(body);
    if (body.delete_original === true) {
      this.deleteSource(state);
      return undefined;
    }
    if ("error" in content) return content.error;
    if (body.replace_original === true && state.source) {
      if (state.source.kind === "message") {
        const message = this.host.workspace.find(state.channel, state.source.ts);
        if (!message) return "message_not_found";
        message.text = content.text;
        message.blocks = content.blocks;
        this.host.workspace.changed(state.channel, message.ts);
        return undefined;
      }
      const ephemeralId = state.source.id;
      const ephemeral = this.host.workspace.ephemerals.find((e) => e.id === ephemeralId);
      if (ephemeral) {
        ephemeral.text = content.text;
        ephemeral.blocks = content.blocks;
        this.host.workspace.emit("change", { kind: "ephemeral", channel: ephemeral.channel, user: ephemeral.user, id: ephemeral.id });
        return undefined;
      }
    }
    if (body.response_type === "in_channel") {
      const message = this.host.workspace.insert({
        type: "message",
        ts: this.host.workspace.nextTs(),
        channel: state.channel,
        user: this.host.botUserId,
        bot_id: this.host.botId,
        app_id: this.host.appId,
        text: content.text,
        ...(content.blocks ? { blocks: content.blocks } : {}),
        ...(state.threadTs ? { thread_ts: state.threadTs } : {}),
      });
      this.host.echo(message);
      return undefined;
    }
    this.host.workspace.addEphemeral({
      channel: state.channel,
      user: state.user,
      text: content.text,
      ...(content.blocks ? { blocks: content.blocks } : {}),
      ...(state.threadTs ? { thread_ts: state.threadTs } : {}),
      responseUrlId: id,
    });
    return undefined;
  }

  private deleteSource(state: ResponseUrlState): void {
    if (state.source?.kind === "message") {
      const message = this.host.workspace.find(state.channel, state.source.ts);
      if (message) {
        message.deleted = true;
        this.host.workspace.changed(state.channel, message.ts);
      }
    } else if (state.source?.kind === "ephemeral") {
      const sourceId = state.source.id;
      const index = this.host.workspace.ephemerals.findIndex((e) => e.id === sourceId);
      const [removed] = index >= 0 ? this.host.workspace.ephemerals.splice(index, 1) : [];
      if (removed) this.host.workspace.emit("change", { kind: "ephemeral", channel: removed.channel, user: removed.user, id: removed.id });
    }
  }
}
