/**
 * What the dashboard's browser test and scripts/dashboard-screenshot.ts share:
 * finding Debian's Chromium, a demo-like workload (actors claiming and
 * completing tasks, a pipeline stopped by the scheduler leaving its tasks),
 * the scheduler's side of interactive control, and `rf-db dashboard` started
 * as a user starts it.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import type { RFDatabase } from "../../src/index";
import { startCli, type RunningCli, until } from "./cli";

/** Debian's `chromium` (or $RF_CHROMIUM), or null with the reason it is missing. */
export function findChromium(): { path: string; reason?: undefined } | { path: null; reason: string } {
  const wanted = process.env.RF_CHROMIUM;
  if (wanted)
    return existsSync(wanted) ? { path: wanted } : { path: null, reason: `RF_CHROMIUM=${wanted} does not exist` };
  try {
    const path = execFileSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], { encoding: "utf8" })
      .trim()
      .split("\n")[0];
    if (path) return { path };
  } catch {
    /* not found */
  }
  return { path: null, reason: "no chromium on PATH (apt-get install -y chromium; .ci/run installs it)" };
}

/** Chromium flags for a headless run as root in a container (no sandbox, no GPU, no /dev/shm limit). */
export const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"];

export interface Workload {
  experimentId: number;
  pipelineIds: number[];
  /** Resolves when every actor is idle: no task left, or the signal aborted. */
  done: Promise<void>;
}

export interface WorkloadOptions {
  names: string[];
  shards: number;
  actors: number;
  /** Simulated work per task, ms. */
  workMs: number;
  signal: AbortSignal;
  /** A pipeline's configJson (default: a small model and sampling config). */
  configOf?: (name: string, index: number) => Record<string, unknown>;
}

/** Resolves after `ms` or at abort, leaving no timer or listener behind. */
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });

/**
 * An experiment like `rf-db demo`'s: pipelines started, one scheduled task
 * per (shard, pipeline), and `actors` loops that claim a task, work, and
 * complete it with progress — or fail it when its pipeline is no longer
 * ongoing (stopped by an IC operation), as a real actor would. The actors
 * wait for `start()`, so a page can be open before progress begins.
 */
export async function createWorkload(db: RFDatabase, o: WorkloadOptions): Promise<Workload & { start(): void }> {
  const experimentId = await db.experiments.create({
    experimentName: "dashboard-demo",
    numActors: o.actors,
    numShards: o.shards,
  });
  const pipelineIds: number[] = [];
  for (const [i, name] of o.names.entries()) {
    const configJson = o.configOf?.(name, i) ?? { model: { name }, sampling: { temperature: 0.2 + i / 10 } };
    const id = await db.pipelines.create({ experimentId, pipelineName: name, pipelineType: "vllm", configJson });
    await db.pipelines.start(id);
    pipelineIds.push(id);
  }
  await db.transaction(async (tx) => {
    for (let shardId = 0; shardId < o.shards; shardId++)
      for (const pipelineId of pipelineIds)
        await tx.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId });
  });
  let go: () => void = () => {};
  const started = new Promise<void>((resolve) => (go = resolve));
  const actor = async (actorId: number) => {
    await started;
    while (!o.signal.aborted) {
      const task = await db.actorTasks.claimNext(experimentId, actorId);
      if (!task) return;
      const pipeline = await db.pipelines.get(task.pipelineId);
      if (pipeline?.status !== "ongoing") {
        await db.actorTasks.fail(task.taskId, `pipeline ${task.pipelineId} is ${pipeline?.status}`);
        continue;
      }
      await sleep(o.workMs * (0.5 + Math.random()), o.signal);
      await db.actorTasks.completeWithProgress(task.taskId, { samples: 64, currentShardId: task.shardId });
    }
  };
  const done = Promise.all(Array.from({ length: o.actors }, (_, i) => actor(i + 1))).then(() => undefined);
  return { experimentId, pipelineIds, done, start: () => go() };
}

/**
 * The scheduler's side of interactive control: claim the next pending
 * operation and apply it (the change and the operation's completion in one
 * transaction), as RapidFire's controller loop does.
 */
export async function applyNextOperation(db: RFDatabase): Promise<number | null> {
  const op = await db.icOperations.claimNext();
  if (!op) return null;
  await db.icOperations.apply(op.icId);
  return op.icId;
}

export interface RunningDashboard {
  cli: RunningCli;
  url: string;
  /** Ctrl-C, and the command's exit. */
  stop(): Promise<{ code: number | null; stderr: string }>;
}

/** `rf-db dashboard --port 0 --url <url>`, started as a user does; resolves once it printed its address. */
export async function startDashboard(
  url: string,
  dir: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<RunningDashboard> {
  const cli = startCli(["dashboard", "--port", "0", "--interval", "100", "--url", url, ...args], dir, env);
  let exited = false;
  void cli.done.then(() => (exited = true));
  const address = await until(
    "rf-db dashboard to print its address",
    () => {
      if (exited) throw new Error(`rf-db dashboard exited: ${cli.stderr()}`);
      return /http:\/\/127\.0\.0\.1:\d+\//.exec(cli.stdout())?.[0];
    },
    60_000,
  );
  return {
    cli,
    url: address,
    async stop() {
      if (!exited) cli.child.kill("SIGINT");
      const r = await cli.done;
      return { code: r.code, stderr: r.stderr };
    },
  };
}
