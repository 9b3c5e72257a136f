/** The package itself: `RFDatabase` repositories, exactly as a user calls them. */
import type { RFDatabase } from "../../src/index";
import { MODEL_CONFIG_OBJ, SAMPLES_PER_SHARD, SAMPLING_PARAMS_OBJ, type ActorLoop, type Target } from "../lib/workload";

/**
 * The actor loop's claim options: `{ leaseMs }` once leases exist (detected by
 * `actorTasks.heartbeat`, which arrives with them), nothing before.
 */
export const leaseOptions = (db: RFDatabase, leaseMs: number): unknown[] =>
  typeof (db.actorTasks as unknown as Record<string, unknown>).heartbeat === "function" ? [{ leaseMs }] : [];

export function packageTarget(db: RFDatabase, name = "rf-inferno-db", leaseMs = 60_000): Target & ActorLoop {
  const claimArgs = leaseOptions(db, leaseMs);
  const claimNext = db.actorTasks.claimNext.bind(db.actorTasks) as (
    eid: number,
    actorId: number,
    ...rest: unknown[]
  ) => ReturnType<RFDatabase["actorTasks"]["claimNext"]>;
  return {
    name,
    createExperiment: (experimentName, numActors, numShards) =>
      db.experiments.create({ experimentName, numActors, numShards }),
    createPipeline: (experimentId, pipelineName, status) =>
      db.pipelines.create({
        experimentId,
        pipelineName,
        pipelineType: "vllm",
        modelConfig: MODEL_CONFIG_OBJ,
        samplingParams: SAMPLING_PARAMS_OBJ,
        status,
      }),
    setPipelineStatus: (pid, s) => db.pipelines.setStatus(pid, s),
    setExperimentStatus: (eid, s) => db.experiments.setStatus(eid, s),
    listPipelines: (eid) => db.pipelines.list(eid),
    getPipeline: (pid) => db.pipelines.get(pid),
    createTask: (experimentId, pipelineId, actorId, shardId) =>
      db.actorTasks.create({ experimentId, pipelineId, actorId, shardId }),
    setTaskStatus: (id, s) => db.actorTasks.setStatus(id, s),
    setTaskStartTime: (id, t) => db.actorTasks.setStartTime(id, t),
    listRunning: (eid) => db.actorTasks.listRunning(eid),
    setPipelineProgress: (pid, currentShardId, shardsCompleted, totalSamplesProcessed) =>
      db.pipelines.setProgress(pid, { currentShardId, shardsCompleted, totalSamplesProcessed }),
    setTaskEndTime: (id, t, d) => db.actorTasks.setEndTime(id, t, d),
    // Fused: create + start in one INSERT; complete + pipeline progress in one atomic batch.
    createRunningTask: (experimentId, pipelineId, actorId, shardId, startedAt) =>
      db.actorTasks.create({ experimentId, pipelineId, actorId, shardId, status: "in_progress", startedAt }),
    completeWithProgress: (id, samples, currentShardId, t) =>
      db.actorTasks.completeWithProgress(id, { samples, currentShardId }, t),
    claimNext: async (eid, actorId) => {
      const t = await claimNext(eid, actorId, ...claimArgs);
      return t ? { taskId: t.taskId, shardId: t.shardId } : null;
    },
    completeClaimed: (taskId, shardId) =>
      db.actorTasks.completeWithProgress(taskId, { samples: SAMPLES_PER_SHARD, currentShardId: shardId }),
    // (RF_BENCH_HANDOFF=0: the two calls, to measure what the hand-off changes.)
    ...(typeof (db.actorTasks as { completeAndClaimNext?: unknown }).completeAndClaimNext === "function" &&
    process.env.RF_BENCH_HANDOFF !== "0"
      ? {
          completeAndClaimNext: async (taskId: number, shardId: number, actorId: number) => {
            const { next } = await db.actorTasks.completeAndClaimNext(
              taskId,
              { samples: SAMPLES_PER_SHARD, currentShardId: shardId },
              { actorId, leaseMs },
            );
            return next ? { taskId: next.taskId, shardId: next.shardId } : null;
          },
        }
      : {}),
    close: () => db.close(),
  };
}
