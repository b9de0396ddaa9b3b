// Popovers (a message's menu, the reaction picker), Block Kit's confirmation dialog, and the modals the bot opens.
import { renderBlocks } from "./blocks.js";
import { emojiChar, h } from "./dom.js";
import { renderMrkdwn } from "./mrkdwn.js";
import { mrkdwnContext } from "./navigation.js";
import { notify } from "./notices.js";
import { attempt } from "./server.js";
import { nodes, ui } from "./state.js";

const QUICK_REACTIONS = ["memo", "+1", "eyes", "white_check_mark", "tada", "rocket"];

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

export function openMenu(anchor, items) {
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

export function openReactionPicker(anchor, pick) {
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
export function confirmDialog(confirm) {
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
export function renderModal() {
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
