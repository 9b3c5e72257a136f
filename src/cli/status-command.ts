/**
 * `rf-db status`: one experiment at a glance — its pipelines with a progress
 * bar each (shards completed of the experiment's `numShards`), how many tasks
 * are in each status, and which tasks are running right now. `--watch` keeps
 * it up to date until the experiment stops running.
 *
 * Loading (`loadStatus`) and rendering (`renderStatus`, `renderProgressLine`)
 * are separate, and rendering is pure — data in, lines out — so tests check
 * the text without a terminal and the watch loop can redraw cheaply.
 */
import { existsSync } from "node:fs";
import type { LeaseStatus, RFDatabase } from "../index";
import { ACTOR_TASK_STATUSES, type ActorTask, type ActorTaskStatus, type Experiment, type Pipeline } from "../schema";
import {
  CliError,
  EXIT,
  formatDuration,
  openDatabase,
  resolveTarget,
  sleep,
  truncate,
  warnIfTokenOnCommandLine,
  type ConnectionOptions,
} from "./common";
import { emptyStatusDocument, printStatusJson } from "./status-json";

/** A line of the "recent experiments" list. */
export interface ExperimentSummary {
  experimentId: number;
  experimentName: string;
  status: string;
  createdAt: Date;
  /** The controller's lease end, if it ever heartbeated (a running one past it is stale). */
  leaseExpiresAt?: Date | null;
}

/** `ends in 12 s` / `ENDED 3 s ago` relative to the database's clock. */
function leaseText(until: Date, now: Date): string {
  const ms = until.getTime() - now.getTime();
  return ms > 0 ? `ends in ${formatDuration(ms)}` : `ENDED ${formatDuration(-ms)} ago`;
}

/** The lease lines of the header: the controller, and what dead processes left. */
function leaseLines(view: StatusView): string[] {
  const l = view.lease;
  if (!l) return [];
  const lines: string[] = [];
  const c = l.controller;
  if (c?.stale) {
    const since = c.heartbeatAt ? utc(c.heartbeatAt) : "never";
    lines.push(
      `  STALE: controller ${c.owner ?? "?"} lost: no heartbeat since ${since}; \`rf-db reap\` fails this experiment`,
    );
  } else if (c && view.experiment.status === "running") {
    const beat = c.heartbeatAt ? `${formatDuration(l.now.getTime() - c.heartbeatAt.getTime())} ago` : "never";
    lines.push(
      `  controller ${c.owner ?? "?"}: heartbeat ${beat}, lease ${c.expiresAt ? leaseText(c.expiresAt, l.now) : "-"}`,
    );
  }
  const left: string[] = [];
  if (l.expiredTaskLeases > 0)
    left.push(`${l.expiredTaskLeases} task lease${l.expiredTaskLeases === 1 ? "" : "s"} EXPIRED`);
  if (l.expiredIcLeases > 0)
    left.push(`${l.expiredIcLeases} IC operation lease${l.expiredIcLeases === 1 ? "" : "s"} EXPIRED`);
  if (left.length > 0)
    lines.push(`  ${left.join(", ")} (a dead process's: the next claim or \`rf-db reap\` hands them out again)`);
  return lines;
}

/** Everything one status view shows, read from the database at `now`. */
export interface StatusView {
  /** Safe to print (no credentials, no query). */
  url: string;
  experiment: Experiment;
  pipelines: Pipeline[];
  counts: Record<ActorTaskStatus, number>;
  running: ActorTask[];
  /** The most recent experiments, newest first (may include `experiment`). */
  recent: ExperimentSummary[];
  now: Date;
  /** Leases at the database's clock (stale controller, expired task/IC leases); absent: not shown. */
  lease?: LeaseStatus | null;
}

export interface RenderOptions {
  /** `#`/`-` bars instead of block characters (for logs and pipes). Default false. */
  ascii?: boolean;
  /** Characters per progress bar. Default 24. */
  barWidth?: number;
  /** Running tasks listed before "… and N more". Default 10. */
  maxRunning?: number;
}

/**
 * A progress bar of `width` cells for `done` of `total` (clamped to [0, 1];
 * a total of 0 draws an empty bar).
 * @example renderBar(4, 16, 8, true) // "[##------]"
 */
export function renderBar(done: number, total: number, width: number, ascii = false): string {
  const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.round(fraction * width);
  return ascii
    ? `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`
    : `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
}

/** Percentage for display; `-` when there is no total to compare with. */
function percent(done: number, total: number): string {
  return total > 0 ? `${Math.floor(Math.min(1, done / total) * 100)}%` : "-";
}

/** Left-aligned columns, two spaces apart; the last column is not padded. */
function table(rows: string[][], indent = "  "): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map(
    (row) =>
      indent +
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join("  ")
        .trimEnd(),
  );
}

function utc(d: Date): string {
  return `${d.toISOString().replace("T", " ").slice(0, 19)}Z`;
}

/** Shards done over all pipelines, each capped at the experiment's shard count. */
function shardTotals(view: StatusView): { done: number; total: number } {
  const per = view.experiment.numShards;
  const done = view.pipelines.reduce(
    (sum, p) => sum + (per > 0 ? Math.min(p.shardsCompleted, per) : p.shardsCompleted),
    0,
  );
  return { done, total: per * view.pipelines.length };
}

function countsText(counts: Record<ActorTaskStatus, number>): string {
  return ACTOR_TASK_STATUSES.map((s) => `${counts[s]} ${s}`).join(", ");
}

/**
 * The full status view as lines (no trailing newlines, no control codes).
 * @example console.log(renderStatus(view, { ascii: true }).join("\n"));
 */
export function renderStatus(view: StatusView, options: RenderOptions = {}): string[] {
  const { ascii = false, barWidth = 24, maxRunning = 10 } = options;
  const { experiment: e, pipelines, counts, running, now } = view;
  const age = formatDuration(now.getTime() - e.createdAt.getTime());
  const lines: string[] = [];

  lines.push(`Experiment ${e.experimentId} "${e.experimentName}": ${e.status}`);
  lines.push(
    `  created ${utc(e.createdAt)} (${age} ago) · ${pipelines.length} pipeline${pipelines.length === 1 ? "" : "s"} · ` +
      `${e.numShards} shard${e.numShards === 1 ? "" : "s"} each · ${e.numActors} actor${e.numActors === 1 ? "" : "s"}`,
  );
  lines.push(`  database ${view.url}`);
  lines.push(...leaseLines(view));
  if (e.error) lines.push(`  error: ${truncate(e.error.replace(/\s+/g, " "), 200)}`);

  lines.push("");
  if (pipelines.length === 0) {
    lines.push("Pipelines: none");
  } else {
    const { done, total } = shardTotals(view);
    lines.push(`Pipelines (${done}/${total} shards, ${percent(done, total)})`);
    const rows = [["ID", "NAME", "STATUS", "PROGRESS", "SHARDS", "SAMPLES"]];
    for (const p of pipelines) {
      const bar = renderBar(p.shardsCompleted, e.numShards, barWidth, ascii);
      rows.push([
        String(p.pipelineId),
        truncate(p.pipelineName ?? "", 32),
        p.status,
        `${bar} ${percent(p.shardsCompleted, e.numShards).padStart(4)}`,
        `${p.shardsCompleted}/${e.numShards}`,
        String(p.totalSamplesProcessed),
      ]);
    }
    lines.push(...table(rows));
  }

  const totalTasks = ACTOR_TASK_STATUSES.reduce((sum, s) => sum + counts[s], 0);
  lines.push("");
  lines.push(`Tasks: ${totalTasks} total: ${countsText(counts)}`);

  lines.push("");
  if (running.length === 0) {
    lines.push("Running tasks: none");
  } else {
    lines.push(`Running tasks (${running.length})`);
    const names = new Map(pipelines.map((p) => [p.pipelineId, p.pipelineName]));
    const rows = [["TASK", "PIPELINE", "SHARD", "ACTOR", "RUNNING FOR", "LEASE"]];
    for (const t of running.slice(0, maxRunning)) {
      const name = names.get(t.pipelineId);
      rows.push([
        String(t.taskId),
        `${t.pipelineId}${name ? ` ${truncate(name, 24)}` : ""}`,
        String(t.shardId),
        String(t.actorId),
        t.startedAt ? formatDuration(now.getTime() - t.startedAt.getTime()) : "-",
        t.leaseExpiresAt && view.lease ? leaseText(t.leaseExpiresAt, view.lease.now) : "-",
      ]);
    }
    lines.push(...table(rows));
    if (running.length > maxRunning) lines.push(`  … and ${running.length - maxRunning} more`);
  }

  const others = view.recent.filter((r) => r.experimentId !== e.experimentId);
  if (others.length > 0) {
    lines.push("");
    lines.push("Other recent experiments");
    lines.push(
      ...table(
        others.map((r) => [
          String(r.experimentId),
          truncate(r.experimentName, 40),
          isStale(r, view.lease?.now) ? `${r.status} (STALE: controller lost)` : r.status,
          utc(r.createdAt),
        ]),
      ),
    );
  }
  return lines;
}

/** Running, with a controller lease that ended (by the database's clock). */
function isStale(r: ExperimentSummary, now: Date | undefined): boolean {
  return r.status === "running" && !!r.leaseExpiresAt && !!now && r.leaseExpiresAt.getTime() <= now.getTime();
}

/**
 * One line for logs while watching without a terminal.
 * @example "12:00:01 experiment 3 running: 10/64 shards (15%); tasks 10 completed, 2 in_progress, 52 scheduled, 0 failed"
 */
export function renderProgressLine(view: StatusView): string {
  const { done, total } = shardTotals(view);
  const clock = view.now.toISOString().slice(11, 19);
  return (
    `${clock} experiment ${view.experiment.experimentId} ${view.experiment.status}: ` +
    `${done}/${total} shards (${percent(done, total)}); tasks ${countsText(view.counts)}`
  );
}

/** Reads one view of experiment `id`; CliError when it does not exist (any more). */
export async function loadStatus(db: RFDatabase, id: number): Promise<StatusView> {
  const experiment = await db.experiments.get(id);
  if (!experiment) throw new CliError(`experiment ${id} not found in ${db.url}`);
  const [pipelines, counts, running, recent, lease] = await Promise.all([
    db.pipelines.list(id),
    db.actorTasks.countByStatus(id),
    db.actorTasks.listRunning(id),
    db.experiments.listRecent(6),
    db.experiments.leaseStatus(id),
  ]);
  return { url: db.url, experiment, pipelines, counts, running, recent, now: new Date(), lease };
}

export interface StatusCommandOptions extends ConnectionOptions {
  experiment?: number;
  watch?: boolean;
  interval?: number;
  /** One JSON document (./status-json, documented in the README) instead of the text view. */
  json?: boolean;
}

/** Where output goes; a TTY gets block-character bars and in-place redraws. */
export interface Terminal {
  isTTY: boolean;
  columns: number;
  rows: number;
  write(text: string): void;
}

function stdoutTerminal(): Terminal {
  const out = process.stdout;
  return {
    isTTY: Boolean(out.isTTY),
    columns: out.columns || 100,
    rows: out.rows || 40,
    write: (text) => void out.write(text),
  };
}

/**
 * `rf-db status`. No experiment in the database is not an error: it prints
 * so and succeeds (exit 0). It never writes: a local file is opened
 * read-only (a database behind the package is reported, not migrated), and
 * one that does not exist is not created; it is reported the same way.
 */
export async function runStatus(opts: StatusCommandOptions, term: Terminal = stdoutTerminal()): Promise<void> {
  // Resolved once, to look before creating a missing file, then opened as resolved.
  const target = resolveTarget(opts);
  if (opts.watch) warnIfTokenOnCommandLine(opts);
  if (target.kind === "file" && target.path && !existsSync(target.path)) {
    if (opts.experiment !== undefined)
      throw new CliError(`experiment ${opts.experiment} not found: ${target.path} does not exist`);
    if (opts.json) term.write(`${JSON.stringify(emptyStatusDocument(target.url, null))}\n`);
    else term.write(`No experiments: ${target.path} does not exist yet (\`rf-db demo\` creates a sample one).\n`);
    return;
  }

  // Read-only: a status check writes nothing — no migration, no journal-mode change, no checkpoint —
  // and works where it cannot write (another user's database, a read-only directory or mount).
  const db = await openDatabase(target.kind === "file" ? { ...target, readOnly: true } : target);
  try {
    // Without --experiment: the running one, else the most recent.
    const id = opts.experiment ?? (await db.experiments.getRunningOrLatest())?.experimentId ?? null;
    if (opts.json) {
      await printStatusJson(db, id, { watch: opts.watch ?? false, intervalMs: opts.interval ?? 500 }, (t) =>
        term.write(t),
      );
      return;
    }
    if (id === null) {
      term.write(`No experiments in ${db.url} (\`rf-db demo\` creates a sample one).\n`);
      return;
    }
    if (!opts.watch) {
      const view = await loadStatus(db, id);
      term.write(`${renderStatus(view, { ascii: !term.isTTY }).join("\n")}\n`);
      return;
    }
    await watch(db, id, opts.interval ?? 500, term);
  } finally {
    await db.close();
  }
}

/**
 * Refreshes until the experiment is no longer `running`. On a TTY the view is
 * redrawn in place (cursor up + clear, lines cut to the terminal's width so
 * wrapping cannot break the line count); otherwise one progress line is
 * printed whenever something changed, then the final view. Ctrl-C stops it
 * (exit 130).
 */
async function watch(db: RFDatabase, id: number, intervalMs: number, term: Terminal): Promise<void> {
  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.on("SIGINT", onSigint);
  let drawn = 0;
  let lastLine = "";
  try {
    for (;;) {
      const view = await loadStatus(db, id);
      const finished = view.experiment.status !== "running";
      if (term.isTTY) {
        const maxRunning = Math.max(3, term.rows - 16 - view.pipelines.length);
        let lines = renderStatus(view, { maxRunning }).map((l) => truncate(l, term.columns - 1));
        if (lines.length > term.rows - 1) lines = [...lines.slice(0, term.rows - 2), "…"];
        term.write(`${(drawn > 0 ? `\x1b[${drawn}F\x1b[J` : "") + lines.join("\n")}\n`);
        drawn = lines.length;
      } else if (finished) {
        term.write(`${renderStatus(view, { ascii: true }).join("\n")}\n`);
      } else {
        const line = renderProgressLine(view);
        const withoutClock = line.slice(9);
        if (withoutClock !== lastLine) term.write(`${line}\n`);
        lastLine = withoutClock;
      }
      if (finished) return;
      await sleep(intervalMs, stop.signal);
      if (stop.signal.aborted) throw new CliError("interrupted", EXIT.INTERRUPTED);
    }
  } finally {
    process.off("SIGINT", onSigint);
  }
}
