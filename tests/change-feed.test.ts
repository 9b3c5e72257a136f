/**
 * The change feed (`db.changes`, `db.watch`, `db.snapshot`) on every backend:
 *
 * - every public repository write produces the change a reader needs: after
 *   each call of tests/support/repository-calls.ts, `since(<cursor before>)`
 *   names exactly the rows the call inserted, changed or deleted, and the log
 *   holds one entry per live row (its status, its experiment, the row's
 *   `changeSeq` pointing at it) plus tombstones;
 * - a reader applying `since` pages (cursor 0, small limit) rebuilds the tables;
 * - coalescing (200 progress updates of a pipeline leave one entry), cascades,
 *   raw SQL and rows written by other tools, the experiment filter, pruning
 *   and expired cursors, argument checks;
 * - watch: only non-empty batches, ends on abort in the middle of a wait, no
 *   timer left behind; snapshot: one consistent read with the feed's cursor;
 * - the migrated triggers are exactly what CHANGE_FEED_TABLES renders, beside
 *   the transition and task-count triggers (the three sets, nothing else);
 * - every statement of the feed and the snapshot is index-backed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Change, CursorExpiredError, NotFoundError, RFDatabase, ValidationError } from "../src/index";
import { CHANGE_FEED_TABLES, changeTriggerNames, renderChangeTriggers } from "../src/schema/change-triggers";
import { renderTaskCountTriggers } from "../src/schema/task-counts";
import { transitionTriggerNames } from "../src/schema/transitions";
import { BACKENDS, openBackend, type Backend } from "./support/backends";
import { makeExperiment, makePipeline } from "./support/factories";
import { CALLS, type Captured, capture, seedRows } from "./support/repository-calls";

type Row = Record<string, unknown>;

/** The experiment the triggers record for a row of `f`'s table, as SQL on the table itself. */
const experimentOf = (f: (typeof CHANGE_FEED_TABLES)[number]) => f.experiment(`"${f.table}"` as "NEW");

/** Every row of every watched table, keyed `entity:id`, without change_seq (what the feed describes). */
async function dump(db: RFDatabase): Promise<Map<string, { row: string; status: unknown; experimentId: unknown }>> {
  const out = new Map<string, { row: string; status: unknown; experimentId: unknown }>();
  for (const f of CHANGE_FEED_TABLES) {
    const rs = await db.client.execute(`SELECT *, ${experimentOf(f)} AS "__eid" FROM "${f.table}" ORDER BY 1`);
    for (const r of rs.rows) {
      const o: Row = {};
      rs.columns.forEach((c, i) => {
        if (c !== "change_seq" && c !== "__eid") o[c] = r[i];
      });
      out.set(`${f.entity}:${String(o[f.pk])}`, { row: JSON.stringify(o), status: o.status, experimentId: r.__eid });
    }
  }
  return out;
}

/** The log: one entry per live row (its status, experiment and change_seq), tombstones for the rest. */
async function expectLogMatchesTables(db: RFDatabase): Promise<void> {
  const log = await db.client.execute("SELECT seq, entity, row_id, experiment_id, op, status FROM change_log");
  const entries = new Map<string, Row>();
  for (const r of log.rows) {
    const key = `${String(r.entity)}:${String(r.row_id)}`;
    expect(entries.has(key), `two log entries for ${key}`).toBe(false);
    entries.set(key, r as unknown as Row);
  }
  for (const f of CHANGE_FEED_TABLES) {
    const rs = await db.client.execute(
      `SELECT ${f.pk} AS id, status, change_seq, ${experimentOf(f)} AS eid FROM "${f.table}"`,
    );
    for (const r of rs.rows) {
      const key = `${f.entity}:${String(r.id)}`;
      const e = entries.get(key);
      expect(e, `no log entry for ${key}`).toBeDefined();
      expect(e!.op, key).not.toBe("delete");
      expect(e!.status, key).toBe(r.status);
      expect(e!.seq, `${key}: change_seq points at its entry`).toBe(r.change_seq);
      expect(e!.experiment_id, key).toBe(r.eid);
      entries.delete(key);
    }
  }
  for (const [key, e] of entries) expect(e.op, `${key} has no row but its entry is not a tombstone`).toBe("delete");
}

/** Every change after `cursor`, all pages (small pages, to exercise the cursor). */
async function allSince(db: RFDatabase, cursor: number, experimentId?: number): Promise<Change[]> {
  const out: Change[] = [];
  for (;;) {
    const b = await db.changes.since(cursor, { limit: 7, ...(experimentId === undefined ? {} : { experimentId }) });
    for (const c of b.changes) expect(c.seq).toBeGreaterThan(cursor);
    out.push(...b.changes);
    if (b.changes.length < 7) return out;
    cursor = b.cursor;
  }
}

describe.each(BACKENDS)("change feed on %s", (name) => {
  let backend: Backend;
  let db: RFDatabase;
  beforeAll(async () => {
    backend = await openBackend(name);
    db = backend.db;
  });
  afterAll(async () => {
    await backend?.close();
  });

  it("every public write comes back from since(cursor before the call), and nothing else", async () => {
    const ids = await seedRows(db);
    await expectLogMatchesTables(db);
    for (const call of CALLS) {
      const label = `${call.repo}.${call.method}`;
      const before = await dump(db);
      const cursor = await db.changes.head();
      await call.run(db, ids);
      const after = await dump(db);
      const changed = new Set<string>();
      for (const [k, v] of after) if (before.get(k)?.row !== v.row) changed.add(k);
      for (const k of before.keys()) if (!after.has(k)) changed.add(k);
      const feed = await allSince(db, cursor);
      const reported = new Set(feed.map((c) => `${c.entity}:${c.id}`));
      // An upsert that rewrites a row with its own values (contexts.create of a known hash, which
      // returns the existing id that way) is an UPDATE to the database: reported, though nothing changed.
      if (label === "contexts.create(existing hash)") for (const k of reported) changed.add(k);
      expect(reported, label).toEqual(changed);
      for (const c of feed) {
        const now = after.get(`${c.entity}:${c.id}`);
        if (now === undefined) expect(c.op, label).toBe("delete");
        else
          expect({ op: c.op === "delete", status: c.status, e: c.experimentId }, label).toEqual({
            op: false,
            status: now.status,
            e: now.experimentId,
          });
      }
      await expectLogMatchesTables(db);
    }
  });

  it("a reader applying since() pages from cursor 0 rebuilds every table", async () => {
    const model = new Map<string, Change>();
    for (const c of await allSince(db, 0)) model.set(`${c.entity}:${c.id}`, c);
    const tables = await dump(db);
    const live = [...model].filter(([, c]) => c.op !== "delete").map(([k]) => k);
    expect(new Set(live)).toEqual(new Set(tables.keys()));
    for (const [k, v] of tables) expect(model.get(k)!.status).toBe(v.status);
  });

  it("coalesces: 200 progress updates of a pipeline leave one entry, with the latest seq", async () => {
    const pid = await makePipeline(db);
    const count = async () => Number((await db.client.execute("SELECT count(*) FROM change_log")).rows[0]![0]);
    const n0 = await count();
    const head0 = await db.changes.head();
    for (let i = 0; i < 200; i++) await db.pipelines.advanceProgress(pid, { samples: 1 });
    expect(await count()).toBe(n0);
    const { changes } = await db.changes.since(head0);
    expect(changes).toEqual([
      expect.objectContaining({ entity: "pipelines", id: pid, op: "update", seq: head0 + 200 }),
    ]);
    const pointer = await db.client.execute({
      sql: "SELECT change_seq FROM pipelines WHERE pipeline_id = ?",
      args: [pid],
    });
    expect(pointer.rows[0]![0]).toBe(head0 + 200);
    // Bookkeeping, not part of the rows the package returns.
    expect(await db.pipelines.get(pid)).not.toHaveProperty("changeSeq");
    const snap = await db.snapshot((await db.pipelines.get(pid))!.experimentId);
    for (const row of [snap.experiment, ...snap.pipelines]) expect(row).not.toHaveProperty("changeSeq");
  });

  it("a raw INSERT OR REPLACE of an existing row (another tool) keeps the old entry beside the new one; the last is the row", async () => {
    // Pins a known edge: REPLACE deletes the old row without firing delete triggers (SQLite's
    // recursive_triggers is off), so the coalescing DELETE of its log entry never runs.
    const own = await openBackend(name);
    try {
      const id = await own.db.contexts.create({ contextHash: "replace-me" });
      await own.db.client.execute({
        sql: "INSERT OR REPLACE INTO contexts (context_id, context_hash, status) VALUES (?, 'replaced', 'ready')",
        args: [id],
      });
      const entries = (await allSince(own.db, 0)).filter((c) => c.entity === "contexts" && c.id === id);
      expect(entries.map((c) => c.op)).toEqual(["insert", "insert"]);
      expect(entries.at(-1)!.status).toBe("ready");
      expect((await own.db.contexts.get(id))!.status).toBe("ready");
    } finally {
      await own.close();
    }
  });

  it("deletes leave tombstones, also through cascades, with the experiment of the deleted row", async () => {
    const eid = await makeExperiment(db);
    const pid = await makePipeline(db, { experimentId: eid });
    const tid = await db.actorTasks.create({ experimentId: eid, pipelineId: pid, actorId: 0, shardId: 0 });
    const op = await db.icOperations.create({ operation: "stop", pipelineId: pid });
    const cursor = await db.changes.head();
    await db.client.execute({ sql: "DELETE FROM experiments WHERE experiment_id = ?", args: [eid] });
    const changes = await allSince(db, cursor);
    expect(changes.map((c) => `${c.entity}:${c.id}:${c.op}:${c.experimentId}`).sort()).toEqual(
      [
        `actorTasks:${tid}:delete:${eid}`,
        `experiments:${eid}:delete:${eid}`,
        `icOperations:${op}:delete:${eid}`,
        `pipelines:${pid}:delete:${eid}`,
      ].sort(),
    );
    await expectLogMatchesTables(db);
  });

  it("raw SQL and rows written by other tools (required columns only) are logged like the package's", async () => {
    const eid = await makeExperiment(db);
    const cursor = await db.changes.head();
    await db.client.execute({
      sql: "INSERT INTO pipelines (experiment_id, pipeline_type) VALUES (?, 'vllm')",
      args: [eid],
    });
    const pid = Number((await db.client.execute("SELECT max(pipeline_id) FROM pipelines")).rows[0]![0]);
    await db.client.execute({ sql: "UPDATE pipelines SET status = 'ongoing' WHERE pipeline_id = ?", args: [pid] });
    // A primary key moved by raw SQL: the old id is deleted, the new one changed.
    await db.client.execute({
      sql: "UPDATE pipelines SET pipeline_id = ? WHERE pipeline_id = ?",
      args: [pid + 1000, pid],
    });
    const changes = await allSince(db, cursor);
    expect(changes.map((c) => `${c.id}:${c.op}:${c.status}`).sort()).toEqual(
      [`${pid}:delete:ongoing`, `${pid + 1000}:update:ongoing`].sort(),
    );
    await expectLogMatchesTables(db);
  });

  it("filters by experiment: only its rows (no contexts), and the cursor moves past other experiments' changes", async () => {
    const a = await makeExperiment(db);
    const b = await makeExperiment(db);
    const cursor = await db.changes.head();
    const pa = await makePipeline(db, { experimentId: a });
    await makePipeline(db, { experimentId: b });
    await db.contexts.create({ contextHash: `filter-${Math.random()}` });
    const { changes, cursor: next } = await db.changes.since(cursor, { experimentId: a });
    expect(changes.map((c) => `${c.entity}:${c.id}`)).toEqual([`pipelines:${pa}`]);
    expect(next).toBe(await db.changes.head());
    expect((await db.changes.since(next, { experimentId: a })).changes).toEqual([]);
  });

  it("prune removes old tombstones (never the newest entry); an older cursor is then CursorExpiredError", async () => {
    const eid = await makeExperiment(db);
    const old = await db.changes.head();
    const pids = [await makePipeline(db, { experimentId: eid }), await makePipeline(db, { experimentId: eid })];
    for (const pid of pids)
      await db.client.execute({ sql: "DELETE FROM pipelines WHERE pipeline_id = ?", args: [pid] });
    const head = await db.changes.head();
    const { pruned } = await db.changes.prune({ olderThanMs: 0 });
    expect(pruned).toBeGreaterThanOrEqual(1);
    // The newest entry (the last tombstone) stays, so the next seq is still new.
    expect(await db.changes.head()).toBe(head);
    const err = await db.changes.since(old).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CursorExpiredError);
    expect(err).toMatchObject({ cursor: old, reason: "pruned", code: "CURSOR_EXPIRED" });
    expect((await db.changes.since(head)).changes).toEqual([]);
    await expect(db.changes.since(0)).resolves.toBeDefined();
    const next = await makeExperiment(db);
    expect((await db.changes.since(head)).changes).toEqual([
      expect.objectContaining({ entity: "experiments", id: next, seq: head + 1 }),
    ]);
    const ahead = await db.changes.since(head + 1000).catch((e: unknown) => e);
    expect(ahead).toMatchObject({ name: "CursorExpiredError", reason: "ahead" });
    await expectLogMatchesTables(db);
  });

  it("refuses bad arguments with ValidationError", async () => {
    for (const bad of [-1, 1.5, "3", null])
      await expect(db.changes.since(bad as number)).rejects.toBeInstanceOf(ValidationError);
    for (const o of [{ limit: 0 }, { limit: 10_001 }, { experimentId: -1 }, { bogus: 1 }, "x"])
      await expect(db.changes.since(0, o as never)).rejects.toBeInstanceOf(ValidationError);
    await expect(db.changes.prune({ olderThanMs: -5 })).rejects.toBeInstanceOf(ValidationError);
    for (const o of [{ intervalMs: 5 }, { signal: {} }, { experimentid: 1 }, { cursor: -1 }])
      expect(() => db.watch(o as never)).toThrow(ValidationError);
    await expect(db.snapshot(-1)).rejects.toBeInstanceOf(ValidationError);
  });

  it("watch yields non-empty batches as writes happen and ends when the signal aborts mid-wait", async () => {
    const eid = await makeExperiment(db);
    const pid = await makePipeline(db, { experimentId: eid });
    const stop = new AbortController();
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const batches: Change[][] = [];
    const done = (async () => {
      for await (const b of db.watch({ experimentId: eid, intervalMs: 20, signal: stop.signal })) {
        expect(b.changes.length).toBeGreaterThan(0);
        batches.push(b.changes);
        if (batches.flat().some((c) => c.status === "completed")) break;
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    await db.pipelines.start(pid);
    await new Promise((r) => setTimeout(r, 100));
    await db.pipelines.complete(pid);
    await done;
    expect(batches.flat().map((c) => c.status)).toEqual(["ongoing", "completed"]);

    // A long interval: abort during the wait ends the iteration at once.
    const waiting = db.watch({ experimentId: eid, intervalMs: 3_600_000, signal: stop.signal })[Symbol.asyncIterator]();
    const next = waiting.next();
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    stop.abort();
    expect(await next).toEqual({ done: true, value: undefined });
    expect(performance.now() - t0).toBeLessThan(5_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length).toBeLessThanOrEqual(timersBefore);
    // An already aborted signal reads nothing at all.
    expect(await db.watch({ signal: stop.signal })[Symbol.asyncIterator]().next()).toEqual({
      done: true,
      value: undefined,
    });
  });

  it("snapshot: the experiment, pipelines, task counts, running tasks, pending operations and the cursor of that read", async () => {
    const eid = await makeExperiment(db);
    const pids = [await makePipeline(db, { experimentId: eid }), await makePipeline(db, { experimentId: eid })];
    const t1 = await db.actorTasks.create({ experimentId: eid, pipelineId: pids[0]!, actorId: 0, shardId: 0 });
    await db.actorTasks.create({ experimentId: eid, pipelineId: pids[1]!, actorId: 1, shardId: 0 });
    await db.actorTasks.start(t1);
    const op = await db.icOperations.create({ operation: "stop", pipelineId: pids[1]! });
    // Operations are listed by their experimentId column; an operation created without one (another
    // tool, or a version whose create did not record it) belongs to no experiment here.
    if ((await db.icOperations.get(op))!.experimentId === null)
      await db.client.execute({
        sql: "UPDATE interactive_control SET experiment_id = ? WHERE ic_id = ?",
        args: [eid, op],
      });
    const s = await db.snapshot(eid);
    expect(s.experiment).toMatchObject({ experimentId: eid, mlflowExperimentId: s.experiment.metricExperimentId });
    expect(s.experiment.createdAt).toBeInstanceOf(Date);
    expect(s.pipelines.map((p) => p.pipelineId)).toEqual(pids);
    expect(s.taskCounts).toEqual({ scheduled: 1, in_progress: 1, completed: 0, failed: 0 });
    expect(s.runningTasks.map((t) => t.taskId)).toEqual([t1]);
    expect(s.pendingOperations.map((o) => o.icId)).toEqual([op]);
    expect(s.cursor).toBe(await db.changes.head());
    expect(s.runningTasks[0]).toEqual(await db.actorTasks.get(t1));
    await expect(db.snapshot(eid + 100_000)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("the change-log triggers and CHANGE_FEED_TABLES cannot drift", () => {
  let backend: Backend;
  beforeAll(async () => {
    backend = await openBackend("memory");
  });
  afterAll(async () => {
    await backend?.close();
  });

  it("the migrated database holds exactly the rendered change-log triggers, beside the transition triggers", async () => {
    const rs = await backend.db.client.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'");
    const live = new Map(rs.rows.map((r) => [String(r[0]), `${String(r[1])};`]));
    // Three sets, side by side: transition (BEFORE), task counters and change log (AFTER).
    const taskCounts = renderTaskCountTriggers().flatMap((s) => /^CREATE TRIGGER `([^`]+)`/.exec(s)?.[1] ?? []);
    expect(taskCounts.length).toBeGreaterThan(0);
    expect(new Set(live.keys())).toEqual(
      new Set([...transitionTriggerNames(), ...taskCounts, ...changeTriggerNames()]),
    );
    const rendered = renderChangeTriggers().filter((s) => s.startsWith("CREATE TRIGGER"));
    expect(
      changeTriggerNames()
        .map((n) => live.get(n))
        .sort(),
    ).toEqual(rendered.sort());
  });

  it("every watched table has the change_seq column", async () => {
    for (const f of CHANGE_FEED_TABLES) {
      const cols = await backend.db.client.execute(`SELECT name FROM pragma_table_info('${f.table}')`);
      expect(
        cols.rows.map((r) => r[0]),
        f.table,
      ).toContain("change_seq");
    }
  });
});

describe("the feed's statements are index-backed (EXPLAIN QUERY PLAN on a file)", () => {
  let dir: string;
  let db: RFDatabase;
  let raw: Database.Database;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "rf-feed-plans-"));
    db = await RFDatabase.open({ url: `file:${join(dir, "plans.db")}` });
    // The planner's defaults (no ANALYZE): what every deployment starts with.
    await seedRows(db);
    raw = new Database(join(dir, "plans.db"));
  });
  afterAll(async () => {
    raw?.close();
    await db?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const plan = (s: Captured) =>
    (raw.prepare(`EXPLAIN QUERY PLAN ${s.sql}`).all(s.args as never[]) as { detail: string }[]).map((r) => r.detail);

  it.each([
    ["since", (d: RFDatabase) => d.changes.since(3), /SEARCH change_log USING INTEGER PRIMARY KEY \(rowid>\?\)/],
    [
      "since (experiment)",
      (d: RFDatabase) => d.changes.since(3, { experimentId: 1 }),
      /SEARCH change_log USING INTEGER PRIMARY KEY \(rowid>\?\)/,
    ],
    ["head", (d: RFDatabase) => d.changes.head(), /SEARCH change_log/],
    [
      "prune",
      (d: RFDatabase) => d.changes.prune(),
      /SEARCH change_log USING (COVERING )?INDEX change_log_tombstones_idx/,
    ],
    ["snapshot", (d: RFDatabase) => d.snapshot(1), /SEARCH actor_tasks USING INDEX actor_tasks_experiment_status_idx/],
  ] as const)("%s", async (_name, call, expected) => {
    const statements = await capture(db.client, () => call(db));
    const lines = statements.flatMap(plan);
    expect(
      lines.some((l) => expected.test(l)),
      lines.join(" / "),
    ).toBe(true);
    // No full scan of a table that grows (the horizon table has one row), no sort in a temporary B-tree.
    const bad = lines.filter(
      (l) => (/^SCAN /.test(l) && !/^SCAN (change_log_horizon|page)\b/.test(l)) || /USE TEMP B-TREE/.test(l),
    );
    expect(bad, lines.join(" / ")).toEqual([]);
  });
});
