/**
 * Keyset paging (src/repositories/paging.ts) on every backend:
 *
 * - every list method takes `{ limit, afterId }` (listNames: `afterName`):
 *   pages of any size, each continuing after the last id of the previous,
 *   concatenate to exactly the unpaged list; bad options are ValidationError;
 * - without options a list still returns every row, read in pages: 2,500
 *   pending operations (more than a page) come back complete and in order;
 * - a 100,000-row local list lets the event loop turn: the longest gap
 *   between timer ticks is printed, beside the same rows read by one
 *   statement (what every list did before). Measured, never asserted.
 *
 * The remote side (50,000 operations on sqld, pages read again in halves
 * when a page is over the response limit) is tests/remote/paging.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RFDatabase, ValidationError } from "../src/index";
import { BACKENDS, openBackend, type Backend } from "./support/backends";
import { pendingOperations } from "./support/bulk";
import { monitorEventLoop, report } from "./reliability/support";

/** Every page of `list` of `size`, concatenated. */
async function allPages<T>(
  list: (page: { limit: number; afterId?: number }) => Promise<T[]>,
  size: number,
  id: (r: T) => number,
) {
  const out: T[] = [];
  let afterId: number | undefined;
  for (;;) {
    const page = await list(afterId === undefined ? { limit: size } : { limit: size, afterId });
    expect(page.length).toBeLessThanOrEqual(size);
    out.push(...page);
    if (page.length < size) return out;
    afterId = id(page[page.length - 1]!);
  }
}

describe.each(BACKENDS)("paging on %s", (name) => {
  let backend: Backend;
  let db: RFDatabase;
  let experimentId: number;
  beforeAll(async () => {
    backend = await openBackend(name);
    db = backend.db;
    experimentId = await db.experiments.create({ experimentName: "paging", numActors: 2 });
    for (let i = 0; i < 7; i++) {
      const pipelineId = await db.pipelines.create({ experimentId, pipelineName: `p${i}`, pipelineType: "vllm" });
      const t = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: i });
      await db.actorTasks.start(t);
      await db.icOperations.create({ operation: "stop", pipelineId });
      await db.experiments.create({ experimentName: `name-${i % 4}`, numActors: 1 });
    }
  });
  afterAll(async () => {
    await backend?.close();
  });

  it("pages of every size concatenate to the unpaged list, for every list method", async () => {
    const lists = {
      "pipelines.list": [
        (p?: object) => db.pipelines.list(experimentId, p),
        (r: { pipelineId: number }) => r.pipelineId,
      ],
      "pipelines.listSummaries": [
        (p?: object) => db.pipelines.listSummaries(experimentId, p),
        (r: { pipelineId: number }) => r.pipelineId,
      ],
      "actorTasks.listRunning": [
        (p?: object) => db.actorTasks.listRunning(experimentId, p),
        (r: { taskId: number }) => r.taskId,
      ],
      "icOperations.listPending": [(p?: object) => db.icOperations.listPending(p), (r: { icId: number }) => r.icId],
      "icOperations.listAll": [(p?: object) => db.icOperations.listAll(p), (r: { icId: number }) => r.icId],
      "experiments.listRecent": [
        (p?: object) => db.experiments.listRecent(p ?? { limit: 1000 }),
        (r: { experimentId: number }) => r.experimentId,
      ],
    } as const;
    for (const [label, [list, id]] of Object.entries(lists)) {
      const whole = await (list as (p?: object) => Promise<unknown[]>)();
      expect(whole.length, label).toBeGreaterThanOrEqual(7);
      for (const size of [1, 2, 3, 100])
        expect(await allPages(list as never, size, id as never), `${label} in pages of ${size}`).toEqual(whole);
    }
    const names = await db.experiments.listNames();
    const paged: string[] = [];
    for (let afterName: string | undefined; ; ) {
      const page = await db.experiments.listNames(afterName === undefined ? { limit: 2 } : { limit: 2, afterName });
      paged.push(...page);
      if (page.length < 2) break;
      afterName = page[page.length - 1];
    }
    expect(paged).toEqual(names);
  });

  it("refuses bad page options with ValidationError", async () => {
    for (const bad of [{ limit: 0 }, { limit: -1 }, { limit: 1.5 }, { afterId: -1 }, { offset: 5 }, "x", [1]])
      await expect(db.icOperations.listPending(bad as never), JSON.stringify(bad)).rejects.toBeInstanceOf(
        ValidationError,
      );
    await expect(db.experiments.listNames({ afterId: 3 } as never)).rejects.toBeInstanceOf(ValidationError);
    await expect(db.experiments.listRecent({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
  });

  it("an unpaged list reads every row, more than a page of them, in order", async () => {
    const before = (await db.icOperations.listPending()).length;
    await pendingOperations(db, 2500);
    const all = await db.icOperations.listPending();
    expect(all).toHaveLength(before + 2500);
    for (let i = 1; i < all.length; i++) expect(all[i]!.icId).toBeGreaterThan(all[i - 1]!.icId);
    expect(await db.icOperations.listPending({ limit: 100 })).toEqual(all.slice(0, 100));
    const newest = await db.icOperations.listAll({ limit: 3 });
    expect(newest.map((o) => o.icId)).toEqual([all.at(-1)!.icId, all.at(-2)!.icId, all.at(-3)!.icId]);
  });
});

describe("a 100,000-row local list lets the event loop turn", () => {
  let backend: Backend;
  beforeAll(async () => {
    backend = await openBackend("file");
    await pendingOperations(backend.db, 100_000);
  }, 120_000);
  afterAll(async () => {
    await backend?.close();
  });

  it("prints the longest timer gap, paged and as one statement", async () => {
    const db = backend.db;
    await db.icOperations.listAll({ limit: 10 }); // statement compiled, file warm
    let loop = monitorEventLoop(1);
    let t0 = performance.now();
    const rows = await db.icOperations.listAll();
    const paged = { ...loop.stop(), ms: performance.now() - t0 };
    expect(rows).toHaveLength(100_000);
    loop = monitorEventLoop(1);
    t0 = performance.now();
    const one = await db.client.execute("SELECT * FROM interactive_control ORDER BY ic_id DESC");
    const single = { ...loop.stop(), ms: performance.now() - t0 };
    expect(one.rows).toHaveLength(100_000);
    report("list-event-loop", {
      rows: 100_000,
      pagedMaxGapMs: Math.round(paged.maxGapMs * 10) / 10,
      pagedMs: Math.round(paged.ms),
      oneStatementMaxGapMs: Math.round(single.maxGapMs * 10) / 10,
      oneStatementMs: Math.round(single.ms),
    });
  }, 120_000);
});
