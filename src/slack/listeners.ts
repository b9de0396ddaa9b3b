import type {
  AllMiddlewareArgs,
  App,
  SlackAction,
  SlackActionMiddlewareArgs,
  SlackEventMiddlewareArgs,
  SlackShortcut,
  SlackShortcutMiddlewareArgs,
  SlackViewAction,
  SlackViewMiddlewareArgs,
} from "@slack/bolt";

type Handler<Args> = (args: Args & AllMiddlewareArgs) => Promise<void>;

/**
 * The features' Slack listeners: one Bolt listener per surface (actions, view submissions, shortcuts,
 * events) that hands each request to the handler registered for its id. Bolt runs every listener's
 * middleware for every request it receives, so each listener added costs every ack: with one per
 * button, dialog and event (nine), a Socket Mode ack cost as much as a bare Bolt app with eight more
 * listeners, about 1.5× its p50 at 50 envelopes in flight (bench (e)).
 *
 * A click, dialog or shortcut that no feature handles (a link button, a retired button still on an old
 * message) is acknowledged at once, so the person sees no error and Slack does not wait.
 */
export class SlackListeners {
  private readonly actions = new Map<string, Handler<SlackActionMiddlewareArgs>>();
  private readonly views = new Map<string, Handler<SlackViewMiddlewareArgs>>();
  private readonly shortcuts = new Map<string, Handler<SlackShortcutMiddlewareArgs>>();
  private readonly events = new Map<string, Handler<SlackEventMiddlewareArgs>>();

  constructor(app: App) {
    app.action(/.*/, async (args) => {
      const id = "action_id" in args.action ? args.action.action_id : undefined;
      const handler = id === undefined ? undefined : this.actions.get(id);
      if (handler) await handler(args);
      else await args.ack();
    });
    app.view(/.*/, async (args) => {
      const handler = this.views.get(args.view.callback_id);
      if (handler) await handler(args);
      else await args.ack();
    });
    app.shortcut(/.*/, async (args) => {
      const handler = this.shortcuts.get(args.shortcut.callback_id);
      if (handler) await handler(args);
      else await args.ack();
    });
    app.event(/.*/, async (args) => {
      await this.events.get(args.event.type)?.(args);
    });
  }

  // Each handler is typed for the payload its id carries, as Bolt's own app.action<…>() is: the id is the contract.

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
}

function register<H>(handlers: Map<string, H>, surface: string, id: string, handler: H): void {
  if (handlers.has(id)) throw new Error(`the ${surface} listener ${id} is registered twice`);
  handlers.set(id, handler);
}
