/**
 * Lists on sqld, whose responses are capped at 10 MB (a 35,000-row list used
 * to fail with "Response is too large" and could never be read again):
 *
 * - 50,000 pending IC operations: `listPending()` returns every one of them,
 *   in pages of PAGE_ROWS.remote rows (one request each, counted by a proxy),
 *   and `{ limit: 100 }` returns the first 100 in one request;
 * - rows so large that one page of them is over the limit (12 operations of
 *   ~1 MB each): the page is read again in halves until it fits, and the
 *   list is complete.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PAGE_ROWS, RFDatabase } from "../../src/index";
import { pendingOperations } from "../support/bulk";
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

describe("lists over sqld's response limit", () => {
  it("50,000 pending operations: listPending() returns all of them; { limit: 100 } returns 100", async () => {
    await pendingOperations(db, 50_000);
    proxy.reset();
    const all = await db.icOperations.listPending();
    const requests = proxy.requests;
    expect(all).toHaveLength(50_000);
    for (let i = 1; i < all.length; i++) expect(all[i]!.icId).toBeGreaterThan(all[i - 1]!.icId);
    expect(requests).toBe(Math.ceil(50_000 / PAGE_ROWS.remote) + 1); // the last page is short (or empty)
    proxy.reset();
    const first = await db.icOperations.listPending({ limit: 100 });
    expect(proxy.requests).toBe(1);
    expect(first).toEqual(all.slice(0, 100));
    const next = await db.icOperations.listPending({ limit: 100, afterId: first[99]!.icId });
    expect(next).toEqual(all.slice(100, 200));
  }, 180_000);

  it("a page over the limit is read again in halves", async () => {
    const big = `{"blob":"${"ab".repeat(500_000)}"}`; // ~1 MB per row, 12 rows: one page would be ~12 MB
    const { pipelineId } = await pendingOperations(db, 12, big);
    proxy.reset();
    const all = await db.icOperations.listAll({ limit: 12 });
    expect(all).toHaveLength(12);
    expect(all.every((o) => o.pipelineId === pipelineId)).toBe(true);
    expect((all[0]!.requestData as { blob: string }).blob).toHaveLength(1_000_000);
    expect(proxy.requests).toBeGreaterThan(1); // the refused page, then its halves
  }, 120_000);
});
