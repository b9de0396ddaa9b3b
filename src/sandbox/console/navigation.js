// Moving around the workspace: channels, threads, and permalinks to a message.
import { refresh } from "./server.js";
import { render } from "./render.js";
import { channelOf, nodes, person, ui } from "./state.js";

export function mrkdwnContext() {
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

export function openChannel(id) {
  if (!channelOf(id)) return;
  ui.channel = id;
  ui.thread = null;
  ui.editing = null;
  nodes.composerError.textContent = "";
  void refresh();
}

export function openThread(ts) {
  ui.thread = ts;
  nodes.threadComposerError.textContent = "";
  render();
  nodes.threadComposer.querySelector("textarea").focus();
}

export function closeThread() {
  ui.thread = null;
  render();
}
