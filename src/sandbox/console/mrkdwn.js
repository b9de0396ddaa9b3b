// Slack's mrkdwn to DOM nodes: *bold*, _italics_, ~strike~, `code`, ```blocks```, > quotes, <links|text>,
// <@U…> and <#C…> mentions, and the three entities Slack escapes (&lt; &gt; &amp;).
import { emojify, h, safeUrl } from "./dom.js";

// Code and <…> tokens are swapped for private-use characters while emphasis is parsed, so a link
// or a code span inside *bold* stays whole and emphasis marks inside them are left alone.
const TOKEN_BASE = 0xe000;
const TOKEN_RANGE = /[\ue000-\uf8ff]/g;
// Emphasis opens after and closes before a non-word character; "_" counts as a word character so snake_case and __names stay plain.
const WORD = /[\p{L}\p{N}_]/u;
const MARKS = [
  ["*", "strong"],
  ["_", "em"],
  ["~", "del"],
];

/**
 * ctx: { userName(id), channelName(id), me, onChannel(id), permalinkAction(href) → a function that shows the linked message, if it is one }
 * Returns a DocumentFragment.
 */
export function renderMrkdwn(text, ctx) {
  const source = String(text ?? "").replace(TOKEN_RANGE, "\ufffd");
  const fragment = document.createDocumentFragment();
  const fence = /```([\s\S]*?)```/g;
  let last = 0;
  for (let match = fence.exec(source); match; match = fence.exec(source)) {
    fragment.append(renderProse(source.slice(last, match.index), ctx));
    fragment.append(h("pre", { class: "code-block", text: decodeEntities(match[1].replace(/^\n/, "")) }));
    last = fence.lastIndex;
  }
  fragment.append(renderProse(source.slice(last), ctx));
  return fragment;
}

/** Plain text as Slack shows a plain_text object: entities are not decoded, emoji are. */
export function renderPlain(text, emoji = true) {
  return document.createTextNode(emoji ? emojify(String(text ?? "")) : String(text ?? ""));
}

export function decodeEntities(text) {
  return text.replace(/&(lt|gt|amp);/g, (_, name) => ({ lt: "<", gt: ">", amp: "&" })[name]);
}

/** Lines starting with > (sent as &gt;) become a quote; the rest is inline text. */
function renderProse(text, ctx) {
  const fragment = document.createDocumentFragment();
  if (!text) return fragment;
  const lines = text.split("\n");
  let run = [];
  let quoting = false;
  const flush = () => {
    if (run.length === 0) return;
    if (quoting) fragment.append(h("blockquote", {}, renderInline(run.join("\n"), ctx)));
    else fragment.append(renderInline(run.join("\n"), ctx));
    run = [];
  };
  for (const line of lines) {
    const quote = /^(?:&gt;|>) ?(.*)$/.exec(line);
    if (Boolean(quote) !== quoting) {
      flush();
      quoting = Boolean(quote);
    }
    run.push(quote ? quote[1] : line);
  }
  flush();
  return fragment;
}

function renderInline(text, ctx) {
  const tokens = [];
  const hold = (node) => {
    tokens.push(node);
    return String.fromCharCode(TOKEN_BASE + tokens.length - 1);
  };
  const masked = text.replace(/`([^`\n]+)`/g, (_, code) => hold(h("code", { text: decodeEntities(code) }))).replace(/<([^<>\n]*)>/g, (whole, inner) => hold(renderAngle(inner, whole, ctx)));
  const fragment = document.createDocumentFragment();
  fragment.append(...emphasize(masked, tokens));
  return fragment;
}

function emphasize(text, tokens) {
  const nodes = [];
  let position = 0;
  for (let mark = nextMark(text, position); mark; mark = nextMark(text, position)) {
    nodes.push(...plain(text.slice(position, mark.start), tokens));
    nodes.push(h(mark.tag, {}, emphasize(text.slice(mark.start + 1, mark.end), tokens)));
    position = mark.end + 1;
  }
  nodes.push(...plain(text.slice(position), tokens));
  return nodes;
}

/** The earliest emphasis that opens after a non-word character and closes before one, on one line. */
function nextMark(text, from) {
  let best;
  for (const [char, tag] of MARKS) {
    for (let start = text.indexOf(char, from); start !== -1 && (!best || start < best.start); start = text.indexOf(char, start + 1)) {
      if (!opensAt(text, start, char)) continue;
      const end = closes(text, start, char);
      if (end !== -1) {
        best = { start, end, tag };
        break;
      }
    }
  }
  return best;
}

function opensAt(text, index, char) {
  const before = text[index - 1];
  const after = text[index + 1];
  return (before === undefined || !WORD.test(before)) && after !== undefined && after !== char && !/\s/.test(after);
}

function closes(text, start, char) {
  for (let end = text.indexOf(char, start + 2); end !== -1; end = text.indexOf(char, end + 1)) {
    if (text.slice(start, end).includes("\n")) return -1;
    const before = text[end - 1];
    const after = text[end + 1];
    if (!/\s/.test(before) && (after === undefined || !WORD.test(after))) return end;
  }
  return -1;
}

/** Text with its held tokens put back. */
function plain(text, tokens) {
  const nodes = [];
  let buffer = "";
  for (const char of text) {
    const code = char.charCodeAt(0);
    if (code >= TOKEN_BASE && code < TOKEN_BASE + tokens.length) {
      if (buffer) nodes.push(document.createTextNode(emojify(decodeEntities(buffer))));
      buffer = "";
      nodes.push(tokens[code - TOKEN_BASE]);
    } else buffer += char;
  }
  if (buffer) nodes.push(document.createTextNode(emojify(decodeEntities(buffer))));
  return nodes;
}

function renderAngle(inner, whole, ctx) {
  const user = /^@([UWB][A-Z0-9]+)(?:\|(.*))?$/.exec(inner);
  if (user) {
    const name = ctx.userName(user[1]) ?? (user[2] ? decodeEntities(user[2]) : user[1]);
    return h("span", { class: user[1] === ctx.me ? "mention me" : "mention", title: user[1], text: `@${name}` });
  }
  const channel = /^#([CGD][A-Z0-9]+)(?:\|(.*))?$/.exec(inner);
  if (channel) {
    const name = ctx.channelName(channel[1]) ?? (channel[2] ? decodeEntities(channel[2]) : channel[1]);
    return h("button", { type: "button", class: "channel-mention", text: `#${name}`, onclick: () => ctx.onChannel(channel[1]) });
  }
  const special = /^!([a-z]+)(?:\^([^|]*))?(?:\|(.*))?$/.exec(inner);
  if (special) {
    const [, kind, , label] = special;
    if (["here", "channel", "everyone"].includes(kind)) return h("span", { class: "mention", text: `@${kind}` });
    return h("span", { class: kind === "date" ? "" : "mention", text: decodeEntities(label ?? kind) });
  }
  const link = /^([a-z][a-z0-9+.-]*:[^|]*)(?:\|(.*))?$/i.exec(inner);
  if (link) {
    const href = safeUrl(decodeEntities(link[1]));
    const label = emojify(decodeEntities(link[2] ?? link[1]));
    if (!href) return document.createTextNode(label);
    const jump = ctx.permalinkAction?.(href);
    if (jump) {
      return h("a", {
        href,
        text: label,
        onclick: (event) => {
          event.preventDefault();
          jump();
        },
      });
    }
    return h("a", { href, target: "_blank", rel: "noopener noreferrer", text: label });
  }
  // Not a Slack token (a stray <script> a bot sent unescaped): shown exactly as written.
  return document.createTextNode(decodeEntities(whole));
}
