// Talking to the server: /console/state for the workspace as the acting person sees it, /console/events
// (server-sent events) to refetch when anything changes, and /console/act for every action a person takes.
import { notify } from "./notices.js";
import { render } from "./render.js";
import { nodes, saved, ui } from "./state.js";

const RESTARTING = "The bot is restarting";

let refreshing = null;
let refreshAgain = false;
let refreshTimer;

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => void refresh(), 30);
}

/** Fetches the workspace as the acting person sees it; a change while a fetch is in flight fetches again. */
export async function refresh() {
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

export async function act(action) {
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
export async function attempt(action) {
  try {
    return await act(action);
  } catch (error) {
    notify(error.message);
    return undefined;
  }
}

export function connect() {
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
