/** Factories with `Partial<…>` overrides, so a test states only what it cares about. */
import type {
  CreateActorTaskInput,
  CreateContextInput,
  CreateExperimentInput,
  CreateIcOperationInput,
  CreatePipelineInput,
  Repositories,
} from "../../src/index";

let seq = 0;
const next = () => ++seq;

export async function makeExperiment(db: Repositories, overrides: Partial<CreateExperimentInput> = {}) {
  return db.experiments.create({ experimentName: `exp-${next()}`, numActors: 4, numShards: 8, ...overrides });
}

export async function makeContext(db: Repositories, overrides: Partial<CreateContextInput> = {}) {
  return db.contexts.create({ contextHash: `hash-${next()}-${Math.random()}`, ragConfig: { k: 5 }, ...overrides });
}

export async function makePipeline(db: Repositories, overrides: Partial<CreatePipelineInput> = {}) {
  const experimentId = overrides.experimentId ?? (await makeExperiment(db));
  return db.pipelines.create({
    experimentId,
    pipelineName: `pipeline-${next()}`,
    pipelineType: "vllm",
    modelConfig: { model: "llama-3-8b", dtype: "bf16" },
    samplingParams: { temperature: 0.7, top_p: 0.9 },
    ...overrides,
  });
}

export async function makeTask(db: Repositories, overrides: Partial<CreateActorTaskInput> = {}) {
  let { experimentId, pipelineId } = overrides;
  if (pipelineId === undefined) {
    experimentId ??= await makeExperiment(db);
    pipelineId = await makePipeline(db, { experimentId });
  }
  if (experimentId === undefined) {
    const pl = await db.pipelines.get(pipelineId);
    experimentId = pl!.experimentId;
  }
  return db.actorTasks.create({ actorId: 0, shardId: next() % 64, ...overrides, experimentId, pipelineId });
}

export async function makeIcOperation(db: Repositories, overrides: Partial<CreateIcOperationInput> = {}) {
  const pipelineId = overrides.pipelineId ?? (overrides.operation === "clone" ? null : await makePipeline(db));
  // Every new operation belongs to an experiment: its pipeline's, else (a clone without one) its own.
  const experimentId = overrides.experimentId ?? (pipelineId === null ? await makeExperiment(db) : undefined);
  return db.icOperations.create({ operation: "stop", ...overrides, pipelineId, experimentId });
}
