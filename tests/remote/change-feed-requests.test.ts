/**
 * What the change feed costs on a remote database, in HTTP requests counted
 * by a proxy between the client and a real sqld: `changes.since` (with or
 * without an experiment, also when it throws CursorExpiredError), `head`,
 * `prune` and `snapshot` are ONE request each; `watch` is one request per
 * tick (plus one for the starting cursor when none is given) and none after
 * its signal aborted; the `toEventStream` opening is one request (the snapshot).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CursorExpiredError, RFDatabase, toEventStream } from "../../src/index";
import { startProxy, type TestProxy } from "../support/proxy";
import { startSqld, type SqldServer } from "../support/sqld";

let server: SqldServer;
let proxy: TestProxy;
let db: RFDatabase;
let experimentId: number;

beforeAll(async () => {
  server = await startSqld();
  proxy = await startProxy({ target: server.url });
  db = await RFDatabase.open({ url: proxy.url, migrate: true });
  experimentId = await db.experiments.create({ experimentName: "feed-requests", numActors: 2 });
  const pipelineId = await db.pipelines.create({ experimentId, pipelineName: "p", pipelineType: "vllm" });
  const t = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 0 });
  await db.actorTasks.start(t);
  await db.icOperations.create({ operation: "stop", pipelineId });
});

afterAll(async () => {
  await db?.close();
  await proxy?.stop();
  await server?.stop();
});

const settle = () => new Promise((r) => setTimeout(r, 5));

/** HTTP requests that reached sqld while `fn` ran (and just after). */
async function requests(fn: () => Promise<unknown>): Promise<number> {
  await settle();
  proxy.reset();
  await fn().catch(() => undefined);
  await settle();
  return proxy.requests;
}

describe("change feed requests on sqld (counting proxy)", () => {
  it("since, head, prune and snapshot are one request each", async () => {
    expect(await requests(() => db.changes.since(0))).toBe(1);
    expect(await requests(() => db.changes.since(0, { experimentId, limit: 2 }))).toBe(1);
    expect(await requests(() => db.changes.head())).toBe(1);
    expect(await requests(() => db.changes.prune())).toBe(1);
    expect(await requests(() => db.snapshot(experimentId))).toBe(1);
    const s = await db.snapshot(experimentId);
    expect(s.runningTasks).toHaveLength(1);
    expect(s.pendingOperations).toHaveLength(1);
    expect(s.taskCounts.in_progress).toBe(1);
    // The refusal of a cursor from another database is read from the same single statement.
    const head = await db.changes.head();
    await expect(db.changes.since(head + 10)).rejects.toBeInstanceOf(CursorExpiredError);
    expect(await requests(() => db.changes.since(head + 10))).toBe(1);
  });

  it("watch: one request per tick, none once the signal aborted", async () => {
    const stop = new AbortController();
    const cursor = await db.changes.head();
    await settle();
    proxy.reset();
    const it = db.watch({ experimentId, cursor, intervalMs: 50, signal: stop.signal })[Symbol.asyncIterator]();
    const first = it.next();
    await new Promise((r) => setTimeout(r, 520));
    stop.abort();
    expect(await first).toEqual({ done: true, value: undefined });
    const ticks = proxy.requests;
    // ~10 ticks in 520 ms at 50 ms (fewer on a loaded machine), each one request.
    expect(ticks).toBeGreaterThanOrEqual(2);
    expect(ticks).toBeLessThanOrEqual(12);
    await new Promise((r) => setTimeout(r, 200));
    expect(proxy.requests).toBe(ticks);
    // Without a cursor, the starting position costs one more request.
    const stop2 = new AbortController();
    proxy.reset();
    const it2 = db.watch({ intervalMs: 3_600_000, signal: stop2.signal })[Symbol.asyncIterator]();
    const next = it2.next();
    await new Promise((r) => setTimeout(r, 300));
    stop2.abort();
    await next;
    expect(proxy.requests).toBe(2);
  });

  it("toEventStream opens with the snapshot in one request", async () => {
    const stop = new AbortController();
    proxy.reset();
    const reader = toEventStream(db, { experimentId, intervalMs: 3_600_000, signal: stop.signal }).getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toMatch(/^event: snapshot\nid: \d+\ndata: \{"experiment":/);
    await new Promise((r) => setTimeout(r, 100));
    stop.abort();
    expect((await reader.read()).done).toBe(true);
    expect(proxy.requests).toBe(2); // the snapshot, then the first since
  });
});
