// The sandbox console: a Slack-like client for the emulated workspace. It reads /console/state, listens to
// /console/events (server-sent events) to refetch when anything changes, and sends every action a person
// takes to /console/act, where the Slack emulator turns it into a signed request to the bot.
import { renderBlocks } from "./blocks.js";
import { emojiChar, h, safeUrl } from "./dom.js";
import { decodeEntities, renderMrkdwn } from "./mrkdwn.js";

const QUICK_REACTIONS = ["memo", "+1", "eyes", "white_check_mark", "tada", "rocket"];
const NOTICE_LIFETIME_MS = 15_000;

const saved = {
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

const ui = {
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
const nodes = {
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

// ------------------------------------------------------------------ talking to the server

const RESTARTING = "The bot is restarting";

let refreshing = null;
let refreshAgain = false;
let refreshTimer;

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => void refresh(), 30);
}

/** Fetches the workspace as the acting person sees it; a change while a fetch is in flight fetches again. */
async function refresh() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      refreshAgain = false;
      const requested = { as: ui.as, channel: ui.channel };
      try {
        const response = await fetch(`/console/state?${new URLSearchParams(requested)}`, { cache: "no-store" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const data = await response.json();
        if (requested.as !== ui.as || requested.channel !== ui.channel) {
          refreshAgain = true;
          continue;
        }
        ui.as = data.as;
        ui.channel = data.channel;
        saved.set("as", ui.as);
        saved.set("channel", ui.channel);
        ui.data = data;
        render();
      } catch (error) {
        // fetch rejects (a TypeError, "Failed to fetch") only when nothing answers: the bot is stopped or starting again.
        setConnection(false, error instanceof TypeError ? `${RESTARTING}; reconnecting…` : `Cannot reach the bot (${error.message})`);
      }
    } while (refreshAgain);
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** Written into the page by the server at each start; every action carries it. */
const CONSOLE_TOKEN = document.querySelector('meta[name="console-token"]')?.getAttribute("content") ?? "";

async function act(action) {
  const response = await fetch("/console/act", {
    method: "POST",
    headers: { "content-type": "application/json", "x-orchestrator-console-token": CONSOLE_TOKEN },
    body: JSON.stringify({ as: ui.as, ...action }),
  }).catch(() => {
    throw new Error(`${RESTARTING}: try again in a moment.`);
  });
  const result = await response.json().catch(() => ({ ok: false, error: `HTTP ${response.status}` }));
  scheduleRefresh();
  if (!response.ok || !result.ok) throw new Error(result.error ?? `HTTP ${response.status}`);
  return result;
}

/** Runs an action, showing its refusal as a notice instead of failing silently. */
async function attempt(action) {
  try {
    return await act(action);
  } catch (error) {
    notify(error.message);
    return undefined;
  }
}

function connect() {
  const events = new EventSource("/console/events");
  events.addEventListener("change", scheduleRefresh);
  events.addEventListener("open", () => {
    setConnection(true);
    scheduleRefresh();
  });
  events.addEventListener("error", () => setConnection(false, `${RESTARTING}; reconnecting…`));
}

function setConnection(up, text) {
  nodes.connection.classList.toggle("down", !up);
  nodes.connection.textContent = up ? "Connected to the sandbox workspace" : text;
}

// ------------------------------------------------------------------ lookups

const people = () => ui.data?.people ?? [];
const person = (id) => people().find((p) => p.id === id);
const channelOf = (id) => ui.data?.channels.find((c) => c.id === id);
const isBotMessage = (message) => Boolean(message.botId) || message.user === ui.data.botUserId;

function compareTs(a, b) {
  const [aw, af = "0"] = a.split(".");
  const [bw, bf = "0"] = b.split(".");
  return Number(aw) - Number(bw) || Number(af.padEnd(6, "0")) - Number(bf.padEnd(6, "0"));
}

function timeOf(ts) {
  return new Date(Number(ts) * 1000);
}

/** "14:14": a message's time in the configured timezone, as the bot writes its own times (not the browser's zone). */
function clockOf(ts) {
  return timeOf(ts).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: ui.data?.timezone });
}

function fullTimeOf(ts) {
  const zone = ui.data?.timezone;
  return `${timeOf(ts).toLocaleString("en-GB", { timeZone: zone })}${zone ? ` (${zone})` : ""}`;
}

function mrkdwnContext() {
  return {
    userName: (id) => person(id)?.realName,
    channelName: (id) => channelOf(id)?.name,
    me: ui.as,
    onChannel: openChannel,
    permalinkAction,
  };
}

/** A permalink into this workspace (chat.getPermalink) opens the message here instead of a Slack that does not exist. */
function permalinkAction(href) {
  const match = /^https:\/\/[^/]+\.slack\.test\/archives\/([CG][A-Z0-9]+)\/p(\d+)(\d{6})(?:\?|$)/.exec(href);
  if (!match || !channelOf(match[1])) return undefined;
  const ts = `${match[2]}.${match[3]}`;
  const threadTs = new URL(href).searchParams.get("thread_ts");
  return () => void showMessage(match[1], ts, threadTs && threadTs !== ts ? threadTs : undefined);
}

async function showMessage(channel, ts, threadTs) {
  if (channel !== ui.channel) {
    ui.channel = channel;
    ui.thread = null;
    ui.editing = null;
    await refresh();
  }
  if (threadTs) openThread(threadTs);
  const node = document.querySelector(`${threadTs ? "#thread-messages" : "#messages"} .message[data-ts="${CSS.escape(ts)}"]`);
  if (!node) return;
  node.scrollIntoView({ block: "center" });
  node.classList.add("highlight");
  setTimeout(() => node.classList.remove("highlight"), 2000);
}

// ------------------------------------------------------------------ what a Slack client sends

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * What the Slack client sends for typed text: &, < and > escaped, @Name turned into <@U…>, #channel into
 * <#C…>, links into <url>. Slash commands (should_escape in the manifest) carry the name too: <@U…|name>.
 */
function toSlackText(typed, forCommand) {
  let text = typed.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const labels = people()
    .flatMap((p) => [
      [p.realName, p],
      [p.name, p],
    ])
    .filter(([label]) => label)
    .sort((a, b) => b[0].length - a[0].length);
  for (const [label, p] of labels) {
    const pattern = new RegExp(`(^|[^\\p{L}\\p{N}@<])@${escapeRegExp(label)}(?![\\p{L}\\p{N}_])`, "giu");
    text = text.replace(pattern, (_, before) => `${before}<@${p.id}${forCommand ? `|${p.name}` : ""}>`);
  }
  for (const channel of ui.data.channels) {
    const pattern = new RegExp(`(^|\\s)#${escapeRegExp(channel.name)}(?![\\w-])`, "g");
    text = text.replace(pattern, (_, before) => `${before}<#${channel.id}${forCommand ? `|${channel.name}` : ""}>`);
  }
  return text.replace(/(^|\s)(https?:\/\/[^\s<>]+)/g, "$1<$2>");
}

/** The reverse, for the edit box: what the person originally typed. */
function toTypedText(text) {
  return decodeEntities(
    text
      .replace(/<@([UW][A-Z0-9]+)(?:\|[^>]*)?>/g, (_, id) => `@${person(id)?.realName ?? id}`)
      .replace(/<#([CG][A-Z0-9]+)(?:\|[^>]*)?>/g, (_, id) => `#${channelOf(id)?.name ?? id}`)
      .replace(/<([a-z][a-z0-9+.-]*:[^|>]*)(?:\|[^>]*)?>/gi, "$1"),
  );
}

async function submitComposer(form, errorNode, threadTs) {
  const textarea = form.querySelector("textarea");
  const typed = textarea.value.trim();
  if (!typed || !ui.data) return;
  errorNode.textContent = "";
  const slash = /^(\/\S+)(?:\s+([\s\S]*))?$/.exec(typed);
  const action = slash
    ? { action: "command", channel: ui.channel, command: slash[1], text: toSlackText(slash[2] ?? "", true), ...(threadTs ? { threadTs } : {}) }
    : {
        action: "message",
        channel: ui.channel,
        text: toSlackText(typed, false),
        ...(threadTs ? { threadTs, broadcast: form.querySelector("input[name=broadcast]")?.checked === true } : {}),
      };
  // Cleared at once, as Slack does; given back if the workspace refuses it.
  textarea.value = "";
  const broadcast = form.querySelector("input[name=broadcast]");
  if (broadcast) broadcast.checked = false;
  try {
    await act(action);
  } catch (error) {
    textarea.value = typed;
    errorNode.textContent = error.message;
  }
}

function wireComposer(form, errorNode, threadTs) {
  const textarea = form.querySelector("textarea");
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      void submitComposer(form, errorNode, threadTs());
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void submitComposer(form, errorNode, threadTs());
  });
  for (const button of form.querySelectorAll("[data-insert]")) {
    button.addEventListener("click", () => {
      const insert = button.dataset.insert === "mention" ? "@Orchestrator " : `${ui.data?.command ?? "/orch"} `;
      textarea.value = textarea.value && !/\s$/.test(textarea.value) ? `${textarea.value} ${insert}` : `${textarea.value}${insert}`;
      textarea.focus();
    });
  }
}

// ------------------------------------------------------------------ rendering

function render() {
  const data = ui.data;
  if (ui.seen === null) ui.seen = Object.fromEntries(data.channels.map((c) => [c.id, c.latestTs ?? ""]));
  ui.seen[ui.channel] = channelOf(ui.channel)?.latestTs ?? "";
  saved.set("seen", ui.seen);
  if (ui.thread && !data.messages.some((m) => m.ts === ui.thread)) ui.thread = null;
  if (ui.editing && !findMessage(ui.editing.ts)) ui.editing = null;
  renderSidebar();
  renderChannelHeader();
  renderChannel();
  renderThread();
  renderModal();
  renderNotices();
}

function findMessage(ts) {
  for (const message of ui.data.messages) {
    if (message.ts === ts) return message;
    const reply = message.replies?.find((r) => r.ts === ts);
    if (reply) return reply;
  }
  return undefined;
}

function avatar(id, name, bot) {
  const initials = bot
    ? "O"
    : name
        .split(/\s+/)
        .map((word) => word[0] ?? "")
        .join("")
        .slice(0, 2)
        .toUpperCase();
  let hash = 0;
  for (const char of id ?? "") hash = (hash * 31 + char.charCodeAt(0)) % 360;
  const node = h("div", { class: bot ? "avatar bot" : "avatar", "aria-hidden": "true", text: initials });
  if (!bot) node.style.background = `hsl(${hash}, 45%, 42%)`;
  return node;
}

function roleBadges(p) {
  return p.roles.map((role) => h("span", { class: `badge ${role}`, text: role === "approver" ? "Approver" : "Admin" }));
}

function renderSidebar() {
  const data = ui.data;
  nodes.channels.replaceChildren(
    ...data.channels.map((c) =>
      h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: ["channel-link", c.id === ui.channel ? "active" : "", c.id !== ui.channel && c.latestTs && c.latestTs > (ui.seen[c.id] ?? "") ? "unread" : ""].join(" ").trim(),
            dataset: { channel: c.id, name: c.name },
            title: c.purpose,
            onclick: () => openChannel(c.id),
          },
          h("span", { class: "hash", text: "#" }),
          c.name,
        ),
      ),
    ),
  );
  const humans = people().filter((p) => !p.isBot);
  const options = humans.map((p) => {
    const roles = p.roles.length > 0 ? ` [${p.roles.map((r) => (r === "approver" ? "Approver" : "Admin")).join(", ")}]` : "";
    return h("option", { value: p.id, text: `${p.realName}${p.title ? ` — ${p.title}` : ""}${roles}` });
  });
  if (nodes.actAs.options.length !== options.length || [...nodes.actAs.options].some((o, i) => o.textContent !== options[i].textContent)) nodes.actAs.replaceChildren(...options);
  nodes.actAs.value = ui.as;
  const me = person(ui.as);
  nodes.personCard.replaceChildren(
    ...(me
      ? [
          avatar(me.id, me.realName, false),
          h(
            "div",
            { class: "person-text" },
            h("div", { class: "person-name", text: me.realName }),
            h("div", { class: "person-title", text: me.title || `@${me.name}` }),
            h("div", { class: "badges" }, roleBadges(me)),
          ),
        ]
      : []),
  );
}

function renderChannelHeader() {
  const channel = channelOf(ui.channel);
  nodes.channelName.textContent = channel ? `# ${channel.name}` : "";
  nodes.channelPurpose.textContent = channel?.purpose ?? "";
  const placeholder = channel ? `Message #${channel.name} — try ${ui.data.command} help or @Orchestrator` : "";
  nodes.composer.querySelector("textarea").placeholder = placeholder;
  document.title = channel ? `#${channel.name} · Orchestrator sandbox` : "Orchestrator sandbox";
}

function visibleEphemerals(threadTs) {
  return ui.data.ephemerals.filter((e) => !ui.dismissedEphemerals.has(e.id) && (threadTs ? e.threadTs === threadTs : !e.threadTs));
}

function renderChannel() {
  const data = ui.data;
  const list = nodes.messages;
  const stick = list.dataset.channel !== ui.channel || list.dataset.as !== ui.as || list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  const items = [
    ...data.messages.map((message) => ({ key: `m:${message.ts}`, ts: message.ts, build: () => messageNode(message, { inThread: false }), signature: [message, ui.editing?.ts === message.ts] })),
    ...visibleEphemerals(null).map((ephemeral) => ({ key: `e:${ephemeral.id}`, ts: ephemeral.ts, build: () => ephemeralNode(ephemeral), signature: [ephemeral] })),
  ].sort((a, b) => compareTs(a.ts, b.ts));
  const channel = channelOf(ui.channel);
  const intro = {
    key: "intro",
    signature: [channel, data.olderMessages],
    build: () =>
      h(
        "div",
        { class: "channel-intro" },
        data.olderMessages > 0
          ? h("p", { class: "older", text: `${data.olderMessages} older messages are not shown.` })
          : [h("h2", { text: `This is the very beginning of #${channel?.name ?? ""}` }), h("p", { text: channel?.purpose || "" })],
      ),
  };
  reconcile(list, [intro, ...items]);
  list.dataset.channel = ui.channel;
  list.dataset.as = ui.as;
  if (stick) list.scrollTop = list.scrollHeight;
}

function renderThread() {
  const parent = ui.thread ? ui.data.messages.find((m) => m.ts === ui.thread) : undefined;
  document.body.classList.toggle("thread-open", Boolean(parent));
  nodes.thread.hidden = !parent;
  if (!parent) {
    reconcile(nodes.threadMessages, []);
    return;
  }
  nodes.threadChannel.textContent = `#${channelOf(ui.channel)?.name ?? ""}`;
  nodes.threadComposer.querySelector(".broadcast-label span").textContent = `Also send to #${channelOf(ui.channel)?.name ?? ""}`;
  const list = nodes.threadMessages;
  const stick = list.dataset.thread !== parent.ts || list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  const replies = parent.replies ?? [];
  const items = [
    ...replies.map((reply) => ({ key: `m:${reply.ts}`, ts: reply.ts, build: () => messageNode(reply, { inThread: true }), signature: [reply, ui.editing?.ts === reply.ts] })),
    ...visibleEphemerals(parent.ts).map((ephemeral) => ({ key: `e:${ephemeral.id}`, ts: ephemeral.ts, build: () => ephemeralNode(ephemeral), signature: [ephemeral] })),
  ].sort((a, b) => compareTs(a.ts, b.ts));
  reconcile(list, [
    { key: `parent:${parent.ts}`, signature: [{ ...parent, replies: undefined }, ui.editing?.ts === parent.ts], build: () => messageNode(parent, { inThread: true, isParent: true }) },
    { key: "count", signature: [replies.length], build: () => h("div", { class: "thread-count", text: replies.length === 1 ? "1 reply" : `${replies.length} replies` }) },
    ...items,
  ]);
  list.dataset.thread = parent.ts;
  if (stick) list.scrollTop = list.scrollHeight;
}

const reconciled = new WeakMap();

/**
 * Puts keyed items into a container, rebuilding only those whose signature changed, so an update
 * (chat.update, a reaction) re-renders in place and an open edit box keeps its focus and text.
 */
function reconcile(container, items) {
  const previous = reconciled.get(container) ?? new Map();
  const next = new Map();
  const context = [ui.as, ui.data?.botUserId];
  for (const item of items) {
    const signature = JSON.stringify([item.signature, context]);
    const known = previous.get(item.key);
    next.set(item.key, known && known.signature === signature ? known : { signature, node: item.build() });
  }
  for (const [key, entry] of previous) if (next.get(key) !== entry) entry.node.remove();
  [...next.values()].forEach((entry, index) => {
    const current = container.children[index];
    if (current !== entry.node) container.insertBefore(entry.node, current ?? null);
  });
  reconciled.set(container, next);
}

function messageNode(message, { inThread, isParent = false }) {
  const bot = isBotMessage(message);
  const author = bot ? person(ui.data.botUserId) : person(message.user);
  const name = author?.realName ?? message.user ?? "unknown";
  const mine = !bot && message.user === ui.as;
  const editing = ui.editing?.ts === message.ts;
  const target = { channel: ui.channel, ts: message.ts };
  const ctx = { ...mrkdwnContext(), onAction: (element, _blockId, button) => void clickButton(target, element, button) };
  const content = editing
    ? editForm(message)
    : h(
        "div",
        { class: "message-content" },
        Array.isArray(message.blocks) && message.blocks.length > 0 ? renderBlocks(message.blocks, ctx) : h("div", { class: "mrkdwn" }, renderMrkdwn(message.text, ctx)),
        // Slack marks people's edits; an app's chat.update just changes the message.
        message.edited && !bot ? h("span", { class: "edited", text: "(edited)" }) : null,
      );
  const replies = message.replies ?? [];
  return h(
    "div",
    { class: ["message", bot ? "from-bot" : "", mine ? "mine" : "", isParent ? "thread-parent" : ""].join(" ").trim(), dataset: { ts: message.ts } },
    avatar(author?.id ?? message.user, name, bot),
    h(
      "div",
      { class: "message-body" },
      h(
        "div",
        { class: "message-meta" },
        h("span", { class: "author", text: name }),
        bot ? h("span", { class: "app-badge", text: "APP" }) : author ? roleBadges(author) : null,
        h("time", { datetime: timeOf(message.ts).toISOString(), title: fullTimeOf(message.ts), text: clockOf(message.ts) }),
      ),
      message.broadcast && !inThread ? h("button", { type: "button", class: "broadcast-note", text: "replied to a thread", onclick: () => openThread(message.threadTs) }) : null,
      content,
      (message.files ?? []).map((file) => h("div", { class: "file", text: `📎 ${file.title || file.name}` })),
      reactionsNode(message),
      !inThread && replies.length > 0
        ? h(
            "button",
            { type: "button", class: "thread-link", onclick: () => openThread(message.ts) },
            h("span", { class: "thread-count-link", text: replies.length === 1 ? "1 reply" : `${replies.length} replies` }),
            h("span", { class: "thread-last", text: `Last reply ${clockOf(replies.at(-1).ts)}` }),
          )
        : null,
    ),
    editing ? null : messageToolbar(message, { inThread, isParent, mine }),
  );
}

function reactionsNode(message) {
  if (message.reactions.length === 0) return null;
  return h(
    "div",
    { class: "reactions" },
    message.reactions.map((reaction) => {
      const mine = reaction.users.includes(ui.as);
      const who = reaction.users.map((id) => person(id)?.realName ?? id).join(", ");
      return h(
        "button",
        {
          type: "button",
          class: mine ? "reaction mine" : "reaction",
          title: `${who} reacted with :${reaction.name}:`,
          dataset: { reaction: reaction.name },
          disabled: mine,
          onclick: () => void attempt({ action: "react", channel: ui.channel, ts: message.ts, name: reaction.name }),
        },
        h("span", { class: "emoji", text: emojiChar(reaction.name) ?? `:${reaction.name}:` }),
        h("span", { class: "count", text: String(reaction.count) }),
      );
    }),
  );
}

function messageToolbar(message, { inThread, isParent, mine }) {
  const react = (name) => void attempt({ action: "react", channel: ui.channel, ts: message.ts, name });
  const canStartThread = !inThread && !message.broadcast && (!message.threadTs || message.threadTs === message.ts);
  const more = h("button", { type: "button", class: "tool", title: "More actions", "aria-label": "More actions", text: "⋯" });
  more.addEventListener("click", () =>
    openMenu(more, [
      ...(canStartThread ? [{ label: "Reply in thread", run: () => openThread(message.ts) }] : []),
      ...ui.data.shortcuts.map((shortcut) => ({ label: shortcut.name, run: () => void attempt({ action: "shortcut", channel: ui.channel, ts: message.ts, callbackId: shortcut.callbackId }) })),
      ...(mine
        ? [
            { label: "Edit message", run: () => startEditing(message) },
            { label: "Delete message", danger: true, run: () => void deleteMessage(message, isParent) },
          ]
        : []),
    ]),
  );
  const add = h("button", { type: "button", class: "tool", title: "Add reaction", "aria-label": "Add reaction", text: "☺+" });
  add.addEventListener("click", () => openReactionPicker(add, react));
  return h(
    "div",
    { class: "message-toolbar" },
    h("button", { type: "button", class: "tool memo", title: "React with :memo: (records the message as feedback)", "aria-label": "React with memo", text: "📝", onclick: () => react("memo") }),
    add,
    canStartThread ? h("button", { type: "button", class: "tool reply", title: "Reply in thread", "aria-label": "Reply in thread", text: "💬", onclick: () => openThread(message.ts) }) : null,
    more,
  );
}

function ephemeralNode(ephemeral) {
  const slackError = /^\/\S+ failed with the error/.test(ephemeral.text);
  const ctx = { ...mrkdwnContext(), onAction: (element, _blockId, button) => void clickButton({ ephemeralId: ephemeral.id }, element, button) };
  const body = Array.isArray(ephemeral.blocks) && ephemeral.blocks.length > 0 ? renderBlocks(ephemeral.blocks, ctx) : h("div", { class: "mrkdwn" }, renderMrkdwn(ephemeral.text, ctx));
  return h(
    "div",
    { class: "message ephemeral", dataset: { ephemeralId: ephemeral.id } },
    avatar(slackError ? "slackbot" : ui.data.botUserId, slackError ? "Slackbot" : "Orchestrator", !slackError),
    h(
      "div",
      { class: "message-body" },
      h(
        "div",
        { class: "message-meta" },
        h("span", { class: "author", text: slackError ? "Slackbot" : "Orchestrator" }),
        slackError ? null : h("span", { class: "app-badge", text: "APP" }),
        h("time", { title: fullTimeOf(ephemeral.ts), text: clockOf(ephemeral.ts) }),
        h("span", { class: "only-you", text: "Only visible to you" }),
      ),
      h("div", { class: "message-content" }, body),
      h("button", {
        type: "button",
        class: "dismiss",
        text: "Dismiss message",
        onclick: () => {
          ui.dismissedEphemerals.add(ephemeral.id);
          saved.set("dismissedEphemerals", [...ui.dismissedEphemerals].slice(-200));
          render();
        },
      }),
    ),
  );
}

async function clickButton(target, element, button) {
  if (element.confirm && !(await confirmDialog(element.confirm))) return;
  const href = element.url ? safeUrl(element.url) : undefined;
  if (href) window.open(href, "_blank", "noopener,noreferrer");
  button.disabled = true;
  button.classList.add("busy");
  try {
    await attempt({ action: "click", target, actionId: element.action_id });
  } finally {
    button.disabled = false;
    button.classList.remove("busy");
  }
}

// ------------------------------------------------------------------ editing and deleting your own messages

function startEditing(message) {
  ui.editing = { ts: message.ts, draft: toTypedText(message.text) };
  render();
  const box = document.querySelector(`.message[data-ts="${CSS.escape(message.ts)}"] .edit-form textarea`);
  box?.focus();
}

function editForm(message) {
  const textarea = h("textarea", { class: "edit-box", rows: 3, "aria-label": "Edit message" });
  textarea.value = ui.editing.draft;
  const save = async () => {
    const typed = textarea.value.trim();
    if (!typed) return;
    const result = await attempt({ action: "edit", channel: ui.channel, ts: message.ts, text: toSlackText(typed, false) });
    if (result) {
      ui.editing = null;
      render();
    }
  };
  const cancel = () => {
    ui.editing = null;
    render();
  };
  textarea.addEventListener("input", () => {
    ui.editing.draft = textarea.value;
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      void save();
    } else if (event.key === "Escape") cancel();
  });
  return h(
    "div",
    { class: "edit-form" },
    textarea,
    h(
      "div",
      { class: "edit-buttons" },
      h("button", { type: "button", class: "button secondary", text: "Cancel", onclick: cancel }),
      h("button", { type: "button", class: "button primary", text: "Save", onclick: () => void save() }),
    ),
  );
}

async function deleteMessage(message, isParent) {
  const confirmed = await confirmDialog({
    title: { text: "Delete message" },
    text: { type: "plain_text", text: "Are you sure you want to delete this message? This cannot be undone." },
    confirm: { text: "Delete" },
    deny: { text: "Cancel" },
    style: "danger",
  });
  if (!confirmed) return;
  const result = await attempt({ action: "delete", channel: ui.channel, ts: message.ts });
  if (result && isParent) ui.thread = null;
}

// ------------------------------------------------------------------ navigation

function openChannel(id) {
  if (!channelOf(id)) return;
  ui.channel = id;
  ui.thread = null;
  ui.editing = null;
  nodes.composerError.textContent = "";
  void refresh();
}

function openThread(ts) {
  ui.thread = ts;
  nodes.threadComposerError.textContent = "";
  render();
  nodes.threadComposer.querySelector("textarea").focus();
}

function closeThread() {
  ui.thread = null;
  render();
}

// ------------------------------------------------------------------ popovers, dialogs, modals, notices

let closePopover = () => {};

function showPopover(anchor, content) {
  closePopover();
  nodes.popover.replaceChildren(content);
  nodes.popover.hidden = false;
  const box = anchor.getBoundingClientRect();
  const width = nodes.popover.offsetWidth;
  const height = nodes.popover.offsetHeight;
  nodes.popover.style.left = `${Math.max(8, Math.min(box.right - width, window.innerWidth - width - 8))}px`;
  nodes.popover.style.top = `${box.bottom + height + 8 > window.innerHeight ? Math.max(8, box.top - height - 4) : box.bottom + 4}px`;
  const outside = (event) => {
    if (!nodes.popover.contains(event.target) && event.target !== anchor) closePopover();
  };
  const closeOnEscape = (event) => {
    if (event.key === "Escape") closePopover();
  };
  setTimeout(() => document.addEventListener("mousedown", outside));
  document.addEventListener("keydown", closeOnEscape);
  closePopover = () => {
    nodes.popover.hidden = true;
    nodes.popover.replaceChildren();
    document.removeEventListener("mousedown", outside);
    document.removeEventListener("keydown", closeOnEscape);
    closePopover = () => {};
  };
}

function openMenu(anchor, items) {
  showPopover(
    anchor,
    h(
      "div",
      { class: "menu", role: "menu" },
      items.map((item) =>
        h("button", {
          type: "button",
          role: "menuitem",
          class: item.danger ? "menu-item danger" : "menu-item",
          text: item.label,
          onclick: () => {
            closePopover();
            item.run();
          },
        }),
      ),
    ),
  );
}

function openReactionPicker(anchor, pick) {
  const input = h("input", { type: "text", class: "emoji-name", placeholder: "emoji name, e.g. eyes", "aria-label": "Emoji name" });
  const choose = (name) => {
    const clean = name.trim().toLowerCase().replace(/^:|:$/g, "");
    if (!/^[a-z0-9_+-]+$/.test(clean)) {
      input.setCustomValidity("Use an emoji name like thumbsup or white_check_mark");
      input.reportValidity();
      return;
    }
    closePopover();
    pick(clean);
  };
  input.addEventListener("input", () => input.setCustomValidity(""));
  const form = h(
    "form",
    {
      class: "reaction-picker",
      onsubmit: (event) => {
        event.preventDefault();
        choose(input.value);
      },
    },
    h(
      "div",
      { class: "quick-reactions" },
      QUICK_REACTIONS.map((name) => h("button", { type: "button", class: "quick-reaction", title: `:${name}:`, text: emojiChar(name) ?? name, onclick: () => choose(name) })),
    ),
    h("div", { class: "emoji-form" }, input, h("button", { type: "submit", class: "button primary", text: "Add" })),
  );
  showPopover(anchor, form);
  input.focus();
}

/** Block Kit's confirmation dialog (a button's `confirm`), also used before deleting a message. */
function confirmDialog(confirm) {
  return new Promise((resolve) => {
    const finish = (answer) => {
      nodes.dialogRoot.replaceChildren();
      resolve(answer);
    };
    const ctx = mrkdwnContext();
    const text = confirm.text?.type === "mrkdwn" ? renderMrkdwn(confirm.text.text, ctx) : document.createTextNode(confirm.text?.text ?? "");
    const accept = h("button", { type: "button", class: confirm.style === "danger" ? "button danger" : "button primary", text: confirm.confirm?.text ?? "Confirm", onclick: () => finish(true) });
    nodes.dialogRoot.replaceChildren(
      h(
        "div",
        { class: "backdrop", onkeydown: (event) => event.key === "Escape" && finish(false) },
        h(
          "div",
          { class: "dialog", role: "alertdialog", "aria-modal": "true" },
          h("h2", { text: confirm.title?.text ?? "Are you sure?" }),
          h("div", { class: "dialog-text" }, text),
          h("div", { class: "dialog-buttons" }, h("button", { type: "button", class: "button secondary", text: confirm.deny?.text ?? "Cancel", onclick: () => finish(false) }), accept),
        ),
      ),
    );
    accept.focus();
  });
}

/** A modal the bot opened with views.open, for the person it was opened for; rebuilt only when another view comes on top. */
function renderModal() {
  // The most recent modal is the one on top, as in Slack.
  const open = ui.data.views.at(-1);
  if (!open) {
    if (ui.modalViewId) nodes.modalRoot.replaceChildren();
    ui.modalViewId = null;
    return;
  }
  if (open.id === ui.modalViewId) return;
  ui.modalViewId = open.id;
  const view = open.view;
  const inputs = [];
  const ctx = { ...mrkdwnContext(), inputs, onAction: () => notify("Buttons inside modals are not supported in the sandbox console.") };
  const formError = h("div", { class: "modal-error", role: "alert" });
  const submit = view.submit ? h("button", { type: "submit", class: "button primary", text: view.submit.text ?? "Submit" }) : null;
  const close = () => void attempt({ action: "close-view", viewId: open.id });
  const form = h(
    "form",
    {
      class: "modal",
      role: "dialog",
      "aria-modal": "true",
      "aria-label": view.title?.text ?? "Modal",
      dataset: { viewId: open.id },
      onsubmit: async (event) => {
        event.preventDefault();
        const values = collectInputs(inputs);
        if (!values) return;
        formError.textContent = "";
        submit.disabled = true;
        const result = await attempt({ action: "submit-view", viewId: open.id, values });
        submit.disabled = false;
        if (!result) return;
        if (result.body?.response_action === "errors") showInputErrors(inputs, result.body.errors ?? {});
        else if (result.failure) formError.textContent = `Slack: the submission ${result.failure}. Try again.`;
      },
      onkeydown: (event) => event.key === "Escape" && close(),
    },
    h("header", { class: "modal-header" }, h("h2", { text: view.title?.text ?? "" }), h("button", { type: "button", class: "close", "aria-label": "Close", text: "✕", onclick: close })),
    h("div", { class: "modal-body" }, renderBlocks(view.blocks, ctx)),
    formError,
    h("footer", { class: "modal-footer" }, h("button", { type: "button", class: "button secondary", text: view.close?.text ?? "Cancel", onclick: close }), submit),
  );
  nodes.modalRoot.replaceChildren(h("div", { class: "backdrop" }, form));
  (inputs[0]?.control ?? submit)?.focus();
}

/** The modal's values as Slack sends them ({ block_id: { action_id: value } }), or undefined after showing what is missing. */
function collectInputs(inputs) {
  let valid = true;
  const values = {};
  for (const input of inputs) {
    const value = input.control.value;
    let problem = "";
    if (!input.optional && value.trim() === "") problem = "Please complete this required field.";
    else if (value !== "" && typeof input.minLength === "number" && value.length < input.minLength) problem = `Must be at least ${input.minLength} characters.`;
    input.error.textContent = problem;
    if (problem) valid = false;
    values[input.blockId] = { ...values[input.blockId], [input.actionId]: value };
  }
  return valid ? values : undefined;
}

function showInputErrors(inputs, errors) {
  for (const input of inputs) input.error.textContent = errors[input.blockId] ?? "";
}

let noticeTimer;

function notify(text) {
  ui.localNotices.push({ id: `local-${Date.now()}-${Math.random()}`, text, at: new Date().toISOString() });
  renderNotices();
}

/** Slack's own messages to the acting person (a click the bot did not answer) and the console's refusals. */
function renderNotices() {
  const fresh = (notice) => Date.parse(notice.at) > ui.loadedAt - 5000 && Date.now() - Date.parse(notice.at) < NOTICE_LIFETIME_MS && !ui.dismissedNotices.has(String(notice.id));
  const shown = [...(ui.data?.notices ?? []).map((notice) => ({ ...notice, from: "Slack" })), ...ui.localNotices].filter(fresh);
  nodes.toasts.replaceChildren(
    ...shown.map((notice) =>
      h(
        "div",
        { class: "toast", role: "status" },
        h("span", { class: "toast-icon", text: "⚠️" }),
        h("span", { class: "toast-text" }, notice.from ? h("strong", { text: `${notice.from}: ` }) : null, notice.text),
        h("button", {
          type: "button",
          class: "close",
          "aria-label": "Dismiss",
          text: "✕",
          onclick: () => {
            ui.dismissedNotices.add(String(notice.id));
            renderNotices();
          },
        }),
      ),
    ),
  );
  clearTimeout(noticeTimer);
  // Re-checked each second so notices fade out after their lifetime.
  if (shown.length > 0) noticeTimer = setTimeout(renderNotices, 1000);
}

// ------------------------------------------------------------------ start

nodes.actAs.addEventListener("change", () => {
  ui.as = nodes.actAs.value;
  ui.editing = null;
  nodes.modalRoot.replaceChildren();
  ui.modalViewId = null;
  void refresh();
});
$("#thread-close").addEventListener("click", closeThread);
wireComposer(nodes.composer, nodes.composerError, () => undefined);
wireComposer(nodes.threadComposer, nodes.threadComposerError, () => ui.thread ?? undefined);
connect();
void refresh();
