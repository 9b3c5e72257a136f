/**
 * `rf-db demo`: the README's "main job". It runs a small simulated
 * multi-pipeline inference experiment end to end, the way RF-Inferno uses the
 * database: the controller (this process) creates the experiment, a shared
 * RAG context, the pipelines and one `scheduled` task per (pipeline, shard);
 * actor *processes* (demo-worker) claim tasks, report progress and complete
 * them, all writing the same database at once; the controller watches
 * progress through the database only — not through IPC — and finally closes
 * the experiment and prints a summary computed from the database.
 */
import { fork, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { MultiBar, type SingleBar } from "cli-progress";
import { and, asc, count, eq, inArray } from "drizzle-orm";
import { resolveConfig } from "../config";
import { defaultDatabaseUrl, type RFDatabase } from "../index";
import { actorTasks, type Pipeline } from "../schema";
import {
  CliError,
  DEMO_LIMITS,
  EXIT,
  formatDuration,
  openDatabase,
  sleep,
  truncate,
  type ConnectionOptions,
} from "./common";

export interface DemoOptions extends ConnectionOptions {
  pipelines: number;
  shards: number;
  actors: number;
  workMs: number;
}

/** Tasks per transaction when scheduling: fast on a file, and short enough for sqld's ~5 s transaction limit remotely. */
const CREATE_CHUNK = 100;
/** How often the controller re-reads progress from the database. */
const REFRESH_MS = 200;

const MODELS = [
  { short: "llama-3.1-8b", model: "meta-llama/Llama-3.1-8B-Instruct", max_model_len: 8192 },
  { short: "qwen2.5-7b", model: "Qwen/Qwen2.5-7B-Instruct", max_model_len: 32768 },
  { short: "mistral-7b", model: "mistralai/Mistral-7B-Instruct-v0.3", max_model_len: 32768 },
  { short: "phi-3.5-mini", model: "microsoft/Phi-3.5-mini-instruct", max_model_len: 4096 },
  { short: "gemma-2-9b", model: "google/gemma-2-9b-it", max_model_len: 8192 },
] as const;
const TEMPERATURES = [0, 0.3, 0.7, 1] as const;
const TOP_P = [1, 0.95, 0.9] as const;
const MAX_TOKENS = [256, 512, 1024] as const;

export interface DemoPipelineSpec {
  pipelineName: string;
  modelConfig: Record<string, unknown>;
  samplingParams: Record<string, unknown>;
}

/**
 * `n` pipelines that differ the way a real sweep does: model × temperature ×
 * top-p × output length (the cycles have coprime lengths, so neighbours differ
 * in every dimension).
 */
export function demoPipelines(n: number): DemoPipelineSpec[] {
  return Array.from({ length: n }, (_, i) => {
    const m = MODELS[i % MODELS.length]!;
    const temperature = TEMPERATURES[i % TEMPERATURES.length]!;
    return {
      pipelineName: `p${i + 1}-${m.short}-t${temperature.toFixed(1)}`,
      modelConfig: {
        model: m.model,
        dtype: "bfloat16",
        tensor_parallel_size: 1,
        max_model_len: m.max_model_len,
        gpu_memory_utilization: 0.9,
      },
      samplingParams: {
        temperature,
        top_p: TOP_P[i % TOP_P.length]!,
        max_tokens: MAX_TOKENS[i % MAX_TOKENS.length]!,
        seed: 1000 + i,
      },
    };
  });
}

/** The one RAG context every demo pipeline shares (deduplicated by hash across runs). */
const DEMO_CONTEXT = {
  ragConfig: {
    corpus: "demo-wiki-sample",
    retriever: "hybrid-bm25-dense",
    embedding_model: "BAAI/bge-small-en-v1.5",
    chunk_size: 512,
    chunk_overlap: 64,
    top_k: 5,
  },
  promptConfig: {
    system: "Answer using only the retrieved passages. Say so when they do not contain the answer.",
    template: "Passages:\n{context}\n\nQuestion: {question}\nAnswer:",
  },
};

/** `demo-YYYYMMDD-HHMMSS` (UTC). */
function experimentName(now = new Date()): string {
  const iso = now.toISOString();
  return `demo-${iso.slice(0, 10).replaceAll("-", "")}-${iso.slice(11, 19).replaceAll(":", "")}`;
}

/**
 * Where the worker entry is, next to this module: `demo-worker.ts` when
 * running from source under tsx, `demo-worker.js` in the build (tsup bundles
 * this file into dist/cli/main.js, next to dist/cli/demo-worker.js).
 */
export function workerEntry(moduleUrl: string = import.meta.url): { path: string; typescript: boolean } {
  const typescript = /\.[cm]?tsx?$/.test(new URL(moduleUrl).pathname);
  return { path: fileURLToPath(new URL(typescript ? "./demo-worker.ts" : "./demo-worker.js", moduleUrl)), typescript };
}

/**
 * Node flags for the worker. `fork` passes the parent's `execArgv` on, which
 * under tsx (`tsx main.ts` or `node --import tsx main.ts`) already holds its
 * loader; if the parent runs TypeScript some other way, add tsx's loader so
 * the child can run `demo-worker.ts` too.
 */
function workerExecArgv(typescript: boolean): string[] {
  const inherited = process.execArgv.filter((a) => !a.startsWith("--inspect")); // a debugger port cannot be shared
  if (!typescript || inherited.some((a) => a.includes("tsx"))) return inherited;
  let loader = "tsx";
  try {
    loader = import.meta.resolve("tsx");
  } catch {
    /* resolve from the working directory */
  }
  return [...inherited, "--import", loader];
}

interface WorkerExit {
  actorId: number;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The worker's last stderr line (its one-line error message), if any. */
  message: string;
}

/** The actor processes, with the means to stop them all and never leave one behind. */
class ActorPool {
  readonly children = new Map<number, ChildProcess>();
  readonly exits: Promise<WorkerExit>[] = [];
  /** Per worker: resolves when it reported "ready" (database open) — or exited. */
  readonly ready: Promise<void>[] = [];
  #killOnExit = () => this.killAll("SIGKILL");

  constructor(
    count: number,
    entry: { path: string; typescript: boolean },
    args: { experimentId: number; workMs: number },
    env: NodeJS.ProcessEnv,
    onExit: (exit: WorkerExit) => void,
  ) {
    // Whatever ends this process (an exception, process.exit), the workers go too.
    process.on("exit", this.#killOnExit);
    const execArgv = workerExecArgv(entry.typescript);
    for (let actorId = 1; actorId <= count; actorId++) {
      const child = fork(
        entry.path,
        ["--experiment", String(args.experimentId), "--actor", String(actorId), "--work-ms", String(args.workMs)],
        { env, execArgv, stdio: ["ignore", "ignore", "pipe", "ipc"] },
      );
      this.children.set(actorId, child);
      let stderr = "";
      child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
        stderr = (stderr + chunk).slice(-4000);
      });
      this.ready.push(
        new Promise<void>((resolve) => {
          child.on("message", (m: { type?: unknown } | null) => m?.type === "ready" && resolve());
          child.once("close", () => resolve());
          child.once("error", () => resolve());
        }),
      );
      this.exits.push(
        new Promise<WorkerExit>((resolve) => {
          let spawnError: Error | undefined;
          child.once("error", (err) => {
            spawnError = err;
            // A failed spawn may never emit "close".
            if (child.pid === undefined) resolve(finish(null, null));
          });
          child.once("close", (code, signal) => resolve(finish(code, signal)));
          const finish = (code: number | null, signal: NodeJS.Signals | null): WorkerExit => {
            this.children.delete(actorId);
            const lines = stderr.trim().split("\n").filter(Boolean);
            const exit = {
              actorId,
              pid: child.pid,
              code,
              signal,
              message: spawnError?.message ?? lines.find((l) => !/^\s+at /.test(l)) ?? lines.at(-1) ?? "",
            };
            onExit(exit);
            return exit;
          };
        }),
      );
    }
  }

  /** Lets every (ready) worker start claiming tasks. */
  start(): void {
    for (const child of this.children.values()) {
      if (child.connected)
        child.send({ type: "start" }, (err) => void err /* it exited meanwhile: its exit reports it */);
    }
  }

  /** Signals every worker still alive. */
  killAll(signal: NodeJS.Signals = "SIGTERM"): void {
    for (const child of this.children.values()) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    }
  }

  /** Stops every worker (SIGTERM, then SIGKILL after `graceMs`) and waits for them. */
  async stop(graceMs = 3000): Promise<void> {
    this.killAll("SIGTERM");
    const all = Promise.all(this.exits);
    const timer = setTimeout(() => this.killAll("SIGKILL"), graceMs);
    await all;
    clearTimeout(timer);
  }

  dispose(): void {
    process.off("exit", this.#killOnExit);
  }
}

function describeExit(e: WorkerExit): string {
  const how = e.signal
    ? `was killed by ${e.signal}`
    : e.code === null
      ? "could not be started"
      : `exited with code ${e.code}`;
  return `actor ${e.actorId}${e.pid ? ` (pid ${e.pid})` : ""} ${how}${e.message ? `: ${e.message}` : ""}`;
}

/** Live progress: cli-progress bars on a terminal, a plain line per change (at most 1/s) otherwise. */
class ProgressDisplay {
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

  update(pipelines: Pipeline[], completed: number, running: number, elapsedMs: number, final = false): void {
    const rate = elapsedMs > 0 ? ((completed * 1000) / elapsedMs).toFixed(1) : "0.0";
    if (this.#multibar) {
      for (const p of pipelines)
        this.#bars.get(p.pipelineId)?.update(p.shardsCompleted, { samples: p.totalSamplesProcessed });
      this.#total?.update(completed, { running: `${running} running`, rate, elapsed: formatDuration(elapsedMs) });
      return;
    }
    const per = pipelines
      .slice(0, 8)
      .map((p) => `${p.pipelineId}:${p.shardsCompleted}/${this.shards}`)
      .join(" ");
    const line = `progress: ${completed}/${this.totalTasks} tasks completed, ${running} running (pipelines ${per}${pipelines.length > 8 ? " …" : ""})`;
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
  perActor: { actorId: number; tasks: number }[];
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
    ...s.perActor.map((a) => `    actor ${a.actorId}  ${a.tasks}`),
    `  see it again     rf-db status --experiment ${s.experimentId}`,
  ];
}

/** Completed tasks per actor, from the rows the workers' `claimNext` stamped. */
async function tasksPerActor(db: RFDatabase, experimentId: number): Promise<{ actorId: number; tasks: number }[]> {
  const rows = await db.drizzle
    .select({ actorId: actorTasks.actorId, tasks: count() })
    .from(actorTasks)
    .where(and(eq(actorTasks.experimentId, experimentId), eq(actorTasks.status, "completed")))
    .groupBy(actorTasks.actorId)
    .orderBy(asc(actorTasks.actorId));
  return rows.map((r) => ({ actorId: r.actorId, tasks: Number(r.tasks) }));
}

/** After a crash or Ctrl-C: leave no task looking alive, so `status` and recovery tell the truth. */
async function abandon(
  db: RFDatabase,
  experimentId: number,
  outcome: "failed" | "cancelled",
  reason: string,
): Promise<void> {
  await db.drizzle
    .update(actorTasks)
    .set({ status: "failed", errorMessage: reason, completedAt: new Date() })
    .where(and(eq(actorTasks.experimentId, experimentId), inArray(actorTasks.status, ["scheduled", "in_progress"])));
  for (const p of await db.pipelines.list(experimentId)) {
    if (p.status === "new" || p.status === "ongoing")
      await db.pipelines.setStatus(p.pipelineId, outcome === "failed" ? "failed" : "stopped");
  }
  await db.experiments.setError(experimentId, reason);
  await db.experiments.setStatus(experimentId, outcome);
}

/**
 * Runs the demo. Resolves after printing the summary; throws a `CliError`
 * when a worker fails (exit 1) or on Ctrl-C/SIGTERM (exit 130), after
 * stopping every worker and recording the outcome in the database.
 */
export async function runDemo(
  opts: DemoOptions,
  write: (text: string) => void = (t) => void process.stdout.write(t),
): Promise<void> {
  const tasksTotal = opts.pipelines * opts.shards;
  if (tasksTotal > DEMO_LIMITS.tasks) {
    throw new CliError(
      `--pipelines × --shards is ${tasksTotal} tasks; the demo allows at most ${DEMO_LIMITS.tasks}`,
      EXIT.USAGE,
    );
  }
  // The same resolution RFDatabase.open does, so the workers get the exact URL (not a redacted one).
  const config = resolveConfig({ url: opts.url, authToken: opts.authToken }, defaultDatabaseUrl);
  if (config.kind === "memory") {
    throw new CliError(
      "the demo's actor processes need a database they can share; an in-memory one lives in a single process (use a file: or remote URL)",
      EXIT.USAGE,
    );
  }
  const tty = Boolean(process.stdout.isTTY);
  const started = Date.now();

  const db = await openDatabase(opts);
  let interrupted: NodeJS.Signals | undefined;
  let pool: ActorPool | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted ??= signal;
    pool?.killAll("SIGTERM");
  };
  let experimentId: number | undefined;
  let display: ProgressDisplay | undefined;
  try {
    // Context: "built" once by the controller, shared by every pipeline.
    const contextHash = createHash("sha256").update(JSON.stringify(DEMO_CONTEXT)).digest("hex");
    const contextId = await db.contexts.create({ contextHash, ...DEMO_CONTEXT });
    const context = await db.contexts.get(contextId);
    if (context?.status !== "ready") {
      await db.contexts.setStatus(contextId, "building");
      await db.contexts.setStartTime(contextId, new Date());
      await db.contexts.setEndTime(contextId, new Date());
      await db.contexts.setStatus(contextId, "ready");
    }

    const name = experimentName();
    experimentId = await db.experiments.create({
      experimentName: name,
      numActors: opts.actors,
      numShards: opts.shards,
    });
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const eid = experimentId;

    const pipelineIds: number[] = [];
    for (const spec of demoPipelines(opts.pipelines)) {
      pipelineIds.push(await db.pipelines.create({ experimentId: eid, pipelineType: "vllm", contextId, ...spec }));
    }
    // Shard-major order: claimNext takes the oldest task, so all pipelines advance side by side.
    // actorId 0 = "not claimed yet"; workers are actors 1..N and claimNext stamps theirs.
    const plan: { pipelineId: number; shardId: number }[] = [];
    for (let shardId = 0; shardId < opts.shards; shardId++)
      for (const pipelineId of pipelineIds) plan.push({ pipelineId, shardId });
    for (let i = 0; i < plan.length; i += CREATE_CHUNK) {
      if (interrupted) break;
      await db.transaction(async (tx) => {
        for (const t of plan.slice(i, i + CREATE_CHUNK))
          await tx.actorTasks.create({ experimentId: eid, actorId: 0, ...t });
      });
    }
    for (const id of pipelineIds) await db.pipelines.setStatus(id, "ongoing");
    if (interrupted) throw new CliError(`interrupted (${interrupted})`, EXIT.INTERRUPTED);

    const setupMs = Date.now() - started;
    write(
      `Demo experiment ${eid} "${name}" on ${db.url}\n` +
        `  ${opts.pipelines} pipeline${opts.pipelines === 1 ? "" : "s"} × ${opts.shards} shard${opts.shards === 1 ? "" : "s"} = ${tasksTotal} tasks, ` +
        `${opts.actors} actor process${opts.actors === 1 ? "" : "es"}, ~${opts.workMs} ms of work per task\n`,
    );

    const env: NodeJS.ProcessEnv = { ...process.env, RF_DB_URL: config.url };
    if (config.authToken) env.RF_DB_AUTH_TOKEN = config.authToken;
    else delete env.RF_DB_AUTH_TOKEN;

    const pipelinesAtStart = await db.pipelines.list(eid);
    display = new ProgressDisplay(tty, pipelinesAtStart, opts.shards, tasksTotal, write);
    let crash: WorkerExit | undefined;
    let stopping = false;
    const forkedAt = Date.now();
    pool = new ActorPool(opts.actors, workerEntry(), { experimentId: eid, workMs: opts.workMs }, env, (exit) => {
      if (!crash && !interrupted && !stopping && (exit.code !== 0 || exit.signal)) {
        crash = exit;
        pool?.killAll("SIGTERM"); // one actor down ends the run: fail fast and say which
      }
    });
    // Start-up barrier: every actor opens the database, then all start claiming together.
    display.note(`starting ${opts.actors} actor process${opts.actors === 1 ? "" : "es"}…`);
    await Promise.all(pool.ready);
    const startupMs = Date.now() - forkedAt;
    if (!crash && !interrupted) display.note(`actors ready after ${formatDuration(startupMs)}: go`);
    const runStart = Date.now();
    if (!crash && !interrupted) pool.start();
    const everyoneExited = Promise.all(pool.exits);
    let allExited = false;
    void everyoneExited.then(() => (allExited = true));

    let lastError: unknown;
    const refresh = async (final = false) => {
      const [pls, counts] = await Promise.all([db.pipelines.list(eid), db.actorTasks.countByStatus(eid)]);
      display!.update(pls, counts.completed, counts.in_progress, Date.now() - runStart, final);
      return counts;
    };
    try {
      while (!allExited && !crash && !interrupted) {
        await refresh();
        await Promise.race([sleep(REFRESH_MS), everyoneExited]);
      }
    } catch (err) {
      lastError = err; // the controller lost the database: stop the workers, then report
    }
    stopping = true; // from here on, a worker exit is ours, not a crash
    await pool.stop();
    const wallMs = Date.now() - runStart;
    try {
      if (!lastError) await refresh(true);
    } catch (err) {
      lastError = err;
    }
    display.stop();

    if (interrupted)
      throw new CliError(`interrupted (${interrupted}); experiment ${eid} marked cancelled`, EXIT.INTERRUPTED);
    if (crash) throw new CliError(`demo failed: ${describeExit(crash)}`);
    if (lastError) throw lastError;

    const counts = await db.actorTasks.countByStatus(eid);
    if (counts.completed !== tasksTotal) {
      throw new CliError(
        `demo failed: all actors exited but only ${counts.completed} of ${tasksTotal} tasks completed`,
      );
    }
    for (const id of pipelineIds) await db.pipelines.setStatus(id, "completed");
    await db.experiments.setStatus(eid, "completed");

    const [pls, perActor, experiment] = await Promise.all([
      db.pipelines.list(eid),
      tasksPerActor(db, eid),
      db.experiments.get(eid),
    ]);
    const summary = renderDemoSummary({
      experimentId: eid,
      experimentName: name,
      status: experiment?.status ?? "?",
      url: db.url,
      wallMs,
      setupMs,
      startupMs,
      tasksCompleted: counts.completed,
      tasksTotal,
      samples: pls.map((p) => ({
        pipelineId: p.pipelineId,
        pipelineName: p.pipelineName ?? `#${p.pipelineId}`,
        samples: p.totalSamplesProcessed,
      })),
      perActor,
    });
    write(`\n${summary.join("\n")}\n`);
  } catch (err) {
    display?.stop(); // restores the cursor before the error line
    pool?.killAll("SIGKILL");
    if (experimentId !== undefined) {
      const cancelled = err instanceof CliError && err.exitCode === EXIT.INTERRUPTED;
      const reason = cancelled
        ? `interrupted (${interrupted ?? "signal"})`
        : err instanceof Error
          ? err.message
          : String(err);
      try {
        await abandon(db, experimentId, cancelled ? "cancelled" : "failed", reason);
      } catch {
        /* the original error is the one worth reporting */
      }
    }
    throw err;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    pool?.dispose();
    await db.close();
  }
}
