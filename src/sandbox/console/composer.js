// The composers: typed text (and slash commands) turned into what a Slack client sends, and back for the edit box.
import { decodeEntities } from "./mrkdwn.js";
import { act } from "./server.js";
import { channelOf, people, person, ui } from "./state.js";

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * What the Slack client sends for typed text: &, < and > escaped, @Name turned into <@U…>, #channel into
 * <#C…>, links into <url>. Slash commands (should_escape in the manifest) carry the name too: <@U…|name>.
 */
export function toSlackText(typed, forCommand) {
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
export function toTypedText(text) {
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

export function wireComposer(form, errorNode, threadTs) {
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
