/**
 * Actor worker (crash-recovery): claims the experiment's scheduled tasks one
 * by one (`claimNext`), "works" on each for a random few ms while it is
 * `in_progress`, then records the shard's progress and completes the task in
 * one transaction (so a counted shard is always a completed task). Logs each
 * acknowledged completion to an append-only file; prints a result when no
 * task is left. Any error is fatal (exit 2) — the parent tells such a death
 * from its own SIGKILL.
 */
import { RFDatabase } from "../../../src/index";
import { AckLog, args, emit, fatal, sleep } from "./util";

interface Args {
  url: string;
  experimentId: number;
  actorId: number;
  ackFile: string;
  workMs: [number, number];
}

const a = args<Args>();
const log = new AckLog(a.ackFile);
let db: RFDatabase;
try {
  db = await RFDatabase.open({ url: a.url });
} catch (err) {
  fatal(err);
}
emit({ type: "ready", pid: process.pid });

/** What a shard "produces": deterministic, so the parent can compute the exact expected sums. */
const samplesOf = (shardId: number) => 100 + shardId;

let completed = 0;
try {
  for (;;) {
    const task = await db.actorTasks.claimNext(a.experimentId, a.actorId);
    if (!task) break;
    log.append({ ack: true, op: "claimed", taskId: task.taskId });
    await sleep(a.workMs[0] + Math.random() * (a.workMs[1] - a.workMs[0]));
    await db.transaction(async (tx) => {
      await tx.pipelines.advanceProgress(task.pipelineId, {
        samples: samplesOf(task.shardId),
        currentShardId: task.shardId,
      });
      await tx.actorTasks.complete(task.taskId);
    });
    log.append({ ack: true, op: "completed", taskId: task.taskId, pipelineId: task.pipelineId, shardId: task.shardId });
    completed++;
  }
  await db.close();
  emit({ type: "result", completed });
} catch (err) {
  fatal(err);
}
