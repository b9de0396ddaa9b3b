// Notices: Slack's own messages to the acting person and the console's refusals, shown as toasts that fade.
import { h } from "./dom.js";
import { nodes, ui } from "./state.js";

const NOTICE_LIFETIME_MS = 15_000;

let noticeTimer;

export function notify(text) {
  ui.localNotices.push({ id: `local-${Date.now()}-${Math.random()}`, text, at: new Date().toISOString() });
  renderNotices();
}

/** Slack's own messages to the acting person (a click the bot did not answer) and the console's refusals. */
export function renderNotices() {
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
