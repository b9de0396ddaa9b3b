import type { KnownBlock } from "@slack/types";

/** One part of `/orch status`, contributed by the feature that owns the data. */
interface StatusSection {
  title: string;
  order: number;
  render(): Promise<string>;
}

export class StatusBoard {
  private readonly sections: StatusSection[] = [];
  private inFlight: Promise<{ text: string; blocks: KnownBlock[] }> | undefined;

  add(section: StatusSection): void {
    this.sections.push(section);
    this.sections.sort((a, b) => a.order - b.order);
  }

  /**
   * The current status. Everyone who asks while a rendering is under way shares it, so a burst of
   * `/orch status` costs the database one set of queries, not one per person.
   */
  render(): Promise<{ text: string; blocks: KnownBlock[] }> {
    if (!this.inFlight) {
      this.inFlight = this.renderNow().finally(() => {
        this.inFlight = undefined;
      });
    }
    return this.inFlight;
  }

  /** Only the named sections under their own heading: a mention's answer to one question. */
  renderOnly(titles: readonly string[], heading: string): Promise<{ text: string; blocks: KnownBlock[] }> {
    return this.renderNow(titles, heading);
  }

  /** Every section (or the named ones), each rendered independently so one failing source does not hide the others. */
  private async renderNow(titles?: readonly string[], heading = "Orchestrator status"): Promise<{ text: string; blocks: KnownBlock[] }> {
    const chosen = titles ? this.sections.filter((section) => titles.includes(section.title)) : this.sections;
    const rendered = await Promise.all(
      chosen.map(async (section) => {
        try {
          return { title: section.title, body: await section.render() };
        } catch {
          return { title: section.title, body: "_unavailable right now (the database did not answer)_" };
        }
      }),
    );
    const blocks: KnownBlock[] = [{ type: "header", text: { type: "plain_text", text: heading } }];
    for (const { title, body } of rendered) {
      blocks.push({ type: "section", text: { type: "mrkdwn", text: `*${title}*\n${body}`.slice(0, 3000) } });
    }
    const text = rendered.map(({ title, body }) => `${title}: ${body}`).join("\n");
    return { text: text.slice(0, 3000), blocks };
  }
}
