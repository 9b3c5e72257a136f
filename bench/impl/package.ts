/** The package itself: `RFDatabase` repositories, exactly as a user calls them. */
import { RFDatabase } from "../../src/index";
import type { Target } from "../lib/workload";
import { MODEL_CONFIG_OBJ, SAMPLING_PARAMS_OBJ } from "./sql";

export function packageTarget(db: RFDatabase, name = "rf-inferno-db"): Target {
  return {
    name,
    createExperiment: (experimentName, numActors, numShards) => db.experiments.create({ experimentName, numActors, numShards }),
    createPipeline: (experimentId, pipelineName, status) =>
      db.pipelines.create({ experimentId, pipelineName, pipelineType: "vllm", modelConfig: MODEL_CONFIG_OBJ, samplingParams: SAMPLING_PARAMS_OBJ, status }),
    setPipelineStatus: (pid, s) => db.pipelines.setStatus(pid, s),
    setExperimentStatus: (eid, s) => db.experiments.setStatus(eid, s),
    listPipelines: (eid) => db.pipelines.list(eid),
    getPipeline: (pid) => db.pipelines.get(pid),
    createTask: (experimentId, pipelineId, actorId, shardId) => db.actorTasks.create({ experimentId, pipelineId, actorId, shardId }),
    setTaskStatus: (id, s) => db.actorTasks.setStatus(id, s),
    setTaskStartTime: (id, t) => db.actorTasks.setStartTime(id, t),
    listRunning: (eid) => db.actorTasks.listRunning(eid),
    setPipelineProgress: (pid, currentShardId, shardsCompleted, totalSamplesProcessed) =>
      db.pipelines.setProgress(pid, { currentShardId, shardsCompleted, totalSamplesProcessed }),
    setTaskEndTime: (id, t, d) => db.actorTasks.setEndTime(id, t, d),
    // Before the fused API existed: the lifecycle methods, two calls each.
    createRunningTask: async (experimentId, pipelineId, actorId, shardId, t) => {
      const id = await db.actorTasks.create({ experimentId, pipelineId, actorId, shardId });
      await db.actorTasks.start(id, t);
      return id;
    },
    completeWithProgress: async (id, samples, currentShardId, t) => {
      await db.actorTasks.complete(id, t);
      const task = await db.actorTasks.get(id);
      return db.pipelines.advanceProgress(task!.pipelineId, { samples, currentShardId });
    },
    close: () => db.close(),
  };
}
