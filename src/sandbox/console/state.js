// The console's state: what the person chose (kept in localStorage), the workspace last fetched, the page's
// nodes, and lookups into that workspace.

export const saved = {
  get(key, fallback) {
    try {
      return JSON.parse(localStorage.getItem(`orch.console.${key}`) ?? "null") ?? fallback;
    } catch {
      return fallback;
    }
  },
  set(key, value) {
    localStorage.setItem(`orch.console.${key}`, JSON.stringify(value));
  },
};

export const ui = {
  as: saved.get("as", ""),
  channel: saved.get("channel", ""),
  /** ts of the thread shown in the thread pane. */
  thread: null,
  /** The message being edited: { ts, draft }. */
  editing: null,
  dismissedEphemerals: new Set(saved.get("dismissedEphemerals", [])),
  dismissedNotices: new Set(),
  /** Latest top-level ts seen per channel, for the unread marks. */
  seen: saved.get("seen", null),
  localNotices: [],
  data: null,
  modalViewId: null,
  loadedAt: Date.now(),
};

const $ = (selector) => document.querySelector(selector);
export const nodes = {
  channels: $("#channels"),
  actAs: $("#act-as"),
  personCard: $("#person-card"),
  connection: $("#connection"),
  channelName: $("#channel-name"),
  channelPurpose: $("#channel-purpose"),
  messages: $("#messages"),
  composer: $("#composer"),
  composerError: $("#composer-error"),
  thread: $("#thread"),
  threadChannel: $("#thread-channel"),
  threadMessages: $("#thread-messages"),
  threadComposer: $("#thread-composer"),
  threadComposerError: $("#thread-composer-error"),
  modalRoot: $("#modal-root"),
  popover: $("#popover"),
  dialogRoot: $("#dialog-root"),
  toasts: $("#toasts"),
};

export const people = () => ui.data?.people ?? [];
export const person = (id) => people().find((p) => p.id === id);
export const channelOf = (id) => ui.data?.channels.find((c) => c.id === id);
export const isBotMessage = (message) => Boolean(message.botId) || message.user === ui.data.botUserId;

export function compareTs(a, b) {
  const [aw, af = "0"] = a.split(".");
  const [bw, bf = "0"] = b.split(".");
  return Number(aw) - Number(bw) || Number(af.padEnd(6, "0")) - Number(bf.padEnd(6, "0"));
}

export function timeOf(ts) {
  return new Date(Number(ts) * 1000);
}

/** "14:14": a message's time in the configured timezone, as the bot writes its own times (not the browser's zone). */
export function clockOf(ts) {
  return timeOf(ts).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: ui.data?.timezone });
}

export function fullTimeOf(ts) {
  const zone = ui.data?.timezone;
  return `${timeOf(ts).toLocaleString("en-GB", { timeZone: zone })}${zone ? ` (${zone})` : ""}`;
}

export function findMessage(ts) {
  for (const message of ui.data.messages) {
    if (message.ts === ts) return message;
    const reply = message.replies?.find((r) => r.ts === ts);
    if (reply) return reply;
  }
  return undefined;
}
