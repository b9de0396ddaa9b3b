// Block Kit to DOM: the blocks the bot sends (header, section, fields, accessory, context, divider,
// actions, image, rich_text) and, in modals, input blocks.
import { emojify, h, safeUrl } from "./dom.js";
import { renderMrkdwn, renderPlain } from "./mrkdwn.js";

/**
 * ctx: the mrkdwn context plus
 *   onAction(element, blockId, button) — a button was clicked
 *   inputs — an array that input blocks register into (modals), or undefined
 */
export function renderBlocks(blocks, ctx) {
  return h(
    "div",
    { class: "blocks" },
    (Array.isArray(blocks) ? blocks : []).map((block) => renderBlock(block ?? {}, ctx)),
  );
}

function renderTextObject(object, ctx) {
  if (!object || typeof object !== "object") return document.createTextNode("");
  return object.type === "mrkdwn" ? renderMrkdwn(object.text, ctx) : renderPlain(object.text, object.emoji !== false);
}

function renderBlock(block, ctx) {
  switch (block.type) {
    case "header":
      return h("div", { class: "bk-header" }, renderTextObject(block.text, ctx));
    case "section":
      return h(
        "div",
        { class: "bk-section" },
        h(
          "div",
          { class: "bk-section-body" },
          block.text ? h("div", { class: "bk-text" }, renderTextObject(block.text, ctx)) : null,
          Array.isArray(block.fields)
            ? h(
                "div",
                { class: "bk-fields" },
                block.fields.map((field) => h("div", { class: "bk-field" }, renderTextObject(field, ctx))),
              )
            : null,
        ),
        block.accessory ? h("div", { class: "bk-accessory" }, renderElement(block.accessory, block.block_id, ctx)) : null,
      );
    case "divider":
      return h("hr", { class: "bk-divider" });
    case "context":
      return h(
        "div",
        { class: "bk-context" },
        (block.elements ?? []).map((element) => (element.type === "image" ? renderImage(element.image_url, element.alt_text, "bk-context-image") : h("span", {}, renderTextObject(element, ctx)))),
      );
    case "actions":
      return h(
        "div",
        { class: "bk-actions" },
        (block.elements ?? []).map((element) => renderElement(element, block.block_id, ctx)),
      );
    case "image":
      return h("figure", { class: "bk-image" }, block.title ? h("figcaption", {}, renderTextObject(block.title, ctx)) : null, renderImage(block.image_url, block.alt_text, ""));
    case "input":
      return renderInput(block, ctx);
    case "rich_text":
      return h(
        "div",
        { class: "bk-rich-text" },
        (block.elements ?? []).map((element) => renderRichText(element, ctx)),
      );
    default:
      return h("div", { class: "bk-unsupported", text: `(a ${String(block.type)} block, which the sandbox console does not show)` });
  }
}

function renderElement(element, blockId, ctx) {
  if (element.type === "button") {
    const button = h(
      "button",
      {
        type: "button",
        class: `bk-button${element.style === "primary" || element.style === "danger" ? ` ${element.style}` : ""}`,
        dataset: { actionId: String(element.action_id ?? "") },
        onclick: () => ctx.onAction(element, blockId, button),
      },
      renderTextObject(element.text, ctx),
    );
    return button;
  }
  if (element.type === "image") return renderImage(element.image_url, element.alt_text, "bk-accessory-image");
  const label = element.placeholder?.text ?? element.text?.text ?? element.type;
  return h("button", { type: "button", class: "bk-button", disabled: true, title: `${element.type} is not supported in the sandbox console`, text: emojify(String(label)) });
}

function renderImage(url, alt, className) {
  const src = safeUrl(url);
  return src ? h("img", { class: className, src, alt: String(alt ?? ""), loading: "lazy" }) : h("span", { class: "bk-image-missing", text: `[image: ${String(alt ?? "")}]` });
}

/** An input block in a modal: its control registers with ctx.inputs so the modal can collect and check values. */
function renderInput(block, ctx) {
  const element = block.element ?? {};
  const id = `input-${String(block.block_id)}-${String(element.action_id)}`;
  const error = h("div", { class: "bk-input-error", role: "alert" });
  let control;
  if (element.type === "plain_text_input") {
    const props = {
      id,
      class: "bk-input-control",
      placeholder: element.placeholder?.text,
      maxLength: typeof element.max_length === "number" ? element.max_length : undefined,
      dataset: { blockId: String(block.block_id ?? ""), actionId: String(element.action_id ?? "") },
    };
    control = element.multiline ? h("textarea", { ...props, rows: 4 }) : h("input", { ...props, type: "text" });
    if (typeof element.initial_value === "string") control.value = element.initial_value;
    ctx.inputs?.push({ blockId: block.block_id, actionId: element.action_id, control, error, optional: block.optional === true, minLength: element.min_length, label: block.label?.text ?? "" });
  } else {
    control = h("div", { class: "bk-unsupported", text: `(a ${String(element.type)} input, which the sandbox console does not support)` });
  }
  return h(
    "div",
    { class: "bk-input" },
    h("label", { for: id, class: "bk-input-label" }, renderTextObject(block.label, ctx), block.optional ? h("span", { class: "bk-optional", text: " (optional)" }) : null),
    control,
    block.hint ? h("div", { class: "bk-hint" }, renderTextObject(block.hint, ctx)) : null,
    error,
  );
}

function renderRichText(element, ctx) {
  const inline = (items) =>
    (items ?? []).map((item) => {
      if (item.type === "text") {
        const style = item.style ?? {};
        let node = document.createTextNode(item.text ?? "");
        if (style.code) node = h("code", {}, node);
        if (style.bold) node = h("strong", {}, node);
        if (style.italic) node = h("em", {}, node);
        if (style.strike) node = h("del", {}, node);
        return node;
      }
      if (item.type === "link") {
        const href = safeUrl(item.url);
        return href ? h("a", { href, target: "_blank", rel: "noopener noreferrer", text: item.text ?? item.url }) : document.createTextNode(item.text ?? "");
      }
      if (item.type === "user") return h("span", { class: "mention", text: `@${ctx.userName(item.user_id) ?? item.user_id}` });
      if (item.type === "channel") return h("span", { class: "channel-mention", text: `#${ctx.channelName(item.channel_id) ?? item.channel_id}` });
      if (item.type === "emoji") return document.createTextNode(emojify(`:${item.name}:`));
      return document.createTextNode("");
    });
  switch (element.type) {
    case "rich_text_preformatted":
      return h("pre", { class: "code-block" }, inline(element.elements));
    case "rich_text_quote":
      return h("blockquote", {}, inline(element.elements));
    case "rich_text_list":
      return h(
        element.style === "ordered" ? "ol" : "ul",
        {},
        (element.elements ?? []).map((item) => h("li", {}, inline(item.elements))),
      );
    default:
      return h("div", {}, inline(element.elements));
  }
}
