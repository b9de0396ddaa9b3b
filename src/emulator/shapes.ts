import { createHash, randomUUID } from "node:crypto";
import type { EmulatedChannel, EmulatedUser, SlackMessage } from "./workspace.js";

/**
 * The objects Slack returns and sends, with the fields its own recorded payloads carry (users.info,
 * conversations.info, files, views, a person's rich-text message), built from the emulator's thin records.
 */

interface WorkspaceRef {
  teamId: string;
  teamDomain: string;
}

const EPOCH = 1_700_000_000;

function avatar(seed: string, size: number): string {
  return `https://avatars.slack-edge.test/${seed}_${size}.png`;
}

export function userObject(user: EmulatedUser, team: WorkspaceRef, bot?: { botId: string; appId: string }): Record<string, unknown> {
  const hash = createHash("sha1").update(user.id).digest("hex").slice(0, 12);
  const [first = user.realName, ...rest] = user.realName.split(" ");
  return {
    id: user.id,
    team_id: team.teamId,
    name: user.name,
    deleted: false,
    color: "9f69e7",
    real_name: user.realName,
    tz: "Asia/Bangkok",
    tz_label: "Indochina Time",
    tz_offset: 25_200,
    profile: {
      title: user.title,
      phone: "",
      skype: "",
      real_name: user.realName,
      real_name_normalized: user.realName,
      display_name: user.name,
      display_name_normalized: user.name,
      fields: null,
      status_text: "",
      status_emoji: "",
      status_emoji_display_info: [],
      status_expiration: 0,
      avatar_hash: hash,
      ...(bot ? { api_app_id: bot.appId, always_active: true, bot_id: bot.botId } : { email: `${user.name}@${team.teamDomain}.test` }),
      first_name: first,
      last_name: rest.join(" "),
      image_24: avatar(hash, 24),
      image_32: avatar(hash, 32),
      image_48: avatar(hash, 48),
      image_72: avatar(hash, 72),
      image_192: avatar(hash, 192),
      image_512: avatar(hash, 512),
      status_text_canonical: "",
      team: team.teamId,
    },
    is_admin: false,
    is_owner: false,
    is_primary_owner: false,
    is_restricted: false,
    is_ultra_restricted: false,
    is_bot: user.isBot === true,
    is_app_user: false,
    updated: EPOCH,
    is_email_confirmed: user.isBot !== true,
    who_can_share_contact_card: "EVERYONE",
  };
}

export function channelObject(channel: EmulatedChannel, team: WorkspaceRef, creator: string): Record<string, unknown> {
  return {
    id: channel.id,
    name: channel.name,
    is_channel: true,
    is_private: channel.isPrivate === true,
    is_group: false,
    is_im: false,
    is_mpim: false,
    created: EPOCH,
    is_archived: false,
    is_general: channel.name === "general",
    unlinked: 0,
    name_normalized: channel.name,
    is_shared: false,
    is_org_shared: false,
    is_pending_ext_shared: false,
    pending_shared: [],
    context_team_id: team.teamId,
    updated: EPOCH * 1000,
    parent_conversation: null,
    creator,
    is_ext_shared: false,
    shared_team_ids: [team.teamId],
    pending_connected_team_ids: [],
    is_member: true,
    last_read: "0000000000.000000",
    topic: { value: "", creator: "", last_set: 0 },
    purpose: { value: "", creator: "", last_set: 0 },
    previous_names: [],
  };
}

/** A file as a `file_share` message carries it; the emulator keeps only id, name and title. */
export function fileObject(
  file: { id: string; name: string; title: string },
  owner: string,
  channel: string,
  team: WorkspaceRef,
): { id: string; name: string; title: string; [field: string]: unknown } {
  const extension = /\.([a-z0-9]+)$/i.exec(file.name)?.[1]?.toLowerCase() ?? "binary";
  const mimetype = MIME_TYPES[extension] ?? "application/octet-stream";
  const path = `${team.teamId}-${file.id}/${encodeURIComponent(file.name.toLowerCase())}`;
  return {
    id: file.id,
    created: EPOCH,
    timestamp: EPOCH,
    name: file.name,
    title: file.title,
    mimetype,
    filetype: extension,
    pretty_type: extension.toUpperCase(),
    user: owner,
    user_team: team.teamId,
    editable: false,
    size: 1024,
    mode: "hosted",
    is_external: false,
    external_type: "",
    is_public: true,
    public_url_shared: false,
    display_as_bot: false,
    username: "",
    url_private: `https://files.slack.test/files-pri/${path}`,
    url_private_download: `https://files.slack.test/files-pri/${team.teamId}-${file.id}/download/${encodeURIComponent(file.name.toLowerCase())}`,
    media_display_type: "unknown",
    permalink: `https://${team.teamDomain}.slack.test/files/${owner}/${file.id}/${encodeURIComponent(file.name.toLowerCase())}`,
    permalink_public: `https://slack-files.test/${team.teamId}-${file.id}-${createHash("sha1").update(file.id).digest("hex").slice(0, 10)}`,
    channels: [channel],
    groups: [],
    ims: [],
    comments_count: 0,
    is_starred: false,
    has_rich_preview: false,
    file_access: "visible",
  };
}

const MIME_TYPES: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  pdf: "application/pdf",
  csv: "text/csv",
  txt: "text/plain",
  json: "application/json",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
};

/**
 * The rich-text blocks Slack's clients send with a person's message: the text's user and channel
 * mentions and links become their own elements, the rest plain text.
 */
export function richTextBlocks(text: string): unknown[] {
  const elements: Array<Record<string, unknown>> = [];
  const token = /<(@[UW][A-Z0-9]+|#C[A-Z0-9]+(?:\|[^>]*)?|https?:\/\/[^>|]+(?:\|[^>]*)?)>/g;
  let last = 0;
  for (const match of text.matchAll(token)) {
    if (match.index > last) elements.push({ type: "text", text: text.slice(last, match.index) });
    const inner = match[1] ?? "";
    if (inner.startsWith("@")) elements.push({ type: "user", user_id: inner.slice(1) });
    else if (inner.startsWith("#")) elements.push({ type: "channel", channel_id: inner.slice(1).split("|")[0] });
    else {
      const [url, label] = inner.split("|");
      elements.push({ type: "link", url, ...(label ? { text: label } : {}) });
    }
    last = match.index + match[0].length;
  }
  if (last < text.length) elements.push({ type: "text", text: text.slice(last) });
  return [{ type: "rich_text", block_id: randomUUID().slice(0, 5), elements: [{ type: "rich_text_section", elements }] }];
}

/** The thread parent as a `thread_broadcast` message's `root` carries it. */
export function rootOf(parent: SlackMessage): Record<string, unknown> {
  return {
    type: "message",
    ...(parent.user ? { user: parent.user } : {}),
    ...(parent.bot_id ? { bot_id: parent.bot_id } : {}),
    text: parent.text,
    ts: parent.ts,
    thread_ts: parent.ts,
    reply_count: parent.reply_count ?? 0,
    reply_users_count: parent.reply_users?.length ?? 0,
    latest_reply: parent.latest_reply ?? parent.ts,
    reply_users: parent.reply_users ?? [],
    is_locked: false,
    subscribed: false,
    ...(parent.team ? { team: parent.team } : {}),
  };
}

/** A modal as views.open returns it: the app's view plus what Slack adds to it. */
export function viewObject(view: Record<string, unknown>, ids: { id: string; teamId: string; appId: string; botId: string }): Record<string, unknown> {
  return {
    id: ids.id,
    team_id: ids.teamId,
    type: view.type ?? "modal",
    blocks: [],
    private_metadata: "",
    callback_id: "",
    external_id: "",
    clear_on_close: false,
    notify_on_close: false,
    submit_disabled: false,
    ...view,
    state: { values: {} },
    hash: `${Math.floor(Date.now() / 1000)}.${randomUUID().replace(/-/g, "").slice(0, 8)}`,
    root_view_id: ids.id,
    previous_view_id: null,
    app_id: ids.appId,
    app_installed_team_id: ids.teamId,
    bot_id: ids.botId,
  };
}
