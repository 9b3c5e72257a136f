/** Many rows fast, for the tests that need volume (paging, response limits, event-loop gaps). */
import type { RFDatabase } from "../../src/index";

/** `n` pending stop operations on one pipeline, by one INSERT … SELECT (fast, even with the triggers). */
export async function pendingOperations(db: RFDatabase, n: number, requestData = '{"reason":"paging"}') {
  const experimentId = await db.experiments.create({ experimentName: `paging-${n}`, numActors: 1 });
  const pipelineId = await db.pipelines.create({ experimentId, pipelineName: "p", pipelineType: "vllm" });
  await db.executeAtomic([
    {
      sql: `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO interactive_control (experiment_id, pipeline_id, operation, status, request_data)
            SELECT ?, ?, 'stop', 'pending', ? FROM n`,
      args: [n, experimentId, pipelineId, requestData],
    },
  ]);
  return { experimentId, pipelineId };
}
