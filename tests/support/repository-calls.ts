/**
 * One call per public repository method (plus variants that send different
 * SQL), a seed they run against, and a capture of the statements a call
 * sends. Shared by the query-plan check and the statement-engine guard, so
 * both cover every method; query-plans.test.ts fails when a public method
 * has no entry here.
 */
import type { Client, InArgs, InStatement } from "@libsql/client";
import type { RFDatabase, Repositories } from "../../src/index";

export type Repo = "experiments" | "contexts" | "pipelines" | "actorTasks" | "icOperations";

let seq = 0;

export interface Ids {
  experimentId: number;
  pipelineId: number;
  contextId: number;
  taskId: number;
  runningTaskId: number;
  icId: number;
  /** Set by the `pipelines.start` call, moved along by the calls after it. */
  movedPipelineId?: number;
  /** Claimed by the `actorTasks.heartbeat` call, finished by the calls after it. */
  leasedTaskId?: number;
}

/** One call per public method (plus variants that send different SQL). */
export const CALLS: { repo: Repo; method: string; run: (db: Repositories, ids: Ids) => Promise<unknown> }[] = [
  {
    repo: "experiments",
    method: "create",
    run: (db) => db.experiments.create({ experimentName: "qp", numActors: 2, numShards: 4 }),
  },
  { repo: "experiments", method: "get", run: (db, i) => db.experiments.get(i.experimentId) },
  { repo: "experiments", method: "getCurrent", run: (db) => db.experiments.getCurrent() },
  { repo: "experiments", method: "getByName", run: (db) => db.experiments.getByName("exp-1") },
  { repo: "experiments", method: "getLatest", run: (db) => db.experiments.getLatest() },
  { repo: "experiments", method: "getRunningOrLatest", run: (db) => db.experiments.getRunningOrLatest() },
  { repo: "experiments", method: "listRecent", run: (db) => db.experiments.listRecent(6) },
  { repo: "experiments", method: "listNames", run: (db) => db.experiments.listNames() },
  { repo: "experiments", method: "setStatus", run: (db, i) => db.experiments.setStatus(i.experimentId, "running") },
  { repo: "experiments", method: "setError", run: (db, i) => db.experiments.setError(i.experimentId, "x") },
  { repo: "experiments", method: "getError", run: (db, i) => db.experiments.getError(i.experimentId) },
  { repo: "experiments", method: "setNumShards", run: (db, i) => db.experiments.setNumShards(i.experimentId, 64) },
  {
    repo: "experiments",
    method: "setResources",
    run: (db, i) => db.experiments.setResources(i.experimentId, { numActors: 2, numGpusPerActor: 0.5 }),
  },
  {
    repo: "experiments",
    method: "heartbeat",
    run: (db, i) => db.experiments.heartbeat(i.experimentId, { owner: "qp", leaseMs: 30_000 }),
  },
  { repo: "experiments", method: "leaseStatus", run: (db, i) => db.experiments.leaseStatus(i.experimentId) },

  {
    repo: "contexts",
    method: "create",
    run: (db) => db.contexts.create({ contextHash: "qp-hash", ragConfig: { k: 1 } }),
  },
  { repo: "contexts", method: "create(existing hash)", run: (db) => db.contexts.create({ contextHash: "qp-hash" }) },
  { repo: "contexts", method: "get", run: (db, i) => db.contexts.get(i.contextId) },
  { repo: "contexts", method: "getByHash", run: (db) => db.contexts.getByHash("hash-1") },
  {
    repo: "contexts",
    method: "setStatus",
    // a context of its own: the seed's is shared through its hash, and a repeated move would be a no-op
    run: async (db) => db.contexts.setStatus(await db.contexts.create({ contextHash: `qp-${seq++}` }), "building"),
  },
  {
    repo: "contexts",
    method: "setStartTime",
    run: (db, i) => db.contexts.setStartTime(i.contextId, new Date(Date.now() - 1000)),
  },
  { repo: "contexts", method: "setEndTime", run: (db, i) => db.contexts.setEndTime(i.contextId, new Date()) },
  {
    repo: "contexts",
    method: "setEndTime(duration)",
    run: (db, i) => db.contexts.setEndTime(i.contextId, new Date(), 1),
  },
  { repo: "contexts", method: "setError", run: (db, i) => db.contexts.setError(i.contextId, "x") },

  {
    repo: "pipelines",
    method: "create",
    run: (db, i) =>
      db.pipelines.create({
        experimentId: i.experimentId,
        pipelineName: "qp",
        pipelineType: "vllm",
        modelConfig: {},
        samplingParams: {},
      }),
  },
  { repo: "pipelines", method: "get", run: (db, i) => db.pipelines.get(i.pipelineId) },
  { repo: "pipelines", method: "list", run: (db, i) => db.pipelines.list(i.experimentId) },
  { repo: "pipelines", method: "setStatus", run: (db, i) => db.pipelines.setStatus(i.pipelineId, "ongoing") },
  {
    repo: "pipelines",
    method: "setProgress",
    run: (db, i) =>
      db.pipelines.setProgress(i.pipelineId, { currentShardId: 1, shardsCompleted: 1, totalSamplesProcessed: 1 }),
  },
  {
    repo: "pipelines",
    method: "advanceProgress",
    run: (db, i) => db.pipelines.advanceProgress(i.pipelineId, { samples: 1 }),
  },
  { repo: "pipelines", method: "setError", run: (db, i) => db.pipelines.setError(i.pipelineId, "x") },
  // the named moves, on a pipeline of their own: new → ongoing → stopped → ongoing → completed → deleted
  {
    repo: "pipelines",
    method: "start",
    run: async (db, i) => {
      const id = await db.pipelines.create({
        experimentId: i.experimentId,
        pipelineType: "vllm",
        pipelineName: "mv",
        modelConfig: {},
        samplingParams: {},
      });
      i.movedPipelineId = id;
      return db.pipelines.start(id);
    },
  },
  { repo: "pipelines", method: "stop", run: (db, i) => db.pipelines.stop(i.movedPipelineId!) },
  { repo: "pipelines", method: "resume", run: (db, i) => db.pipelines.resume(i.movedPipelineId!) },
  { repo: "pipelines", method: "complete", run: (db, i) => db.pipelines.complete(i.movedPipelineId!) },
  { repo: "pipelines", method: "delete", run: (db, i) => db.pipelines.delete(i.movedPipelineId!) },
  {
    repo: "pipelines",
    method: "fail",
    run: async (db, i) => {
      const id = await db.pipelines.create({
        experimentId: i.experimentId,
        pipelineType: "vllm",
        pipelineName: "f",
        modelConfig: {},
        samplingParams: {},
      });
      return db.pipelines.fail(id, "x");
    },
  },
  // a refused move: the conditional UPDATE, then the status read that explains it
  {
    repo: "pipelines",
    method: "resume(refused)",
    run: (db, i) => db.pipelines.resume(i.movedPipelineId!).catch(() => undefined),
  },
  {
    repo: "pipelines",
    method: "create(run model)",
    run: (db, i) =>
      db.pipelines.create({
        experimentId: i.experimentId,
        pipelineType: "vllm",
        configJson: { a: { b: 1 } },
        parentPipelineId: i.pipelineId,
        metricRunId: `qp-run-${i.pipelineId}`,
      }),
  },
  {
    repo: "pipelines",
    method: "getByMetricRunId",
    run: (db, i) => db.pipelines.getByMetricRunId(`run-${i.pipelineId}`),
  },
  {
    repo: "pipelines",
    method: "setMetricRunId",
    run: (db, i) => db.pipelines.setMetricRunId(i.pipelineId, `qp-r-${i.pipelineId}`),
  },
  { repo: "pipelines", method: "setCurrentShard", run: (db, i) => db.pipelines.setCurrentShard(i.pipelineId, 2) },
  { repo: "pipelines", method: "listSummaries", run: (db, i) => db.pipelines.listSummaries(i.experimentId) },
  { repo: "pipelines", method: "lineage", run: (db, i) => db.pipelines.lineage(i.pipelineId) },

  {
    repo: "actorTasks",
    method: "create",
    run: (db, i) =>
      db.actorTasks.create({ experimentId: i.experimentId, pipelineId: i.pipelineId, actorId: 0, shardId: 0 }),
  },
  {
    repo: "actorTasks",
    method: "create(in_progress, startedAt)",
    run: (db, i) =>
      db.actorTasks.create({
        experimentId: i.experimentId,
        pipelineId: i.pipelineId,
        actorId: 0,
        shardId: 0,
        status: "in_progress",
        startedAt: new Date(),
      }),
  },
  { repo: "actorTasks", method: "get", run: (db, i) => db.actorTasks.get(i.taskId) },
  { repo: "actorTasks", method: "listRunning", run: (db, i) => db.actorTasks.listRunning(i.experimentId) },
  { repo: "actorTasks", method: "setStatus", run: (db, i) => db.actorTasks.setStatus(i.taskId, "scheduled") },
  { repo: "actorTasks", method: "setStartTime", run: (db, i) => db.actorTasks.setStartTime(i.taskId, new Date()) },
  { repo: "actorTasks", method: "setEndTime", run: (db, i) => db.actorTasks.setEndTime(i.taskId, new Date()) },
  {
    repo: "actorTasks",
    method: "setEndTime(duration)",
    run: (db, i) => db.actorTasks.setEndTime(i.taskId, new Date(), 1),
  },
  { repo: "actorTasks", method: "setError", run: (db, i) => db.actorTasks.setError(i.taskId, "x") },
  { repo: "actorTasks", method: "start", run: (db, i) => db.actorTasks.start(i.taskId) },
  { repo: "actorTasks", method: "complete", run: (db, i) => db.actorTasks.complete(i.taskId) },
  { repo: "actorTasks", method: "fail", run: (db, i) => db.actorTasks.fail(i.runningTaskId, "x") },
  // the refusal path: the conditional UPDATE, then the status read that explains it
  {
    repo: "actorTasks",
    method: "start(refused)",
    run: (db, i) => db.actorTasks.start(i.runningTaskId).catch(() => undefined),
  },
  {
    repo: "actorTasks",
    method: "completeWithProgress",
    run: async (db, i) => {
      const id = await db.actorTasks.create({
        experimentId: i.experimentId,
        pipelineId: i.pipelineId,
        actorId: 0,
        shardId: 1,
        status: "in_progress",
        startedAt: new Date(),
      });
      return db.actorTasks.completeWithProgress(id, { samples: 3, currentShardId: 1 });
    },
  },
  { repo: "actorTasks", method: "claimNext", run: (db, i) => db.actorTasks.claimNext(i.experimentId, 3) },
  // the lease path: claim, heartbeat, finish as the holder
  {
    repo: "actorTasks",
    method: "heartbeat",
    run: async (db, i) => {
      await db.actorTasks.create({ experimentId: i.experimentId, pipelineId: i.pipelineId, actorId: 0, shardId: 9 });
      const t = await db.actorTasks.claimNext(i.experimentId, 4, { leaseMs: 30_000 });
      i.leasedTaskId = t!.taskId;
      return db.actorTasks.heartbeat(t!.taskId, 4, { leaseMs: 30_000 });
    },
  },
  {
    repo: "actorTasks",
    method: "completeWithProgress(actorId)",
    run: (db, i) => db.actorTasks.completeWithProgress(i.leasedTaskId!, { samples: 1 }, { actorId: 4 }),
  },
  {
    repo: "actorTasks",
    method: "complete(actorId, lost)",
    run: (db, i) => db.actorTasks.complete(i.leasedTaskId!, { actorId: 5 }).catch(() => undefined),
  },
  {
    repo: "actorTasks",
    method: "fail(actorId)",
    run: async (db, i) => {
      await db.actorTasks.create({ experimentId: i.experimentId, pipelineId: i.pipelineId, actorId: 0, shardId: 10 });
      const t = await db.actorTasks.claimNext(i.experimentId, 6);
      return db.actorTasks.fail(t!.taskId, "x", { actorId: 6 });
    },
  },
  {
    repo: "actorTasks",
    method: "complete(actorId)",
    run: async (db, i) => {
      await db.actorTasks.create({ experimentId: i.experimentId, pipelineId: i.pipelineId, actorId: 0, shardId: 11 });
      const t = await db.actorTasks.claimNext(i.experimentId, 7);
      return db.actorTasks.complete(t!.taskId, { actorId: 7 });
    },
  },
  {
    repo: "actorTasks",
    method: "completeAndClaimNext",
    run: async (db, i) => {
      for (const shardId of [12, 13])
        await db.actorTasks.create({ experimentId: i.experimentId, pipelineId: i.pipelineId, actorId: 0, shardId });
      const t = await db.actorTasks.claimNext(i.experimentId, 8, { leaseMs: 30_000 });
      const { next } = await db.actorTasks.completeAndClaimNext(t!.taskId, { samples: 2 }, { actorId: 8 });
      return db.actorTasks.completeAndClaimNext(next!.taskId, {}, { actorId: 8, leaseMs: 30_000 });
    },
  },
  {
    repo: "actorTasks",
    method: "completeAndClaimNext(lost)",
    run: (db, i) => db.actorTasks.completeAndClaimNext(i.leasedTaskId!, {}, { actorId: 9 }).catch(() => undefined),
  },
  { repo: "actorTasks", method: "countByStatus", run: (db, i) => db.actorTasks.countByStatus(i.experimentId) },
  {
    repo: "actorTasks",
    method: "countCompletedByActor",
    run: (db, i) => db.actorTasks.countCompletedByActor(i.experimentId),
  },
  {
    repo: "actorTasks",
    method: "failUnfinished",
    run: async (db) => {
      const experimentId = await db.experiments.create({ experimentName: "abandoned", numActors: 1 });
      const pipelineId = await db.pipelines.create({
        experimentId,
        pipelineName: "p",
        pipelineType: "vllm",
        modelConfig: {},
        samplingParams: {},
      });
      await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 0 });
      return db.actorTasks.failUnfinished(experimentId, "abandoned");
    },
  },

  {
    repo: "icOperations",
    method: "create",
    run: (db, i) => db.icOperations.create({ operation: "stop", pipelineId: i.pipelineId }),
  },
  { repo: "icOperations", method: "get", run: (db, i) => db.icOperations.get(i.icId) },
  { repo: "icOperations", method: "listPending", run: (db) => db.icOperations.listPending() },
  { repo: "icOperations", method: "listAll", run: (db) => db.icOperations.listAll() },
  { repo: "icOperations", method: "claimNext", run: (db) => db.icOperations.claimNext() },
  {
    repo: "icOperations",
    method: "claimNext(experimentId)",
    run: (db, i) => db.icOperations.claimNext({ experimentId: i.experimentId, leaseMs: 30_000 }),
  },
  {
    repo: "icOperations",
    method: "heartbeat",
    run: async (db, i) => {
      await db.icOperations.create({ operation: "resume", pipelineId: i.pipelineId });
      const op = await db.icOperations.claimNext(); // the oldest pending one (at least the one just queued)
      return db.icOperations.heartbeat(op!.icId, { leaseMs: 30_000 });
    },
  },
  { repo: "icOperations", method: "setStatus", run: (db, i) => db.icOperations.setStatus(i.icId, "completed") },
  {
    repo: "icOperations",
    method: "create(dedupeKey)",
    run: (db, i) => db.icOperations.create({ operation: "resume", pipelineId: i.pipelineId, dedupeKey: "qp-key" }),
  },
  {
    repo: "icOperations",
    method: "create(clone request)",
    run: (db, i) =>
      db.icOperations.create({
        operation: "clone",
        experimentId: i.experimentId,
        parentPipelineId: i.pipelineId,
        config: { t: 1 },
      }),
  },
  {
    repo: "icOperations",
    method: "apply(clone)",
    run: async (db, i) => {
      const icId = await db.icOperations.create({
        operation: "clone",
        experimentId: i.experimentId,
        parentPipelineId: i.pipelineId,
        config: { t: 2 },
      });
      return db.icOperations.apply(icId).catch(() => undefined);
    },
  },
  {
    repo: "icOperations",
    method: "apply",
    run: async (db, i) => {
      const icId = await db.icOperations.create({ operation: "delete", pipelineId: i.pipelineId });
      return db.icOperations.apply(icId).catch(() => undefined);
    },
  },
];

export interface Captured {
  sql: string;
  args: unknown[];
}

/** Every statement `fn` sends through `client` (execute and batch). */
export async function capture(client: Client, fn: () => Promise<unknown>): Promise<Captured[]> {
  const out: Captured[] = [];
  const c = client as unknown as Record<string, unknown>;
  const execute = client.execute.bind(client);
  const batch = client.batch.bind(client);
  const norm = (s: InStatement | [string, InArgs?]): Captured =>
    typeof s === "string"
      ? { sql: s, args: [] }
      : Array.isArray(s)
        ? { sql: s[0], args: (s[1] ?? []) as unknown[] }
        : { sql: s.sql, args: (s.args ?? []) as unknown[] };
  let last: InStatement | undefined;
  c.execute = (stmt: InStatement, args?: InArgs) => {
    if (typeof stmt === "string") {
      // the local client re-dispatches a deferred call to itself as execute(sql, args): not a new statement
      if (!(last && typeof last !== "string" && last.sql === stmt && last.args === args))
        out.push({ sql: stmt, args: (args ?? []) as unknown[] });
      return execute(stmt, args);
    }
    last = stmt;
    out.push(norm(stmt));
    return execute(stmt);
  };
  c.batch = (stmts: Array<InStatement | [string, InArgs?]>, mode?: Parameters<Client["batch"]>[1]) => {
    out.push(...stmts.map(norm));
    return batch(stmts, mode);
  };
  try {
    await fn();
  } finally {
    delete c.execute;
    delete c.batch;
  }
  return out;
}

/** The rows every call refers to (through `Ids`); works on a database or inside a transaction. */
export async function seedRows(db: Repositories): Promise<Ids> {
  const experimentId = await db.experiments.create({ experimentName: "exp-1", numActors: 4, numShards: 64 });
  await db.experiments.create({ experimentName: "exp-2", numActors: 4, numShards: 64, status: "completed" });
  const contextId = await db.contexts.create({ contextHash: "hash-1", ragConfig: { k: 3 } });
  const pipelineId = await db.pipelines.create({
    experimentId,
    contextId,
    pipelineName: "p",
    pipelineType: "vllm",
    modelConfig: {},
    samplingParams: {},
  });
  const taskId = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 0 });
  const runningTaskId = await db.actorTasks.create({
    experimentId,
    pipelineId,
    actorId: 1,
    shardId: 1,
    status: "in_progress",
    startedAt: new Date(),
  });
  const icId = await db.icOperations.create({ operation: "stop", pipelineId });
  await db.pipelines.setMetricRunId(pipelineId, `run-${pipelineId}`);
  return { experimentId, pipelineId, contextId, taskId, runningTaskId, icId };
}

/** `seedRows`, and with `skewed` a long-lived database's shape (mostly finished work) plus ANALYZE. */
export async function seed(db: RFDatabase, skewed: boolean): Promise<Ids> {
  const ids = await seedRows(db);
  const { experimentId } = ids;
  if (skewed) {
    // Mostly finished work, a little running or pending: what a long-lived database looks like.
    await db.transaction(async (tx) => {
      for (let p = 0; p < 20; p++) {
        const pid = await tx.pipelines.create({
          experimentId,
          pipelineName: `p${p}`,
          pipelineType: "vllm",
          modelConfig: {},
          samplingParams: {},
          status: "completed",
        });
        for (let s = 0; s < 100; s++)
          await tx.actorTasks.create({
            experimentId,
            pipelineId: pid,
            actorId: s % 4,
            shardId: s,
            status: s === 99 && p < 2 ? "in_progress" : "completed",
          });
        await tx.icOperations.create({ operation: "resume", pipelineId: pid });
        await tx.contexts.create({ contextHash: `h${p}` });
      }
      // Older experiments, each with its own finished pipelines (a long-lived database holds many
      // experiments: a query by experiment selects a small part of the pipelines).
      for (let k = 0; k < 50; k++) {
        const old = await tx.experiments.create({ experimentName: `old-${k % 10}`, numActors: 1, status: "completed" });
        for (let q = 0; q < 2; q++)
          await tx.pipelines.create({ experimentId: old, pipelineType: "vllm", status: "completed" });
      }
    });
    await db.client.execute("ANALYZE");
  }
  return ids;
}
