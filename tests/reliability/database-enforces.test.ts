/**
 * Scenario 8 — the database itself refuses bad rows, not only the repositories.
 *
 * Raw SQL through `db.client.execute` (and through a transaction's Drizzle
 * handle) that writes a status outside its set into each table, a negative
 * count, an IC operation without its pipeline, or a foreign key pointing at
 * nothing, fails — on :memory:, a temp file and sqld, on the first
 * connection, on a second one to the same database, and after a transaction
 * (a client may open a fresh connection then). Each refused statement changes
 * nothing (full dump before/after). Cascades (which also need foreign keys on)
 * work on every connection. Local files: WAL and a busy timeout, per the contract.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RFDatabase } from "../../src/index";
import { BACKENDS, openBackend, type Backend } from "../support/backends";
import { dumpAll, report } from "./support";

interface Fixture {
  experimentId: number;
  contextId: number;
  pipelineId: number;
  taskId: number;
  icId: number;
}

async function fixture(db: RFDatabase): Promise<Fixture> {
  const experimentId = await db.experiments.create({ experimentName: "enforce", numActors: 1 });
  const contextId = await db.contexts.create({ contextHash: `enforce-${Math.random()}` });
  const pipelineId = await db.pipelines.create({
    experimentId,
    pipelineName: "p",
    pipelineType: "t",
    modelConfig: {},
    samplingParams: {},
    contextId,
  });
  const taskId = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 0 });
  const icId = await db.icOperations.create({ operation: "stop", pipelineId });
  return { experimentId, contextId, pipelineId, taskId, icId };
}

/** Statements the schema must refuse, with the constraint kind expected in the error. */
function badStatements(f: Fixture): { name: string; sql: string; kind: "CHECK" | "FOREIGN KEY" | "NOT NULL" }[] {
  const missing = 987_654_321;
  return [
    {
      name: "experiments: insert bad status",
      sql: `INSERT INTO experiments (experiment_name, num_actors, status) VALUES ('x', 1, 'bogus')`,
      kind: "CHECK",
    },
    {
      name: "experiments: update bad status",
      sql: `UPDATE experiments SET status = 'RUNNING' WHERE experiment_id = ${f.experimentId}`,
      kind: "CHECK",
    },
    {
      name: "experiments: negative count",
      sql: `UPDATE experiments SET num_shards = -1 WHERE experiment_id = ${f.experimentId}`,
      kind: "CHECK",
    },
    {
      name: "contexts: insert bad status",
      sql: `INSERT INTO contexts (context_hash, status) VALUES ('bad-${Math.random()}', 'done')`,
      kind: "CHECK",
    },
    {
      name: "contexts: update bad status",
      sql: `UPDATE contexts SET status = '' WHERE context_id = ${f.contextId}`,
      kind: "CHECK",
    },
    {
      name: "pipelines: insert bad status",
      sql: `INSERT INTO pipelines (experiment_id, pipeline_name, pipeline_type, model_config, sampling_params, status) VALUES (${f.experimentId}, 'p', 't', '{}', '{}', 'paused')`,
      kind: "CHECK",
    },
    {
      name: "pipelines: update bad status",
      sql: `UPDATE pipelines SET status = 'running' WHERE pipeline_id = ${f.pipelineId}`,
      kind: "CHECK",
    },
    {
      name: "pipelines: negative progress",
      sql: `UPDATE pipelines SET shards_completed = -5 WHERE pipeline_id = ${f.pipelineId}`,
      kind: "CHECK",
    },
    {
      name: "pipelines: dangling experiment",
      sql: `INSERT INTO pipelines (experiment_id, pipeline_name, pipeline_type, model_config, sampling_params) VALUES (${missing}, 'p', 't', '{}', '{}')`,
      kind: "FOREIGN KEY",
    },
    {
      name: "pipelines: dangling context",
      sql: `UPDATE pipelines SET context_id = ${missing} WHERE pipeline_id = ${f.pipelineId}`,
      kind: "FOREIGN KEY",
    },
    {
      name: "actor_tasks: insert bad status",
      sql: `INSERT INTO actor_tasks (experiment_id, pipeline_id, actor_id, shard_id, status) VALUES (${f.experimentId}, ${f.pipelineId}, 0, 1, 'done')`,
      kind: "CHECK",
    },
    {
      name: "actor_tasks: update bad status",
      sql: `UPDATE actor_tasks SET status = 'in-progress' WHERE task_id = ${f.taskId}`,
      kind: "CHECK",
    },
    {
      name: "actor_tasks: dangling pipeline",
      sql: `INSERT INTO actor_tasks (experiment_id, pipeline_id, actor_id, shard_id) VALUES (${f.experimentId}, ${missing}, 0, 1)`,
      kind: "FOREIGN KEY",
    },
    {
      name: "actor_tasks: dangling experiment",
      sql: `INSERT INTO actor_tasks (experiment_id, pipeline_id, actor_id, shard_id) VALUES (${missing}, ${f.pipelineId}, 0, 1)`,
      kind: "FOREIGN KEY",
    },
    {
      name: "actor_tasks: repoint to missing pipeline",
      sql: `UPDATE actor_tasks SET pipeline_id = ${missing} WHERE task_id = ${f.taskId}`,
      kind: "FOREIGN KEY",
    },
    {
      name: "interactive_control: insert bad status",
      sql: `INSERT INTO interactive_control (operation, pipeline_id, status) VALUES ('stop', ${f.pipelineId}, 'queued')`,
      kind: "CHECK",
    },
    {
      name: "interactive_control: bad operation",
      sql: `INSERT INTO interactive_control (operation, pipeline_id) VALUES ('pause', ${f.pipelineId})`,
      kind: "CHECK",
    },
    {
      name: "interactive_control: update bad status",
      sql: `UPDATE interactive_control SET status = 'done' WHERE ic_id = ${f.icId}`,
      kind: "CHECK",
    },
    {
      name: "interactive_control: stop without pipeline",
      sql: `INSERT INTO interactive_control (operation) VALUES ('stop')`,
      kind: "CHECK",
    },
    {
      name: "interactive_control: dangling pipeline",
      sql: `INSERT INTO interactive_control (operation, pipeline_id) VALUES ('stop', ${missing})`,
      kind: "FOREIGN KEY",
    },
  ];
}

const KIND_TEXT = {
  CHECK: /CHECK constraint failed|SQLITE_CONSTRAINT/i,
  "FOREIGN KEY": /FOREIGN KEY constraint failed|SQLITE_CONSTRAINT/i,
  "NOT NULL": /NOT NULL/i,
};

async function expectAllRefused(db: RFDatabase, via: "client" | "transaction"): Promise<number> {
  const f = await fixture(db);
  let refused = 0;
  for (const stmt of badStatements(f)) {
    const before = await dumpAll(db.client);
    let error: unknown;
    try {
      if (via === "client") await db.client.execute(stmt.sql);
      else await db.transaction(async (tx) => void (await tx.drizzle.run(sql.raw(stmt.sql))));
    } catch (err) {
      error = err;
    }
    expect(error, `${stmt.name} (${via}) was accepted`).toBeDefined();
    const chain = [
      error,
      (error as { cause?: unknown })?.cause,
      ((error as { cause?: { cause?: unknown } })?.cause as { cause?: unknown })?.cause,
    ]
      .map((e) => `${(e as Error)?.message ?? ""} ${(e as { code?: string })?.code ?? ""}`)
      .join(" | ");
    expect(chain, stmt.name).toMatch(KIND_TEXT[stmt.kind]);
    expect(await dumpAll(db.client), `${stmt.name} (${via}) changed the database`).toEqual(before);
    refused++;
  }
  return refused;
}

async function expectCascades(db: RFDatabase): Promise<void> {
  const f = await fixture(db);
  await db.client.execute(`DELETE FROM contexts WHERE context_id = ${f.contextId}`);
  expect((await db.pipelines.get(f.pipelineId))?.contextId).toBeNull();
  await db.client.execute(`DELETE FROM experiments WHERE experiment_id = ${f.experimentId}`);
  expect(await db.pipelines.get(f.pipelineId)).toBeNull();
  expect(await db.actorTasks.get(f.taskId)).toBeNull();
  expect(await db.icOperations.get(f.icId)).toBeNull();
}

describe.each(BACKENDS)("the database enforces statuses and foreign keys on %s", (name) => {
  let backend: Backend;
  beforeAll(async () => {
    backend = await openBackend(name);
  });
  afterAll(async () => {
    await backend?.close();
  });

  it("refuses every bad raw write on the first connection, changing nothing", async () => {
    const n = await expectAllRefused(backend.db, "client");
    await expectCascades(backend.db);
    report("database-enforces", { backend: name, connection: "first", badStatementsRefused: n, accepted: 0 });
  });

  it("refuses them inside a transaction and on the connection used after one", async () => {
    const n = await expectAllRefused(backend.db, "transaction");
    // A client may open a new connection after a transaction; it must enforce too.
    await backend.db.transaction(async (tx) => void (await tx.experiments.listNames()));
    const m = await expectAllRefused(backend.db, "client");
    await expectCascades(backend.db);
    report("database-enforces", {
      backend: name,
      connection: "in/after transaction",
      badStatementsRefused: n + m,
      accepted: 0,
    });
  });

  it.skipIf(name === "memory")("refuses them on a second connection to the same database", async () => {
    const other = await backend.reopen();
    const n = await expectAllRefused(other, "client");
    await expectCascades(other);
    report("database-enforces", { backend: name, connection: "second", badStatementsRefused: n, accepted: 0 });
  });

  it.runIf(name === "file")(
    "opens a local file in WAL mode with foreign keys and a busy timeout, on every connection",
    async () => {
      const dbs = [backend.db, await backend.reopen()];
      const seen: unknown[] = [];
      for (const db of dbs) {
        for (const phase of ["fresh", "after transaction"]) {
          if (phase === "after transaction")
            await db.transaction(async (tx) => void (await tx.experiments.listNames()));
          const get = async (pragma: string) =>
            Object.values((await db.client.execute(`PRAGMA ${pragma}`)).rows[0] ?? {})[0];
          const p = {
            journal: await get("journal_mode"),
            fk: Number(await get("foreign_keys")),
            busy: Number(await get("busy_timeout")),
          };
          seen.push({ phase, ...p });
          expect(p.fk).toBe(1);
          expect(p.busy).toBeGreaterThan(0);
          expect(String(p.journal).toLowerCase()).toBe("wal");
        }
      }
      report("database-enforces-pragmas", { backend: name, seen });
    },
  );
});
