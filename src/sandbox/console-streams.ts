import type { IncomingMessage, ServerResponse } from "node:http";
import type { WorkspaceChange } from "../emulator/workspace.js";

const NOTICES_PER_PERSON = 10;
const HEARTBEAT_MS = 20_000;

export interface Notice {
  id: number;
  text: string;
  at: string;
}

/** Slack's own complaints to one person (a click or shortcut the bot did not answer), kept for their next look. */
export class Notices {
  private readonly byPerson = new Map<string, Notice[]>();
  private nextId = 1;

  add(person: string, text: string): void {
    const list = this.byPerson.get(person) ?? [];
    list.push({ id: this.nextId++, text, at: new Date().toISOString() });
    this.byPerson.set(person, list.slice(-NOTICES_PER_PERSON));
  }

  of(person: string): Notice[] {
    return this.byPerson.get(person) ?? [];
  }
}

/** Fans the workspace's changes out to every open console page as server-sent events. */
export class ChangeStream {
  private readonly clients = new Set<ServerResponse>();
  private heartbeat: NodeJS.Timeout | undefined;

  open(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" });
    res.write("retry: 1000\n\n");
    this.clients.add(res);
    // Comments keep proxies and the browser from dropping an idle stream.
    this.heartbeat ??= setInterval(() => this.write(": keep-alive\n\n"), HEARTBEAT_MS).unref();
    req.on("close", () => {
      this.clients.delete(res);
      if (this.clients.size === 0 && this.heartbeat) {
        clearInterval(this.heartbeat);
        this.heartbeat = undefined;
      }
    });
  }

  send(change: { kind: WorkspaceChange["kind"]; channel?: string; user?: string }): void {
    this.write(`event: change\ndata: ${JSON.stringify(change)}\n\n`);
  }

  private write(chunk: string): void {
    for (const client of this.clients) client.write(chunk);
  }
}
