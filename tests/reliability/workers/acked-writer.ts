/**
 * kill -9 worker: writes in a loop until it is killed, logging each write's
 * intent before the call and its acknowledgement after the await returns,
 * to an append-only file with synchronous write(2)s (so the log is exact up
 * to the instant of the SIGKILL). Prints `ready` after its first acknowledged write.
 *
 * Per iteration: create task → start → advanceProgress(pipeline, { samples: d })
 * → complete; every 5th iteration also a transaction that queues an IC op and
 * moves the context's status (building ↔ failed).
 */
import { RFDatabase } from "../../../src/index";
import { AckLog, args, emit, fatal, prng } from "./util";

interface Args {
  url: string;
  experimentId: number;
  pipelineId: number;
  contextId: number;
  ackFile: string;
  actorId: number;
  seed: number;
}

const a = args<Args>();
const rand = prng(a.seed);

const log = new AckLog(a.ackFile);
let db: RFDatabase;
try {
  db = await RFDatabase.open({ url: a.url });
} catch (err) {
  fatal(err);
}

let first = true;
const acked = (obj: Record<string, unknown>) => {
  log.append({ ack: true, ...obj });
  if (first) {
    first = false;
    emit({ type: "ready", pid: process.pid });
  }
};

try {
  for (let i = 0; ; i++) {
    log.append({ intent: "create" });
    const taskId = await db.actorTasks.create({
      experimentId: a.experimentId,
      pipelineId: a.pipelineId,
      actorId: a.actorId,
      shardId: i,
    });
    acked({ op: "created", taskId });
    await db.actorTasks.start(taskId);
    acked({ op: "started", taskId });
    const delta = 1 + Math.floor(rand() * 1000);
    log.append({ intent: "advance", delta });
    const r = await db.pipelines.advanceProgress(a.pipelineId, { samples: delta, currentShardId: i });
    acked({ op: "advanced", delta, shards: r.shardsCompleted, samples: r.totalSamplesProcessed });
    await db.actorTasks.complete(taskId);
    acked({ op: "completed", taskId });
    if (i % 5 === 4) {
      log.append({ intent: "tx" });
      const icId = await db.transaction(async (tx) => {
        const id = await tx.icOperations.create({ operation: "stop", pipelineId: a.pipelineId, requestData: { i } });
        // building ↔ failed: a cycle CONTEXT_TRANSITIONS allows (a ready context is final)
        await tx.contexts.setStatus(a.contextId, i % 2 ? "building" : "failed");
        return id;
      });
      acked({ op: "tx", icId });
    }
  }
} catch (err) {
  fatal(err);
}
