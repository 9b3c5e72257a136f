/**
 * Change-feed worker: after the go file appears, `iterations` rounds of
 * mixed writes on one experiment — a task created, often started and
 * completed with progress, sometimes failed; an earlier task deleted by raw
 * SQL (a tombstone); an IC operation queued, then claimed and completed or
 * cancelled; a context created and moved to `building`. Prints one result
 * line with every error it saw.
 *
 *   node --import tsx tests/reliability/workers/churn.ts '{"url":…,"experimentId":1,"pipelineIds":[1,2],"iterations":60,"actorId":0,"seed":7,"goFile":…}'
 */
import { RFDatabase } from "../../../src/index";
import { args, describeError, emit, fatal, prng, waitForGo } from "./util";

interface Args {
  url: string;
  experimentId: number;
  pipelineIds: number[];
  iterations: number;
  actorId: number;
  seed: number;
  goFile: string;
}

const a = args<Args>();
const rand = prng(a.seed);
const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;

let db: RFDatabase;
try {
  db = await RFDatabase.open({ url: a.url });
} catch (err) {
  fatal(err);
}
emit({ type: "ready", pid: process.pid });
await waitForGo(a.goFile);

const errors: ReturnType<typeof describeError>[] = [];
const mine: number[] = [];
let writes = 0;
for (let i = 0; i < a.iterations; i++) {
  let stage = "create";
  try {
    const pipelineId = pick(a.pipelineIds);
    const taskId = await db.actorTasks.create({
      experimentId: a.experimentId,
      pipelineId,
      actorId: a.actorId,
      shardId: i,
    });
    mine.push(taskId);
    writes++;
    const r = rand();
    if (r < 0.6) {
      stage = "start";
      await db.actorTasks.start(taskId);
      stage = "completeWithProgress";
      await db.actorTasks.completeWithProgress(taskId, { samples: 1 + Math.floor(rand() * 100) });
      writes += 2;
    } else if (r < 0.75) {
      stage = "fail";
      await db.actorTasks.fail(taskId, "churn");
      writes++;
    }
    if (rand() < 0.25 && mine.length > 3) {
      stage = "delete";
      const victim = mine.splice(Math.floor(rand() * (mine.length - 1)), 1)[0]!;
      await db.client.execute({ sql: "DELETE FROM actor_tasks WHERE task_id = ?", args: [victim] });
      writes++;
    }
    if (rand() < 0.3) {
      stage = "icOperations";
      const op = await db.icOperations.create({ operation: "stop", pipelineId });
      writes++;
      if (rand() < 0.5) {
        const claimed = await db.icOperations.claimNext({ experimentId: a.experimentId });
        if (claimed) {
          await db.icOperations.setStatus(claimed.icId, "completed");
          writes += 2;
        }
      } else {
        await db.icOperations.setStatus(op, "cancelled").catch(() => undefined); // claimed by another worker meanwhile
        writes++;
      }
    }
    if (rand() < 0.1) {
      stage = "contexts";
      const ctx = await db.contexts.create({ contextHash: `churn-${a.actorId}-${i}-${rand()}` });
      await db.contexts.setStatus(ctx, "building");
      writes += 2;
    }
  } catch (err) {
    errors.push({ ...describeError(err), message: `${stage}: ${describeError(err).message}` });
  }
}

await db.close();
emit({ type: "result", actorId: a.actorId, iterations: a.iterations, writes, errors });
process.exitCode = errors.length ? 1 : 0;
