// The sandbox console: a Slack-like client for the emulated workspace. It reads /console/state, listens to
// /console/events (server-sent events) to refetch when anything changes, and sends every action a person
// takes to /console/act, where the Slack emulator turns it into a signed request to the bot.
// Its parts: state.js (what is shown), server.js (those three routes), render.js and messages.js (the page),
// composer.js, navigation.js, dialogs.js and notices.js; blocks.js, mrkdwn.js and dom.js build the nodes.
import { wireComposer } from "./composer.js";
import { closeThread } from "./navigation.js";
import { connect, refresh } from "./server.js";
import { nodes, ui } from "./state.js";

nodes.actAs.addEventListener("change", () => {
  ui.as = nodes.actAs.value;
  ui.editing = null;
  nodes.modalRoot.replaceChildren();
  ui.modalViewId = null;
  void refresh();
});
document.querySelector("#thread-close").addEventListener("click", closeThread);
wireComposer(nodes.composer, nodes.composerError, () => undefined);
wireComposer(nodes.threadComposer, nodes.threadComposerError, () => ui.thread ?? undefined);
connect();
void refresh();
