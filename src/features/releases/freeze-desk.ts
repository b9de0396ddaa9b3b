import type { Services } from "../../core/feature.js";
import { type Outcome, type Refusal, refuse } from "../../core/refusal.js";
import { escapeMrkdwn, nounFor } from "../../slack/text.js";
import { formatWhen } from "../../time.js";
import { createFreezes, endFreezes, endLapsedFreezes, type Freeze, openFreezes } from "./freezes.js";
import type { ReleaseService } from "./service.js";
import { inFlightOn } from "./queries.js";

/**
 * Change freezes from Slack (SPEC §3 `freeze`, `unfreeze`): who may set them, the announcements in the
 * releases channel, the notes on affected release messages, and the end of a freeze, by hand or when it
 * runs out. What a freeze holds back is decided where a deploy would start (`ReleaseService`).
 */
export class FreezeDesk {
  constructor(
    private readonly services: Services,
    private readonly releases: ReleaseService,
  ) {}

  private get config() {
    return this.services.config;
  }

  /** Who may freeze and unfreeze: approvers and admins, as the config says now. */
  private mayFreeze(user: string): boolean {
    return this.config.people.approvers.includes(user) || this.config.people.admins.includes(user);
  }

  private freezeScope(target: string): string[] {
    return target === "all" ? this.config.environments.map((e) => e.name) : [target];
  }

  /** `/orch freeze`: stores the freeze, announces it in the releases channel, marks affected release messages. */
  async freeze(input: { target: string; endsAt: Date; reason: string; by: string }): Promise<Outcome<{ summary: string }>> {
    if (!this.mayFreeze(input.by)) return this.freezeRefusal("freeze");
    const { db, poster, background } = this.services;
    const now = this.releases.now();
    const environments = this.freezeScope(input.target);
    // Stored redacted, like every reason typed into the audit trail (SPEC §2a).
    const reason = this.services.exec.redact(input.reason);
    const created = await createFreezes(db, { environments, scope: input.target, reason, createdBy: input.by, now, endsAt: input.endsAt });
    const until = formatWhen(input.endsAt, this.config.timezone, now);
    const running = (await inFlightOn(this.services.db, environments)).filter((r) => r.state === "deploying" || r.state === "verifying");
    const names = input.target === "all" ? "all environments" : input.target;
    const announcement = [
      `:snowflake: *Deploy freeze: ${names}* until ${until}, set by <@${input.by}>: ${escapeMrkdwn(reason)}`,
      `No deploy starts there until then. Releases awaiting approval still collect approvals and deploy once the freeze ends; an emergency (\`--emergency <reason>\`) may deploy anyway. \`${this.config.command} unfreeze ${input.target}\` ends it early.`,
      ...running.map((r) => `Already running: \`${r.version}\` to ${r.environment} (release #${r.id}) started before the freeze and goes on.`),
    ].join("\n");
    await poster.post(this.config.channels.releases, { text: announcement }).catch((error: unknown) => this.services.log.warn("could not announce a freeze", { error }));
    void background.run("show a freeze on release messages", async () => {
      await this.refreshAffected(environments);
      await this.releases.startDue();
    });
    return {
      ok: true,
      summary: `Frozen ${names} until ${until} (${nounFor(created.length, "freeze")} ${created.map((f) => `#${f.id}`).join(", ")}); announced in <#${this.config.channels.releases}>.`,
    };
  }

  /** `/orch unfreeze`: ends the freezes in force now; releases they held deploy (each once) if their window is open. */
  async unfreeze(input: { target: string; by: string }): Promise<Outcome<{ summary: string }>> {
    if (!this.mayFreeze(input.by)) return this.freezeRefusal("unfreeze");
    const environments = this.freezeScope(input.target);
    const ended = await endFreezes(this.services.db, environments, input.by, this.releases.now());
    const names = input.target === "all" ? "all environments" : input.target;
    if (ended.length === 0) return refuse(input.target === "all" ? "No environment is frozen; nothing changed." : `${names} is not frozen; nothing changed.`);
    await this.announceEnded(ended, `ended by <@${input.by}>`);
    const unfrozen = environments.filter((env) => ended.some((f) => f.environment === env));
    return { ok: true, summary: `Unfroze ${unfrozen.join(", ")}; announced in <#${this.config.channels.releases}>.` };
  }

  /** Freezes that ran out are ended and announced (once, whichever replica gets them). */
  async endLapsed(): Promise<Freeze[]> {
    const ended = await endLapsedFreezes(this.services.db, this.releases.now());
    if (ended.length > 0) await this.announceEnded(ended, "ran out");
    return ended;
  }

  private async announceEnded(ended: Freeze[], how: string): Promise<void> {
    const environments = [...new Set(ended.map((f) => f.environment))];
    const still = await openFreezes(this.services.db, this.releases.now());
    const lines = environments.map((env) => {
      const reasons = [...new Set(ended.filter((f) => f.environment === env).map((f) => escapeMrkdwn(f.reason)))].join("; ");
      const other = still.find((f) => f.environment === env);
      return `:sunny: *Freeze of ${env} ${how}* (${reasons}).${other ? ` ${env} stays frozen until ${formatWhen(other.endsAt, this.config.timezone, this.releases.now())} by another freeze.` : " Deploys may start there again; scheduled releases follow their windows."}`;
    });
    await this.services.poster.post(this.config.channels.releases, { text: lines.join("\n") }).catch((error: unknown) => this.services.log.warn("could not announce the end of a freeze", { error }));
    void this.services.background.run("release messages after a freeze ended", async () => {
      await this.refreshAffected(environments);
      await this.releases.startDue();
    });
  }

  private freezeRefusal(what: "freeze" | "unfreeze"): Refusal {
    const people = [...this.config.people.approvers, ...this.config.people.admins].map((u) => `<@${u}>`).join(", ");
    return refuse(`Only release approvers and admins can ${what} deploys: ${people}.`);
  }

  private async refreshAffected(environments: string[]): Promise<void> {
    for (const release of await inFlightOn(this.services.db, environments)) await this.releases.announcer.refresh(release);
  }
}
