import type { Feature } from "../feature.js";
import { formatAge } from "../time.js";
import { latestHealth, liveVersions, releasesInFlight } from "./queries.js";

export const releasesStatusFeature: Feature = ({ services, status }) => {
  const { db, config } = services;
  status.add({
    title: "Environments",
    order: 10,
    render: async () => {
      const [live, health] = await Promise.all([liveVersions(db), latestHealth(db)]);
      return config.environments
        .map((env) => {
          const version = live.get(env.name);
          const check = health.get(env.name);
          const healthText = check ? `${check.ok ? "healthy" : "failing"}${check.latencyMs !== null ? ` (${check.latencyMs} ms)` : ""}, checked ${formatAge(check.at)} ago` : "not checked yet";
          return `• *${env.name}*: ${version ? `\`${version.version}\` live since ${formatAge(version.liveAt)} ago` : "nothing released yet"} — ${healthText}`;
        })
        .join("\n");
    },
  });
  status.add({
    title: "Releases in flight",
    order: 20,
    render: async () => {
      const flying = await releasesInFlight(db);
      if (flying.length === 0) return "None.";
      return flying
        .map((r) => `• \`${r.version}\` → ${r.environment}: ${r.state.replace("_", " ")}${r.state === "awaiting_approval" ? ` (${r.approvals}/${r.requiredApprovals} approvals)` : ""}, requested by <@${r.requester}> ${formatAge(r.createdAt)} ago`)
        .join("\n");
    },
  });
};
