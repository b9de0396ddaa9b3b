/**
 * Block Kit limits as Slack enforces them when a message is posted, so the emulator refuses what Slack
 * would refuse (`invalid_blocks`, `msg_blocks_too_long`) and tests catch a message that would not render.
 */

export const LIMITS = {
  blocksPerMessage: 50,
  blocksPerModal: 100,
  sectionText: 3000,
  fields: 10,
  fieldText: 2000,
  headerText: 150,
  buttonText: 75,
  actionId: 255,
  buttonValue: 2000,
  actionsElements: 25,
  contextElements: 10,
  messageBlocksChars: 13_000,
  messageText: 40_000,
  blockId: 255,
  buttonUrl: 3000,
  imageAltText: 2000,
  imageUrl: 3000,
  overflowOptions: 5,
  selectOptions: 100,
  optionText: 75,
  markdownText: 12_000,
  viewTitle: 24,
  privateMetadata: 3000,
  callbackId: 255,
} as const;

interface BlockProblem {
  error: "invalid_blocks" | "msg_blocks_too_long";
  detail: string;
}

type Json = Record<string, unknown>;

function textOf(value: unknown): string | undefined {
  if (value && typeof value === "object" && typeof (value as Json).text === "string") return (value as Json).text as string;
  return undefined;
}

export function checkBlocks(blocks: unknown, surface: "message" | "modal" = "message"): BlockProblem | undefined {
  if (!Array.isArray(blocks)) return { error: "invalid_blocks", detail: "blocks must be an array" };
  const max = surface === "modal" ? LIMITS.blocksPerModal : LIMITS.blocksPerMessage;
  if (blocks.length > max) return { error: "invalid_blocks", detail: `no more than ${max} items allowed [json-pointer:/blocks]` };
  let chars = 0;
  for (const [index, raw] of blocks.entries()) {
    if (!raw || typeof raw !== "object") return { error: "invalid_blocks", detail: `block ${index} is not an object` };
    const block = raw as Json;
    const at = `[json-pointer:/blocks/${index}`;
    if (typeof block.block_id === "string" && block.block_id.length > LIMITS.blockId) return { error: "invalid_blocks", detail: `must be less than ${LIMITS.blockId + 1} characters ${at}/block_id]` };
    switch (block.type) {
      case "section": {
        const text = textOf(block.text);
        if (text !== undefined) {
          if (text.length > LIMITS.sectionText) return { error: "invalid_blocks", detail: `must be less than ${LIMITS.sectionText + 1} characters ${at}/text/text]` };
          chars += text.length;
        }
        const fields = block.fields;
        if (fields !== undefined) {
          if (!Array.isArray(fields) || fields.length > LIMITS.fields) return { error: "invalid_blocks", detail: `no more than ${LIMITS.fields} items allowed ${at}/fields]` };
          for (const [f, field] of fields.entries()) {
            const fieldText = textOf(field) ?? "";
            if (fieldText.length > LIMITS.fieldText) return { error: "invalid_blocks", detail: `must be less than ${LIMITS.fieldText + 1} characters ${at}/fields/${f}/text]` };
            chars += fieldText.length;
          }
        }
        if (text === undefined && fields === undefined) return { error: "invalid_blocks", detail: `must provide either text or fields ${at}]` };
        const problem = checkElement(block.accessory, `${at}/accessory`);
        if (problem) return problem;
        break;
      }
      case "header": {
        const text = textOf(block.text) ?? "";
        if (text.length > LIMITS.headerText) return { error: "invalid_blocks", detail: `must be less than ${LIMITS.headerText + 1} characters ${at}/text/text]` };
        if (text.length === 0) return { error: "invalid_blocks", detail: `must be more than 0 characters ${at}/text/text]` };
        chars += text.length;
        break;
      }
      case "context": {
        const elements = block.elements;
        if (!Array.isArray(elements) || elements.length === 0 || elements.length > LIMITS.contextElements) {
          return { error: "invalid_blocks", detail: `must have 1 to ${LIMITS.contextElements} elements ${at}/elements]` };
        }
        for (const [e, element] of elements.entries()) {
          const problem = checkElement(element, `${at}/elements/${e}`);
          if (problem) return problem;
          chars += textOf(element)?.length ?? 0;
        }
        break;
      }
      case "actions": {
        const elements = block.elements;
        if (!Array.isArray(elements) || elements.length === 0 || elements.length > LIMITS.actionsElements) {
          return { error: "invalid_blocks", detail: `must have 1 to ${LIMITS.actionsElements} elements ${at}/elements]` };
        }
        for (const [e, element] of elements.entries()) {
          const problem = checkElement(element, `${at}/elements/${e}`);
          if (problem) return problem;
        }
        break;
      }
      case "image": {
        const problem = checkImage(block, at);
        if (problem) return problem;
        break;
      }
      case "markdown": {
        const text = typeof block.text === "string" ? block.text : "";
        if (text.length === 0 || text.length > LIMITS.markdownText) return { error: "invalid_blocks", detail: `must be 1 to ${LIMITS.markdownText} characters ${at}/text]` };
        chars += text.length;
        break;
      }
      case "divider":
      case "rich_text":
        break;
      case "input":
        if (surface !== "modal") return { error: "invalid_blocks", detail: `input blocks are only for modals ${at}]` };
        break;
      default:
        return { error: "invalid_blocks", detail: `unknown block type ${String(block.type)} ${at}]` };
    }
  }
  if (chars > LIMITS.messageBlocksChars) return { error: "msg_blocks_too_long", detail: `${chars} characters of text in blocks` };
  return undefined;
}

function checkImage(image: Json, at: string): BlockProblem | undefined {
  const alt = typeof image.alt_text === "string" ? image.alt_text : "";
  if (alt.length === 0 || alt.length > LIMITS.imageAltText) return { error: "invalid_blocks", detail: `alt_text must be 1 to ${LIMITS.imageAltText} characters ${at}/alt_text]` };
  if (typeof image.image_url === "string" && image.image_url.length > LIMITS.imageUrl)
    return { error: "invalid_blocks", detail: `must be less than ${LIMITS.imageUrl + 1} characters ${at}/image_url]` };
  if (image.image_url === undefined && image.slack_file === undefined) return { error: "invalid_blocks", detail: `must provide image_url or slack_file ${at}]` };
  return undefined;
}

function checkElement(raw: unknown, at: string): BlockProblem | undefined {
  if (raw === undefined) return undefined;
  if (!raw || typeof raw !== "object") return { error: "invalid_blocks", detail: `element is not an object ${at}]` };
  const element = raw as Json;
  if (element.type === "button") {
    const text = textOf(element.text) ?? "";
    if (text.length === 0 || text.length > LIMITS.buttonText) return { error: "invalid_blocks", detail: `button text must be 1 to ${LIMITS.buttonText} characters ${at}/text]` };
    if (typeof element.value === "string" && element.value.length > LIMITS.buttonValue) return { error: "invalid_blocks", detail: `value too long ${at}/value]` };
    if (typeof element.url === "string" && element.url.length > LIMITS.buttonUrl) return { error: "invalid_blocks", detail: `must be less than ${LIMITS.buttonUrl + 1} characters ${at}/url]` };
  }
  if (element.type === "image") {
    const problem = checkImage(element, at);
    if (problem) return problem;
  }
  if (element.type === "overflow") {
    const options = element.options;
    if (!Array.isArray(options) || options.length === 0 || options.length > LIMITS.overflowOptions)
      return { error: "invalid_blocks", detail: `must have 1 to ${LIMITS.overflowOptions} options ${at}/options]` };
  }
  if (element.type === "static_select" || element.type === "multi_static_select") {
    const options = Array.isArray(element.options)
      ? element.options
      : Array.isArray(element.option_groups)
        ? (element.option_groups as Json[]).flatMap((g) => (Array.isArray(g.options) ? g.options : []))
        : undefined;
    if (!options || options.length === 0) return { error: "invalid_blocks", detail: `must provide options or option_groups ${at}]` };
    if (options.length > LIMITS.selectOptions) return { error: "invalid_blocks", detail: `no more than ${LIMITS.selectOptions} items allowed ${at}/options]` };
  }
  if (typeof element.action_id === "string" && element.action_id.length > LIMITS.actionId) {
    return { error: "invalid_blocks", detail: `action_id too long ${at}/action_id]` };
  }
  return undefined;
}
