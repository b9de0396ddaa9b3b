// One message (or ephemeral) as a node: author, text or blocks, reactions, thread link and its hover toolbar;
// editing and deleting your own messages.
import { renderBlocks } from "./blocks.js";
import { toSlackText, toTypedText } from "./composer.js";
import { confirmDialog, openMenu, openReactionPicker } from "./dialogs.js";
import { emojiChar, h, safeUrl } from "./dom.js";
import { renderMrkdwn } from "./mrkdwn.js";
import { mrkdwnContext, openThread } from "./navigation.js";
import { avatar, render, roleBadges } from "./render.js";
import { attempt } from "./server.js";
import { clockOf, fullTimeOf, isBotMessage, person, saved, timeOf, ui } from "./state.js";

export function messageNode(message, { inThread, isParent = false }) {
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

export function ephemeralNode(ephemeral) {
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
