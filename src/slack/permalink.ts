/** Slack's permalink format, built locally from the workspace URL (auth.test) so a link costs no API call. */
export function permalink(workspaceUrl: string, channel: string, ts: string, threadTs?: string): string {
  const base = workspaceUrl.replace(/\/?$/, "/");
  const thread = threadTs && threadTs !== ts ? `?thread_ts=${threadTs}&cid=${channel}` : "";
  return `${base}archives/${channel}/p${ts.replace(".", "")}${thread}`;
}
