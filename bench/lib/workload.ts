/**
 * The reference workload (the one the Python module was measured on), as a
 * sequence of calls against any implementation of {@link Target}:
 *
 *   one experiment, P pipelines × S shards, 4 actors. For each shard round and
 *   each pipeline: create the actor task, mark it in progress with its start
 *   time, poll the experiment's running tasks, record pipeline progress,
 *   record end time + duration, mark it completed; after each shard round,
 *   list the experiment's pipelines. Finish: complete the pipelines and the
 *   experiment.
 *
 * Two forms:
 * - "api": the same calls as the Python module, one for one (7 per task;
 *   3,682 calls for 8 × 64).
 * - "fused": the fewest calls the package offers (create+start in one
 *   statement, complete + progress in one atomic batch).
 *
 * Every call is timed (performance.now() around the awaited call) and
 * recorded under its call type.
 */
import { Samples } from "./stats";

export type Form = "api" | "fused";

export interface Shape {
  pipelines: number;
  shards: number;
  actors: number;
}

export const REFERENCE_SHAPE: Shape = { pipelines: 8, shards: 64, actors: 4 };
/** The long run: the same job with 8× the shards (the Python module's running-task scan grows with it). */
export const LONG_SHAPE: Shape = { pipelines: 8, shards: 512, actors: 4 };
export const SAMPLES_PER_SHARD = 128;

export const MODEL_CONFIG_OBJ = { model: "llama-3-8b-instruct", dtype: "bfloat16", max_model_len: 8192 };
export const SAMPLING_PARAMS_OBJ = { temperature: 0.7, top_p: 0.9, max_tokens: 512 };
export const MODEL_CONFIG = JSON.stringify(MODEL_CONFIG_OBJ);
export const SAMPLING_PARAMS = JSON.stringify(SAMPLING_PARAMS_OBJ);

export const shapeLabel = (s: Shape) => `${s.pipelines} × ${s.shards}`;

/**
 * An actor's loop (remote and scale-out sections): claim the experiment's
 * oldest scheduled task, then complete it with its pipeline's progress.
 */
export interface ActorLoop {
  claimNext(experimentId: number, actorId: number): Promise<{ taskId: number; shardId: number } | null>;
  completeClaimed(taskId: number, shardId: number): Promise<unknown>;
  /**
   * Both at once, where the contender has it (the package's `completeAndClaimNext`: one atomic
   * batch, one request): completes the claimed task and returns the next claim.
   */
  completeAndClaimNext?(
    taskId: number,
    shardId: number,
    actorId: number,
  ): Promise<{ taskId: number; shardId: number } | null>;
}
/** How often the workload lets the event loop turn (ms; 0 = never). */
export const YIELD_MS = Number(process.env.RF_BENCH_YIELD_MS ?? 8);

/** What one implementation (the package, raw @libsql/client, raw libsql …) must offer. */
export interface Target {
  readonly name: string;
  createExperiment(name: string, numActors: number, numShards: number): Promise<number>;
  createPipeline(experimentId: number, name: string, status: "new" | "ongoing"): Promise<number>;
  setPipelineStatus(pipelineId: number, status: "ongoing" | "completed"): Promise<void>;
  setExperimentStatus(experimentId: number, status: "completed"): Promise<void>;
  listPipelines(experimentId: number): Promise<unknown[]>;
  getPipeline(pipelineId: number): Promise<unknown>;
  // api form
  createTask(experimentId: number, pipelineId: number, actorId: number, shardId: number): Promise<number>;
  setTaskStatus(taskId: number, status: "in_progress" | "completed"): Promise<void>;
  setTaskStartTime(taskId: number, t: Date): Promise<void>;
  listRunning(experimentId: number): Promise<unknown[]>;
  setPipelineProgress(
    pipelineId: number,
    currentShardId: number,
    shardsCompleted: number,
    totalSamples: number,
  ): Promise<void>;
  setTaskEndTime(taskId: number, t: Date, durationSeconds: number): Promise<void>;
  // fused form
  createRunningTask(
    experimentId: number,
    pipelineId: number,
    actorId: number,
    shardId: number,
    t: Date,
  ): Promise<number>;
  completeWithProgress(taskId: number, samples: number, currentShardId: number, t: Date): Promise<unknown>;
  close(): Promise<void>;
}

export interface RunResult {
  tasks: number;
  calls: number;
  ms: number;
  /** Latency samples (ms) per call type. */
  latency: Map<string, Samples>;
  /** The first call's own time, and when it returned (performance.now(): ms since the process started). */
  firstCallMs: number;
  firstCallAtMs: number;
}

/** Runs the workload once on `target` and returns its timings. */
export async function runWorkload(
  target: Target,
  form: Form,
  shape: Shape = REFERENCE_SHAPE,
  yieldMs = YIELD_MS,
): Promise<RunResult> {
  const latency = new Map<string, Samples>();
  let calls = 0;
  let firstCallMs = Number.NaN;
  let firstCallAtMs = Number.NaN;
  const timed = async <T>(type: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const v = await fn();
    const t1 = performance.now();
    const dt = t1 - t0;
    if (calls === 0) {
      firstCallMs = dt;
      firstCallAtMs = t1;
    }
    let s = latency.get(type);
    if (s === undefined) latency.set(type, (s = new Samples()));
    s.push(dt);
    calls++;
    return v;
  };
  const t0 = performance.now();
  // Let the event loop turn every YIELD_MS, as any application does between requests (and as the
  // package's local client does by itself during long bursts): timers, I/O and V8's deferred
  // foreground work (GC finalisation, finalizers) run inside the measured window for everyone,
  // not only for the contender that happens to yield.
  let lastYield = t0;
  const maybeYield = async () => {
    if (yieldMs > 0 && performance.now() - lastYield >= yieldMs) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      lastYield = performance.now();
    }
  };
  const eid = await timed("experiments.create", () =>
    target.createExperiment(`bench-${form}`, shape.actors, shape.shards),
  );
  const pids: number[] = [];
  for (let p = 0; p < shape.pipelines; p++) {
    // api: created "new" then set "ongoing" (two calls, as the Python module does); fused: created "ongoing".
    pids.push(
      await timed("pipelines.create", () =>
        target.createPipeline(eid, `pipeline-${p}`, form === "api" ? "new" : "ongoing"),
      ),
    );
  }
  if (form === "api")
    for (const pid of pids) await timed("pipelines.setStatus", () => target.setPipelineStatus(pid, "ongoing"));

  for (let s = 0; s < shape.shards; s++) {
    for (let p = 0; p < shape.pipelines; p++) {
      const pid = pids[p]!;
      const actor = p % shape.actors;
      if (form === "api") {
        const id = await timed("actorTasks.create", () => target.createTask(eid, pid, actor, s));
        const start = new Date();
        await timed("actorTasks.setStatus", () => target.setTaskStatus(id, "in_progress"));
        await timed("actorTasks.setStartTime", () => target.setTaskStartTime(id, start));
        await timed("actorTasks.listRunning", () => target.listRunning(eid));
        await timed("pipelines.setProgress", () =>
          target.setPipelineProgress(pid, s, s + 1, (s + 1) * SAMPLES_PER_SHARD),
        );
        const end = new Date();
        await timed("actorTasks.setEndTime", () =>
          target.setTaskEndTime(id, end, (end.getTime() - start.getTime()) / 1000),
        );
        await timed("actorTasks.setStatus", () => target.setTaskStatus(id, "completed"));
      } else {
        const id = await timed("actorTasks.create(in_progress)", () =>
          target.createRunningTask(eid, pid, actor, s, new Date()),
        );
        await timed("actorTasks.listRunning", () => target.listRunning(eid));
        await timed("actorTasks.completeWithProgress", () =>
          target.completeWithProgress(id, SAMPLES_PER_SHARD, s, new Date()),
        );
      }
    }
    await timed("pipelines.list", () => target.listPipelines(eid));
    await maybeYield();
  }

  for (const pid of pids) await timed("pipelines.setStatus", () => target.setPipelineStatus(pid, "completed"));
  // api: read each pipeline's final progress back (the Python module's summary); fused: completeWithProgress already returned it.
  if (form === "api") for (const pid of pids) await timed("pipelines.get", () => target.getPipeline(pid));
  await timed("experiments.setStatus", () => target.setExperimentStatus(eid, "completed"));
  const ms = performance.now() - t0;
  return { tasks: shape.pipelines * shape.shards, calls, ms, latency, firstCallMs, firstCallAtMs };
}

/** Calls the workload makes (for checking an implementation did all of them). */
export function expectedCalls(form: Form, shape: Shape = REFERENCE_SHAPE): number {
  const tasks = shape.pipelines * shape.shards;
  const setup = 1 + shape.pipelines * (form === "api" ? 2 : 1);
  const finish = shape.pipelines * (form === "api" ? 2 : 1) + 1;
  return setup + tasks * (form === "api" ? 7 : 3) + shape.shards + finish;
}
