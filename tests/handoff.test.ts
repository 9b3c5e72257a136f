/**
 * `actorTasks.completeAndClaimNext`: the actor's hand-off in one atomic batch
 * — the completion exactly as `completeWithProgress(…, { actorId })`, then
 * the claim exactly as `claimNext(…, { leaseMs })` — on every backend. The
 * claim happens only when the completion did; a refused completion claims
 * nothing and fails like `completeWithProgress`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidTransitionError, LeaseLostError, NotFoundError, type RFDatabase, ValidationError } from "../src/index";
import { BACKENDS, openBackend, type Backend } from "./support/backends";

describe.each(BACKENDS)("completeAndClaimNext on %s", (name) => {
  let backend: Backend;
  let db: RFDatabase;
  let experimentId: number;
  let pipelineId: number;

  beforeAll(async () => {
    backend = await openBackend(name);
    db = backend.db;
  }, 60_000);
  afterAll(async () => {
    await backend?.close();
  });

  const scheduled = async (n: number) => {
    experimentId = await db.experiments.create({ experimentName: `handoff-${Math.random()}`, numActors: 2 });
    pipelineId = await db.pipelines.create({ experimentId, pipelineName: "p", pipelineType: "t", status: "ongoing" });
    const ids: number[] = [];
    for (let s = 0; s < n; s++)
      ids.push(await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: s }));
    return ids;
  };

  it("completes with progress and claims the next task, until none is left", async () => {
    const ids = await scheduled(3);
    let task = await db.actorTasks.claimNext(experimentId, 1, { leaseMs: 30_000 });
    const seen: number[] = [];
    while (task) {
      seen.push(task.taskId);
      const r = await db.actorTasks.completeAndClaimNext(
        task.taskId,
        { samples: 10, currentShardId: task.shardId },
        { actorId: 1, leaseMs: 30_000 },
      );
      expect(r.completed).toMatchObject({
        pipelineId,
        shardsCompleted: seen.length,
        totalSamplesProcessed: 10 * seen.length,
      });
      if (r.next) {
        // Claimed as claimNext claims: in progress, held by the actor, a lease from now, one attempt.
        expect(r.next).toMatchObject({ status: "in_progress", actorId: 1, leaseOwner: 1, attempts: 1 });
        expect(r.next.leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 20_000);
      }
      task = r.next;
    }
    expect(seen).toEqual(ids);
    expect(await db.actorTasks.countByStatus(experimentId)).toMatchObject({
      completed: 3,
      in_progress: 0,
      scheduled: 0,
    });
    const done = await db.actorTasks.get(ids[0]!);
    expect(done).toMatchObject({ status: "completed", leaseExpiresAt: null });
    expect(done!.durationSeconds).toBeGreaterThanOrEqual(0);
  });

  it("claims only within the completed task's experiment", async () => {
    const [a] = await scheduled(1);
    const other = await scheduled(1); // a second experiment (scheduled() moves experimentId on)
    const mine = await db.actorTasks.claimNext((await db.actorTasks.get(a!))!.experimentId, 1);
    expect(mine?.taskId).toBe(a);
    const r = await db.actorTasks.completeAndClaimNext(a!, {}, { actorId: 1 });
    expect(r.next).toBeNull();
    expect((await db.actorTasks.get(other[0]!))?.status).toBe("scheduled");
  });

  it("a refused completion claims nothing and fails like completeWithProgress", async () => {
    const [t1, t2] = await scheduled(2);
    await db.actorTasks.claimNext(experimentId, 1);
    const before = await db.actorTasks.countByStatus(experimentId);
    // Not the lease holder.
    await expect(db.actorTasks.completeAndClaimNext(t1!, { samples: 1 }, { actorId: 2 })).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    expect(await db.actorTasks.countByStatus(experimentId)).toEqual(before);
    expect((await db.actorTasks.get(t2!))?.status).toBe("scheduled");
    expect((await db.pipelines.get(pipelineId))?.shardsCompleted).toBe(0);
    // Not in progress; missing.
    await expect(db.actorTasks.completeAndClaimNext(t2!, {}, { actorId: 1 })).rejects.toBeInstanceOf(
      InvalidTransitionError,
    );
    await expect(db.actorTasks.completeAndClaimNext(999_999, {}, { actorId: 1 })).rejects.toBeInstanceOf(NotFoundError);
    expect((await db.actorTasks.get(t2!))?.status).toBe("scheduled");
    // Bad arguments: nothing sent.
    await expect(db.actorTasks.completeAndClaimNext(t1!, { samples: -1 }, { actorId: 1 })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(
      db.actorTasks.completeAndClaimNext(t1!, {}, { actorId: 1, leaseMs: 0 } as never),
    ).rejects.toBeInstanceOf(ValidationError);
    await expect(db.actorTasks.completeAndClaimNext(t1!, {}, { actorId: 1, other: 1 } as never)).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(db.actorTasks.completeAndClaimNext(t1!, {}, undefined as never)).rejects.toBeInstanceOf(
      ValidationError,
    );
  });

  it("two actors handing off at once never claim the same task", async () => {
    const ids = await scheduled(12);
    const loop = async (actorId: number) => {
      const got: number[] = [];
      let task = await db.actorTasks.claimNext(experimentId, actorId);
      while (task) {
        got.push(task.taskId);
        task = (await db.actorTasks.completeAndClaimNext(task.taskId, { samples: 1 }, { actorId })).next;
      }
      return got;
    };
    const [x, y] = await Promise.all([loop(1), loop(2)]);
    expect([...x!, ...y!].sort((m, n) => m - n)).toEqual(ids);
    expect((await db.pipelines.get(pipelineId))?.shardsCompleted).toBe(12);
  });
});
