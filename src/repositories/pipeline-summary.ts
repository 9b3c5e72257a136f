/**
 * A pipeline without its configuration: the columns a dashboard polls
 * (`pipelines.listSummaries`) and `pipelines.lineage` returns. Every one of
 * them is in the covering index `pipelines_summary_idx` (schema/pipelines.ts),
 * so listing an experiment's summaries reads the index alone — keep this list
 * and that index in step (tests/query-plans.test.ts checks it).
 */
import { sql } from "drizzle-orm";
import { type Pipeline, pipelines } from "../schema";
import type { Executor } from "./executor";

const p = sql.placeholder;

/** The selected columns of a summary. */
export const summaryFields = {
  pipelineId: pipelines.pipelineId,
  experimentId: pipelines.experimentId,
  parentPipelineId: pipelines.parentPipelineId,
  pipelineName: pipelines.pipelineName,
  pipelineType: pipelines.pipelineType,
  status: pipelines.status,
  currentShardId: pipelines.currentShardId,
  shardsCompleted: pipelines.shardsCompleted,
  totalSamplesProcessed: pipelines.totalSamplesProcessed,
  metricRunId: pipelines.metricRunId,
  source: pipelines.source,
  updatedAt: pipelines.updatedAt,
};

/** A pipeline's row without the JSON columns, the opaque payload and the error. */
export type PipelineSummary = Pick<Pipeline, keyof typeof summaryFields>;

/** One pipeline of a lineage: negative depth for ancestors, 0 for the pipeline asked about, positive for descendants. */
export type LineageEntry = PipelineSummary & { depth: number };

/**
 * The lineage of `:id` (see `pipelines.lineage`). Two recursive walks —
 * up through the primary key, down through `pipelines_parent_idx` — each
 * carrying the ids it has visited (`,1,5,`), so a cycle written by raw SQL
 * ends instead of recursing forever. The walks start from the column, not
 * the argument: a JS number may be bound as REAL, and ',7.0,' would miss ',7,'.
 */
export function lineageQuery(db: Executor) {
  const id = p("id");
  const walk = sql`(with recursive
    up(id, depth, path) as (
      select parent_pipeline_id, -1, ',' || pipeline_id || ',' || parent_pipeline_id || ','
        from pipelines where pipeline_id = ${id} and parent_pipeline_id is not null and parent_pipeline_id <> pipeline_id
      union all
      select a.parent_pipeline_id, up.depth - 1, up.path || a.parent_pipeline_id || ','
        from up join pipelines a on a.pipeline_id = up.id
        where a.parent_pipeline_id is not null and instr(up.path, ',' || a.parent_pipeline_id || ',') = 0
    ),
    down(id, depth, path) as (
      select pipeline_id, 0, ',' || pipeline_id || ',' from pipelines where pipeline_id = ${id}
      union all
      select c.pipeline_id, down.depth + 1, down.path || c.pipeline_id || ','
        from down join pipelines c on c.parent_pipeline_id = down.id
        where instr(down.path, ',' || c.pipeline_id || ',') = 0
    )
    select id, depth from up union all select id, depth from down) as lineage`;
  // The walk drives (CROSS JOIN fixes SQLite's join order): without statistics on the CTE the
  // planner would rather scan every pipeline and probe the walk.
  return db
    .select({ ...summaryFields, depth: sql<number>`lineage.depth`.mapWith(Number) })
    .from(walk)
    .crossJoin(pipelines)
    .where(sql`${pipelines.pipelineId} = lineage.id`)
    .orderBy(sql`lineage.depth`, pipelines.pipelineId);
}
