import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EnvironmentConfig } from "../src/config/schema.js";
import { childEnvironment } from "../src/exec/run.js";
import { checkHealth } from "../src/features/health/check.js";
import { runDeploy, verifyDeploy } from "../src/features/releases/deploy.js";
import { FIXTURES, workDir } from "./support/config.js";

interface Hit {
  body: Record<string, unknown>;
  authorization?: string;
  idempotencyKey?: string;
}

/** A CI webhook that answers each request with the next status of a script, recording what it got. */
function webhookServer() {
  const hits: Hit[] = [];
  let script: number[] = [];
  const server: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      hits.push({ body: raw ? (JSON.parse(raw) as Record<string, unknown>) : {}, authorization: req.headers.authorization, idempotencyKey: req.headers["idempotency-key"] as string | undefined });
      const status = script.shift() ?? 200;
      const answer = () => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify({ status, build: "ci-981" }));
      };
      // 299 stands for "accepted, but answers too late".
      if (status === 299) setTimeout(answer, 1500);
      else answer();
    });
  });
  return {
    hits,
    server,
    script: (statuses: number[]) => {
      script = [...statuses];
      hits.length = 0;
    },
  };
}

describe("deploys", () => {
  const hook = webhookServer();
  let url = "";
  const request = { releaseId: 7, version: "1.4.0", environment: "production", requester: "U0ENGINEER", approvers: ["U0APPROVER1", "U0APPROVER2"] };
  const env = (overrides: Partial<EnvironmentConfig> = {}): EnvironmentConfig => ({
    name: "production",
    approvals: 2,
    deploy: { webhook: { url, headers: { Authorization: "Bearer s3cret" }, timeout: 2000, retries: 3 }, timeout: 60_000 },
    windows: [],
    rollback: { approvals: 1 },
    ...overrides,
  });
  const options = () => ({ exec: { cwd: workDir(), env: childEnvironment([], "UTC"), redact: (text: string) => text }, signal: new AbortController().signal, webhookBackoffMs: 10 });

  beforeAll(async () => {
    await new Promise<void>((resolve) => hook.server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(hook.server.address() as AddressInfo).port}/hooks/deploy`;
  });
  afterAll(() => new Promise<void>((resolve) => hook.server.close(() => resolve())));

  it("posts the release to the webhook and retries on 503 until it succeeds", async () => {
    hook.script([503, 503, 200]);
    const result = await runDeploy(env(), request, options());
    expect(result.ok).toBe(true);
    expect(hook.hits).toHaveLength(3);
    expect(hook.hits[0]?.body).toMatchObject({ releaseId: 7, version: "1.4.0", environment: "production", requester: "U0ENGINEER", approvers: ["U0APPROVER1", "U0APPROVER2"] });
    expect(hook.hits[0]?.authorization).toBe("Bearer s3cret");
    expect(new Set(hook.hits.map((h) => h.idempotencyKey))).toEqual(new Set(["orchestrator-release-7"]));
    expect(result.tail).toContain("attempt 1: HTTP 503\nattempt 2: HTTP 503\nattempt 3: HTTP 200");
  });

  it("does not retry a 400, and says so", async () => {
    hook.script([400]);
    const result = await runDeploy(env(), request, options());
    expect(result).toMatchObject({ ok: false, detail: "deploy webhook failed after 1 attempt (HTTP 400)" });
    expect(hook.hits).toHaveLength(1);
    expect(result.tail).toContain('"status":400');
  });

  it("gives up after the configured retries of a failing hook", async () => {
    hook.script([502, 502, 502, 502, 502]);
    const result = await runDeploy(env(), request, options());
    expect(result).toMatchObject({ ok: false, detail: "deploy webhook failed after 4 attempts (HTTP 502)" });
    expect(hook.hits).toHaveLength(4);
  });

  it("does not send again a request that got no answer in time: the deploy may have started", async () => {
    hook.script([299, 200]);
    const result = await runDeploy(env({ deploy: { webhook: { url, headers: {}, timeout: 300, retries: 3 }, timeout: 60_000 } }), request, options());
    expect(result).toMatchObject({ ok: false, detail: "deploy webhook did not answer within 300ms: the deploy may have started, check the CI before releasing again" });
    expect(hook.hits).toHaveLength(1);
  });

  it("retries a network error", async () => {
    const result = await runDeploy(env({ deploy: { webhook: { url: "http://127.0.0.1:9/nothing", headers: {}, timeout: 500, retries: 1 }, timeout: 60_000 } }), request, options());
    expect(result.ok).toBe(false);
    expect(result.tail.split("\n").filter((l) => l.startsWith("attempt"))).toHaveLength(2);
  });

  it("runs a deploy command with {version} and {environment}, and reports its failure with the output tail", async () => {
    const dir = workDir();
    const ok = await runDeploy(env({ deploy: { run: [`${FIXTURES}/deploy.sh`, dir, "{environment}", "{version}"], timeout: 10_000 } }), request, options());
    expect(ok).toMatchObject({ ok: true });
    expect(ok.tail).toContain("deployed 1.4.0 to production");
    const failing = await runDeploy(env({ deploy: { run: [`${FIXTURES}/deploy.sh`, dir, "{environment}", "{version}"], timeout: 10_000 } }), { ...request, version: "1.4.1-fail" }, options());
    expect(failing).toMatchObject({ ok: false, detail: "deploy command failed: exit code 3" });
    expect(failing.tail).toContain("error: rollout of 1.4.1-fail timed out waiting for pods");
  });

  it("stops a deploy command at its timeout", async () => {
    const result = await runDeploy(env({ deploy: { run: [`${FIXTURES}/gate.sh`, "slow", "10"], timeout: 300 } }), request, options());
    expect(result).toMatchObject({ ok: false, detail: "deploy command failed: timed out after 300ms" });
  });

  it("verifies with the smoke test and the health check, which must be fast enough", async () => {
    hook.script([200, 200, 200]);
    const healthy = await verifyDeploy(env({ health: { url, maxLatencyMs: 1000, timeout: 2000 } }), request, { ...options(), healthAttempts: 1 });
    expect(healthy.ok).toBe(true);
    hook.script([500]);
    const failing = await verifyDeploy(env({ health: { url, maxLatencyMs: 1000, timeout: 2000 } }), request, { ...options(), healthAttempts: 1 });
    expect(failing).toMatchObject({ ok: false, detail: `health check failed: HTTP 500 in ${failing.detail.split(" in ")[1]}` });
    expect(await checkHealth({ url, maxLatencyMs: 0, timeout: 2000 })).toMatchObject({ ok: false, detail: expect.stringMatching(/^slow: \d+ ms \(limit 0 ms\)$/) });
    const smoke = await verifyDeploy(
      env({ smoke: { run: [`${FIXTURES}/smoke.sh`, workDir(), "{environment}", "{version}"], timeout: 10_000 } }),
      { ...request, version: "1.4.0-smokefail" },
      options(),
    );
    expect(smoke).toMatchObject({ ok: false, detail: "smoke test failed: exit code 1" });
    expect(smoke.tail).toContain("GET /api/v1/forecast/solar -> 500");
  });
});
