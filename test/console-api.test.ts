import { readdirSync } from "node:fs";
import { extname } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONSOLE_FOLDER } from "../src/paths.js";
import type { ConsoleState } from "../src/sandbox/console.js";
import { eventually, TRANSPORTS } from "./support/bot.js";
import { CHANNELS, USERS } from "./support/config.js";
import { consoleToken, type Sandbox, startSandbox } from "./support/sandbox.js";

describe.each(TRANSPORTS)("sandbox console API, bot connected over %s", (transport) => {
  let sandbox: Sandbox;
  let token: string;

  beforeAll(async () => {
    sandbox = await startSandbox({ transport });
    token = await consoleToken(sandbox.url);
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  const state = async (as: string, channel: string = CHANNELS.general): Promise<ConsoleState> => {
    const response = await fetch(`${sandbox.url}/console/state?${new URLSearchParams({ as, channel })}`);
    expect(response.status).toBe(200);
    return (await response.json()) as ConsoleState;
  };

  const act = async (body: unknown, contentType = "application/json", headers: Record<string, string> = { "x-orchestrator-console-token": token }) => {
    const response = await fetch(`${sandbox.url}/console/act`, { method: "POST", headers: { "content-type": contentType, ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it("refuses actions another site's page could send: other media types, no or a wrong token, another origin", async () => {
    const command = { as: USERS.engineer, action: "command", channel: CHANNELS.general, text: "status" };
    expect((await act(command, "text/plain; charset=application/json")).status).toBe(415);
    expect((await act(command, "application/json", {})).status).toBe(403);
    expect((await act(command, "application/json", { "x-orchestrator-console": "1" })).status).toBe(403);
    expect((await act(command, "application/json", { "x-orchestrator-console-token": `${token.slice(0, -1)}x` })).status).toBe(403);
    expect((await act(command, "application/json", { "x-orchestrator-console-token": token, origin: "https://evil.example" })).status).toBe(403);
    expect(sandbox.emulator.deliveries.filter((d) => d.kind === "command")).toEqual([]);
  });

  it("serves the page with a strict content security policy, its own files, and nothing else from the folder", async () => {
    const page = await fetch(`${sandbox.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toContain('<script type="module" src="/console/app.js">');
    // Every file the page loads, followed as a browser does: the page's <link>s and <script>, then each module's imports.
    const pending = [...html.matchAll(/(?:href|src)="\/console\/([\w.-]+)"/g)].map((match) => match[1]!);
    const loaded = new Map<string, string>();
    while (pending.length > 0) {
      const file = pending.pop()!;
      if (loaded.has(file)) continue;
      const response = await fetch(`${sandbox.url}/console/${file}`);
      expect(response.status, file).toBe(200);
      loaded.set(file, response.headers.get("content-type") ?? "");
      if (file.endsWith(".js")) pending.push(...[...(await response.text()).matchAll(/^import .* from "\.\/([\w.-]+)";$/gm)].map((match) => match[1]!));
    }
    // ...which is every file of the folder besides the page itself, each served as what it is.
    const assets = readdirSync(CONSOLE_FOLDER).filter((name) => name !== "index.html");
    expect([...loaded.keys()].sort()).toEqual(assets.sort());
    const served: Record<string, string> = { ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml" };
    for (const [file, type] of loaded) expect(type, file).toContain(served[extname(file)] ?? "(no type expected)");
    expect((await fetch(`${sandbox.url}/console/../console.ts`)).status).toBe(404);
    expect((await fetch(`${sandbox.url}/console/%2e%2e%2fconsole.ts`)).status).toBe(404);
  });

  it("serves demo model metrics that pass the shipped config's gate", async () => {
    const response = await fetch(`${sandbox.url}/sandbox/model-metrics.json`);
    const metrics = (await response.json()) as { model: string; mape: number; mae_volts: number; evaluated_at: string };
    expect(metrics.model).toBe("voltage-lstm-v7");
    expect(metrics.mape).toBeLessThan(10);
    expect(metrics.mae_volts).toBeLessThan(2);
    expect(Math.abs(Date.parse(metrics.evaluated_at) - Date.now())).toBeLessThan(60_000);
  });

  it("describes the workspace: people with their roles, channels with what they are for", async () => {
    const view = await state(USERS.admin);
    expect(view.as).toBe(USERS.admin);
    expect(view.botUserId).toBe(sandbox.emulator.botUserId);
    const byId = new Map(view.people.map((p) => [p.id, p]));
    expect(byId.get(USERS.approver1)).toMatchObject({ realName: "Somchai Prasert", title: "Release manager", roles: ["approver"], isBot: false });
    expect(byId.get(USERS.admin)?.roles).toEqual(["admin"]);
    expect(byId.get(USERS.engineer)?.roles).toEqual([]);
    expect(byId.get(sandbox.emulator.botUserId)?.isBot).toBe(true);
    expect(view.channels.map((c) => c.name)).toEqual(["general", "releases", "digests", "alerts", "pea-help-desk", "stakeholder-meetings"]);
    expect(view.channels.find((c) => c.id === CHANNELS.helpdesk)?.purpose).toContain("Feedback from PEA Help Desk");
    expect(view.shortcuts).toEqual([{ callbackId: "record_feedback", name: "Record as feedback" }]);
  });

  it("falls back to a person and a channel that exist when asked for ones that do not", async () => {
    const view = await state("U0NOBODY", "C0NOWHERE");
    expect(view.people.find((p) => p.id === view.as)?.isBot).toBe(false);
    expect(view.channel).toBe(CHANNELS.general);
    expect((await state(sandbox.emulator.botUserId)).as).not.toBe(sandbox.emulator.botUserId);
  });

  it("refuses bad input with 400 and a reason, and anything but JSON with 415", async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ as: USERS.engineer, action: "dance" }, /expected action to be one of/],
      [{ as: USERS.engineer, action: "message", channel: CHANNELS.general }, /text/],
      [{ as: USERS.engineer, action: "message", channel: CHANNELS.general, text: "   " }, /expected some text/],
      [{ as: "nobody", action: "message", channel: CHANNELS.general, text: "hi" }, /as: expected a user id/],
      [{ as: "U0NOBODY", action: "message", channel: CHANNELS.general, text: "hi" }, /no person U0NOBODY/],
      [{ as: sandbox.emulator.botUserId, action: "message", channel: CHANNELS.general, text: "hi" }, /no person/],
      [{ as: USERS.engineer, action: "message", channel: "C0NOWHERE", text: "hi" }, /no channel C0NOWHERE/],
      [{ as: USERS.engineer, action: "command", channel: CHANNELS.general, command: "/deploy", text: "" }, /\/deploy is not a valid command/],
      [{ as: USERS.engineer, action: "react", channel: CHANNELS.general, ts: "1.000001", name: "Not An Emoji" }, /emoji name/],
      [{ as: USERS.engineer, action: "shortcut", channel: CHANNELS.general, ts: "1.000001", callbackId: "launch_missiles" }, /no message shortcut launch_missiles/],
      [{ as: USERS.engineer, action: "click", target: { ephemeralId: "E0NONE" }, actionId: "release_approve" }, /no ephemeral E0NONE/],
      ["{not json", /expected a JSON body/],
    ];
    for (const [body, reason] of cases) {
      const result = await act(body);
      expect(result.status, JSON.stringify(body)).toBe(400);
      expect(result.body.error).toMatch(reason);
    }
    expect((await act({ as: USERS.engineer, action: "message", channel: CHANNELS.general, text: "hi" }, "text/plain")).status).toBe(415);
    expect((await fetch(`${sandbox.url}/console/act`)).status).toBe(405);
    expect(sandbox.emulator.workspace.history(CHANNELS.general)).toHaveLength(0);
  });

  it("lets a person edit and delete only their own messages", async () => {
    const posted = await act({ as: USERS.stakeholder, action: "message", channel: CHANNELS.general, text: "Forecast page is slow" });
    const ts = posted.body.ts as string;
    const edit = await act({ as: USERS.engineer, action: "edit", channel: CHANNELS.general, ts, text: "hijacked" });
    expect(edit.status).toBe(400);
    expect(edit.body.error).toContain("cannot edit");
    expect((await act({ as: USERS.engineer, action: "delete", channel: CHANNELS.general, ts })).status).toBe(400);
    expect((await act({ as: USERS.stakeholder, action: "edit", channel: CHANNELS.general, ts, text: "Forecast page is very slow" })).status).toBe(200);
    const view = await state(USERS.engineer);
    expect(view.messages.find((m) => m.ts === ts)).toMatchObject({ text: "Forecast page is very slow", edited: true, user: USERS.stakeholder });
    expect((await act({ as: USERS.stakeholder, action: "delete", channel: CHANNELS.general, ts })).status).toBe(200);
    expect((await state(USERS.engineer)).messages.some((m) => m.ts === ts)).toBe(false);
  });

  it("shows thread replies under their parent and ephemerals only to the person who got them", async () => {
    const parent = await act({ as: USERS.engineer, action: "message", channel: CHANNELS.general, text: "Release notes?" });
    const parentTs = parent.body.ts as string;
    await act({ as: USERS.admin, action: "message", channel: CHANNELS.general, text: "In the wiki", threadTs: parentTs });
    await act({ as: USERS.admin, action: "message", channel: CHANNELS.general, text: "Also here", threadTs: parentTs, broadcast: true });
    const command = await act({ as: USERS.engineer, action: "command", channel: CHANNELS.general, command: "/orch", text: "no-such-command" });
    expect(command.status).toBe(200);
    const view = await state(USERS.engineer);
    const shown = view.messages.find((m) => m.ts === parentTs);
    expect(shown?.replies?.map((r) => r.text)).toEqual(["In the wiki", "Also here"]);
    // A broadcast reply shows in the channel too, as in Slack.
    expect(view.messages.some((m) => m.text === "Also here" && m.broadcast)).toBe(true);
    expect(view.messages.some((m) => m.text === "In the wiki")).toBe(false);
    expect(view.ephemerals.map((e) => e.text).join("\n")).toContain("/orch help");
    expect((await state(USERS.stakeholder)).ephemerals).toEqual([]);
  });

  it("streams a change event when the workspace changes", async () => {
    const controller = new AbortController();
    const response = await fetch(`${sandbox.url}/console/events`, { signal: controller.signal });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let received = "";
    await act({ as: USERS.engineer, action: "message", channel: CHANNELS.digests, text: "ping" });
    while (!received.includes("event: change")) {
      const chunk = await reader.read();
      if (chunk.done) break;
      received += decoder.decode(chunk.value);
    }
    controller.abort();
    expect(received).toContain(`event: change\ndata: {"kind":"message","channel":"${CHANNELS.digests}"}`);
  });

  it("keeps Slack's notices for the person they were meant for", async () => {
    sandbox.emulator.workspace.emit("change", { kind: "notice", user: USERS.approver2, text: 'failed with the error "operation_timeout"' });
    await eventually(async () => expect((await state(USERS.approver2)).notices.map((n) => n.text)).toEqual(['failed with the error "operation_timeout"']));
    expect((await state(USERS.approver1)).notices).toEqual([]);
  });
});
