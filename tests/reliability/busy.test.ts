/**
 * Scenario 3 — another process holds the write lock.
 *
 * A worker (workers/lock-holder.ts, the `libsql` package directly) runs
 * BEGIN IMMEDIATE, inserts a row and holds the lock:
 *  (a) ~1 s, less than the retry budget: a write through RFDatabase waits,
 *      succeeds after the release, and the event loop keeps ticking;
 *  (b) 3 s with `{ busyRetryMs: 500 }`: the call (and a transaction) rejects
 *      with DatabaseBusyError saying "busy", before the lock is released, and
 *      nothing of it was written;
 *  (c) after such a DatabaseBusyError the same RFDatabase keeps working, and
 *      what it acknowledges afterwards is durable (seen from a new connection).
 *      (libsql leaves a statement that failed with SQLITE_BUSY un-reset, with
 *      its implicit transaction open: every later write on that connection is
 *      acknowledged and then lost — see driver-busy.test.ts.)
 * Small and heavy differ in rounds (1 vs 5).
 */
import { join } from "node:path";
import Database from "libsql";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DatabaseBusyError, RFDatabase } from "../../src/index";
import { readContinuously } from "./read-sampler";
import {
  cleanupAll,
  loopGapBound,
  monitorEventLoop,
  report,
  resultOf,
  size,
  sleep,
  startWorker,
  tempDir,
  type Worker,
} from "./support";

const ROUNDS = size(1, 5);
const GAP_BOUND_MS = 250;

let path: string;
let url: string;
beforeAll(async () => {
  path = join(tempDir(), "busy.db");
  url = `file:${path}`;
  const db = await RFDatabase.open({ url });
  await db.close();
});
afterAll(cleanupAll);

/** A failed round must not leave its lock holder running into the next test. */
const holders: Worker[] = [];
afterEach(async () => {
  await Promise.all(holders.splice(0).map((h) => h.exited));
});

/** Names in `experiments`, read through a fresh `libsql` connection (what another process would see). */
function storedNames(): string[] {
  const raw = new Database(path);
  try {
    return (
      raw.prepare("SELECT experiment_name FROM experiments ORDER BY experiment_id").all() as {
        experiment_name: string;
      }[]
    ).map((r) => r.experiment_name);
  } finally {
    raw.close();
  }
}

describe("busy: another process holds the write lock", () => {
  it(
    "(a) held ~1 s (within the retry budget): the write waits, then succeeds; the loop keeps ticking",
    async () => {
      const db = await RFDatabase.open({ url });
      const known = await db.experiments.create({ experimentName: "known", numActors: 1, numShards: 3 });
      try {
        for (let round = 0; round < ROUNDS; round++) {
          const holder = startWorker("lock-holder", { path, holdMs: 1000, end: "rollback", name: `holder-a-${round}` });
          holders.push(holder);
          await holder.waitFor((m) => m.type === "locked");
          const loop = monitorEventLoop(5);
          const t0 = Date.now();
          const creating = db.experiments.create({ experimentName: `after-lock-${round}`, numActors: 1 });
          // While the write waits for the other process, reads of this process go on (read connection).
          const reads = readContinuously(db, known, 5);
          const id = await creating;
          const doneAt = Date.now();
          const writtenAt = performance.now();
          const readsIssued = reads.stop();
          await Promise.all(reads.inflight);
          const stats = loop.stop();
          const released = await holder.waitFor((m) => m.type === "released");
          await resultOf(holder);
          report("busy-a", {
            round,
            holdMs: 1000,
            waitedMs: doneAt - t0,
            resolvedAfterReleaseMs: doneAt - (released.at as number),
            maxLoopGapMs: stats.maxGapMs,
            readsIssued,
            readsDoneBeforeWrite: reads.samples.filter((s) => s.doneAt < writtenAt).length,
            readsBeside: reads.latencies(),
            ok: true,
          });
          expect(reads.samples.filter((s) => s.saw !== (s.what === "experiments.get" ? 3 : 0))).toEqual([]);
          // It really waited for the lock (else this tests nothing) …
          expect(doneAt).toBeGreaterThanOrEqual((released.at as number) - 5);
          // … without blocking the event loop.
          expect(stats.maxGapMs).toBeLessThan(loopGapBound(GAP_BOUND_MS));
          expect((await db.experiments.get(id))?.experimentName).toBe(`after-lock-${round}`);
          const names = storedNames();
          expect(names).toContain(`after-lock-${round}`);
          expect(names).not.toContain(`holder-a-${round}`);
        }
      } finally {
        await db.close();
      }
    },
    size(30_000, 60_000),
  );

  it(
    "(b) held 3 s with busyRetryMs 500: DatabaseBusyError before the release, nothing written",
    async () => {
      const db = await RFDatabase.open({ url, busyRetryMs: 500 });
      try {
        for (let round = 0; round < ROUNDS; round++) {
          const holder = startWorker("lock-holder", { path, holdMs: 3000, end: "commit", name: `holder-b-${round}` });
          holders.push(holder);
          const locked = await holder.waitFor((m) => m.type === "locked");
          const loop = monitorEventLoop(5);

          const t0 = Date.now();
          const single = await db.experiments.create({ experimentName: `busy-single-${round}`, numActors: 1 }).then(
            () => undefined,
            (e: unknown) => e,
          );
          const singleMs = Date.now() - t0;
          // One timer turn between the two calls, so the gap measured is per call
          // (each attempt may block up to busyTimeoutMs, by design).
          await sleep(0);

          const t1 = Date.now();
          const inTx = await db
            .transaction(async (tx) => {
              await tx.experiments.create({ experimentName: `busy-tx-${round}`, numActors: 1 });
              await tx.experiments.create({ experimentName: `busy-tx2-${round}`, numActors: 1 });
            })
            .then(
              () => undefined,
              (e: unknown) => e,
            );
          const txMs = Date.now() - t1;
          const stats = loop.stop();
          const released = await holder.waitFor((m) => m.type === "released");
          await resultOf(holder);

          report("busy-b", {
            round,
            holdMs: 3000,
            busyRetryMs: 500,
            singleRejectedAfterMs: singleMs,
            transactionRejectedAfterMs: txMs,
            singleError: (single as Error | undefined)?.constructor?.name ?? "none",
            transactionError: (inTx as Error | undefined)?.constructor?.name ?? "none",
            maxLoopGapMs: stats.maxGapMs,
          });

          for (const err of [single, inTx]) {
            expect(err).toBeInstanceOf(DatabaseBusyError);
            expect((err as Error).message).toMatch(/busy/i);
          }
          // It gave up on its budget, not when the lock went away.
          expect(t1 + txMs).toBeLessThan(released.at as number);
          expect(singleMs).toBeGreaterThanOrEqual(300);
          expect(stats.maxGapMs).toBeLessThan(loopGapBound(GAP_BOUND_MS));
          expect(locked.at as number).toBeLessThanOrEqual(t0);

          // Nothing of the refused calls was written; the holder's commit was.
          const names = storedNames();
          expect(names).not.toContain(`busy-single-${round}`);
          expect(names).not.toContain(`busy-tx-${round}`);
          expect(names).not.toContain(`busy-tx2-${round}`);
          expect(names).toContain(`holder-b-${round}`);
        }
      } finally {
        await db.close();
      }
    },
    size(30_000, 90_000),
  );

  it(
    "(c) after a DatabaseBusyError the same RFDatabase keeps working and what it acknowledges is durable",
    async () => {
      const db = await RFDatabase.open({ url, busyRetryMs: 200 });
      let lost = 0;
      try {
        for (let round = 0; round < ROUNDS; round++) {
          const holder = startWorker("lock-holder", { path, holdMs: 1500, end: "rollback", name: `holder-c-${round}` });
          holders.push(holder);
          await holder.waitFor((m) => m.type === "locked");
          const refused = await db.experiments.create({ experimentName: `refused-c-${round}`, numActors: 1 }).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(refused).toBeInstanceOf(DatabaseBusyError);
          await holder.waitFor((m) => m.type === "released");
          await resultOf(holder);

          const ids: number[] = [];
          for (let i = 0; i < 5; i++)
            ids.push(await db.experiments.create({ experimentName: `after-busy-${round}-${i}`, numActors: 1 }));
          await db.pipelines.create({
            experimentId: ids[0]!,
            pipelineName: `p-${round}`,
            pipelineType: "t",
            modelConfig: {},
            samplingParams: {},
          });
          const seen = storedNames();
          const durable = ids.filter((_, i) => seen.includes(`after-busy-${round}-${i}`)).length;
          lost += ids.length - durable;
          report("busy-c", {
            round,
            ackedAfterBusy: ids.length,
            visibleToOtherConnections: durable,
            lost: ids.length - durable,
          });
          expect(seen).not.toContain(`refused-c-${round}`);
          expect(durable, "writes acknowledged after a DatabaseBusyError must be visible to other connections").toBe(
            ids.length,
          );
          // A transaction on the same RFDatabase commits too.
          await db.transaction(async (tx) => {
            await tx.experiments.setStatus(ids[1]!, "completed");
          });
        }
      } finally {
        await db.close();
      }
      // … and survive closing the connection.
      const names = storedNames();
      for (let round = 0; round < ROUNDS; round++) expect(names).toContain(`after-busy-${round}-4`);
      expect(lost).toBe(0);
    },
    size(30_000, 60_000),
  );
});
