/**
 * `actor_task_counts` (src/schema/task-counts.ts): triggers keep one row of
 * counters per experiment, and `countByStatus` reads it. The counters must
 * equal what counting the tasks gives after every kind of write — through
 * the API, raw SQL, cascades, refused and rolled-back writes — on every
 * backend; the migrated triggers must be what the schema file renders; and a
 * database migrated with tasks already in it must start with their counts.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACTOR_TASK_STATUSES, type ActorTaskStatus, type RFDatabase } from "../src/index";
import { MIGRATIONS } from "../src/migrate";
import { renderTaskCountTriggers } from "../src/schema/task-counts";
import { BACKENDS, openBackend, type Backend } from "./support/backends";

/** What counting the tasks themselves gives, per status. */
async function counted(db: RFDatabase, experimentId: number): Promise<Record<ActorTaskStatus, number>> {
  const rs = await db.client.execute({
    sql: "SELECT status, count(*) AS n FROM actor_tasks WHERE experiment_id = ? GROUP BY status",
    args: [experimentId],
  });
  const out = Object.fromEntries(ACTOR_TASK_STATUSES.map((s) => [s, 0])) as Record<ActorTaskStatus, number>;
  for (const r of rs.rows) out[r.status as ActorTaskStatus] = Number(r.n);
  return out;
}

async function expectCounts(db: RFDatabase, experimentIds: number[], step: string): Promise<void> {
  for (const e of experimentIds) {
    expect(await db.actorTasks.countByStatus(e), `experiment ${e} after ${step}`).toEqual(await counted(db, e));
  }
}

const pipeline = (db: RFDatabase, experimentId: number) =>
  db.pipelines.create({ experimentId, pipelineName: "p", pipelineType: "vllm", modelConfig: {}, samplingParams: {} });

describe("the task counters' triggers", () => {
  it("are what src/schema/task-counts.ts renders, and a migration with tasks already there counts them", async () => {
    const backend = await openBackend("memory");
    try {
      const { db } = backend;
      const live = await db.client.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'actor_task_counts_%' ORDER BY name",
      );
      const rendered = renderTaskCountTriggers().filter((s) => s.startsWith("CREATE TRIGGER"));
      expect(live.rows.map((r) => `${String(r.sql)};`).sort()).toEqual(rendered.sort());

      const e = await db.experiments.create({ experimentName: "backfill", numActors: 1 });
      const p = await pipeline(db, e);
      for (const [i, status] of ["scheduled", "scheduled", "in_progress", "completed", "failed"].entries()) {
        await db.actorTasks.create({ experimentId: e, pipelineId: p, actorId: 0, shardId: i, status: status as never });
      }
      // As if the tasks predated the counters: empty them, then run the migration that made them.
      await db.client.execute("DELETE FROM actor_task_counts");
      expect(await db.actorTasks.countByStatus(e)).toMatchObject({ scheduled: 0, completed: 0 });
      const migration = MIGRATIONS.find((m) => m.tag.endsWith("_actor_task_count_triggers"))!;
      await db.client.migrate(migration.statements.map((sql) => ({ sql, args: [] })));
      expect(await db.actorTasks.countByStatus(e)).toEqual({ scheduled: 2, in_progress: 1, completed: 1, failed: 1 });
    } finally {
      await backend.close();
    }
  });
});

describe.each(BACKENDS)("countByStatus from the counters on %s", (name) => {
  let backend: Backend;
  let db: RFDatabase;
  beforeAll(async () => {
    backend = await openBackend(name);
    db = backend.db;
  }, 60_000);
  afterAll(async () => {
    await backend?.close();
  });

  it("equals counting the tasks after every kind of write", async () => {
    const a = await db.experiments.create({ experimentName: "a", numActors: 2 });
    const b = await db.experiments.create({ experimentName: "b", numActors: 2 });
    const pa = await pipeline(db, a);
    const pb = await pipeline(db, b);
    const ids = [a, b];
    expect(await db.actorTasks.countByStatus(a)).toEqual({ scheduled: 0, in_progress: 0, completed: 0, failed: 0 });

    const t: number[] = [];
    for (let i = 0; i < 6; i++)
      t.push(await db.actorTasks.create({ experimentId: a, pipelineId: pa, actorId: 0, shardId: i }));
    const running = await db.actorTasks.create({
      ...{ experimentId: a, pipelineId: pa, actorId: 1, shardId: 9, status: "in_progress", startedAt: new Date() },
    });
    await expectCounts(db, ids, "creates");
    await db.actorTasks.start(t[0]!);
    await db.actorTasks.complete(t[0]!);
    await db.actorTasks.completeWithProgress(running, { samples: 3 });
    await db.actorTasks.fail(t[1]!, "x");
    await db.actorTasks.setStatus(t[2]!, "in_progress");
    await db.actorTasks.claimNext(a, 1);
    await db.actorTasks.setStartTime(t[4]!, new Date()); // not a status change
    await expectCounts(db, ids, "lifecycle calls");

    await expect(db.actorTasks.setStatus(t[0]!, "scheduled")).rejects.toThrow(); // refused by the transitions
    await expect(
      db.transaction(async (tx) => {
        await tx.actorTasks.start(t[5]!);
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    await expectCounts(db, ids, "a refused move and a rolled-back transaction");

    // Raw SQL: another experiment, an insert, a delete, a multi-row update.
    await db.client.execute({
      sql: "UPDATE actor_tasks SET experiment_id = ?, pipeline_id = ? WHERE task_id = ?",
      args: [b, pb, t[5]!],
    });
    await db.client.execute({
      sql: "INSERT INTO actor_tasks (experiment_id, pipeline_id, actor_id, shard_id, status) VALUES (?, ?, 0, 0, 'failed')",
      args: [b, pb],
    });
    await db.client.execute({ sql: "DELETE FROM actor_tasks WHERE task_id = ?", args: [t[4]!] });
    await db.client.execute({
      sql: "UPDATE actor_tasks SET status = 'failed' WHERE experiment_id = ? AND status = 'scheduled'",
      args: [a],
    });
    await expectCounts(db, ids, "raw SQL");

    await db.actorTasks.create({ experimentId: b, pipelineId: pb, actorId: 0, shardId: 1 });
    await db.actorTasks.failUnfinished(b, "stop");
    await db.resetExperimentStates();
    await db.client.execute({ sql: "DELETE FROM pipelines WHERE pipeline_id = ?", args: [pb] }); // cascades to b's tasks
    await expectCounts(db, ids, "recovery and a cascade");

    await db.client.execute({ sql: "DELETE FROM experiments WHERE experiment_id = ?", args: [a] });
    expect(await db.actorTasks.countByStatus(a)).toEqual({ scheduled: 0, in_progress: 0, completed: 0, failed: 0 });
    const left = await db.client.execute({
      sql: "SELECT count(*) FROM actor_task_counts WHERE experiment_id = ?",
      args: [a],
    });
    expect(Number(left.rows[0]![0])).toBe(0); // the counters went with the experiment
    await db.resetAllTables();
    await expectCounts(db, ids, "resetAllTables");
  });

  it("equals counting the tasks after any sequence of creates, moves and deletes (property)", async () => {
    const e = await db.experiments.create({ experimentName: "prop", numActors: 2 });
    const p = await pipeline(db, e);
    const status = fc.constantFrom(...ACTOR_TASK_STATUSES);
    const op = fc.oneof(
      fc.record({ k: fc.constant("create" as const), status }),
      fc.record({ k: fc.constant("move" as const), i: fc.nat(), status }),
      fc.record({ k: fc.constant("delete" as const), i: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 12 }), async (ops) => {
        const rs = await db.client.execute({
          sql: "SELECT task_id FROM actor_tasks WHERE experiment_id = ?",
          args: [e],
        });
        const tasks = rs.rows.map((r) => Number(r[0]));
        for (const o of ops) {
          if (o.k === "create") {
            tasks.push(
              await db.actorTasks.create({ experimentId: e, pipelineId: p, actorId: 0, shardId: 0, status: o.status }),
            );
          } else if (tasks.length > 0) {
            const id = tasks[o.i % tasks.length]!;
            if (o.k === "move") await db.actorTasks.setStatus(id, o.status).catch(() => undefined);
            else await db.client.execute({ sql: "DELETE FROM actor_tasks WHERE task_id = ?", args: [id] });
          }
        }
        expect(await db.actorTasks.countByStatus(e)).toEqual(await counted(db, e));
      }),
      { numRuns: name === "sqld" ? 15 : 40 },
    );
  }, 120_000);
});
