/**
 * The statement engine's bet on Drizzle's internals (see
 * src/repositories/engine/drizzle-internals.ts), guarded: every statement of
 * every public repository method, on the database and inside a transaction,
 * compiles to the fast path — no statement falls back to Drizzle's per-call
 * path — and compiled statements batch atomically. A Drizzle upgrade that
 * moves what the engine reads fails here, by name, instead of silently
 * making every call slower (or breaking `completeWithProgress`'s batch).
 */
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Repositories, RFDatabase } from "../src/index";
import { bindingOf, CompiledQuery, slowPath, statementsOf } from "../src/repositories/engine";
import * as schema from "../src/schema";
import { BACKENDS, openBackend, type Backend } from "./support/backends";
import { CALLS, capture, seedRows } from "./support/repository-calls";

const REPOS = ["experiments", "contexts", "pipelines", "actorTasks", "icOperations"] as const;

/** Every compiled statement of the scope's repositories, as `repo.key`, with whether it is fast. */
function compiledOf(scope: Repositories): Map<string, CompiledQuery<unknown>> {
  const out = new Map<string, CompiledQuery<unknown>>();
  for (const repo of REPOS) {
    const cache = statementsOf(scope[repo]);
    expect(cache, `${repo} has no statement cache`).toBeDefined();
    for (const [key, stmt] of cache!.entries()) out.set(`${repo}.${key}`, stmt);
  }
  return out;
}

describe.each(BACKENDS)("statement engine on %s", (name) => {
  let backend: Backend;
  let db: RFDatabase;

  beforeAll(async () => {
    backend = await openBackend(name);
    db = backend.db;
  }, 60_000);
  afterAll(async () => {
    await backend?.close();
  });

  it("finds where Drizzle sends statements, on the database and in a transaction", async () => {
    const top = bindingOf(db.drizzle);
    expect(top, "session.client of the Drizzle database").not.toBeNull();
    expect(top!.tx).toBeUndefined();
    await db.transaction(async (tx) => {
      const inner = bindingOf(tx.drizzle);
      expect(inner, "session of a Drizzle transaction").not.toBeNull();
      expect(inner!.tx, "session.tx: the libSQL transaction").toBeDefined();
    });
  });

  it("every repository statement takes the fast path, on the database and in a transaction", async () => {
    const ids = await seedRows(db);
    const runAll = async () => {
      for (const call of CALLS) await call.run(db, ids);
    };
    // (capture patches the client's methods; the remote client is a retrying Proxy onto itself, so it
    // is captured on the local backends only — the SQL sent is the same.)
    const sent = name === "sqld" ? (await runAll(), []) : await capture(db.client, runAll);
    const top = compiledOf(db);
    let inner = new Map<string, CompiledQuery<unknown>>();
    await db.transaction(async (tx) => {
      const txIds = await seedRows(tx);
      for (const call of CALLS) await call.run(tx, txIds);
      inner = compiledOf(tx);
    });

    expect([...slowPath], "statements that fell back to Drizzle's per-call path").toEqual([]);
    expect(top.size).toBeGreaterThanOrEqual(CALLS.length - 5); // a few calls share a statement
    for (const [key, stmt] of [...top, ...inner]) expect(stmt.fast, `${key} is not on the fast path`).toBe(true);
    // The transaction's repositories were bound from the shared templates, not built again.
    expect([...inner.keys()].sort()).toEqual([...top.keys()].sort());
    for (const [key, stmt] of inner) expect(stmt.template, key).toBe(top.get(key)!.template);
    // Nothing a repository method sends bypasses the engine (e.g. a Drizzle builder awaited directly).
    const compiledSql = new Set([...top.values()].map((s) => s.sql));
    const stray = sent.map((s) => s.sql).filter((s) => !compiledSql.has(s));
    expect(stray, "statements sent by repository methods that are not compiled ones").toEqual([]);
  });

  it("decodes rows exactly as Drizzle does, for every column of every table", async () => {
    await seedRows(db);
    const ctx = await db.contexts.create({
      contextHash: `dec-${Math.random()}`,
      ragConfig: [1, "two", { three: null }],
    });
    await db.contexts.setStartTime(ctx, "2026-03-04T05:06:07.089Z");
    for (const table of [
      schema.experiments,
      schema.contexts,
      schema.pipelines,
      schema.actorTasks,
      schema.icOperations,
    ]) {
      const prepared = db.drizzle.select().from(table).prepare();
      const compiled = new CompiledQuery(prepared);
      expect(compiled.fast).toBe(true);
      expect(await compiled.all()).toEqual(await prepared.all());
      expect(await compiled.get()).toEqual(await prepared.get());
      expect(slowPath.has(compiled.sql), `${compiled.sql} was decoded by Drizzle`).toBe(false);
    }
  });

  it("batches compiled statements atomically, on the database and inside a transaction", async () => {
    const build = (d: Repositories["drizzle"]) => ({
      insert: new CompiledQuery(
        d
          .insert(schema.experiments)
          .values({ experimentName: sql.placeholder("name") as never, numActors: sql.placeholder("n") as never })
          .prepare(),
      ),
      read: new CompiledQuery(
        d
          .select({ n: schema.experiments.numActors })
          .from(schema.experiments)
          .where(eq(schema.experiments.experimentName, sql.placeholder("name")))
          .prepare(),
      ),
    });
    const s = build(db.drizzle);
    const name = `batch-${Math.random()}`;
    const [inserted, read] = await CompiledQuery.batch([
      { query: s.insert as CompiledQuery<unknown>, values: { name, n: 3 } },
      { query: s.read as CompiledQuery<unknown>, values: { name } },
    ]);
    expect(inserted!.rowsAffected).toBe(1);
    expect(s.read.decodeFirst(read!)).toEqual({ n: 3 });

    // All or nothing: the second insert breaks a CHECK, so the first is not kept either.
    const lost = `batch-lost-${Math.random()}`;
    await expect(
      CompiledQuery.batch([
        { query: s.insert as CompiledQuery<unknown>, values: { name: lost, n: 1 } },
        { query: s.insert as CompiledQuery<unknown>, values: { name: lost, n: -1 } },
      ]),
    ).rejects.toThrow();
    expect(await s.read.all({ name: lost })).toEqual([]);

    // Inside a transaction the batch runs in it, and rolls back with it.
    const inTx = `batch-tx-${Math.random()}`;
    await expect(
      db.transaction(async (tx) => {
        const t = build(tx.drizzle);
        const [, r] = await CompiledQuery.batch([
          { query: t.insert as CompiledQuery<unknown>, values: { name: inTx, n: 5 } },
          { query: t.read as CompiledQuery<unknown>, values: { name: inTx } },
        ]);
        expect(t.read.decodeFirst(r!)).toEqual({ n: 5 });
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    expect(await s.read.all({ name: inTx })).toEqual([]);
  });
});
