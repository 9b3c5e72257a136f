/**
 * Multi-writer worker: after the go file appears, runs `lifecycles` task
 * lifecycles (create → start → advanceProgress(pipeline, { samples }) →
 * complete) on pipelines picked at random, and prints one result line with
 * what it reported to each pipeline and every error it saw.
 *
 *   node --import tsx tests/reliability/workers/lifecycle.ts '{"url":…,"experimentId":1,"pipelineIds":[1,2],"lifecycles":40,"actorId":0,"seed":7,"goFile":…}'
 */
import { RFDatabase } from "../../../src/index";
import { args, describeError, emit, fatal, waitForGo, prng } from "./util";

interface Args {
  url: string;
  experimentId: number;
  pipelineIds: number[];
  lifecycles: number;
  actorId: number;
  seed: number;
  goFile: string;
}

const a = args<Args>();
const rand = prng(a.seed);

let db: RFDatabase;
try {
  // Remote: the parent migrated once; "auto" only checks the schema.
  db = await RFDatabase.open({ url: a.url });
} catch (err) {
  fatal(err);
}
emit({ type: "ready", pid: process.pid });
await waitForGo(a.goFile);

const perPipeline: Record<string, { shards: number; samples: number }> = {};
const errors: ReturnType<typeof describeError>[] = [];
const completedTaskIds: number[] = [];
const started = performance.now();
let slowestCallMs = 0;
const timed = async <T>(fn: () => Promise<T>): Promise<T> => {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    slowestCallMs = Math.max(slowestCallMs, performance.now() - t0);
  }
};

for (let i = 0; i < a.lifecycles; i++) {
  const pipelineId = a.pipelineIds[Math.floor(rand() * a.pipelineIds.length)]!;
  const samples = 1 + Math.floor(rand() * 1000);
  let stage = "create";
  try {
    const taskId = await timed(() =>
      db.actorTasks.create({ experimentId: a.experimentId, pipelineId, actorId: a.actorId, shardId: i }),
    );
    stage = "start";
    await timed(() => db.actorTasks.start(taskId));
    stage = "advanceProgress";
    await timed(() => db.pipelines.advanceProgress(pipelineId, { samples, currentShardId: i }));
    // Counted only once the increment is acknowledged.
    const p = (perPipeline[pipelineId] ??= { shards: 0, samples: 0 });
    p.shards += 1;
    p.samples += samples;
    stage = "complete";
    await timed(() => db.actorTasks.complete(taskId));
    completedTaskIds.push(taskId);
  } catch (err) {
    errors.push({ ...describeError(err), message: `${stage}: ${describeError(err).message}` });
  }
}

const elapsedMs = performance.now() - started;
await db.close();
emit({
  type: "result",
  actorId: a.actorId,
  lifecycles: a.lifecycles,
  perPipeline,
  completedTaskIds,
  errors,
  elapsedMs: Math.round(elapsedMs),
  slowestCallMs: Math.round(slowestCallMs),
});
process.exitCode = errors.length ? 1 : 0;
