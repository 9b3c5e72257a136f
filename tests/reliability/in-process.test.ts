/**
 * Scenario 2 — one RFDatabase, many concurrent calls in one process.
 *
 * N calls (small 500, heavy 5000) started at once with Promise.all, mixing
 * task lifecycles, reads, committed transactions, transactions that throw
 * (and must roll back whole, rethrowing the very same error), context
 * creation racing on a few hashes, and IC operations claimed and completed —
 * on :memory: and on a temp file. No call fails, the final state is exact,
 * and a setInterval(…, 5) keeps ticking: at least once per 100 ms of the
 * burst, and no gap of 250 ms or more (longest gap and tick count printed).
 * Also: a write issued while a transaction is open on the same RFDatabase
 * waits for it and succeeds (no SQLITE_BUSY), on both.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RFDatabase, RFDatabaseError } from "../../src/index";
import { cleanupAll, HEAVY, loopGapBound, monitorEventLoop, prng, report, size, sleep, tempDir } from "./support";

const CALLS = size(500, 5000);
const GAP_BOUND_MS = 250;
const ROLLBACK_ACTOR = 999;

afterAll(cleanupAll);

type Backend = "memory" | "file";
const urlFor = (b: Backend) => (b === "memory" ? ":memory:" : `file:${join(tempDir(), "in-process.db")}`);

class Sentinel extends Error {}

describe.each<Backend>(["memory", "file"])(`in-process concurrency on %s${HEAVY ? " (heavy)" : ""}`, (backend) => {
  it(
    `${CALLS} concurrent calls: no errors, exact final state, event loop not blocked`,
    async () => {
      const seed = Number(process.env.RF_SEED ?? 4242);
      const rand = prng(seed);
      const db = await RFDatabase.open({ url: urlFor(backend) });
      try {
        const experimentId = await db.experiments.create({
          experimentName: "in-process",
          numActors: 8,
          numShards: CALLS,
        });
        const pipelineIds: number[] = [];
        for (let p = 0; p < 4; p++) {
          pipelineIds.push(
            await db.pipelines.create({
              experimentId,
              pipelineName: `p${p}`,
              pipelineType: "vllm",
              modelConfig: { p },
              samplingParams: {},
            }),
          );
        }
        const hashes = ["h-a", "h-b", "h-c"];
        const expected = new Map(pipelineIds.map((id) => [id, { shards: 0, samples: 0 }]));
        const kinds: Record<string, number> = {};
        let completedTasks = 0;
        const contextIdsByHash = new Map<string, Set<number>>();
        const claimed: number[] = [];
        let icCreated = 0;
        const errors: unknown[] = [];

        const ops = Array.from({ length: CALLS }, (_, i) => {
          const r = rand();
          const pipelineId = pipelineIds[Math.floor(rand() * pipelineIds.length)]!;
          const samples = 1 + Math.floor(rand() * 500);
          const pick = rand();
          const kind =
            r < 0.3
              ? "lifecycle"
              : r < 0.55
                ? "read"
                : r < 0.75
                  ? "transaction"
                  : r < 0.82
                    ? "rollback"
                    : r < 0.9
                      ? "context"
                      : "ic";
          kinds[kind] = (kinds[kind] ?? 0) + 1;
          return async () => {
            switch (kind) {
              case "lifecycle": {
                const id = await db.actorTasks.create({ experimentId, pipelineId, actorId: i % 8, shardId: i });
                await db.actorTasks.start(id);
                await db.pipelines.advanceProgress(pipelineId, { samples, currentShardId: i });
                const e = expected.get(pipelineId)!;
                e.shards++;
                e.samples += samples;
                await db.actorTasks.complete(id);
                completedTasks++;
                return;
              }
              case "read": {
                if (pick < 0.2) expect((await db.pipelines.get(pipelineId))?.pipelineId).toBe(pipelineId);
                else if (pick < 0.4) expect(await db.pipelines.list(experimentId)).toHaveLength(pipelineIds.length);
                else if (pick < 0.6) await db.actorTasks.listRunning(experimentId);
                else if (pick < 0.8) await db.actorTasks.countByStatus(experimentId);
                else if (pick < 0.9) expect((await db.experiments.getCurrent())?.experimentId).toBe(experimentId);
                else await db.icOperations.listPending();
                return;
              }
              case "transaction": {
                await db.transaction(async (tx) => {
                  const id = await tx.actorTasks.create({ experimentId, pipelineId, actorId: i % 8, shardId: i });
                  await tx.actorTasks.start(id);
                  await tx.pipelines.advanceProgress(pipelineId, { samples, currentShardId: i });
                  await tx.actorTasks.complete(id);
                  await tx.icOperations.create({ operation: "resume", pipelineId, requestData: { i } });
                });
                const e = expected.get(pipelineId)!;
                e.shards++;
                e.samples += samples;
                completedTasks++;
                icCreated++;
                return;
              }
              case "rollback": {
                const sentinel = new Sentinel(`rollback ${i}`);
                const err = await db
                  .transaction(async (tx) => {
                    const id = await tx.actorTasks.create({
                      experimentId,
                      pipelineId,
                      actorId: ROLLBACK_ACTOR,
                      shardId: i,
                    });
                    await tx.actorTasks.start(id);
                    await tx.pipelines.advanceProgress(pipelineId, { samples: 1_000_000 });
                    throw sentinel;
                  })
                  .then(
                    () => new Error("transaction that threw resolved"),
                    (e: unknown) => e,
                  );
                if (err !== sentinel) throw err; // rethrown as it was
                return;
              }
              case "context": {
                const hash = hashes[Math.floor(pick * hashes.length)]!;
                const id = await db.contexts.create({ contextHash: hash, ragConfig: { i } });
                (contextIdsByHash.get(hash) ?? contextIdsByHash.set(hash, new Set()).get(hash)!).add(id);
                return;
              }
              case "ic": {
                await db.icOperations.create({ operation: "stop", pipelineId, requestData: { i } });
                icCreated++;
                const op = await db.icOperations.claimNext();
                if (op) {
                  claimed.push(op.icId);
                  await db.icOperations.setStatus(op.icId, "completed");
                }
                return;
              }
            }
          };
        });

        const loop = monitorEventLoop(5);
        const t0 = performance.now();
        await Promise.all(
          ops.map((op) =>
            op().catch((e: unknown) => {
              errors.push(e);
            }),
          ),
        );
        const ms = performance.now() - t0;
        const stats = loop.stop();

        const counts = await db.actorTasks.countByStatus(experimentId);
        const pipelines = await db.pipelines.list(experimentId);
        const rolledBackRows = Number(
          (await db.client.execute(`SELECT count(*) FROM actor_tasks WHERE actor_id = ${ROLLBACK_ACTOR}`)).rows[0]![0],
        );
        const icRows = Number((await db.client.execute("SELECT count(*) FROM interactive_control")).rows[0]![0]);
        const icProcessing = Number(
          (await db.client.execute("SELECT count(*) FROM interactive_control WHERE status = 'processing'")).rows[0]![0],
        );
        const contextRows = Number((await db.client.execute("SELECT count(*) FROM contexts")).rows[0]![0]);
        const mismatches = pipelines.filter((p) => {
          const e = expected.get(p.pipelineId)!;
          return p.shardsCompleted !== e.shards || p.totalSamplesProcessed !== e.samples;
        }).length;
        report("in-process", {
          backend,
          calls: CALLS,
          kinds,
          ms: Math.round(ms),
          maxLoopGapMs: stats.maxGapMs,
          loopTicks: stats.ticks,
          errors: errors.length,
          untypedErrors: errors.filter((e) => !(e instanceof RFDatabaseError)).length,
          tasksCompleted: counts.completed,
          rolledBackRowsVisible: rolledBackRows,
          counterMismatches: mismatches,
        });

        expect(
          errors.length,
          `errors: ${errors
            .slice(0, 3)
            .map((e) => String(e))
            .join(" | ")}`,
        ).toBe(0);
        // The timer kept ticking: at least once per 100 ms of the burst, and never a gap of GAP_BOUND_MS.
        expect(
          stats.ticks,
          `setInterval(…, 5) ticked ${stats.ticks} times in ${stats.durationMs} ms`,
        ).toBeGreaterThanOrEqual(Math.floor(stats.durationMs / 100));
        expect(stats.maxGapMs).toBeLessThan(loopGapBound(GAP_BOUND_MS));
        expect(counts).toEqual({ scheduled: 0, in_progress: 0, completed: completedTasks, failed: 0 });
        expect(rolledBackRows).toBe(0);
        expect(mismatches).toBe(0);
        for (const p of pipelines) {
          const e = expected.get(p.pipelineId)!;
          expect([p.shardsCompleted, p.totalSamplesProcessed]).toEqual([e.shards, e.samples]);
        }
        // Claims are unique, and all claimed operations were completed.
        expect(new Set(claimed).size).toBe(claimed.length);
        expect(icRows).toBe(icCreated);
        expect(icProcessing).toBe(0);
        // Racing creates of one hash all got the same id; one row per hash used.
        for (const ids of contextIdsByHash.values()) expect(ids.size).toBe(1);
        expect(contextRows).toBe(contextIdsByHash.size);
      } finally {
        await db.close();
      }
    },
    size(60_000, 300_000),
  );

  it("a write issued while a transaction is open waits for the commit and succeeds; a read does not wait on a file", async () => {
    const db = await RFDatabase.open({ url: urlFor(backend) });
    try {
      const events: string[] = [];
      let opened!: () => void;
      const isOpen = new Promise<void>((r) => (opened = r));
      let bodyEndedAt = 0;
      const tx = db.transaction(async (t) => {
        const id = await t.experiments.create({ experimentName: "inside", numActors: 1 });
        opened();
        await sleep(300);
        await t.experiments.setNumShards(id, 7);
        events.push("tx body done");
        bodyEndedAt = performance.now();
        return id;
      });
      await isOpen;
      const outsideStarted = performance.now();
      const outside = db.experiments.create({ experimentName: "outside", numActors: 2 }).then((id) => {
        events.push("outside done");
        return { id, at: performance.now() };
      });
      const read = db.experiments.listNames().then((names) => {
        events.push("read done");
        return names;
      });
      const [txId, out, names] = await Promise.all([tx, outside, read]);
      report("in-process-write-during-transaction", {
        backend,
        outsideWaitedMs: Math.round(out.at - outsideStarted),
        order: events,
      });
      expect(out.at).toBeGreaterThanOrEqual(bodyEndedAt);
      expect(events.indexOf("tx body done")).toBeLessThan(events.indexOf("outside done"));
      expect((await db.experiments.get(txId))?.numShards).toBe(7);
      expect((await db.experiments.get(out.id))?.experimentName).toBe("outside");
      // A read does not queue behind the transaction: on a file the read connection answers it from the
      // committed state (neither row yet); on :memory: (one connection) it waits and sees the commit.
      if (backend === "file") {
        expect(names).toEqual([]);
        expect(events.indexOf("read done")).toBeLessThan(events.indexOf("tx body done"));
      } else expect(names).toContain("inside");
      expect((await db.experiments.listNames()).sort()).toEqual(["inside", "outside"]);
    } finally {
      await db.close();
    }
  });
});
