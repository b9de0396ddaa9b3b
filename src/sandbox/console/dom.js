// DOM helpers: every node is built with createElement and text nodes, so text from messages is never parsed as HTML.

/** h("div", { class: "x", onclick: fn }, child, "text", [more]) */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** A link only for schemes that cannot run code; anything else is shown as text. */
export function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return ["http:", "https:", "mailto:"].includes(parsed.protocol) ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

const EMOJI = {
  "+1": "👍",
  thumbsup: "👍",
  "-1": "👎",
  thumbsdown: "👎",
  memo: "📝",
  pencil: "📝",
  inbox_tray: "📥",
  outbox_tray: "📤",
  white_check_mark: "✅",
  heavy_check_mark: "✔️",
  ballot_box_with_check: "☑️",
  x: "❌",
  no_entry: "⛔",
  no_entry_sign: "🚫",
  warning: "⚠️",
  rotating_light: "🚨",
  boom: "💥",
  fire: "🔥",
  rocket: "🚀",
  tada: "🎉",
  sparkles: "✨",
  star: "⭐",
  hourglass: "⌛",
  hourglass_flowing_sand: "⏳",
  stopwatch: "⏱️",
  alarm_clock: "⏰",
  clock: "🕐",
  calendar: "📅",
  date: "📅",
  large_yellow_circle: "🟡",
  large_green_circle: "🟢",
  red_circle: "🔴",
  large_blue_circle: "🔵",
  white_circle: "⚪",
  black_circle: "⚫",
  large_orange_circle: "🟠",
  green_heart: "💚",
  heart: "❤️",
  eyes: "👀",
  mag: "🔍",
  mag_right: "🔎",
  bulb: "💡",
  bell: "🔔",
  lock: "🔒",
  unlock: "🔓",
  key: "🔑",
  shield: "🛡️",
  wrench: "🔧",
  hammer_and_wrench: "🛠️",
  gear: "⚙️",
  package: "📦",
  bar_chart: "📊",
  chart_with_upwards_trend: "📈",
  chart_with_downwards_trend: "📉",
  clipboard: "📋",
  page_facing_up: "📄",
  scroll: "📜",
  books: "📚",
  book: "📖",
  card_index_dividers: "🗂️",
  file_folder: "📁",
  robot_face: "🤖",
  speech_balloon: "💬",
  thinking_face: "🤔",
  raised_hands: "🙌",
  pray: "🙏",
  wave: "👋",
  ok_hand: "👌",
  clap: "👏",
  muscle: "💪",
  zap: "⚡",
  sunny: "☀️",
  sun_with_face: "🌞",
  cloud: "☁️",
  electric_plug: "🔌",
  battery: "🔋",
  bug: "🐛",
  broom: "🧹",
  construction: "🚧",
  information_source: "ℹ️",
  question: "❓",
  exclamation: "❗",
  heavy_plus_sign: "➕",
  heavy_minus_sign: "➖",
  arrow_right: "➡️",
  arrow_up: "⬆️",
  arrow_down: "⬇️",
  repeat: "🔁",
  arrows_counterclockwise: "🔄",
  link: "🔗",
  pushpin: "📌",
  dart: "🎯",
  trophy: "🏆",
  checkered_flag: "🏁",
  traffic_light: "🚦",
  vertical_traffic_light: "🚦",
  satellite: "📡",
  computer: "💻",
  test_tube: "🧪",
  microscope: "🔬",
  brain: "🧠",
  moneybag: "💰",
  smile: "😄",
  slightly_smiling_face: "🙂",
  joy: "😂",
  disappointed: "😞",
  cry: "😢",
  scream: "😱",
  sweat_smile: "😅",
  hugging_face: "🤗",
  partying_face: "🥳",
  100: "💯",
  stethoscope: "🩺",
  fast_forward: "⏩",
  rewind: "⏪",
  pause_button: "⏸️",
  white_large_square: "⬜",
  hospital: "🏥",
  snowflake: "❄️",
  leftwards_arrow_with_hook: "↩️",
  star2: "🌟",
  heavy_multiplication_x: "✖️",
  new: "🆕",
  sos: "🆘",
  stop_sign: "🛑",
  recycle: "♻️",
  hammer: "🔨",
  toolbox: "🧰",
  mailbox: "📫",
  email: "📧",
  telephone: "☎️",
};

export function emojiChar(name) {
  return EMOJI[name];
}

/** Replaces :shortcodes: Slack knows with the emoji; unknown ones stay as typed. */
export function emojify(text) {
  return text.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] ?? whole);
}
