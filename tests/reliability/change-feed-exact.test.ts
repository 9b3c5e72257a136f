/**
 * The change feed is exact across concurrent writers in several processes.
 *
 * Writer processes — lifecycle workers (create → start → advanceProgress →
 * complete) and churn workers (completions with progress, failures, raw SQL
 * deletes, IC operations claimed or cancelled, contexts) — write one
 * database at once, while two readers in this process poll
 * `changes.since(cursor, { limit: 25 })` as fast as they can: one over
 * everything, one filtered to the workers' experiment. Each reader applies
 * what it gets to a model (entity:id → op, status). When the writers are done
 * and the readers have caught up, each model must equal the tables: every
 * live row present with its status, every deleted one gone. A change
 * committed behind a reader's cursor (a seq assigned out of commit order)
 * would leave its row stale or missing in the model. Seqs must also grow
 * strictly within and across batches. On a temp file and through sqld.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Change, RFDatabase } from "../../src/index";
import { CHANGE_FEED_TABLES } from "../../src/schema/change-triggers";
import { startSqld, type SqldServer } from "../support/sqld";
import { cleanupAll, releaseBarrier, report, resultOf, size, startWorker, tempDir } from "./support";

const LIFECYCLE_WORKERS = size(2, 4);
const CHURN_WORKERS = size(2, 4);
const LIFECYCLES = size(40, 200);
const ITERATIONS = size(40, 200);

const servers: SqldServer[] = [];
afterAll(async () => {
  await cleanupAll();
  for (const s of servers) await s.stop();
});

interface Reader {
  model: Map<string, Change>;
  cursor: number;
  batches: number;
  changes: number;
  lastSeq: number;
}

/** One `since` and its application to the model, checking seqs only ever grow. */
async function poll(db: RFDatabase, r: Reader, experimentId?: number): Promise<number> {
  const b = await db.changes.since(r.cursor, { limit: 25, ...(experimentId === undefined ? {} : { experimentId }) });
  for (const c of b.changes) {
    expect(c.seq, "seqs grow strictly, within and across batches").toBeGreaterThan(r.lastSeq);
    r.lastSeq = c.seq;
    if (experimentId !== undefined) expect(c.experimentId).toBe(experimentId);
    r.model.set(`${c.entity}:${c.id}`, c);
  }
  expect(b.cursor).toBeGreaterThanOrEqual(r.cursor);
  r.cursor = b.cursor;
  r.batches++;
  r.changes += b.changes.length;
  return b.changes.length;
}

/** The tables as `entity:id → status` (only the experiment's rows when given). */
async function tables(db: RFDatabase, experimentId?: number): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (const f of CHANGE_FEED_TABLES) {
    if (experimentId !== undefined && f.table === "contexts") continue;
    const exp = f.experiment(`"${f.table}"` as "NEW");
    const rs = await db.client.execute({
      sql: `SELECT ${f.pk} AS id, status, ${exp} AS eid FROM "${f.table}"`,
      args: [],
    });
    for (const row of rs.rows)
      if (experimentId === undefined || row.eid === experimentId) out.set(`${f.entity}:${String(row.id)}`, row.status);
  }
  return out;
}

function expectModelMatches(model: Map<string, Change>, live: Map<string, unknown>, label: string): void {
  const alive = new Map([...model].filter(([, c]) => c.op !== "delete").map(([k, c]) => [k, c.status]));
  const missing = [...live.keys()].filter((k) => !alive.has(k));
  const ghosts = [...alive.keys()].filter((k) => !live.has(k));
  const stale = [...live].filter(([k, s]) => alive.has(k) && alive.get(k) !== s).map(([k]) => k);
  expect({ missing, ghosts, stale }, label).toEqual({ missing: [], ghosts: [], stale: [] });
}

async function run(backend: "file" | "sqld", url: string): Promise<void> {
  const db = await RFDatabase.open({ url, migrate: true });
  try {
    const experimentId = await db.experiments.create({ experimentName: `feed-${backend}`, numActors: 8 });
    const other = await db.experiments.create({ experimentName: `feed-other-${backend}`, numActors: 1 });
    const pipelineIds: number[] = [];
    for (let p = 0; p < 3; p++)
      pipelineIds.push(await db.pipelines.create({ experimentId, pipelineName: `p${p}`, pipelineType: "vllm" }));
    const otherPipeline = await db.pipelines.create({ experimentId: other, pipelineName: "o", pipelineType: "vllm" });
    const goFile = join(tempDir(), "go");
    const common = { url, experimentId, pipelineIds, goFile };
    const workers = [
      ...Array.from({ length: LIFECYCLE_WORKERS }, (_, i) =>
        startWorker("lifecycle", { ...common, lifecycles: LIFECYCLES, actorId: i, seed: 100 + i }),
      ),
      ...Array.from({ length: CHURN_WORKERS }, (_, i) =>
        startWorker("churn", { ...common, iterations: ITERATIONS, actorId: 50 + i, seed: 200 + i }),
      ),
      // Another experiment's writes, which the filtered reader must skip (and still move past).
      startWorker("churn", {
        ...common,
        experimentId: other,
        pipelineIds: [otherPipeline],
        iterations: ITERATIONS,
        actorId: 99,
        seed: 300,
      }),
    ];
    await Promise.all(workers.map((w) => w.waitFor((m) => m.type === "ready", 60_000)));

    const all: Reader = { model: new Map(), cursor: 0, batches: 0, changes: 0, lastSeq: 0 };
    const mine: Reader = { model: new Map(), cursor: 0, batches: 0, changes: 0, lastSeq: 0 };
    let writersDone = false;
    const results = Promise.all(workers.map((w) => resultOf(w, size(120_000, 600_000)))).finally(() => {
      writersDone = true;
    });
    releaseBarrier(goFile);
    const t0 = performance.now();
    // Poll while they write; once they are done, until both readers are caught up.
    for (;;) {
      const done = writersDone;
      const n = (await poll(db, all)) + (await poll(db, mine, experimentId));
      if (done && n === 0) break;
    }
    const out = await results;
    const errors = out.flatMap((r) => r.errors as unknown[]);
    expect(errors).toEqual([]);
    expectModelMatches(all.model, await tables(db), `${backend}: every table`);
    expectModelMatches(mine.model, await tables(db, experimentId), `${backend}: experiment ${experimentId}`);
    report("change-feed-exact", {
      backend,
      writers: workers.length,
      ms: Math.round(performance.now() - t0),
      changesSeen: all.changes,
      batches: all.batches,
      filteredChanges: mine.changes,
      filteredBatches: mine.batches,
      rows: (await tables(db)).size,
      logRows: Number((await db.client.execute("SELECT count(*) FROM change_log")).rows[0]![0]),
    });
  } finally {
    await db.close();
  }
}

describe(`change feed across ${LIFECYCLE_WORKERS + CHURN_WORKERS + 1} writer processes`, () => {
  it("on one temp file: both readers' models equal the tables", async () => {
    await run("file", `file:${join(tempDir(), "feed.db")}`);
  });

  it("through one sqld server: both readers' models equal the tables", async () => {
    const server = await startSqld();
    servers.push(server);
    await run("sqld", server.url);
  });
});
