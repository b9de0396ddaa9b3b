import type {
  AllMiddlewareArgs,
  AnyMiddlewareArgs,
  App,
  SlackAction,
  SlackActionMiddlewareArgs,
  SlackCommandMiddlewareArgs,
  SlackEventMiddlewareArgs,
  SlackShortcut,
  SlackShortcutMiddlewareArgs,
  SlackViewAction,
  SlackViewMiddlewareArgs,
} from "@slack/bolt";

type Handler<Args> = (args: Args & AllMiddlewareArgs) => Promise<void>;

/** The fields of a request body that say which handler it is for. */
interface Addressed {
  type?: string;
  command?: string;
  callback_id?: string;
  actions?: Array<{ action_id?: string }>;
  view?: { callback_id?: string };
  event?: { type?: string };
}

/**
 * Where features register their Slack handlers: slash commands, buttons, dialog submissions, shortcuts
 * and events, each by its name or id. One Bolt middleware hands each request to its handler, in place
 * of one Bolt listener per handler: Bolt runs every listener's middleware on every request, so each
 * listener added cost every ack (with nine, a Socket Mode ack cost as much as a bare Bolt app's with
 * eight more listeners: about 1.5× its p50 at 50 envelopes in flight, bench (e)). The arguments a
 * handler gets are Bolt's own (ack, respond, client, the payload), built once per request.
 *
 * A click, dialog or shortcut that no feature handles (a link button, a retired button still on an old
 * message) is acknowledged at once, so the person sees no error and Slack does not wait. Anything else
 * goes on to Bolt as usual.
 */
export class SlackListeners {
  private readonly commands = new Map<string, Handler<SlackCommandMiddlewareArgs>>();
  private readonly actions = new Map<string, Handler<SlackActionMiddlewareArgs>>();
  private readonly views = new Map<string, Handler<SlackViewMiddlewareArgs>>();
  private readonly shortcuts = new Map<string, Handler<SlackShortcutMiddlewareArgs>>();
  private readonly events = new Map<string, Handler<SlackEventMiddlewareArgs>>();

  /** After the app's other global middleware (dedupe, replay), so they run first. */
  constructor(app: App) {
    app.use((args) => this.dispatch(args));
  }

  // Each handler is typed for the payload its name carries, as with Bolt's own app.action<…>(): the id is the contract.

  command(name: string, handler: Handler<SlackCommandMiddlewareArgs>): void {
    register(this.commands, "command", name, handler);
  }

  action<Action extends SlackAction>(actionId: string, handler: Handler<SlackActionMiddlewareArgs<Action>>): void {
    register(this.actions, "action", actionId, handler as unknown as Handler<SlackActionMiddlewareArgs>);
  }

  view<View extends SlackViewAction>(callbackId: string, handler: Handler<SlackViewMiddlewareArgs<View>>): void {
    register(this.views, "view", callbackId, handler as unknown as Handler<SlackViewMiddlewareArgs>);
  }

  shortcut<Shortcut extends SlackShortcut>(callbackId: string, handler: Handler<SlackShortcutMiddlewareArgs<Shortcut>>): void {
    register(this.shortcuts, "shortcut", callbackId, handler as unknown as Handler<SlackShortcutMiddlewareArgs>);
  }

  event<EventType extends string>(type: EventType, handler: Handler<SlackEventMiddlewareArgs<EventType>>): void {
    register(this.events, "event", type, handler as unknown as Handler<SlackEventMiddlewareArgs>);
  }

  /** The body's own fields pick the handler; Bolt has already put the matching arguments (command, action, view…) beside it. */
  private async dispatch(args: AnyMiddlewareArgs & AllMiddlewareArgs): Promise<void> {
    const body = args.body as Addressed;
    if (typeof body.command === "string") {
      const handler = this.commands.get(body.command);
      if (handler) return handler(args as SlackCommandMiddlewareArgs & AllMiddlewareArgs);
    } else if (body.type === "event_callback") {
      const handler = this.events.get(body.event?.type ?? "");
      if (handler) return handler(args as SlackEventMiddlewareArgs & AllMiddlewareArgs);
    } else if (body.type === "block_actions") {
      return answer(this.actions.get(body.actions?.[0]?.action_id ?? ""), args as SlackActionMiddlewareArgs & AllMiddlewareArgs);
    } else if (body.type === "view_submission") {
      return answer(this.views.get(body.view?.callback_id ?? ""), args as SlackViewMiddlewareArgs & AllMiddlewareArgs);
    } else if (body.type === "shortcut" || body.type === "message_action") {
      return answer(this.shortcuts.get(body.callback_id ?? ""), args as SlackShortcutMiddlewareArgs & AllMiddlewareArgs);
    }
    await args.next();
  }
}

/** Runs the handler, or acknowledges a request no feature handles. */
async function answer<Args extends { ack: () => Promise<void> }>(handler: Handler<Args> | undefined, args: Args & AllMiddlewareArgs): Promise<void> {
  if (handler) await handler(args);
  else await args.ack();
}

function register<H>(handlers: Map<string, H>, surface: string, id: string, handler: H): void {
  if (handlers.has(id)) throw new Error(`the ${surface} listener ${id} is registered twice`);
  handlers.set(id, handler);
}
