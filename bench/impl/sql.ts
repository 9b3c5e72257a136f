/**
 * Hand-written SQL for the raw contenders (raw `@libsql/client`, raw
 * `libsql`, Python `sqlite3`): the statements a careful author would write
 * for each step of the workload, doing the same work as the package's
 * (same columns, same WHERE, NotFound detected from rowsAffected, the fused
 * completion conditional on the task being in progress). `?` placeholders.
 * bench/python_ref.py keeps a copy of these strings; keep them in sync.
 */
export const SQL = {
  createExperiment:
    "INSERT INTO experiments (experiment_name, num_actors, num_shards, status) VALUES (?, ?, ?, 'running')",
  createPipeline:
    "INSERT INTO pipelines (experiment_id, pipeline_name, pipeline_type, model_config, sampling_params, status) VALUES (?, ?, ?, ?, ?, ?)",
  setPipelineStatus: "UPDATE pipelines SET status = ? WHERE pipeline_id = ?",
  setExperimentStatus: "UPDATE experiments SET status = ? WHERE experiment_id = ?",
  listPipelines: "SELECT * FROM pipelines WHERE experiment_id = ? ORDER BY pipeline_id",
  getPipeline: "SELECT * FROM pipelines WHERE pipeline_id = ?",
  createTask:
    "INSERT INTO actor_tasks (experiment_id, pipeline_id, actor_id, shard_id, status) VALUES (?, ?, ?, ?, 'scheduled')",
  setTaskStatus: "UPDATE actor_tasks SET status = ? WHERE task_id = ?",
  setTaskStartTime: "UPDATE actor_tasks SET started_at = ? WHERE task_id = ?",
  listRunning: "SELECT * FROM actor_tasks WHERE experiment_id = ? AND status = 'in_progress' ORDER BY task_id",
  setPipelineProgress:
    "UPDATE pipelines SET current_shard_id = ?, shards_completed = ?, total_samples_processed = ? WHERE pipeline_id = ?",
  setTaskEndTime: "UPDATE actor_tasks SET completed_at = ?, duration_seconds = ? WHERE task_id = ?",
  createRunningTask:
    "INSERT INTO actor_tasks (experiment_id, pipeline_id, actor_id, shard_id, status, started_at) VALUES (?, ?, ?, ?, 'in_progress', ?)",
  /** Fused completion, statement 1 of 2 (args: samples, currentShardId, taskId): advances the task's pipeline only while the task is in progress. */
  advanceTaskPipeline:
    "UPDATE pipelines SET shards_completed = shards_completed + 1, total_samples_processed = total_samples_processed + ?, current_shard_id = coalesce(?, current_shard_id) " +
    "WHERE pipeline_id = (SELECT pipeline_id FROM actor_tasks WHERE task_id = ? AND status = 'in_progress') RETURNING pipeline_id, shards_completed, total_samples_processed",
  /** Fused completion, statement 2 of 2 (args: completedAt ms, completedAt ms, taskId). */
  completeTask:
    "UPDATE actor_tasks SET status = 'completed', completed_at = ?, duration_seconds = max(0, (? - started_at) / 1000.0) WHERE task_id = ? AND status = 'in_progress'",
} as const;

export const MODEL_CONFIG = JSON.stringify({ model: "llama-3-8b-instruct", dtype: "bfloat16", max_model_len: 8192 });
export const SAMPLING_PARAMS = JSON.stringify({ temperature: 0.7, top_p: 0.9, max_tokens: 512 });
export const MODEL_CONFIG_OBJ = JSON.parse(MODEL_CONFIG) as unknown;
export const SAMPLING_PARAMS_OBJ = JSON.parse(SAMPLING_PARAMS) as unknown;

export class BenchNotFound extends Error {}
export const expectOne = (n: number | bigint, what: string): void => {
  if (Number(n) !== 1) throw new BenchNotFound(`${what}: ${n} rows changed`);
};
