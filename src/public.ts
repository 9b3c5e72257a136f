/** Everything both entry points export besides `RFDatabase`. */
export type { OpenOptions, UrlKind } from "./config";
export { Repositories, type TransactionScope, type ResetCounts } from "./database";
export * from "./errors/classes";
export { MIGRATIONS, type Migration, type SchemaState, type SchemaStateKind, type MigrateResult } from "./migrate";
export type { CheckResult } from "./check";
export {
  ActorTaskRepository,
  ContextRepository,
  ExperimentRepository,
  IcOperationRepository,
  PipelineRepository,
  type AdvanceProgressInput,
  type CreateActorTaskInput,
  type CreateContextInput,
  type CreateExperimentInput,
  type CreateIcOperationInput,
  type CreatePipelineInput,
  type Database,
  type Executor,
  type PipelineProgress,
  type Transaction,
} from "./repositories";
export {
  ACTOR_TASK_STATUSES,
  ACTOR_TASK_TRANSITIONS,
  CONTEXT_TRANSITIONS,
  EXPERIMENT_TRANSITIONS,
  IC_TRANSITIONS,
  PIPELINE_TRANSITIONS,
  type Transitions,
  CONTEXT_STATUSES,
  EXPERIMENT_STATUSES,
  IC_OPERATIONS,
  IC_STATUSES,
  PIPELINE_STATUSES,
  type ActorTask,
  type ActorTaskStatus,
  type Context,
  type ContextStatus,
  type Experiment,
  type ExperimentStatus,
  type IcOperation,
  type IcOperationType,
  type IcStatus,
  type NewActorTask,
  type NewContext,
  type NewExperiment,
  type NewIcOperation,
  type NewPipeline,
  type Pipeline,
  type PipelineStatus,
} from "./schema";
