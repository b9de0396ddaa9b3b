export interface MeasureRow {
  measure: string;
  figure: string;
  baseline: string;
  ratio: string;
  bar: string;
  pass: boolean;
}

export interface RunResult {
  date: string;
  durationSeconds: number;
  quick: boolean;
  machine: { cpuModel: string; cores: number; totalMemoryMb: number; node: string; platform: string };
  database: { kind: "postgres" | "pglite"; label: string; version: string };
  table: MeasureRow[];
  measures: Record<string, unknown>;
}

export interface BenchResults {
  latest?: "postgres" | "pglite";
  runs: Partial<Record<"postgres" | "pglite", RunResult>>;
}

const HEADERS = ["measure", "figure", "baseline (same run)", "ratio", "bar", "result"] as const;

function cells(row: MeasureRow): string[] {
  return [row.measure, row.figure, row.baseline, row.ratio, row.bar, row.pass ? "PASS" : "FAIL"];
}

/** The console table: aligned columns, one line per measure. */
export function renderTable(run: RunResult): string {
  const lines = [HEADERS as readonly string[], ...run.table.map(cells)];
  const widths = HEADERS.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? "").length)));
  const format = (l: readonly string[]) => l.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [
    `Orchestrator bench — ${run.database.label}`,
    `${run.machine.cpuModel}, ${run.machine.cores} cores, ${(run.machine.totalMemoryMb / 1024).toFixed(1)} GB, Node ${run.machine.node}, ${run.date}`,
    "",
    format(HEADERS),
    rule,
    ...run.table.map((r) => format(cells(r))),
    "",
    `${run.table.filter((r) => r.pass).length}/${run.table.length} bars met in ${run.durationSeconds} s.`,
  ].join("\n");
}

function markdownTable(run: RunResult): string {
  const escape = (c: string) => c.replace(/\|/g, "\\|");
  return [
    `| ${HEADERS.join(" | ")} |`,
    `|${HEADERS.map(() => "---").join("|")}|`,
    ...run.table.map((r) => `| ${cells(r).map(escape).map((c, i) => (i === 5 ? `**${c}**` : c)).join(" | ")} |`),
  ].join("\n");
}

/** The README section: how it is measured, then the latest table for each database. */
export function renderReadme(results: BenchResults): string {
  const sections: string[] = [];
  for (const kind of ["pglite", "postgres"] as const) {
    const run = results.runs[kind];
    if (!run) continue;
    sections.push(
      [
        `### ${kind === "postgres" ? "PostgreSQL" : "PGlite (embedded)"}`,
        "",
        `${run.database.label}. Run on ${run.date.slice(0, 10)}: ${run.machine.cpuModel}, ${run.machine.cores} cores, ${(run.machine.totalMemoryMb / 1024).toFixed(1)} GB RAM, Node ${run.machine.node}, ${run.machine.platform}; the whole run took ${Math.round(run.durationSeconds)} s.`,
        "",
        markdownTable(run),
      ].join("\n"),
    );
  }
  return `## Performance (\`npm run bench\`)

\`npm run bench\` measures the quality bars of SPEC §7, each against a baseline measured in the same run, on
embedded PGlite — or on PostgreSQL with \`BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench\`
(a fresh database per measure, created from that URL and dropped afterwards). The bot runs in a process of its own
(\`node --import tsx\`, as the Docker image runs it) in HTTP mode against the Slack emulator, which also runs in a
process of its own; the bench process only generates load and keeps time. Every request is signed as Slack signs it
(v0 HMAC over \`v0:{timestamp}:{body}\`). Figures: the table below; everything else (percentiles, statuses, Slack calls,
memory breakdown, seed sizes, machine) in \`bench/results.json\`.

- **(a) ack latency**: 2,000 \`/orch status\` slash commands per target, 50 in flight, after 500 warm-up, in two
  alternating rounds; the baseline is a bare Bolt app (\`HTTPReceiver\`) whose handler only calls \`ack()\`. The bot's
  work after the ack (the status queries and the \`response_url\` post) runs during the measurement, as in production.
- **(b) ingestion**: 10,000 Events API \`message\` envelopes in the two feedback channels (half top-level, half thread
  replies, each with its own \`event_id\` and \`ts\`), 50 in flight, timed until all 10,000 rows are in \`feedback\`;
  the bot also reacts :inbox_tray: to each through the emulator. Baseline: the same 10,000 rows as plain single-row
  \`INSERT\`s through the same drizzle driver and pool, 50 in flight, in a fresh database.
- **(c) reports**: 100,000 feedback rows over 120 days (realistic spread of channels, sources, kinds, priorities,
  statuses, themes, sprints), a release a day with approvals, every job run of the default schedules and a health check
  every 5 minutes per environment, then \`VACUUM ANALYZE\` (what autovacuum does after a bulk load). \`feedbackStats\` over
  30 days and \`orchestratorFigures\` for the month ending now, 20 timed runs each after 3 warm-up, in the bot process;
  also both commands end to end (signed command → ack → \`response_url\` post received by the emulator). The bar applies
  to the p95; the baseline is a single \`count(*)\` over the same 30 days.
- **(d) memory**: RSS of the bot process after (b) once its background work has finished, against the same process idle
  after start-up. With PGlite the database lives inside the bot process, so its memory is counted too.

${sections.join("\n\n")}
`;
}
