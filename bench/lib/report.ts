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
  code: { commit: string; uncommittedChanges: boolean } | null;
  machine: { cpuModel: string; cores: number; totalMemoryMb: number; node: string; platform: string; loadAverage?: { start: number; end: number } };
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
  const format = (l: readonly string[]) =>
    l
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [
    `Orchestrator bench — ${run.database.label}`,
    `${run.machine.cpuModel}, ${run.machine.cores} cores, ${(run.machine.totalMemoryMb / 1024).toFixed(1)} GB, Node ${run.machine.node}, ${run.date}, load average ${run.machine.loadAverage?.start ?? "?"} → ${run.machine.loadAverage?.end ?? "?"}`,
    "",
    format(HEADERS),
    rule,
    ...run.table.map((r) => format(cells(r))),
    "",
    `${run.table.filter((r) => r.pass).length}/${run.table.length} bars met in ${run.durationSeconds} s.`,
  ].join("\n");
}

function markdownTable(run: RunResult): string {
  const escapePipes = (c: string) => c.replace(/\|/g, "\\|");
  return [
    `| ${HEADERS.join(" | ")} |`,
    `|${HEADERS.map(() => "---").join("|")}|`,
    ...run.table.map(
      (r) =>
        `| ${cells(r)
          .map(escapePipes)
          .map((c, i) => (i === 5 ? `**${c}**` : c))
          .join(" | ")} |`,
    ),
  ].join("\n");
}

/** A run on a machine busier than its cores: said in so many words, since every figure but the same-run ratios is inflated by it. */
function busyMachineNote(run: RunResult): string[] {
  const load = run.machine.loadAverage;
  if (!load || Math.max(load.start, load.end) <= run.machine.cores) return [];
  const when = Math.min(load.start, load.end) > run.machine.cores ? "throughout" : "for part of the run";
  return [
    "",
    `**A busy machine**: the load average (${load.start} → ${load.end}) was above the ${run.machine.cores} cores ${when}, with other work running beside the bench, so absolute times may be inflated (see the baseline \`count(*)\`) and even same-run ratios move with the load.`,
  ];
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
        `${run.database.label}. Run on ${run.date.slice(0, 10)}: ${run.machine.cpuModel}, ${run.machine.cores} cores, ${(run.machine.totalMemoryMb / 1024).toFixed(1)} GB RAM, Node ${run.machine.node}, ${run.machine.platform}; load average ${run.machine.loadAverage?.start ?? "?"} → ${run.machine.loadAverage?.end ?? "?"}; the whole run took ${Math.round(run.durationSeconds)} s${run.code ? ` (code at ${run.code.commit}${run.code.uncommittedChanges ? " with uncommitted changes" : ""})` : ""}.`,
        ...busyMachineNote(run),
        "",
        markdownTable(run),
      ].join("\n"),
    );
  }
  return `# Performance (\`npm run bench\`)

\`npm run bench\` measures four quality bars (ack latency, feedback ingestion rate, report time, memory), each against a baseline measured in the same run, on
embedded PGlite — or on PostgreSQL with \`BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench\`
(a fresh database per measure, created from that URL and dropped afterwards). The bot runs in a process of its own
(plain \`node\` over a bundle built with esbuild, as the Docker image runs it) in HTTP mode against the Slack emulator, which also runs in a
process of its own; the bench process only generates load and keeps time. Every request is signed as Slack signs it
(v0 HMAC over \`v0:{timestamp}:{body}\`). Figures: the table below; everything else (percentiles, statuses, Slack calls,
memory breakdown, seed sizes, machine) in \`bench/results.json\`.

- **(a) ack latency**: 2,000 \`/orch status\` slash commands per target, 50 in flight, after 500 warm-up, in four
  alternating rounds; the baseline is a bare Bolt app (\`HTTPReceiver\`) whose handler only calls \`ack()\`. The bot's
  work after the ack (the status queries and the \`response_url\` post) runs during the measurement, as in production,
  and every status reply must reach the emulator for the measure to pass.
- **(b) ingestion**: 10,000 Events API \`message\` envelopes in the two feedback channels (half top-level, half thread
  replies, each with its own \`event_id\` and \`ts\`), 50 in flight, timed until all 10,000 rows are in \`feedback\`;
  the bot also reacts :inbox_tray: to each through the emulator, paced at Slack's limit for reactions (one every 1.2 s), so most reactions are still queued when the rows are all in. Baseline: the same 10,000 rows as plain single-row
  \`INSERT\`s through the same drizzle driver and pool (postgres.js, on both databases), 50 in flight, in a fresh database.
- **(c) reports**: 100,000 feedback rows over 120 days (realistic spread of channels, sources, kinds, priorities,
  statuses, themes, sprints), a release a day with approvals plus 2,000 releases of the DORA ledger (commit ranges, gates with measured values, transitions), every job run of the default schedules and a health check
  every 5 minutes per environment, then \`VACUUM ANALYZE\` (what autovacuum does after a bulk load). \`feedbackStats\` over
  30 days and \`orchestratorFigures\` for the month ending now, 20 timed runs each after 3 warm-up, in the bot process;
  also both commands end to end (signed command → ack → \`response_url\` post received by the emulator). The bar applies
  to the p95; the baseline is a single \`count(*)\` over the same 30 days.
- **(d) memory**: RSS of the bot process after (b), once its background work has settled (at most 60 s; queued reactions stay queued), with the peak during ingestion alongside, against the same process idle
  after start-up. With PGlite the database runs in a process of its own that the bot starts and stops (reached over a
  Unix socket with the same postgres.js driver); its RSS is reported beside the bot's, with the total. Its data folder
  is created by a short-lived process first (as on every start but the very first: PGlite's \`initdb\` alone leaves
  ~400 MB resident in the database process that runs it).
- **(e) Socket Mode**: (a) and (b) again with the bot in Socket Mode on the emulator's Socket Mode. Over Socket Mode
  Slack is the sender, so the emulator process sends the envelopes (50 in flight) and times each from sending it to
  receiving its ack (the status replies go to another emulator process). Ack latency: \`slash_commands\` envelopes of \`/orch status\`, 6,000 per app after 500 warm-up, in 12 rounds of 500 whose order alternates (at ~3 ms an ack, one stall of either process holds 50 acks at once, which among 2,000 decided the p99 alone), against a bare
  Bolt app on Bolt's own \`SocketModeReceiver\` whose handler only calls \`ack()\`, connected as a second app to the same
  emulator process. Ingestion: 10,000 \`events_api\` envelopes of the same messages as (b), each acked only once stored,
  an un-acked one sent again with \`retry_attempt\` as Slack does, timed until all rows are present, against plain
  single-row inserts measured again in the same run.

On a 2-core machine the bot, the emulator, the load generator and PostgreSQL share the same cores, and other work on
the machine shows directly (hence the load average in each heading); repeated runs vary by about ±15 %, more for p99s.
Diagnostics: \`BENCH_ONLY=a,b,c,e\` runs a subset, \`BENCH_QUICK=1\` a tenth of the sizes, \`BENCH_ACK_TEXT=help\` another
command for (a), \`BENCH_PROFILE=1\` writes CPU profiles of the bot processes, \`BENCH_BOT_NODE_ARGS="--max-old-space-size=96"\`
passes V8 flags to them (these runs print the table but do not write the files); \`BENCH_KEEP_LOGS=1\` keeps the
processes' logs.

${sections.join("\n\n")}
`;
}
