/**
 * Disk-full worker: calls the public write methods in rounds until the
 * storage refuses a write (the parent lowers this process's file size limit
 * with prlimit, or the database lives on a small tmpfs), then calls every
 * write method once more on the full disk. Every acknowledged write is
 * printed at once as `{ type: "ack", … }` (stdout is a pipe: not subject to
 * the file size limit), every refused one as `{ type: "refused", … }` with
 * the error, so the parent can compare what was acknowledged with what the
 * file holds afterwards.
 *
 * Facts in an ack: `{ e, id, f? , v? }` — entity `e` row `id` exists, and
 * its field `f` holds `v` (unless a later acknowledged write changed it).
 * A refused write's `{ e, f, v }` names a value that must not be stored.
 */
import { eq } from "drizzle-orm";
import { experiments } from "../../../src/schema";
import { RFDatabase } from "../../../src/index";
import { args, describeError, emit, fatal, waitForGo } from "./util";

// The file size limit makes the kernel send SIGXFSZ, which kills by default;
// ignored, the write fails with EFBIG and SQLite reports it.
process.on("SIGXFSZ", () => {});

interface Args {
  url: string;
  goFile: string;
  /** Rounds at most (the disk is normally full long before). */
  maxRounds: number;
  /** Bytes of filler per created row, so the limit is reached in few calls. */
  filler: number;
}
const a = args<Args>();

type Fact = { e: string; id?: number; f?: string; v?: unknown };
/** The rows the write methods work on; each method has its own, in the state it needs. */
interface Ids {
  exp?: number;
  ctx?: number;
  pl?: number;
  /** scheduled: for start */
  taskS?: number;
  /** in_progress: for complete */
  taskP?: number;
  /** in_progress: for completeWithProgress */
  taskP2?: number;
  /** scheduled: for fail */
  taskF?: number;
  /** processing: for icOperations.setStatus */
  icP?: number;
}

let db: RFDatabase;
try {
  db = await RFDatabase.open({ url: a.url });
} catch (err) {
  fatal(err);
}
const pad = "x".repeat(a.filler);

/**
 * The rows phase 2 works on, made while the disk has room: each write method
 * then finds a row in the state it needs even when the creates are refused.
 */
async function fixtures(): Promise<Ids> {
  const ack = (op: string, facts: Fact[]) => emit({ type: "ack", op: `fixture ${op}`, facts });
  const exp = await db.experiments.create({ experimentName: "fixture", numActors: 1 });
  const ctx = await db.contexts.create({ contextHash: "fixture" });
  const pl = await db.pipelines.create({
    experimentId: exp,
    contextId: ctx,
    pipelineName: "fixture",
    pipelineType: "vllm",
    modelConfig: {},
    samplingParams: {},
  });
  ack("create", [
    { e: "experiments", id: exp },
    { e: "contexts", id: ctx },
    { e: "pipelines", id: pl },
  ]);
  const task = async (shardId: number, started: boolean) => {
    const id = await db.actorTasks.create({ experimentId: exp, pipelineId: pl, actorId: 9, shardId });
    if (started) await db.actorTasks.start(id);
    ack("task", [{ e: "actor_tasks", id, f: "status", v: started ? "in_progress" : "scheduled" }]);
    return id;
  };
  await task(0, false); // the oldest scheduled task: what claimNext takes
  const taskS = await task(1, false);
  const taskF = await task(2, false);
  const taskP = await task(3, true);
  const taskP2 = await task(4, true);
  await db.icOperations.create({ operation: "stop", pipelineId: pl });
  const ic = await db.icOperations.claimNext();
  ack("ic", [{ e: "interactive_control", id: ic!.icId, f: "status", v: "processing" }]);
  return { exp, ctx, pl, taskS, taskF, taskP, taskP2, icP: ic!.icId };
}

let fixture: Ids;
try {
  fixture = await fixtures();
} catch (err) {
  fatal(err);
}
emit({ type: "ready", pid: process.pid });
await waitForGo(a.goFile);

/** One write method: `run` returns the facts its success establishes; `intent` what a refusal must not leave. */
interface Op {
  name: string;
  needs: (keyof Ids)[];
  run(ids: Ids, r: number): Promise<Fact[]>;
  intent?(ids: Ids, r: number): Fact;
}

const OPS: Op[] = [
  {
    name: "experiments.create",
    needs: [],
    async run(ids, r) {
      ids.exp = await db.experiments.create({ experimentName: `exp-${r}-${pad}`, numActors: 1, numShards: 2 });
      return [{ e: "experiments", id: ids.exp }];
    },
    intent: (_i, r) => ({ e: "experiments", f: "experiment_name", v: `exp-${r}-${pad}` }),
  },
  {
    name: "contexts.create",
    needs: [],
    async run(ids, r) {
      ids.ctx = await db.contexts.create({ contextHash: `hash-${r}`, ragConfig: { pad } });
      return [{ e: "contexts", id: ids.ctx, f: "context_hash", v: `hash-${r}` }];
    },
    intent: (_i, r) => ({ e: "contexts", f: "context_hash", v: `hash-${r}` }),
  },
  {
    name: "pipelines.create",
    needs: ["exp", "ctx"],
    async run(ids, r) {
      ids.pl = await db.pipelines.create({
        experimentId: ids.exp!,
        contextId: ids.ctx!,
        pipelineName: `pl-${r}`,
        pipelineType: "vllm",
        modelConfig: { pad },
        samplingParams: {},
      });
      return [{ e: "pipelines", id: ids.pl, f: "pipeline_name", v: `pl-${r}` }];
    },
    intent: (_i, r) => ({ e: "pipelines", f: "pipeline_name", v: `pl-${r}` }),
  },
  {
    name: "actorTasks.create",
    needs: ["exp", "pl"],
    async run(ids, r) {
      ids.taskS = await db.actorTasks.create({ experimentId: ids.exp!, pipelineId: ids.pl!, actorId: 0, shardId: r });
      return [{ e: "actor_tasks", id: ids.taskS, f: "status", v: "scheduled" }];
    },
  },
  {
    name: "actorTasks.claimNext",
    needs: ["exp"],
    async run(ids) {
      const t = await db.actorTasks.claimNext(ids.exp!, 1);
      if (!t) return [];
      ids.taskP2 = t.taskId;
      if (ids.taskS === t.taskId) ids.taskS = undefined;
      return [{ e: "actor_tasks", id: t.taskId, f: "status", v: "in_progress" }];
    },
  },
  {
    name: "actorTasks.completeWithProgress",
    needs: ["taskP2"],
    async run(ids) {
      const c = await db.actorTasks.completeWithProgress(ids.taskP2!, { samples: 3 });
      return [
        { e: "actor_tasks", id: ids.taskP2, f: "status", v: "completed" },
        { e: "pipelines", id: c.pipelineId, f: "total_samples_processed", v: c.totalSamplesProcessed },
      ];
    },
  },
  {
    name: "actorTasks.create",
    needs: ["exp", "pl"],
    async run(ids, r) {
      ids.taskS = await db.actorTasks.create({ experimentId: ids.exp!, pipelineId: ids.pl!, actorId: 0, shardId: r });
      return [{ e: "actor_tasks", id: ids.taskS, f: "status", v: "scheduled" }];
    },
  },
  {
    name: "actorTasks.start",
    needs: ["taskS"],
    async run(ids) {
      await db.actorTasks.start(ids.taskS!);
      ids.taskP = ids.taskS;
      ids.taskS = undefined;
      return [{ e: "actor_tasks", id: ids.taskP, f: "status", v: "in_progress" }];
    },
  },
  {
    name: "pipelines.advanceProgress",
    needs: ["pl"],
    async run(ids) {
      const p = await db.pipelines.advanceProgress(ids.pl!, { samples: 7 });
      return [{ e: "pipelines", id: ids.pl, f: "total_samples_processed", v: p.totalSamplesProcessed }];
    },
  },
  {
    name: "actorTasks.complete",
    needs: ["taskP"],
    async run(ids) {
      await db.actorTasks.complete(ids.taskP!);
      return [{ e: "actor_tasks", id: ids.taskP, f: "status", v: "completed" }];
    },
  },
  {
    name: "transaction",
    needs: ["exp", "pl", "ctx"],
    async run(ids, r) {
      const id = await db.transaction(async (tx) => {
        const t = await tx.actorTasks.create({ experimentId: ids.exp!, pipelineId: ids.pl!, actorId: 3, shardId: r });
        await tx.contexts.setError(ids.ctx!, `tx-err-${r}`);
        return t;
      });
      ids.taskF = id;
      return [
        { e: "actor_tasks", id, f: "status", v: "scheduled" },
        { e: "contexts", id: ids.ctx, f: "error", v: `tx-err-${r}` },
      ];
    },
    intent: (_i, r) => ({ e: "contexts", f: "error", v: `tx-err-${r}` }),
  },
  {
    name: "actorTasks.fail",
    needs: ["taskF"],
    async run(ids, r) {
      await db.actorTasks.fail(ids.taskF!, `task-fail-${r}`);
      return [
        { e: "actor_tasks", id: ids.taskF, f: "status", v: "failed" },
        { e: "actor_tasks", id: ids.taskF, f: "error_message", v: `task-fail-${r}` },
      ];
    },
    intent: (_i, r) => ({ e: "actor_tasks", f: "error_message", v: `task-fail-${r}` }),
  },
  {
    name: "icOperations.create",
    needs: ["pl"],
    async run(ids, r) {
      const id = await db.icOperations.create({ operation: "stop", pipelineId: ids.pl!, requestData: { r, pad } });
      return [{ e: "interactive_control", id, f: "status", v: "pending" }];
    },
  },
  {
    name: "icOperations.claimNext",
    needs: [],
    async run(ids) {
      const op = await db.icOperations.claimNext();
      if (!op) return [];
      ids.icP = op.icId;
      return [{ e: "interactive_control", id: op.icId, f: "status", v: "processing" }];
    },
  },
  {
    name: "icOperations.setStatus",
    needs: ["icP"],
    async run(ids, r) {
      await db.icOperations.setStatus(ids.icP!, "failed", `ic-err-${r}`);
      return [
        { e: "interactive_control", id: ids.icP, f: "status", v: "failed" },
        { e: "interactive_control", id: ids.icP, f: "error", v: `ic-err-${r}` },
      ];
    },
    intent: (_i, r) => ({ e: "interactive_control", f: "error", v: `ic-err-${r}` }),
  },
  {
    name: "experiments.setError",
    needs: ["exp"],
    async run(ids, r) {
      await db.experiments.setError(ids.exp!, `exp-err-${r}`);
      return [{ e: "experiments", id: ids.exp, f: "error", v: `exp-err-${r}` }];
    },
    intent: (_i, r) => ({ e: "experiments", f: "error", v: `exp-err-${r}` }),
  },
  {
    name: "experiments.setNumShards",
    needs: ["exp"],
    async run(ids, r) {
      await db.experiments.setNumShards(ids.exp!, 1000 + r);
      return [{ e: "experiments", id: ids.exp, f: "num_shards", v: 1000 + r }];
    },
  },
  {
    name: "contexts.setStatus",
    needs: ["ctx"],
    async run(ids) {
      await db.contexts.setStatus(ids.ctx!, "building");
      return [{ e: "contexts", id: ids.ctx, f: "status", v: "building" }];
    },
  },
  {
    name: "contexts.setError",
    needs: ["ctx"],
    async run(ids, r) {
      await db.contexts.setError(ids.ctx!, `ctx-err-${r}`);
      return [{ e: "contexts", id: ids.ctx, f: "error", v: `ctx-err-${r}` }];
    },
    intent: (_i, r) => ({ e: "contexts", f: "error", v: `ctx-err-${r}` }),
  },
  {
    name: "pipelines.setStatus",
    needs: ["pl"],
    async run(ids) {
      await db.pipelines.setStatus(ids.pl!, "ongoing");
      return [{ e: "pipelines", id: ids.pl, f: "status", v: "ongoing" }];
    },
  },
  {
    name: "pipelines.setError",
    needs: ["pl"],
    async run(ids, r) {
      await db.pipelines.setError(ids.pl!, `pl-err-${r}`);
      return [{ e: "pipelines", id: ids.pl, f: "error", v: `pl-err-${r}` }];
    },
    intent: (_i, r) => ({ e: "pipelines", f: "error", v: `pl-err-${r}` }),
  },
  {
    name: "batch",
    needs: ["exp"],
    async run(ids, r) {
      const d = db.drizzle;
      await db.batch([
        d
          .update(experiments)
          .set({ error: `batch-err-${r}` })
          .where(eq(experiments.experimentId, ids.exp!)),
      ]);
      return [{ e: "experiments", id: ids.exp, f: "error", v: `batch-err-${r}` }];
    },
    intent: (_i, r) => ({ e: "experiments", f: "error", v: `batch-err-${r}` }),
  },
];

/** Runs one op; true when acknowledged. A refusal is reported with its error. */
async function attempt(op: Op, ids: Ids, r: number, phase: 1 | 2): Promise<boolean> {
  if (op.needs.some((k) => ids[k] === undefined)) return true;
  try {
    const facts = await op.run(ids, r);
    emit({ type: "ack", op: op.name, facts });
    return true;
  } catch (err) {
    emit({ type: "refused", op: op.name, phase, intent: op.intent?.(ids, r), error: describeError(err) });
    return false;
  }
}

try {
  let r = 0;
  let full = false;
  for (; r < a.maxRounds && !full; r++) {
    const ids: Ids = {};
    for (const op of OPS) {
      if (!(await attempt(op, ids, r, 1))) {
        full = true;
        break;
      }
    }
  }
  // Phase 2: the disk is full. Every write method once more, on the fixture rows
  // (or on rows its phase-2 predecessors managed to create): acknowledged, or
  // refused with a StorageError.
  const ids: Ids = { ...fixture };
  const r2 = r + 1;
  for (const op of OPS) await attempt(op, ids, r2, 2);
  for (const [name, call] of [
    ["resetExperimentStates", () => db.resetExperimentStates()],
    ["resetAllTables", () => db.resetAllTables()],
  ] as const) {
    try {
      await call();
      emit({ type: "ack", op: name, facts: [] });
    } catch (err) {
      emit({ type: "refused", op: name, phase: 2, error: describeError(err) });
    }
  }
  emit({ type: "result", rounds: r, full });
  process.exit(0);
} catch (err) {
  fatal(err);
}
