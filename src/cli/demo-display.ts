/**
 * What `rf-db demo` shows: live progress while the actors run, and the
 * summary at the end (pure: data in, lines out).
 */
import { MultiBar, type SingleBar } from "cli-progress";
import type { Pipeline } from "../schema";
import { formatDuration, truncate } from "./common";

/** Live progress: cli-progress bars on a terminal, a plain line per change (at most 1/s) otherwise. */
export class ProgressDisplay {
  #multibar: MultiBar | undefined;
  #bars = new Map<number, SingleBar>();
  #total: SingleBar | undefined;
  #lastLine = "";
  #lastLineAt = 0;

  constructor(
    tty: boolean,
    pipelines: Pipeline[],
    private readonly shards: number,
    private readonly totalTasks: number,
    private readonly write: (text: string) => void,
  ) {
    if (!tty) return;
    const width = Math.min(28, Math.max(8, ...pipelines.map((p) => (p.pipelineName ?? `#${p.pipelineId}`).length)));
    const label = (s: string) => truncate(s, width).padEnd(width);
    // cli-progress cuts lines at the terminal's width: leave the numbers room (the longest tail is ~44 characters).
    const barsize = Math.max(8, Math.min(30, (process.stdout.columns || 80) - width - 50));
    this.#multibar = new MultiBar({
      stream: process.stdout,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      barsize,
      fps: 10,
      barCompleteChar: "█",
      barIncompleteChar: "░",
      format: "  {name} {bar} {value}/{total} shards  {samples} samples",
    });
    for (const p of pipelines)
      this.#bars.set(
        p.pipelineId,
        this.#multibar.create(shards, 0, { name: label(p.pipelineName ?? `#${p.pipelineId}`), samples: 0 }),
      );
    this.#total = this.#multibar.create(
      totalTasks,
      0,
      { name: label("all tasks"), running: "starting actors", rate: "0.0", elapsed: "0 ms" },
      { format: "  {name} {bar} {value}/{total} tasks · {running} · {rate}/s · {elapsed}" },
    );
  }

  /** `extra`: appended to the running count (`--chaos`: " · 2 killed · 3 re-taken"). */
  update(
    pipelines: Pipeline[],
    completed: number,
    running: number,
    elapsedMs: number,
    final = false,
    extra = "",
  ): void {
    const rate = elapsedMs > 0 ? ((completed * 1000) / elapsedMs).toFixed(1) : "0.0";
    if (this.#multibar) {
      for (const p of pipelines)
        this.#bars.get(p.pipelineId)?.update(p.shardsCompleted, { samples: p.totalSamplesProcessed });
      this.#total?.update(completed, {
        running: `${running} running${extra}`,
        rate,
        elapsed: formatDuration(elapsedMs),
      });
      return;
    }
    const per = pipelines
      .slice(0, 8)
      .map((p) => `${p.pipelineId}:${p.shardsCompleted}/${this.shards}`)
      .join(" ");
    const line = `progress: ${completed}/${this.totalTasks} tasks completed, ${running} running${extra} (pipelines ${per}${pipelines.length > 8 ? " …" : ""})`;
    const now = Date.now();
    if (line !== this.#lastLine && (final || now - this.#lastLineAt >= 1000)) {
      this.write(`${line}  [${formatDuration(elapsedMs)}]\n`);
      this.#lastLine = line;
      this.#lastLineAt = now;
    }
  }

  /** A line for the log; on a terminal the bars say it (the total bar shows "starting actors"). */
  note(text: string): void {
    if (!this.#multibar) this.write(`${text}\n`);
  }

  stop(): void {
    this.#multibar?.stop();
    this.#multibar = undefined;
  }
}

/** What the summary reports, read back from the database. */
export interface DemoSummary {
  experimentId: number;
  experimentName: string;
  status: string;
  url: string;
  /** From "start" until the last actor exited. */
  wallMs: number;
  /** Creating the experiment, pipelines and tasks. */
  setupMs: number;
  /** Forking the actors until all had opened the database. */
  startupMs: number;
  tasksCompleted: number;
  tasksTotal: number;
  samples: { pipelineId: number; pipelineName: string; samples: number }[];
  /** Completed tasks per actor, and how many of them it had re-taken from a dead actor. */
  perActor: { actorId: number; tasks: number; retaken?: number }[];
  /** `--chaos`: actors SIGKILLed, and actor processes started in all. */
  chaos?: { killed: number; actorProcesses: number };
}

/** The summary as lines (pure; the test parses them). */
export function renderDemoSummary(s: DemoSummary): string[] {
  const rate = s.wallMs > 0 ? (s.tasksCompleted * 1000) / s.wallMs : 0;
  const totalSamples = s.samples.reduce((sum, p) => sum + p.samples, 0);
  const nameWidth = Math.max(5, ...s.samples.map((p) => `${p.pipelineId} ${p.pipelineName}`.length));
  return [
    "Summary",
    `  experiment       ${s.experimentId} "${s.experimentName}": ${s.status}`,
    `  database         ${s.url}`,
    `  wall time        ${formatDuration(s.wallMs)} (after ${formatDuration(s.setupMs)} setup and ${formatDuration(s.startupMs)} actor start-up)`,
    `  tasks completed  ${s.tasksCompleted}/${s.tasksTotal}`,
    `  throughput       ${rate.toFixed(1)} tasks/s`,
    "  samples processed",
    ...s.samples.map((p) => `    ${`${p.pipelineId} ${p.pipelineName}`.padEnd(nameWidth)}  ${p.samples}`),
    `    ${"total".padEnd(nameWidth)}  ${totalSamples}`,
    "  tasks per actor",
    ...s.perActor.map((a) => `    actor ${a.actorId}  ${a.tasks}${a.retaken ? ` (${a.retaken} re-taken)` : ""}`),
    ...(s.chaos
      ? [
          `  chaos            ${s.chaos.killed} actors SIGKILLed mid-task, ${s.chaos.actorProcesses} actor processes in all`,
          `  re-taken tasks   ${s.perActor.reduce((n, a) => n + (a.retaken ?? 0), 0)} (a killed actor's lease ended; another actor finished the task)`,
          `  exactly once     every shard completed once, every pipeline counted ${s.tasksTotal / Math.max(1, s.samples.length)} shards`,
        ]
      : []),
    `  see it again     rf-db status --experiment ${s.experimentId}`,
  ];
}
