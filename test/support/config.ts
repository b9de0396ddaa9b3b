import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { LoadedConfig } from "../../src/config/load.js";
import { loadConfigFile } from "../../src/config/load.js";

export const FIXTURES = resolve(import.meta.dirname, "../fixtures");

export const USERS = {
  approver1: "U0APPROVER1",
  approver2: "U0APPROVER2",
  approver3: "U0APPROVER3",
  admin: "U0ADMIN",
  engineer: "U0ENGINEER",
  stakeholder: "U0STAKEHOLDER",
} as const;

export const CHANNELS = {
  general: "C0GENERAL",
  releases: "C0RELEASES",
  digests: "C0DIGESTS",
  alerts: "C0ALERTS",
  helpdesk: "C0HELPDESK",
  stakeholders: "C0STAKEHOLDERS",
} as const;

/** A working folder per test file for deploy logs and other files the fixture scripts write. */
export function workDir(): string {
  return mkdtempSync(join(tmpdir(), "orch-test-"));
}

export interface TestConfigOptions {
  /** Folder the fixture scripts record into (deploy logs). */
  dir?: string;
  /** Extra YAML appended at the top level (must not repeat a key already given). */
  extra?: string;
  gates?: string;
  environments?: string;
  jobs?: string;
  /** The environment `${VAR}` in the config is read from (none by default). */
  env?: NodeJS.ProcessEnv;
}

/** The configuration the tests run with: fixture scripts that record what they were asked to do. */
export function testConfigYaml(options: TestConfigOptions = {}): string {
  const dir = options.dir ?? workDir();
  const environments =
    options.environments ??
    `
  - name: staging
    approvals: 1
    deploy: { run: ["${FIXTURES}/deploy.sh", "${dir}", "{environment}", "{version}"], timeout: 20s }
    smoke: { run: ["${FIXTURES}/smoke.sh", "${dir}", "{environment}", "{version}"], timeout: 20s }
  - name: production
    approvals: 2
    after: staging
    deploy: { run: ["${FIXTURES}/deploy.sh", "${dir}", "{environment}", "{version}"], timeout: 20s }`;
  const gates =
    options.gates ??
    `
  - name: Tests pass
    run: ["${FIXTURES}/gate.sh", "pass"]
  - name: Runbooks updated
    manual: true`;
  return `
timezone: Asia/Bangkok
command: /orch
channels: { releases: ${CHANNELS.releases}, digests: ${CHANNELS.digests}, alerts: ${CHANNELS.alerts} }
people:
  approvers: [${USERS.approver1}, ${USERS.approver2}, ${USERS.approver3}]
  admins: [${USERS.admin}]
feedback:
  reaction: memo
  channels:
    - { channel: ${CHANNELS.helpdesk}, source: PEA Help Desk, kind: support-ticket, priority: high }
    - { channel: ${CHANNELS.stakeholders}, source: Stakeholder Meetings, kind: direct-feedback, priority: critical }
environments:${environments}
gates:${gates}
approval: { expiresAfter: 24h }
${options.jobs ? `jobs:${options.jobs}` : ""}
${options.extra ?? ""}
`;
}

export function testConfig(options: TestConfigOptions = {}): LoadedConfig {
  const dir = options.dir ?? workDir();
  const text = testConfigYaml({ ...options, dir });
  const path = join(dir, "orchestrator.yaml");
  writeFileSync(path, text);
  return loadConfigFile(path, options.env ?? {});
}
