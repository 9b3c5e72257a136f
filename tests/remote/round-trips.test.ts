/**
 * What a call costs on a remote database, in HTTP requests — counted by a
 * proxy between the client and a real sqld (Hrana over HTTP, @libsql/client).
 *
 * The contract this pins down:
 * - every repository method (all five repositories) and `db.batch([...])` is
 *   exactly ONE request, including the failures the database reports
 *   (NotFoundError from an UPDATE … RETURNING that touched nothing, a foreign
 *   key pointing at nothing, `getError` of a missing experiment);
 * - argument validation fails before any request (0);
 * - exception, when a conditional status change writes nothing: `setStatus`,
 *   the named pipeline moves and `actorTasks.start/complete/fail/
 *   completeWithProgress` from a state that does not allow it, on a missing
 *   id, or (setStatus, moves) to the status the row already has, cost 2 — the
 *   conditional UPDATE (or batch), then one SELECT to tell
 *   InvalidTransitionError from NotFoundError from a no-op; likewise, on the
 *   error path only, `icOperations.create` that finds no pipeline and
 *   `pipelines.create`/`setMetricRunId` with a metric run id another pipeline
 *   has (one read to say which);
 * - the run model: `icOperations.apply` of a stop/resume/delete is one
 *   request (one batch), also when refused; of a clone, two;
 * - `db.transaction` with k statements costs k + 1 (BEGIN rides on the first
 *   statement, COMMIT + close are one more; a rollback is one more as well);
 * - `RFDatabase.open` on a remote URL with migrate "auto" costs 1 (the schema check).
 */
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ActorTaskRepository,
  ContextRepository,
  ExperimentRepository,
  IcOperationRepository,
  InvalidTransitionError,
  LeaseLostError,
  NotFoundError,
  PipelineRepository,
  RFDatabase,
  ValidationError,
} from "../../src/index";
import { actorTasks, experiments, pipelines } from "../../src/schema";
import { startProxy, type TestProxy } from "../support/proxy";
import { startSqld, type SqldServer } from "../support/sqld";

let server: SqldServer;
let proxy: TestProxy;
let db: RFDatabase;

beforeAll(async () => {
  server = await startSqld();
  proxy = await startProxy({ target: server.url });
  db = await RFDatabase.open({ url: proxy.url, migrate: true });
});

afterAll(async () => {
  await db?.close();
  await proxy?.stop();
  await server?.stop();
});

const settle = () => new Promise((r) => setTimeout(r, 5));

/** Runs `fn` and returns how many HTTP requests reached the server while it ran (and just after). */
async function cost<T>(fn: () => Promise<T>): Promise<{ requests: number; value?: T; error?: unknown }> {
  await settle();
  proxy.reset();
  let value: T | undefined;
  let error: unknown;
  try {
    value = await fn();
  } catch (err) {
    error = err;
  }
  await settle(); // a request fired after the promise settled would be counted too
  const requests = proxy.requests;
  return error === undefined ? { requests, value } : { requests, error };
}

/** Asserts that `fn` succeeds in exactly `n` requests and returns its value. */
async function expectCost<T>(n: number, label: string, fn: () => Promise<T>): Promise<T> {
  const r = await cost(fn);
  if (r.error !== undefined) throw new Error(`${label} failed: ${String(r.error)}`);
  expect(r.requests, `${label}: HTTP requests`).toBe(n);
  return r.value as T;
}

/** Asserts that `fn` rejects with `type` after exactly `n` requests. */
async function expectFailureCost(
  n: number,
  label: string,
  type: abstract new (...args: never[]) => Error,
  fn: () => Promise<unknown>,
) {
  const r = await cost(fn);
  expect(r.error, `${label} should reject`).toBeInstanceOf(type);
  expect(r.requests, `${label}: HTTP requests`).toBe(n);
}

/** Public methods declared by a repository class (TypeScript `private` ones are listed by name). */
/** Public methods of a repository class, including those of the shared bases it extends (lifecycle.ts). */
function publicMethods(cls: { prototype: object }): string[] {
  const internal = new Set([
    "constructor",
    "compiled",
    "rows",
    "insert",
    "settle",
    "updateById",
    "insertedId",
    "found",
    "explainRefusal",
    "move",
    "refusal",
    "completion",
    "completed",
    "paged",
  ]);
  const names = new Set<string>();
  for (let proto = cls.prototype; proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const n of Object.getOwnPropertyNames(proto))
      if (!internal.has(n) && typeof Object.getOwnPropertyDescriptor(proto, n)?.value === "function") names.add(n);
  }
  return [...names].sort();
}

describe("HTTP requests per call on sqld (through a counting proxy)", () => {
  const exercised = new Map<string, Set<string>>();
  const mark = (repo: string, method: string) => {
    if (!exercised.has(repo)) exercised.set(repo, new Set());
    exercised.get(repo)!.add(method);
  };
  /** One request, and records that `repo.method` was exercised. */
  const one = <T>(repo: string, method: string, fn: () => Promise<T>) => {
    mark(repo, method);
    return expectCost(1, `${repo}.${method}`, fn);
  };

  it("experiments: every method is one request", async () => {
    const r = "experiments";
    const id = await one(r, "create", () =>
      db.experiments.create({ experimentName: "rt", numActors: 2, numShards: 4 }),
    );
    await one(r, "get", () => db.experiments.get(id));
    await one(r, "getCurrent", () => db.experiments.getCurrent());
    await one(r, "getLatest", () => db.experiments.getLatest());
    await one(r, "getRunningOrLatest", () => db.experiments.getRunningOrLatest());
    await one(r, "listRecent", () => db.experiments.listRecent(6));
    await one(r, "getByName", () => db.experiments.getByName("rt"));
    await one(r, "listNames", () => db.experiments.listNames());
    await one(r, "setStatus", () => db.experiments.setStatus(id, "completed"));
    await one(r, "setError", () => db.experiments.setError(id, "oops"));
    expect(await one(r, "getError", () => db.experiments.getError(id))).toBe("oops");
    await one(r, "setNumShards", () => db.experiments.setNumShards(id, 8));
    await one(r, "setResources", () => db.experiments.setResources(id, { numActors: 3, numGpusPerActor: 0.5 }));
    // the controller's liveness: one batch, also when it answers false
    const live = await db.experiments.create({ experimentName: "rt-live", numActors: 1 });
    expect(await one(r, "heartbeat", () => db.experiments.heartbeat(live, { owner: "a" }))).toBe(true);
    expect(
      await expectCost(1, "experiments.heartbeat(other owner)", () => db.experiments.heartbeat(live, { owner: "b" })),
    ).toBe(false);
    await expectFailureCost(1, "experiments.heartbeat(missing)", NotFoundError, () =>
      db.experiments.heartbeat(999_999, { owner: "a" }),
    );
    expect(await one(r, "leaseStatus", () => db.experiments.leaseStatus(live))).toMatchObject({
      controller: { owner: "a", stale: false },
      expiredTaskLeases: 0,
    });
    // failures the database reports: still one request
    await expectFailureCost(2, "experiments.setStatus(missing)", NotFoundError, () =>
      db.experiments.setStatus(999_999, "failed"),
    );
    await expectFailureCost(1, "experiments.getError(missing)", NotFoundError, () => db.experiments.getError(999_999));
    expect(await expectCost(1, "experiments.get(missing)", () => db.experiments.get(999_999))).toBeNull();
    // bad arguments: no request at all
    await expectFailureCost(0, "experiments.setStatus(bad status)", ValidationError, () =>
      db.experiments.setStatus(id, "bogus" as never),
    );
    await expectFailureCost(0, "experiments.create(negative)", ValidationError, () =>
      db.experiments.create({ experimentName: "x", numActors: -1 }),
    );
  });

  it("contexts: every method is one request (create is one also when the hash exists)", async () => {
    const r = "contexts";
    const id = await one(r, "create", () => db.contexts.create({ contextHash: "rt-hash", ragConfig: { k: 3 } }));
    expect(
      await expectCost(1, "contexts.create(existing hash)", () => db.contexts.create({ contextHash: "rt-hash" })),
    ).toBe(id);
    await one(r, "get", () => db.contexts.get(id));
    await one(r, "getByHash", () => db.contexts.getByHash("rt-hash"));
    await one(r, "setStatus", () => db.contexts.setStatus(id, "building"));
    await one(r, "setStartTime", () => db.contexts.setStartTime(id, new Date(Date.now() - 2_000)));
    await one(r, "setEndTime", () => db.contexts.setEndTime(id, new Date())); // duration computed in SQL
    await expectCost(1, "contexts.setEndTime(with duration)", () => db.contexts.setEndTime(id, new Date(), 1.5));
    await one(r, "setError", () => db.contexts.setError(id, "embedding timeout"));
    await expectFailureCost(2, "contexts.setStatus(missing)", NotFoundError, () =>
      db.contexts.setStatus(999_999, "ready"),
    );
  });

  it("pipelines: every method is one request (advanceProgress returns the new counters in the same request)", async () => {
    const r = "pipelines";
    const experimentId = await db.experiments.create({ experimentName: "rt-pl", numActors: 1 });
    const id = await one(r, "create", () =>
      db.pipelines.create({
        experimentId,
        pipelineName: "p",
        pipelineType: "vllm",
        modelConfig: { m: 1 },
        samplingParams: { t: 0 },
      }),
    );
    await one(r, "get", () => db.pipelines.get(id));
    await one(r, "list", () => db.pipelines.list(experimentId));
    await one(r, "setStatus", () => db.pipelines.setStatus(id, "ongoing"));
    await one(r, "setProgress", () =>
      db.pipelines.setProgress(id, { currentShardId: 1, shardsCompleted: 1, totalSamplesProcessed: 10 }),
    );
    expect(
      await one(r, "advanceProgress", () => db.pipelines.advanceProgress(id, { samples: 5, currentShardId: 2 })),
    ).toEqual({
      shardsCompleted: 2,
      totalSamplesProcessed: 15,
    });
    await one(r, "setError", () => db.pipelines.setError(id, "OOM"));
    // the named moves: one conditional UPDATE each
    const moved = await db.pipelines.create({
      experimentId,
      pipelineName: "m",
      pipelineType: "vllm",
      modelConfig: {},
      samplingParams: {},
    });
    await one(r, "start", () => db.pipelines.start(moved));
    await one(r, "stop", () => db.pipelines.stop(moved));
    await one(r, "resume", () => db.pipelines.resume(moved));
    await one(r, "complete", () => db.pipelines.complete(moved));
    await one(r, "delete", () => db.pipelines.delete(moved));
    await one(r, "fail", () => db.pipelines.fail(id, "OOM"));
    await expectFailureCost(2, "pipelines.resume(deleted)", InvalidTransitionError, () => db.pipelines.resume(moved));
    await expectCost(2, "pipelines.delete(deleted): a no-op", () => db.pipelines.delete(moved));
    // The run model: the configuration views are computed before the one request.
    const child = await expectCost(1, "pipelines.create(configJson, parent, metric run)", () =>
      db.pipelines.create({
        experimentId,
        pipelineType: "vllm",
        configJson: { sampling_params: { temperature: 0.1 } },
        parentPipelineId: id,
        metricRunId: "rt-run",
      }),
    );
    await one(r, "setMetricRunId", () => db.pipelines.setMetricRunId(id, "rt-run-0"));
    expect((await one(r, "getByMetricRunId", () => db.pipelines.getByMetricRunId("rt-run")))?.pipelineId).toBe(child);
    await one(r, "setCurrentShard", () => db.pipelines.setCurrentShard(id, 3));
    const summaries = await one(r, "listSummaries", () => db.pipelines.listSummaries(experimentId));
    expect(summaries.map((x) => x.pipelineId)).toEqual(
      (await db.pipelines.list(experimentId)).map((x) => x.pipelineId),
    );
    expect((await one(r, "lineage", () => db.pipelines.lineage(child))).map((e) => e.depth)).toEqual([-1, 0]);
    // error path only: the INSERT, then one read naming the pipeline that has the run id
    await expectFailureCost(2, "pipelines.create(duplicate metricRunId)", ValidationError, () =>
      db.pipelines.create({ experimentId, pipelineType: "vllm", metricRunId: "rt-run" }),
    );
    await expectFailureCost(1, "pipelines.create(missing experiment)", NotFoundError, () =>
      db.pipelines.create({
        experimentId: 999_999,
        pipelineName: "p",
        pipelineType: "vllm",
        modelConfig: {},
        samplingParams: {},
      }),
    );
    await expectFailureCost(1, "pipelines.advanceProgress(missing)", NotFoundError, () =>
      db.pipelines.advanceProgress(999_999),
    );
  });

  it("actorTasks: every method is one request; a refused transition costs 2 (error path only)", async () => {
    const r = "actorTasks";
    const experimentId = await db.experiments.create({ experimentName: "rt-tasks", numActors: 2 });
    const pipelineId = await db.pipelines.create({
      experimentId,
      pipelineName: "p",
      pipelineType: "vllm",
      modelConfig: {},
      samplingParams: {},
    });
    const id = await one(r, "create", () => db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 0 }));
    await one(r, "get", () => db.actorTasks.get(id));
    await one(r, "start", () => db.actorTasks.start(id));
    await one(r, "listRunning", () => db.actorTasks.listRunning(experimentId));
    await one(r, "complete", () => db.actorTasks.complete(id));
    const st = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 5 });
    await one(r, "setStatus", () => db.actorTasks.setStatus(st, "in_progress"));
    await one(r, "fail", () => db.actorTasks.fail(st, "worker lost"));
    await one(r, "setStartTime", () => db.actorTasks.setStartTime(id, new Date(Date.now() - 1_000)));
    await one(r, "setEndTime", () => db.actorTasks.setEndTime(id, new Date()));
    await expectCost(1, "actorTasks.setEndTime(with duration)", () => db.actorTasks.setEndTime(id, new Date(), 2));
    await one(r, "setError", () => db.actorTasks.setError(id, "retrying"));
    const second = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 1 });
    expect((await one(r, "claimNext", () => db.actorTasks.claimNext(experimentId, 1)))?.taskId).toBe(second);
    expect(
      await expectCost(1, "actorTasks.claimNext(none left)", () => db.actorTasks.claimNext(experimentId, 1)),
    ).toBeNull();
    // the lease path: every lease operation is one request
    const leased = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 6 });
    expect(
      (
        await expectCost(1, "actorTasks.claimNext(leaseMs)", () =>
          db.actorTasks.claimNext(experimentId, 2, { leaseMs: 30_000 }),
        )
      )?.taskId,
    ).toBe(leased);
    expect(await one(r, "heartbeat", () => db.actorTasks.heartbeat(leased, 2, { leaseMs: 30_000 }))).toBeInstanceOf(
      Date,
    );
    await expectFailureCost(2, "actorTasks.complete(lost lease)", LeaseLostError, () =>
      db.actorTasks.complete(leased, { actorId: 3 }),
    );
    await expectCost(1, "actorTasks.completeWithProgress(actorId)", () =>
      db.actorTasks.completeWithProgress(leased, { samples: 1 }, { actorId: 2 }),
    );
    // the actor's hand-off: complete with progress and claim the next, one request (also when none is left)
    const mine = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 9 });
    const handoff = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 10 });
    expect((await db.actorTasks.claimNext(experimentId, 2))!.taskId).toBe(mine);
    const { next } = await one(r, "completeAndClaimNext", () =>
      db.actorTasks.completeAndClaimNext(mine, { samples: 1 }, { actorId: 2 }),
    );
    expect(next?.taskId).toBe(handoff);
    await expectCost(1, "actorTasks.completeAndClaimNext(none left)", () =>
      db.actorTasks.completeAndClaimNext(handoff, {}, { actorId: 2 }),
    );
    for (const [shardId, finish] of [
      [7, (id: number) => db.actorTasks.complete(id, { actorId: 2 })],
      [8, (id: number) => db.actorTasks.fail(id, "x", { actorId: 2 })],
    ] as const) {
      const id = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId });
      await db.actorTasks.claimNext(experimentId, 2);
      await expectCost(1, `actorTasks.${shardId === 7 ? "complete" : "fail"}(actorId)`, () => finish(id));
    }
    expect(await one(r, "countByStatus", () => db.actorTasks.countByStatus(experimentId))).toMatchObject({
      failed: 2,
      in_progress: 1,
      completed: 5,
    });
    expect(await one(r, "countCompletedByActor", () => db.actorTasks.countCompletedByActor(experimentId))).toEqual([
      { actorId: 0, tasks: 1, retaken: 0 },
      { actorId: 2, tasks: 4, retaken: 0 },
    ]);
    await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 9 });
    expect(await one(r, "failUnfinished", () => db.actorTasks.failUnfinished(experimentId, "abandoned"))).toBe(2);
    // The fused lifecycle: create + start in one INSERT, complete + progress in one batch.
    const third = await expectCost(1, "actorTasks.create(in_progress, startedAt)", () =>
      db.actorTasks.create({
        experimentId,
        pipelineId,
        actorId: 0,
        shardId: 2,
        status: "in_progress",
        startedAt: new Date(Date.now() - 500),
      }),
    );
    expect(
      await one(r, "completeWithProgress", () =>
        db.actorTasks.completeWithProgress(third, { samples: 10, currentShardId: 2 }),
      ),
    ).toEqual({
      pipelineId,
      currentShardId: 2,
      shardsCompleted: 4, // one from completeWithProgress(actorId), two from completeAndClaimNext above
      totalSamplesProcessed: 12,
    });

    // Error path: the conditional UPDATE touches nothing, then one SELECT explains why.
    await expectFailureCost(2, "actorTasks.start(already failed)", InvalidTransitionError, () =>
      db.actorTasks.start(id),
    );
    await expectFailureCost(2, "actorTasks.complete(failed)", InvalidTransitionError, () => db.actorTasks.complete(id));
    await expectFailureCost(2, "actorTasks.fail(failed)", InvalidTransitionError, () =>
      db.actorTasks.fail(id, "again"),
    );
    await expectFailureCost(2, "actorTasks.start(missing)", NotFoundError, () => db.actorTasks.start(999_999));
    await expectFailureCost(2, "actorTasks.completeWithProgress(completed)", InvalidTransitionError, () =>
      db.actorTasks.completeWithProgress(third),
    );
    await expectFailureCost(2, "actorTasks.completeWithProgress(missing)", NotFoundError, () =>
      db.actorTasks.completeWithProgress(999_999),
    );
    // the other setters fail in one request
    await expectFailureCost(2, "actorTasks.setStatus(missing)", NotFoundError, () =>
      db.actorTasks.setStatus(999_999, "failed"),
    );
    await expectFailureCost(1, "actorTasks.create(missing pipeline)", NotFoundError, () =>
      db.actorTasks.create({ experimentId, pipelineId: 999_999, actorId: 0, shardId: 0 }),
    );
  });

  it("icOperations: every method is one request (claimNext claims in one statement)", async () => {
    const r = "icOperations";
    const experimentId = await db.experiments.create({ experimentName: "rt-ic", numActors: 1 });
    const pipelineId = await db.pipelines.create({
      experimentId,
      pipelineName: "p",
      pipelineType: "vllm",
      modelConfig: {},
      samplingParams: {},
    });
    const id = await one(r, "create", () => db.icOperations.create({ operation: "stop", pipelineId }));
    await one(r, "get", () => db.icOperations.get(id));
    await one(r, "listPending", () => db.icOperations.listPending());
    await one(r, "listAll", () => db.icOperations.listAll());
    expect((await one(r, "claimNext", () => db.icOperations.claimNext()))?.icId).toBe(id);
    expect(await expectCost(1, "icOperations.claimNext(empty)", () => db.icOperations.claimNext())).toBeNull();
    expect(await one(r, "heartbeat", () => db.icOperations.heartbeat(id, { leaseMs: 30_000 }))).toBeInstanceOf(Date);
    await db.icOperations.create({ operation: "resume", pipelineId });
    expect(
      await expectCost(1, "icOperations.claimNext({ experimentId, leaseMs })", () =>
        db.icOperations.claimNext({ experimentId: 999_999, leaseMs: 30_000 }),
      ),
    ).toBeNull();
    await one(r, "setStatus", () => db.icOperations.setStatus(id, "completed"));
    await expectFailureCost(2, "icOperations.setStatus(missing)", NotFoundError, () =>
      db.icOperations.setStatus(999_999, "failed"),
    );
    // error path only: the INSERT … SELECT found no pipeline, one read tells missing from deleted from another experiment's
    await expectFailureCost(2, "icOperations.create(missing pipeline)", NotFoundError, () =>
      db.icOperations.create({ operation: "resume", pipelineId: 999_999 }),
    );
    await expectFailureCost(0, "icOperations.create(stop without pipeline)", ValidationError, () =>
      db.icOperations.create({ operation: "stop" }),
    );
    // dedupe: the second create is the same upsert, one request, the same id
    await db.pipelines.setStatus(pipelineId, "ongoing");
    const stop = await expectCost(1, "icOperations.create(dedupeKey)", () =>
      db.icOperations.create({ operation: "stop", pipelineId, dedupeKey: "rt-stop" }),
    );
    expect(
      await expectCost(1, "icOperations.create(dedupe hit)", () =>
        db.icOperations.create({ operation: "stop", pipelineId, dedupeKey: "rt-stop" }),
      ),
    ).toBe(stop);
    // apply: a move is one atomic batch, also when refused; a clone reads, then writes
    expect(await one(r, "apply", () => db.icOperations.apply(stop))).toBe(pipelineId);
    await expectFailureCost(1, "icOperations.apply(already completed)", InvalidTransitionError, () =>
      db.icOperations.apply(stop),
    );
    const again = await db.icOperations.create({ operation: "stop", pipelineId });
    await expectFailureCost(1, "icOperations.apply(refused: already stopped)", InvalidTransitionError, () =>
      db.icOperations.apply(again),
    );
    const clone = await expectCost(1, "icOperations.create(clone request)", () =>
      db.icOperations.create({ operation: "clone", experimentId, parentPipelineId: pipelineId, config: { t: 1 } }),
    );
    const childId = await expectCost(2, "icOperations.apply(clone)", () => db.icOperations.apply(clone));
    expect((await db.pipelines.get(childId))?.parentPipelineId).toBe(pipelineId);
  });

  it("every public method of the five repositories was measured above", () => {
    const classes = {
      experiments: ExperimentRepository,
      contexts: ContextRepository,
      pipelines: PipelineRepository,
      actorTasks: ActorTaskRepository,
      icOperations: IcOperationRepository,
    } as const;
    for (const [repo, cls] of Object.entries(classes)) {
      expect([...(exercised.get(repo) ?? [])].sort(), `${repo}: methods without a round-trip assertion`).toEqual(
        publicMethods(cls),
      );
    }
  });

  it("db.batch([...]) is one request, whatever it holds; so are the database-wide helpers built on it", async () => {
    const experimentId = await db.experiments.create({ experimentName: "rt-batch", numActors: 1, numShards: 2 });
    const pipelineId = await db.pipelines.create({
      experimentId,
      pipelineName: "p",
      pipelineType: "vllm",
      modelConfig: {},
      samplingParams: {},
    });
    const taskId = await db.actorTasks.create({
      experimentId,
      pipelineId,
      actorId: 0,
      shardId: 0,
      status: "in_progress",
    });
    const d = db.drizzle;
    const [, progress, names] = await expectCost(1, "db.batch(3 statements)", () =>
      db.batch([
        d.update(actorTasks).set({ status: "completed", completedAt: new Date() }).where(eq(actorTasks.taskId, taskId)),
        d
          .update(pipelines)
          .set({ shardsCompleted: sql`${pipelines.shardsCompleted} + 1` })
          .where(eq(pipelines.pipelineId, pipelineId))
          .returning({ done: pipelines.shardsCompleted }),
        d
          .select({ name: experiments.experimentName })
          .from(experiments)
          .where(eq(experiments.experimentId, experimentId)),
      ]),
    );
    expect(progress).toEqual([{ done: 1 }]);
    expect(names).toEqual([{ name: "rt-batch" }]);
    // a failing batch is one request too, and writes nothing
    const failed = await cost(() =>
      db.batch([
        d.update(pipelines).set({ shardsCompleted: 100 }).where(eq(pipelines.pipelineId, pipelineId)),
        d
          .insert(pipelines)
          .values({ experimentId: 999_999, pipelineName: "x", pipelineType: "y", modelConfig: {}, samplingParams: {} }),
      ]),
    );
    expect(failed.error).toBeInstanceOf(NotFoundError);
    expect(failed.requests).toBe(1);
    expect((await db.pipelines.get(pipelineId))?.shardsCompleted).toBe(1);

    await expectCost(1, "db.resetExperimentStates()", () => db.resetExperimentStates());
    await expectCost(1, "db.resetExperimentStates(experimentId)", () => db.resetExperimentStates(experimentId));
    expect(await expectCost(1, "db.reapStale()", () => db.reapStale())).toEqual({
      actorTasks: 0,
      icOperations: 0,
      experiments: 0,
    });
    await expectCost(1, "db.schemaState()", () => db.schemaState());
  });

  it("db.transaction with k statements costs k + 1 requests (rollback also + 1)", async () => {
    const experimentId = await db.experiments.create({ experimentName: "rt-tx", numActors: 1 });
    for (const k of [1, 2, 3, 5]) {
      await expectCost(k + 1, `transaction with ${k} statement(s)`, () =>
        db.transaction(async (tx) => {
          for (let i = 0; i < k; i++) await tx.experiments.setNumShards(experimentId, k * 10 + i);
        }),
      );
      expect((await db.experiments.get(experimentId))?.numShards).toBe(k * 10 + k - 1);
    }
    // a callback that reads its own write and returns a value: still k + 1
    const read = await expectCost(3, "transaction: create + get", () =>
      db.transaction(async (tx) => {
        const id = await tx.experiments.create({ experimentName: "in-tx", numActors: 1 });
        return (await tx.experiments.get(id))?.experimentName;
      }),
    );
    expect(read).toBe("in-tx");
    // a callback that throws after k statements: k + 1 (the rollback), nothing written
    const boom = new Error("changed my mind");
    const failed = await cost(() =>
      db.transaction(async (tx) => {
        await tx.experiments.setNumShards(experimentId, 1);
        await tx.experiments.setError(experimentId, "x");
        throw boom;
      }),
    );
    expect(failed.error).toBe(boom);
    expect(failed.requests).toBe(3);
    // a repository error inside (NotFound from the database's answer) rolls back the same way
    const notFound = await cost(() => db.transaction((tx) => tx.experiments.setNumShards(999_999, 1)));
    expect(notFound.error).toBeInstanceOf(NotFoundError);
    expect(notFound.requests).toBe(2);
    expect(await db.experiments.get(experimentId)).toMatchObject({ numShards: 54, error: null });
  });

  it("RFDatabase.open on a remote URL: migrate auto = 1 request (the schema check); false = 0; true on a current schema = 2", async () => {
    const opened: RFDatabase[] = [];
    try {
      opened.push(await expectCost(1, 'open({ migrate: "auto" })', () => RFDatabase.open({ url: proxy.url })));
      opened.push(
        await expectCost(0, "open({ migrate: false })", () => RFDatabase.open({ url: proxy.url, migrate: false })),
      );
      // CREATE TABLE/INDEX IF NOT EXISTS for the bookkeeping (one batch) + reading it
      opened.push(
        await expectCost(2, "open({ migrate: true }) on a current schema", () =>
          RFDatabase.open({ url: proxy.url, migrate: true }),
        ),
      );
      // the first call after open is still one request
      await expectCost(1, "first call after open", () => opened[0]!.experiments.getCurrent());
      await expectCost(0, "close()", () => opened[0]!.close());
    } finally {
      for (const o of opened) await o.close();
    }
  });

  it("open({ migrate: true }) on an empty remote database: bookkeeping + read + one batch per migration + re-read", async () => {
    const fresh = await startSqld();
    const freshProxy = await startProxy({ target: fresh.url });
    try {
      freshProxy.reset();
      const fdb = await RFDatabase.open({ url: freshProxy.url, migrate: true });
      const state = await fdb.schemaState();
      // 1 (bookkeeping DDL) + per pending migration: 1 read + 1 migrate batch, + 1 final read + 1 schemaState above
      expect(freshProxy.requests).toBe(1 + 2 * state.applied.length + 1 + 1);
      expect(state.state).toBe("current");
      await fdb.close();
    } finally {
      await freshProxy.stop();
      await fresh.stop();
    }
  });
});
