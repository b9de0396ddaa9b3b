import type { Config } from "../config/schema.js";
import { SlackEmulator } from "../emulator/emulator.js";
import type { EmulatedChannel, EmulatedUser } from "../emulator/workspace.js";

export const SANDBOX_GENERAL_CHANNEL = "C0GENERAL";

/** The people of the sandbox: the config's sandbox directory, then anyone the config names without one. */
function sandboxUsers(config: Config): EmulatedUser[] {
  const users = new Map<string, EmulatedUser>();
  for (const [id, person] of Object.entries(config.sandbox?.users ?? {})) {
    users.set(id, { id, name: person.name.toLowerCase().replace(/[^a-z0-9]+/g, "."), realName: person.name, title: person.title });
  }
  const roles: Array<[string[], string]> = [
    [config.people.approvers, "Approver"],
    [config.people.admins, "Admin"],
  ];
  for (const [ids, role] of roles) {
    ids.forEach((id, index) => {
      if (!users.has(id)) users.set(id, { id, name: `${role.toLowerCase()}${index + 1}`, realName: `${role} ${index + 1}`, title: role });
    });
  }
  return [...users.values()];
}

function sandboxChannels(config: Config): EmulatedChannel[] {
  const names = config.sandbox?.channels ?? {};
  const channels = new Map<string, EmulatedChannel>();
  const add = (id: string, fallback: string) => {
    if (!channels.has(id)) channels.set(id, { id, name: names[id] ?? fallback });
  };
  add(SANDBOX_GENERAL_CHANNEL, "general");
  add(config.channels.releases, "releases");
  add(config.channels.digests, "digests");
  add(config.channels.alerts, "alerts");
  for (const fc of config.feedback.channels) add(fc.channel, fc.source.toLowerCase().replace(/[^a-z0-9]+/g, "-"));
  for (const [id, name] of Object.entries(names)) add(id, name);
  return [...channels.values()];
}

/** The sandbox's Slack; with an app token it delivers over Socket Mode instead of signed requests. */
export function createSandboxEmulator(config: Config, credentials: { botToken: string; signingSecret: string; appToken?: string }): SlackEmulator {
  return new SlackEmulator({
    ...credentials,
    users: sandboxUsers(config),
    channels: sandboxChannels(config),
    // Redeliver quickly in the sandbox so a hiccup does not leave a person waiting minutes.
    retryDelaysMs: [0, 5_000, 30_000],
  });
}
