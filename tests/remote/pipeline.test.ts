/**
 * Calls a process issues together travel in ONE HTTP request
 * (src/driver/remote/pipeline.ts), against a real sqld behind a counting
 * proxy: in the order they were issued, each with its own result and its own
 * error — a failing statement affects no other, an atomic batch rolls back
 * only itself — and with the results and errors the same calls give when
 * sent alone. Closing and timeouts end pipelined calls like any other.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectionError, RFDatabase, ValidationError } from "../../src/index";
import { startProxy, type TestProxy } from "../support/proxy";
import { startSqld, type SqldServer } from "../support/sqld";

let server: SqldServer;
let proxy: TestProxy;
let db: RFDatabase;

beforeAll(async () => {
  server = await startSqld();
  proxy = await startProxy({ target: server.url });
  db = await RFDatabase.open({ url: proxy.url, migrate: true });
}, 60_000);

afterAll(async () => {
  await db?.close();
  await proxy?.stop();
  await server?.stop();
});

/** Requests the proxy saw while `fn` ran. */
async function requestsOf<T>(fn: () => Promise<T>): Promise<{ value: T; requests: number }> {
  await new Promise((r) => setTimeout(r, 5));
  proxy.reset();
  const value = await fn();
  return { value, requests: proxy.requests };
}

const outcome = (r: PromiseSettledResult<unknown>) =>
  r.status === "fulfilled"
    ? { ok: r.value }
    : { error: (r.reason as Error).name, message: (r.reason as Error).message };

describe("pipelined calls over http", () => {
  it("calls issued together are one request, run in the order issued, each with its own result", async () => {
    const name = `pipe-${Math.random()}`;
    const { value, requests } = await requestsOf(() =>
      Promise.all([
        db.experiments.create({ experimentName: name, numActors: 2 }),
        db.experiments.getByName(name), // issued after the create: it sees it
        db.experiments.listNames(),
        db.experiments.create({ experimentName: `${name}-2`, numActors: 1 }),
      ]),
    );
    expect(requests).toBe(1);
    const [id, byName, names, id2] = value;
    expect(byName?.experimentId).toBe(id);
    expect(names).toContain(name);
    expect(id2).toBe(id + 1);
    // The same calls one at a time: one request each, the same answers.
    const alone = await requestsOf(async () => [await db.experiments.get(id), await db.experiments.get(id2)]);
    expect(alone.requests).toBe(2);
    expect(alone.value[0]).toEqual(byName);
  });

  it("a failing call affects no other, and fails as it does alone", async () => {
    const eid = await db.experiments.create({ experimentName: `errs-${Math.random()}`, numActors: 1 });
    const calls: (() => Promise<unknown>)[] = [
      () => db.experiments.setNumShards(eid, 8),
      () => db.experiments.setStatus(999_999, "completed"), // NotFoundError (its refusal read is a second round)
      () => db.client.execute("SELECT * FROM no_such_table"),
      () =>
        db.client.execute({
          sql: "INSERT INTO experiments (experiment_name, num_actors) VALUES (?, ?)",
          args: ["x", -1],
        }),
      () => db.experiments.setError(eid, "still written"),
    ];
    const together = await requestsOf(() => Promise.allSettled(calls.map((c) => c())));
    const separately: PromiseSettledResult<unknown>[] = [];
    for (const call of calls) separately.push(...(await Promise.allSettled([call()])));
    expect(together.value.map(outcome)).toEqual(separately.map(outcome));
    expect(together.value.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected", "rejected", "fulfilled"]);
    expect(together.requests).toBeLessThanOrEqual(2); // the pipeline, plus the NotFound check's own read
    const e = await db.experiments.get(eid);
    expect(e).toMatchObject({ numShards: 8, error: "still written" });
  });

  it("an atomic batch in a pipeline rolls back only itself", async () => {
    const tag = `batch-${Math.random()}`;
    const insert = (n: number) => ({
      sql: "INSERT INTO experiments (experiment_name, num_actors) VALUES (?, ?)",
      args: [tag, n],
    });
    const { value, requests } = await requestsOf(() =>
      Promise.allSettled([
        db.client.batch([insert(1), insert(-1)], "write"), // the second breaks a CHECK: nothing of it stays
        db.client.execute(insert(2)),
        db.client.batch([insert(3), insert(4)], "write"),
      ]),
    );
    expect(requests).toBe(1);
    expect(value.map((r) => r.status)).toEqual(["rejected", "fulfilled", "fulfilled"]);
    expect((value[0] as PromiseRejectedResult).reason).toMatchObject({ name: "LibsqlBatchError", statementIndex: 1 });
    const rows = await db.client.execute({
      sql: "SELECT num_actors FROM experiments WHERE experiment_name = ? ORDER BY 1",
      args: [tag],
    });
    expect(rows.rows.map((r) => Number(r[0]))).toEqual([2, 3, 4]);
  });

  it("repository batches (completeWithProgress) from concurrent actors share one request", async () => {
    const eid = await db.experiments.create({ experimentName: `actors-${Math.random()}`, numActors: 4 });
    const pid = await db.pipelines.create({
      experimentId: eid,
      pipelineName: "p",
      pipelineType: "t",
      status: "ongoing",
    });
    const ids = await Promise.all(
      [0, 1, 2, 3].map((a) =>
        db.actorTasks.create({ experimentId: eid, pipelineId: pid, actorId: a, shardId: a, status: "in_progress" }),
      ),
    );
    const { value, requests } = await requestsOf(() =>
      Promise.all(ids.map((id) => db.actorTasks.completeWithProgress(id, { samples: 10 }))),
    );
    expect(requests).toBe(1);
    expect(value.map((v) => v.shardsCompleted).sort()).toEqual([1, 2, 3, 4]);
    expect(await db.actorTasks.countByStatus(eid)).toMatchObject({ completed: 4, in_progress: 0 });
  });

  it("bad arguments still fail before anything is sent", async () => {
    const { value, requests } = await requestsOf(() =>
      Promise.allSettled([db.experiments.get(-1), db.experiments.setNumShards(1, 1.5)]),
    );
    expect(requests).toBe(0);
    for (const r of value) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ValidationError);
  });
});

describe("pipelined calls end like any other", () => {
  it("on close, and past requestTimeoutMs", async () => {
    const slow = await startProxy({ target: server.url });
    const other = await RFDatabase.open({ url: slow.url, requestTimeoutMs: 1500 });
    try {
      slow.delayMs = 4000;
      const t0 = Date.now();
      const late = await Promise.allSettled([other.experiments.listNames(), other.experiments.getLatest()]);
      for (const r of late) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ConnectionError);
      expect(Date.now() - t0).toBeLessThan(3900); // the timer, not the server, ended them
      slow.delayMs = 0;
      const pending = Promise.allSettled([other.experiments.listNames(), other.experiments.getLatest()]);
      await other.close();
      for (const r of await pending) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ConnectionError);
    } finally {
      await other.close();
      await slow.stop();
    }
  }, 30_000);
});
