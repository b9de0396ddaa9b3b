// Rendering the workspace: the sidebar, the channel's messages and the thread pane, rebuilt in place on every fetch.
import { renderModal } from "./dialogs.js";
import { h } from "./dom.js";
import { ephemeralNode, messageNode } from "./messages.js";
import { openChannel } from "./navigation.js";
import { renderNotices } from "./notices.js";
import { channelOf, compareTs, findMessage, nodes, people, person, saved, ui } from "./state.js";

export function render() {
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

export function avatar(id, name, bot) {
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

export function roleBadges(p) {
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
