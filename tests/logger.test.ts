/**
 * The `logger` option sees every statement — the repositories' compiled
 * statements, Drizzle queries, batches (one event per statement), the
 * statements of a transaction with its BEGIN and COMMIT/ROLLBACK, the
 * migrations, raw `db.client` calls — with `{ sql, durationMs, rows,
 * rowsAffected?, error? }`, on memory, file and sqld. An error is the typed
 * one, without the auth token. A logger that throws, or returns a rejected
 * promise, changes nothing about the call.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RFDatabaseError, RFDatabase, ValidationError } from "../src/index";
import type { StatementEvent } from "../src/driver/observe";
import { BACKENDS, openBackend, type Backend } from "./support/backends";
import { CALLS, capture, seedRows } from "./support/repository-calls";

describe.each(BACKENDS)("logger on %s", (name) => {
  let backend: Backend;
  let db: RFDatabase;
  const events: StatementEvent[] = [];
  const take = () => events.splice(0, events.length);

  beforeAll(async () => {
    backend = await openBackend(name);
    // (on memory, reopen opens a new database: fine, every test here works on its own rows)
    db = await backend.reopen({ logger: (e: StatementEvent) => void events.push(e) });
  }, 60_000);
  afterAll(async () => {
    await backend?.close();
  });

  it("one event per statement, with its SQL, duration and rows", async () => {
    take();
    const id = await db.experiments.create({ experimentName: "logged", numActors: 1 });
    const row = await db.experiments.get(id);
    expect(row?.experimentName).toBe("logged");
    const [insert, select, ...rest] = take();
    expect(rest).toEqual([]);
    expect(insert!.sql).toMatch(/^insert into "experiments"/);
    expect(insert!.rows).toBe(0);
    expect(insert!.rowsAffected).toBe(1);
    expect(insert!.durationMs).toBeGreaterThanOrEqual(0);
    expect(insert!.error).toBeUndefined();
    expect(select!.sql).toMatch(/^select .* from "experiments"/);
    expect(select!.rows).toBe(1);
    // arguments are never part of an event
    expect(JSON.stringify([insert, select])).not.toContain("logged");
  });

  it("every repository method's statements reach the logger", async () => {
    const ids = await seedRows(db);
    for (const call of CALLS) {
      take();
      const sent = await capture(db.client, () => call.run(db, ids).catch(() => undefined));
      const logged = take().map((e) => e.sql);
      expect(logged.length, `${call.repo}.${call.method}`).toBeGreaterThan(0);
      for (const s of sent) expect(logged, `${call.repo}.${call.method}`).toContain(s.sql);
    }
  });

  it("a batch: one event per statement with the batch's duration; a transaction: BEGIN … COMMIT / ROLLBACK", async () => {
    take();
    await db.resetExperimentStates();
    const batch = take();
    expect(batch.length).toBeGreaterThan(1);
    expect(new Set(batch.map((e) => e.durationMs)).size).toBe(1);

    await db.transaction(async (tx) => {
      await tx.experiments.create({ experimentName: "in-tx", numActors: 1 });
    });
    expect(take().map((e) => e.sql.split(" ")[0]!.toUpperCase())).toEqual(["BEGIN", "INSERT", "COMMIT"]);

    await expect(
      db.transaction(async (tx) => {
        await tx.experiments.create({ experimentName: "rolled back", numActors: 1 });
        throw new Error("no");
      }),
    ).rejects.toThrow("no");
    expect(take().map((e) => e.sql.split(" ")[0]!.toUpperCase())).toEqual(["BEGIN", "INSERT", "ROLLBACK"]);
  });

  it("a failed statement is logged with its typed error", async () => {
    take();
    await expect(
      db.client.execute("INSERT INTO experiments (experiment_name, num_actors, status) VALUES ('x', 1, 'bogus')"),
    ).rejects.toThrow();
    const [e] = take();
    expect(e!.error).toBeInstanceOf(ValidationError);
    expect(e!.error).toBeInstanceOf(RFDatabaseError);
    expect(e!.rows).toBe(0);
  });

  it("a throwing or rejecting logger does not change the call", async () => {
    const throwing = await backend.reopen({
      logger: () => {
        throw new Error("logger broke");
      },
    });
    const rejecting = await backend.reopen({ logger: async () => Promise.reject(new Error("async logger broke")) });
    for (const d of [throwing, rejecting]) {
      const id = await d.experiments.create({ experimentName: "still works", numActors: 1 });
      expect((await d.experiments.get(id))?.experimentName).toBe("still works");
      await d.transaction((tx) => tx.experiments.setStatus(id, "completed"));
    }
    await new Promise((r) => setTimeout(r, 20)); // an unhandled rejection would fail the run
  });
});

describe("logger at open", () => {
  it("sees the migrations applied to a new database", async () => {
    const events: StatementEvent[] = [];
    const db = await RFDatabase.open({ url: ":memory:", logger: (e) => void events.push(e) });
    expect(events.some((e) => /^CREATE TABLE/i.test(e.sql))).toBe(true);
    await db.close();
  });
});
