import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHANNELS, USERS } from "./support/config.js";
import { consoleToken, type Sandbox, startSandbox } from "./support/sandbox.js";

/** A raw request with exactly the Host and Origin given, as a browser after DNS rebinding would send it. */
function send(port: number, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: body === undefined ? "GET" : "POST", headers }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (chunk: string) => {
        text += chunk;
        // The event stream stays open: its first bytes are enough.
        if (path === "/console/events") res.destroy();
      });
      res.on("close", () => resolve({ status: res.statusCode ?? 0, text }));
      res.on("error", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** The sandbox answers loopback names with its own port only, and actions carry the page's token (issue 11, item 3). */
describe("sandbox console behind a foreign name", () => {
  let sandbox: Sandbox;
  let port: number;
  let token: string;

  beforeAll(async () => {
    sandbox = await startSandbox();
    port = sandbox.orchestrator.port;
    token = await consoleToken(sandbox.url);
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  const action = JSON.stringify({ as: USERS.approver1, action: "command", channel: CHANNELS.general, command: "/orch", text: "status" });
  const actHeaders = (host: string, extra: Record<string, string> = {}) => ({ host, "content-type": "application/json", "x-orchestrator-console-token": token, ...extra });
  const routes = ["/", "/index.html", "/console/state", "/console/events", "/console/app.js", "/sandbox/model-metrics.json"];

  it("refuses every route, and every action even with the right token, when Host is not loopback with its port", async () => {
    for (const host of ["evil.example", `evil.example:${port}`, `127.0.0.1.nip.io:${port}`, `localhost:${port + 1}`, "localhost", `10.0.0.5:${port}`]) {
      for (const path of routes) expect({ host, path, status: (await send(port, path, { host })).status }).toEqual({ host, path, status: 403 });
      expect((await send(port, "/console/act", actHeaders(host), action)).status).toBe(403);
      expect((await send(port, "/api/chat.postMessage", { host, "content-type": "application/json" }, "{}")).status).toBe(403);
    }
    expect(sandbox.emulator.deliveries).toEqual([]);
  });

  it("refuses a foreign Origin on every route, even with a loopback Host", async () => {
    for (const origin of ["https://evil.example", `http://evil.example:${port}`, `http://localhost:${port + 1}`, "null"]) {
      for (const path of routes) expect((await send(port, path, { host: `localhost:${port}`, origin })).status).toBe(403);
      expect((await send(port, "/console/act", actHeaders(`localhost:${port}`, { origin }), action)).status).toBe(403);
    }
    expect(sandbox.emulator.deliveries).toEqual([]);
  });

  it("answers each loopback name with its port, and acts only with the page's token", async () => {
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
      const page = await send(port, "/", { host });
      expect(page.status).toBe(200);
      expect(page.text).toContain(`<meta name="console-token" content="${token}" />`);
      expect((await send(port, "/console/state", { host, origin: `http://${host.toLowerCase()}` })).status).toBe(200);
    }
    expect((await send(port, "/console/act", { host: `localhost:${port}`, "content-type": "application/json" }, action)).status).toBe(403);
    expect((await send(port, "/console/act", actHeaders(`localhost:${port}`, { "x-orchestrator-console-token": "guessed" }), action)).status).toBe(403);
    expect(sandbox.emulator.deliveries).toEqual([]);
    const acted = await send(port, "/console/act", actHeaders(`localhost:${port}`, { origin: `http://localhost:${port}` }), action);
    expect(acted.status).toBe(200);
    expect(sandbox.emulator.deliveries.filter((d) => d.kind === "command")).toHaveLength(1);
  });

  it("carries a new token at every start", async () => {
    const other = await startSandbox();
    try {
      expect(await consoleToken(other.url)).not.toBe(token);
    } finally {
      await other.stop();
    }
  });
});
