/**
 * Leases, heartbeats and recovery in one process, on every backend (the
 * multi-process proofs with SIGKILL are in tests/reliability/leases.test.ts):
 * claims set a lease from the database's clock, an ended lease is re-taken
 * with attempts + 1, a lost holder can change nothing, past maxAttempts the
 * row fails naming the expiry, and reapStale / resetExperimentStates touch
 * exactly what they should.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidTransitionError, LeaseLostError, NotFoundError, type RFDatabase, ValidationError } from "../src/index";
import { BACKENDS, openBackend, type Backend } from "./support/backends";
import { makeContext, makeExperiment, makePipeline, makeTask } from "./support/factories";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Long enough for a 1 ms lease to have ended by the database's clock. */
const PAST_LEASE_MS = 25;

async function dbNow(db: RFDatabase): Promise<number> {
  const rs = await db.client.execute("SELECT cast(round((julianday('now') - 2440587.5) * 86400000) as integer) AS now");
  return Number(rs.rows[0]![0]);
}

/** Moves a lease's end 10 s into the past (the database's clock): time passing, without waiting for it. */
async function endLease(db: RFDatabase, table: string, pk: string, id: number) {
  await db.client.execute({
    sql: `UPDATE ${table} SET lease_expires_at = cast(round((julianday('now') - 2440587.5) * 86400000) as integer) - 10000 WHERE ${pk} = ?`,
    args: [id],
  });
}

async function rawRow(db: RFDatabase, table: string, pk: string, id: number) {
  const rs = await db.client.execute({ sql: `SELECT * FROM ${table} WHERE ${pk} = ?`, args: [id] });
  return Object.fromEntries(rs.columns.map((c, i) => [c, rs.rows[0]![i]]));
}

describe.each(BACKENDS)("leases on %s", (backendName) => {
  let backend: Backend;
  let db: RFDatabase;

  beforeAll(async () => {
    backend = await openBackend(backendName);
    db = backend.db;
  }, 60_000);
  afterAll(async () => {
    await backend?.close();
  });

  /** An experiment with one pipeline and `n` scheduled tasks. */
  async function work(n: number, maxAttempts?: number) {
    const experimentId = await makeExperiment(db);
    const pipelineId = await makePipeline(db, { experimentId });
    const taskIds: number[] = [];
    for (let s = 0; s < n; s++)
      taskIds.push(
        await makeTask(db, { experimentId, pipelineId, shardId: s, ...(maxAttempts ? { maxAttempts } : {}) }),
      );
    return { experimentId, pipelineId, taskIds };
  }

  describe("actor tasks", () => {
    it("claimNext leases the oldest scheduled task: holder, end by the database clock, attempts 1", async () => {
      const { experimentId, taskIds } = await work(2);
      const before = await dbNow(db);
      const t = (await db.actorTasks.claimNext(experimentId, 7, { leaseMs: 30_000 }))!;
      const after = await dbNow(db);
      expect(t).toMatchObject({ taskId: taskIds[0], status: "in_progress", actorId: 7, leaseOwner: 7, attempts: 1 });
      expect(t.leaseExpiresAt!.getTime()).toBeGreaterThanOrEqual(before + 30_000);
      expect(t.leaseExpiresAt!.getTime()).toBeLessThanOrEqual(after + 30_000);
      // the default lease is 60 s
      const u = (await db.actorTasks.claimNext(experimentId, 8))!;
      expect(u.leaseExpiresAt!.getTime() - (await dbNow(db))).toBeGreaterThan(50_000);
      expect(await db.actorTasks.claimNext(experimentId, 9)).toBeNull();
    });

    it("an ended lease is re-taken by another actor (attempts 2); the old holder can change nothing", async () => {
      const { experimentId, pipelineId, taskIds } = await work(2);
      const first = (await db.actorTasks.claimNext(experimentId, 1, { leaseMs: 1 }))!;
      await sleep(PAST_LEASE_MS);
      // the ended lease comes before the next scheduled task
      const again = (await db.actorTasks.claimNext(experimentId, 2, { leaseMs: 30_000 }))!;
      expect(again).toMatchObject({ taskId: first.taskId, actorId: 2, leaseOwner: 2, attempts: 2 });
      const held = await rawRow(db, "actor_tasks", "task_id", first.taskId);
      for (const call of [
        () => db.actorTasks.complete(first.taskId, { actorId: 1 }),
        () => db.actorTasks.completeWithProgress(first.taskId, { samples: 5 }, { actorId: 1 }),
        () => db.actorTasks.fail(first.taskId, "dead holder", { actorId: 1 }),
        () => db.actorTasks.heartbeat(first.taskId, 1),
      ]) {
        const err = await call().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(LeaseLostError);
        expect(err).toBeInstanceOf(InvalidTransitionError);
        expect(err).toMatchObject({ holder: "actor 2", caller: "actor 1", code: "LEASE_LOST" });
      }
      expect(await rawRow(db, "actor_tasks", "task_id", first.taskId)).toEqual(held);
      expect((await db.pipelines.get(pipelineId))!.shardsCompleted).toBe(0);
      // the holder completes it, exactly once
      expect(await db.actorTasks.completeWithProgress(first.taskId, { samples: 5 }, { actorId: 2 })).toMatchObject({
        shardsCompleted: 1,
      });
      // its own second completion is a plain InvalidTransitionError (not a lost lease)
      const twice = await db.actorTasks.complete(first.taskId, { actorId: 2 }).catch((e: unknown) => e);
      expect(twice).toBeInstanceOf(InvalidTransitionError);
      expect(twice).not.toBeInstanceOf(LeaseLostError);
      expect((await db.actorTasks.get(first.taskId))!).toMatchObject({ status: "completed", leaseExpiresAt: null });
      expect(await db.actorTasks.countCompletedByActor(experimentId)).toEqual([{ actorId: 2, tasks: 1, retaken: 1 }]);
      expect((await db.actorTasks.claimNext(experimentId, 3))!.taskId).toBe(taskIds[1]);
    });

    it("heartbeat extends the lease from the database clock; a holder whose lease ended but was not re-taken keeps it", async () => {
      const { experimentId } = await work(1);
      const t = (await db.actorTasks.claimNext(experimentId, 4, { leaseMs: 1 }))!;
      await sleep(PAST_LEASE_MS);
      const until = await db.actorTasks.heartbeat(t.taskId, 4, { leaseMs: 20_000 });
      expect(until).toBeInstanceOf(Date);
      expect(until.getTime() - (await dbNow(db))).toBeGreaterThan(15_000);
      expect((await db.actorTasks.get(t.taskId))!.leaseExpiresAt).toEqual(until);
      expect(await db.actorTasks.claimNext(experimentId, 5)).toBeNull(); // live again: not re-taken
      await db.actorTasks.fail(t.taskId, "gave up", { actorId: 4 });
      expect((await db.actorTasks.get(t.taskId))!).toMatchObject({ status: "failed", errorMessage: "gave up" });
      await expect(db.actorTasks.heartbeat(999_999, 4)).rejects.toBeInstanceOf(NotFoundError);
    });

    it("past maxAttempts an ended lease fails the task with an error naming the expiry", async () => {
      const { experimentId, taskIds } = await work(2, 2);
      for (const actor of [1, 2]) {
        const t = (await db.actorTasks.claimNext(experimentId, actor, { leaseMs: 1 }))!;
        expect(t).toMatchObject({ taskId: taskIds[0], attempts: actor });
        await sleep(PAST_LEASE_MS);
      }
      const next = (await db.actorTasks.claimNext(experimentId, 3))!;
      expect(next.taskId).toBe(taskIds[1]);
      const dead = (await db.actorTasks.get(taskIds[0]!))!;
      expect(dead).toMatchObject({ status: "failed", leaseOwner: null, leaseExpiresAt: null, attempts: 2 });
      expect(dead.errorMessage).toMatch(
        /^lease expired after 2 of 2 attempts \(last holder actor 2, lease ended \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\)$/,
      );
    });

    it("the first release's forms still work: claimNext with a start time, complete/fail without a holder", async () => {
      const { experimentId } = await work(2);
      const start = new Date("2026-01-02T03:04:05.000Z");
      const t = (await db.actorTasks.claimNext(experimentId, 1, start))!;
      expect(t.startedAt).toEqual(start);
      await db.actorTasks.complete(t.taskId, new Date("2026-01-02T03:04:06.000Z"));
      expect((await db.actorTasks.get(t.taskId))!.durationSeconds).toBe(1);
      const u = (await db.actorTasks.claimNext(experimentId, 1, "2026-01-02T03:04:05.000Z"))!;
      await db.actorTasks.fail(u.taskId, "x", "2026-01-02T03:04:07.000Z", { actorId: 1 });
      expect((await db.actorTasks.get(u.taskId))!.durationSeconds).toBe(2);
      // started without claimNext: held by its actor, no lease end; { actorId } of that actor works
      const started = await makeTask(db, { actorId: 6 });
      await db.actorTasks.start(started);
      expect((await db.actorTasks.get(started))!).toMatchObject({ leaseOwner: 6, leaseExpiresAt: null, attempts: 1 });
      await db.actorTasks.complete(started, { actorId: 6 });
    });

    it("bad lease arguments are ValidationErrors and write nothing", async () => {
      const { experimentId, taskIds } = await work(1);
      const before = await rawRow(db, "actor_tasks", "task_id", taskIds[0]!);
      for (const call of [
        () => db.actorTasks.claimNext(experimentId, 1, { leaseMs: 0 }),
        () => db.actorTasks.claimNext(experimentId, 1, { leaseMs: 1.5 }),
        () => db.actorTasks.claimNext(experimentId, 1, { leaseMs: 2 ** 31 }),
        () => db.actorTasks.claimNext(experimentId, 1, { lease: 5 } as never),
        () => db.actorTasks.complete(taskIds[0]!, { actorId: -1 }),
        () => db.actorTasks.complete(taskIds[0]!, {} as never),
        () => db.actorTasks.heartbeat(taskIds[0]!, 1, { leaseMs: -5 }),
        () => db.actorTasks.create({ experimentId, pipelineId: 1, actorId: 0, shardId: 0, maxAttempts: -1 }),
      ])
        await expect(call()).rejects.toBeInstanceOf(ValidationError);
      expect(await rawRow(db, "actor_tasks", "task_id", taskIds[0]!)).toEqual(before);
    });
  });

  describe("IC operations", () => {
    it("claimNext leases, re-takes an ended lease (attempts 2), fails it past maxAttempts", async () => {
      const pipelineId = await makePipeline(db);
      const icId = await db.icOperations.create({ operation: "stop", pipelineId });
      await db.client.execute({ sql: "UPDATE interactive_control SET max_attempts = 2 WHERE ic_id = ?", args: [icId] });
      const first = (await db.icOperations.claimNext({ leaseMs: 1 }))!;
      expect(first).toMatchObject({ icId, status: "processing", attempts: 1 });
      await sleep(PAST_LEASE_MS);
      const again = (await db.icOperations.claimNext({ leaseMs: 30_000 }))!;
      expect(again).toMatchObject({ icId, status: "processing", attempts: 2 });
      const until = await db.icOperations.heartbeat(icId, { leaseMs: 1 });
      expect(until).toBeInstanceOf(Date);
      await sleep(PAST_LEASE_MS);
      expect(await db.icOperations.claimNext()).toBeNull();
      const dead = (await db.icOperations.get(icId))!;
      expect(dead).toMatchObject({ status: "failed", leaseExpiresAt: null });
      expect(dead.error).toMatch(/^lease expired after 2 of 2 attempts \(lease ended \d{4}-.*Z\)$/);
      expect(dead.processedAt).toBeInstanceOf(Date);
      await expect(db.icOperations.heartbeat(icId)).rejects.toBeInstanceOf(LeaseLostError);
    });

    it("claimNext({ experimentId }) takes only that experiment's operations; setStatus ends the lease", async () => {
      const e1 = await makeExperiment(db);
      const e2 = await makeExperiment(db);
      const op1 = await db.icOperations.create({
        operation: "stop",
        pipelineId: await makePipeline(db, { experimentId: e1 }),
      });
      const op2 = await db.icOperations.create({
        operation: "stop",
        pipelineId: await makePipeline(db, { experimentId: e2 }),
      });
      for (const [op, e] of [
        [op1, e1],
        [op2, e2],
      ] as const)
        await db.client.execute({
          sql: "UPDATE interactive_control SET experiment_id = ? WHERE ic_id = ?",
          args: [e, op],
        });
      const claimed = (await db.icOperations.claimNext({ experimentId: e2 }))!;
      expect(claimed.icId).toBe(op2);
      expect(await db.icOperations.claimNext({ experimentId: e2 })).toBeNull();
      await db.icOperations.setStatus(op2, "completed");
      expect((await db.icOperations.get(op2))!).toMatchObject({ status: "completed", leaseExpiresAt: null });
      expect((await db.icOperations.get(op1))!.status).toBe("pending");
      await expect(db.icOperations.claimNext({ experimentId: -1 })).rejects.toBeInstanceOf(ValidationError);
      // drain the queue for the other tests of this file
      while (await db.icOperations.claimNext()) {}
    });
  });

  describe("controller liveness", () => {
    it("experiments.heartbeat: the owner takes and keeps the lease; another owner gets false until it ends", async () => {
      const id = await makeExperiment(db);
      expect(await db.experiments.heartbeat(id, { owner: "a", leaseMs: 30_000 })).toBe(true);
      const row = (await db.experiments.get(id))!;
      expect(row).toMatchObject({ leaseOwner: "a" });
      expect(row.heartbeatAt).toBeInstanceOf(Date);
      expect(await db.experiments.heartbeat(id, { owner: "b" })).toBe(false);
      expect((await db.experiments.get(id))!.leaseOwner).toBe("a");
      expect(await db.experiments.heartbeat(id, { owner: "a", leaseMs: 1 })).toBe(true);
      await sleep(PAST_LEASE_MS);
      expect(await db.experiments.heartbeat(id, { owner: "b" })).toBe(true); // a's lease ended: taken over
      await db.experiments.setStatus(id, "completed");
      expect(await db.experiments.heartbeat(id, { owner: "b" })).toBe(false); // no longer running
      await expect(db.experiments.heartbeat(999_999, { owner: "a" })).rejects.toBeInstanceOf(NotFoundError);
      await expect(db.experiments.heartbeat(id, { owner: "" })).rejects.toBeInstanceOf(ValidationError);
      await expect(db.experiments.heartbeat(id, {} as never)).rejects.toBeInstanceOf(ValidationError);
    });

    it("reapStale fails the experiment whose controller stopped heartbeating, and only what dead processes left", async () => {
      // lost: its controller's lease ended
      const lost = await makeExperiment(db);
      const lostPipeline = await makePipeline(db, { experimentId: lost, status: "ongoing" });
      const lostDone = await makePipeline(db, { experimentId: lost, status: "completed" });
      const lostTasks = [
        await makeTask(db, { experimentId: lost, pipelineId: lostPipeline }),
        await makeTask(db, { experimentId: lost, pipelineId: lostPipeline }),
      ];
      await db.actorTasks.claimNext(lost, 1, { leaseMs: 60_000 });
      await db.experiments.heartbeat(lost, { owner: "controller-1", leaseMs: 60_000 });
      await endLease(db, "experiments", "experiment_id", lost);
      const beat = (await db.experiments.get(lost))!.heartbeatAt!;
      // alive: a live lease, with one task whose actor died (lease ended) and one that ran out of attempts
      const alive = await makeExperiment(db);
      await db.experiments.heartbeat(alive, { owner: "controller-2", leaseMs: 60_000 });
      const alivePipeline = await makePipeline(db, { experimentId: alive, status: "ongoing" });
      const orphan = await makeTask(db, { experimentId: alive, pipelineId: alivePipeline });
      const exhausted = await makeTask(db, { experimentId: alive, pipelineId: alivePipeline, maxAttempts: 1 });
      const live = await makeTask(db, { experimentId: alive, pipelineId: alivePipeline });
      for (const actor of [2, 3, 4]) await db.actorTasks.claimNext(alive, actor, { leaseMs: 60_000 });
      await endLease(db, "actor_tasks", "task_id", orphan);
      await endLease(db, "actor_tasks", "task_id", exhausted);
      // never heartbeated: untouched, whatever its tasks look like
      const legacy = await makeExperiment(db);
      const legacyTask = await makeTask(db, { experimentId: legacy, status: "in_progress" });
      // an IC operation whose worker died
      const op = await db.icOperations.create({ operation: "stop", pipelineId: alivePipeline });
      expect((await db.icOperations.claimNext({ leaseMs: 60_000 }))!.icId).toBe(op);
      await endLease(db, "interactive_control", "ic_id", op);

      const counts = await db.reapStale();
      expect(counts).toEqual({ actorTasks: 4, icOperations: 1, experiments: 1 });
      const lostRow = (await db.experiments.get(lost))!;
      expect(lostRow.status).toBe("failed");
      expect(lostRow.error).toBe(`controller lost: no heartbeat since ${beat.toISOString()}`);
      expect((await db.pipelines.get(lostPipeline))!).toMatchObject({ status: "failed", error: lostRow.error });
      expect((await db.pipelines.get(lostDone))!.status).toBe("completed");
      for (const id of lostTasks)
        expect((await db.actorTasks.get(id))!).toMatchObject({ status: "failed", errorMessage: lostRow.error });
      expect((await db.experiments.get(alive))!.status).toBe("running");
      expect((await db.pipelines.get(alivePipeline))!.status).toBe("ongoing");
      expect((await db.actorTasks.get(orphan))!).toMatchObject({ status: "scheduled", leaseOwner: null, attempts: 1 });
      expect((await db.actorTasks.get(exhausted))!.status).toBe("failed");
      expect((await db.actorTasks.get(live))!).toMatchObject({ status: "in_progress", leaseOwner: 4 });
      expect((await db.experiments.get(legacy))!.status).toBe("running");
      expect((await db.actorTasks.get(legacyTask))!.status).toBe("in_progress");
      expect((await db.icOperations.get(op))!).toMatchObject({ status: "pending", attempts: 1, leaseExpiresAt: null });
      // nothing left to reap
      expect(await db.reapStale()).toEqual({ actorTasks: 0, icOperations: 0, experiments: 0 });
      while (await db.icOperations.claimNext()) {}
    });

    it("resetExperimentStates(experimentId) fails only that experiment's unfinished work, processing IC operations too", async () => {
      const mine = await makeExperiment(db);
      const other = await makeExperiment(db);
      const ctx = await makeContext(db);
      const myPipeline = await makePipeline(db, { experimentId: mine, status: "ongoing" });
      const otherPipeline = await makePipeline(db, { experimentId: other, status: "ongoing" });
      const myTask = await makeTask(db, { experimentId: mine, pipelineId: myPipeline });
      const otherTask = await makeTask(db, { experimentId: other, pipelineId: otherPipeline, status: "in_progress" });
      const myOp = await db.icOperations.create({ operation: "stop", pipelineId: myPipeline });
      const otherOp = await db.icOperations.create({ operation: "stop", pipelineId: otherPipeline });
      await db.client.execute({
        sql: "UPDATE interactive_control SET experiment_id = ? WHERE ic_id = ?",
        args: [mine, myOp],
      });
      const claimed = (await db.icOperations.claimNext({ experimentId: mine }))!; // myOp: processing
      expect(claimed.icId).toBe(myOp);

      expect(await db.resetExperimentStates(mine)).toEqual({
        actorTasks: 1,
        pipelines: 1,
        contexts: 0,
        icOperations: 1,
      });
      expect((await db.actorTasks.get(myTask))!.status).toBe("failed");
      expect((await db.pipelines.get(myPipeline))!.status).toBe("failed");
      expect((await db.icOperations.get(myOp))!).toMatchObject({ status: "failed", leaseExpiresAt: null });
      expect((await db.actorTasks.get(otherTask))!.status).toBe("in_progress");
      expect((await db.pipelines.get(otherPipeline))!.status).toBe("ongoing");
      expect((await db.icOperations.get(otherOp))!.status).toBe("pending");
      expect((await db.contexts.get(ctx))!.status).toBe("pending");
      await expect(db.resetExperimentStates(-1)).rejects.toBeInstanceOf(ValidationError);
    });
  });
});
