/**
 * Checked status changes, for every entity, through the API and through raw SQL:
 *
 * - the whole matrix (every from × every to): an allowed move succeeds, a
 *   move to the current status is a no-op, anything else throws
 *   InvalidTransitionError (raw SQL: the trigger's abort, mapped to the same
 *   class) and leaves the row exactly as it was;
 * - a fast-check property over random walks mixing `setStatus`, the named
 *   pipeline moves and raw UPDATEs, against a model built from the tables;
 * - the triggers in a migrated database are exactly what the current
 *   `*_TRANSITIONS` tables render (so the migration cannot drift from them);
 * - a deleted pipeline accepts no IC operation (API and raw SQL).
 */
import type { Client } from "@libsql/client";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mapDriverError } from "../src/errors";
import {
  ACTOR_TASK_TRANSITIONS,
  CONTEXT_TRANSITIONS,
  EXPERIMENT_TRANSITIONS,
  IC_TRANSITIONS,
  InvalidTransitionError,
  PIPELINE_TRANSITIONS,
  type RFDatabase,
  type Transitions,
} from "../src/index";
import {
  DELETED_PIPELINE_REFUSED,
  isAllowedTransition,
  renderTransitionTriggers,
  STATUS_MACHINES,
  TRANSITION_REFUSED,
  transitionTriggerNames,
} from "../src/schema/transitions";
import { BACKENDS, openBackend, type Backend } from "./support/backends";
import { makeExperiment, makePipeline } from "./support/factories";

type EntityKey = "experiments" | "contexts" | "pipelines" | "actorTasks" | "icOperations";

interface Subject {
  key: EntityKey;
  table: string;
  pk: string;
  transitions: Transitions<string>;
}

const SUBJECTS: Subject[] = [
  { key: "experiments", table: "experiments", pk: "experiment_id", transitions: EXPERIMENT_TRANSITIONS },
  { key: "contexts", table: "contexts", pk: "context_id", transitions: CONTEXT_TRANSITIONS },
  { key: "pipelines", table: "pipelines", pk: "pipeline_id", transitions: PIPELINE_TRANSITIONS },
  { key: "actorTasks", table: "actor_tasks", pk: "task_id", transitions: ACTOR_TASK_TRANSITIONS },
  { key: "icOperations", table: "interactive_control", pk: "ic_id", transitions: IC_TRANSITIONS },
];

const NAMED_MOVES = {
  start: { to: "ongoing", from: ["new"] },
  stop: { to: "stopped", from: ["new", "ongoing"] },
  resume: { to: "ongoing", from: ["stopped"] },
  complete: { to: "completed", from: ["ongoing"] },
  delete: { to: "deleted", from: ["new", "ongoing", "stopped", "completed", "failed"] },
  fail: { to: "failed", from: ["new", "ongoing", "stopped"] },
} as const;
type MoveName = keyof typeof NAMED_MOVES;

let seq = 0;

/** A new row of `s` in status `status` (IC operations by raw INSERT: `create` always makes them pending). */
async function rowIn(db: RFDatabase, s: Subject, status: string): Promise<number> {
  const st = status as never;
  switch (s.key) {
    case "experiments":
      return makeExperiment(db, { status: st });
    case "contexts":
      return db.contexts.create({ contextHash: `t-${seq++}-${Math.random()}`, status: st });
    case "pipelines":
      return makePipeline(db, { status: st });
    case "actorTasks": {
      const pipelineId = await makePipeline(db);
      const experimentId = (await db.pipelines.get(pipelineId))!.experimentId;
      return db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 0, status: st });
    }
    case "icOperations": {
      const pipelineId = await makePipeline(db);
      const rs = await db.client.execute({
        sql: "INSERT INTO interactive_control (operation, pipeline_id, status) VALUES ('stop', ?, ?)",
        args: [pipelineId, status],
      });
      return Number(rs.lastInsertRowid);
    }
  }
}

async function rawRow(client: Client, s: Subject, id: number): Promise<Record<string, unknown>> {
  const rs = await client.execute({ sql: `SELECT * FROM ${s.table} WHERE ${s.pk} = ?`, args: [id] });
  return Object.fromEntries(rs.columns.map((c, i) => [c, rs.rows[0]![i]]));
}

type Via = "api" | "sql";

/** Moves row `id` to `to` through the API or raw SQL; resolves, or rejects with the typed error. */
async function setVia(db: RFDatabase, s: Subject, id: number, to: string, via: Via): Promise<void> {
  if (via === "api") return (db[s.key] as { setStatus(id: number, s: string): Promise<void> }).setStatus(id, to);
  try {
    await db.client.execute({ sql: `UPDATE ${s.table} SET status = ? WHERE ${s.pk} = ?`, args: [to, id] });
  } catch (err) {
    throw mapDriverError(err);
  }
}

describe.each(BACKENDS)("status transitions on %s", (backendName) => {
  let backend: Backend;
  let db: RFDatabase;

  beforeAll(async () => {
    backend = await openBackend(backendName);
    db = backend.db;
  }, 60_000);
  afterAll(async () => {
    await backend?.close();
  });

  describe.each(SUBJECTS)("$key: the whole matrix", (s) => {
    const statuses = Object.keys(s.transitions);
    const pairs = statuses.flatMap((from) => statuses.map((to) => [from, to] as const));

    it.each(["api", "sql"] as const)(
      `every from × to through %s: allowed moves succeed, others throw and change nothing`,
      async (via) => {
        for (const [from, to] of pairs) {
          const id = await rowIn(db, s, from);
          const before = await rawRow(db.client, s, id);
          const allowed = isAllowedTransition(s.transitions, from, to);
          const outcome = await setVia(db, s, id, to, via).then(
            () => "ok" as const,
            (err: unknown) => err,
          );
          const after = await rawRow(db.client, s, id);
          if (allowed) {
            expect(outcome, `${s.key} ${from} -> ${to} via ${via}`).toBe("ok");
            expect(after.status).toBe(to);
            // A move to the current status writes nothing through the API (raw SQL writes what it is told).
            if (from === to && via === "api") expect(after).toEqual(before);
          } else {
            expect(outcome, `${s.key} ${from} -> ${to} via ${via}`).toBeInstanceOf(InvalidTransitionError);
            expect(after, `${s.key} ${from} -> ${to} via ${via} changed the row`).toEqual(before);
          }
        }
      },
      60_000,
    );
  });

  it("a property over random walks: setStatus, named pipeline moves and raw UPDATEs follow the tables", async () => {
    const subject = fc.constantFrom(...SUBJECTS);
    const step = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), to: fc.nat(), via: fc.constantFrom<Via>("api", "sql") }),
      fc.record({
        kind: fc.constant("move" as const),
        move: fc.constantFrom(...(Object.keys(NAMED_MOVES) as MoveName[])),
      }),
    );
    await fc.assert(
      fc.asyncProperty(subject, fc.nat(), fc.array(step, { minLength: 1, maxLength: 8 }), async (s, start, steps) => {
        const statuses = Object.keys(s.transitions);
        let current = statuses[start % statuses.length]!;
        const id = await rowIn(db, s, current);
        for (const st of steps) {
          const before = await rawRow(db.client, s, id);
          let to: string;
          let allowed: boolean;
          let call: Promise<void>;
          if (st.kind === "set") {
            to = statuses[st.to % statuses.length]!;
            allowed = isAllowedTransition(s.transitions, current, to);
            call = setVia(db, s, id, to, st.via);
          } else {
            if (s.key !== "pipelines") continue;
            const m = NAMED_MOVES[st.move];
            to = m.to;
            allowed = current === to || (m.from as readonly string[]).includes(current);
            call =
              st.move === "fail"
                ? db.pipelines.fail(id, "walk")
                : (db.pipelines[st.move] as (i: number) => Promise<void>)(id);
          }
          const outcome = await call.then(
            () => "ok" as const,
            (err: unknown) => err,
          );
          if (allowed) {
            expect(outcome).toBe("ok");
            current = to;
          } else {
            expect(outcome).toBeInstanceOf(InvalidTransitionError);
            expect(await rawRow(db.client, s, id)).toEqual(before);
          }
          expect((await rawRow(db.client, s, id)).status).toBe(current);
        }
      }),
      { numRuns: backendName === "sqld" ? 40 : 150 },
    );
  }, 120_000);

  it("a deleted pipeline accepts no IC operation: create refuses it typed, raw SQL is refused too", async () => {
    const pipelineId = await makePipeline(db);
    await db.icOperations.create({ operation: "stop", pipelineId });
    await db.pipelines.delete(pipelineId);
    const before = await db.icOperations.listAll();
    const err = await db.icOperations.create({ operation: "resume", pipelineId }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidTransitionError);
    expect(err).toMatchObject({ entity: "pipeline", id: pipelineId, from: "deleted" });
    await expect(
      db.client.execute({
        sql: "INSERT INTO interactive_control (operation, pipeline_id) VALUES ('stop', ?)",
        args: [pipelineId],
      }),
    ).rejects.toThrow(DELETED_PIPELINE_REFUSED);
    expect(await db.icOperations.listAll()).toEqual(before);
    // History may still name it: a finished operation (e.g. imported) is accepted.
    await db.client.execute({
      sql: "INSERT INTO interactive_control (operation, pipeline_id, status) VALUES ('delete', ?, 'completed')",
      args: [pipelineId],
    });
  });
});

describe("the transition triggers and the tables cannot drift", () => {
  let backend: Backend;
  beforeAll(async () => {
    backend = await openBackend("memory");
  });
  afterAll(async () => {
    await backend?.close();
  });

  it("the migrated database holds exactly the triggers the current *_TRANSITIONS tables render", async () => {
    // Only the transition triggers: the change-log triggers (tests/change-feed.test.ts) live beside them.
    const names = new Set(transitionTriggerNames());
    const rs = await backend.db.client.execute(
      // (the task counters' triggers are another migration's: tests/task-counts.test.ts)
      "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name NOT LIKE 'actor_task_counts_%' ORDER BY name",
    );
    const live = rs.rows
      .filter((r) => names.has(String(r[0])))
      .map((r) => `${String(r[1])};`)
      .sort();
    const rendered = renderTransitionTriggers()
      .filter((s) => s.startsWith("CREATE TRIGGER"))
      .sort();
    expect(live).toEqual(rendered);
  });

  it("the errors module recognises every trigger's message", () => {
    for (const m of STATUS_MACHINES) {
      const create = renderTransitionTriggers().find((s) => s.startsWith(`CREATE TRIGGER \`${m.table}_status`))!;
      const message = /RAISE\(ABORT, '([^']*)'\)/.exec(create)![1]!;
      expect(message.startsWith(TRANSITION_REFUSED)).toBe(true);
      const err = mapDriverError(new Error(`SQLITE_CONSTRAINT_TRIGGER: ${message}`));
      expect(err).toBeInstanceOf(InvalidTransitionError);
      expect(err).toMatchObject({ entity: m.entity });
    }
    const deleted = mapDriverError(new Error(DELETED_PIPELINE_REFUSED), { foreignKey: { entity: "pipeline", id: 4 } });
    expect(deleted).toMatchObject({ entity: "pipeline", id: 4, from: "deleted" });
  });
});
