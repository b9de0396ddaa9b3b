import type { KnownBlock } from "@slack/types";
import { cutList, truncate } from "./text.js";

/** Block Kit pieces for reports, each kept inside Slack's limits (SPEC §6a) by construction. */

/** Total block text a report may use: well under the ~13,000 characters Slack refuses (msg_blocks_too_long). */
const MESSAGE_BUDGET = 10_000;
const SECTION_TEXT = 3000;
const FIELD_TEXT = 2000;
const FIELDS = 10;
const HEADER_TEXT = 150;

export function header(text: string): KnownBlock {
  return { type: "header", text: { type: "plain_text", text: truncate(text, HEADER_TEXT) } };
}

export function section(text: string): KnownBlock {
  return { type: "section", text: { type: "mrkdwn", text: truncate(text, SECTION_TEXT) } };
}

/** A section with up to ten fields; more are folded into a last "…and N more" field. */
export function fieldsSection(heading: string | undefined, items: string[]): KnownBlock {
  const shown = items.length > FIELDS ? cutList(items, FIELDS - 1) : items;
  return {
    type: "section",
    ...(heading ? { text: { type: "mrkdwn" as const, text: truncate(heading, SECTION_TEXT) } } : {}),
    fields: (shown.length > 0 ? shown : ["_none_"]).map((text) => ({ type: "mrkdwn" as const, text: truncate(text, FIELD_TEXT) })),
  };
}

export function context(text: string): KnownBlock {
  return { type: "context", elements: [{ type: "mrkdwn", text: truncate(text, SECTION_TEXT) }] };
}

export const divider: KnownBlock = { type: "divider" };

/** The text Slack counts toward a message's limit. */
export function blocksTextLength(blocks: KnownBlock[]): number {
  let chars = 0;
  for (const block of blocks as unknown as Array<Record<string, unknown>>) {
    const text = block.text as { text?: string } | undefined;
    chars += text?.text?.length ?? 0;
    for (const field of (block.fields as Array<{ text: string }> | undefined) ?? []) chars += field.text.length;
    for (const element of (block.elements as Array<{ text?: unknown }> | undefined) ?? []) chars += typeof element.text === "string" ? element.text.length : 0;
  }
  return chars;
}

/** Builds with long lists first, then shorter ones until the message fits the budget. */
export function fitted(build: (limit: number) => KnownBlock[], limits: number[] = [10, 6, 3, 1]): KnownBlock[] {
  let blocks: KnownBlock[] = [];
  for (const limit of limits) {
    blocks = build(limit);
    if (blocksTextLength(blocks) <= MESSAGE_BUDGET) return blocks;
  }
  return blocks;
}
