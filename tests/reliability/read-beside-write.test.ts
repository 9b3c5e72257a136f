/**
 * Reads beside a write transaction of the same process (API.md: "Local reads
 * never wait behind a write transaction of the same process").
 *
 * A `db.transaction` changes an experiment and adds a pipeline, then stays
 * open ~500 ms. Meanwhile `experiments.get` and `pipelines.list` are issued
 * every millisecond from outside it, as requests of a Node service would be.
 *
 * - file: every read issued during the transaction completes BEFORE its
 *   COMMIT and sees the state before the transaction (the read connection
 *   reads the last committed WAL snapshot); through `tx` the transaction
 *   sees its own writes. The transaction waits (up to 10 s) for the reads it
 *   saw issued before committing, so nothing here depends on timing: if the
 *   reads queued behind it (the old behaviour), they would complete after
 *   the commit and the test fails.
 * - sqld: the same holds (the remote client sends reads on their own
 *   stream beside the transaction's); latencies there are HTTP round trips.
 * - memory: one connection, no second one to the same data (README, "Reads
 *   beside writes"): the reads wait for the commit and see its result. Pinned.
 *
 * Latencies (p50/p99/max, ms) are printed, not asserted; BENCHMARKS.md keeps them.
 */
import { statSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { BACKENDS, type Backend, openBackend } from "../support/backends";
import { makeExperiment, makePipeline } from "../support/factories";
import { readsBesideTransaction } from "./read-sampler";
import { report } from "./support";

const HOLD_MS = 500;

const opened: Backend[] = [];
afterAll(async () => {
  for (const b of opened) await b.close();
});

describe.each(BACKENDS)("reads beside a 500 ms write transaction on %s", (name) => {
  it(name !== "memory"
    ? "reads complete before the commit and see the state before the transaction"
    : "reads wait for the commit (one connection to :memory:) and see its result", async () => {
    const backend = await openBackend(name);
    opened.push(backend);
    const db = backend.db;
    const experimentId = await makeExperiment(db, { numShards: 8 });
    await makePipeline(db, { experimentId });
    await makePipeline(db, { experimentId });
    // Warm both paths (statement caches, the read connection's lazy open is measured below).
    await db.experiments.get(experimentId);
    await db.pipelines.list(experimentId);

    let ownWrites: { numShards: number | null; pipelines: number } | undefined;
    const {
      reads: r,
      issued: issuedInTx,
      commitAt,
    } = await readsBesideTransaction(db, experimentId, {
      holdMs: HOLD_MS,
      // A file's reads need no wait; on :memory: they cannot finish first (they wait for this transaction).
      waitForReadsMs: name !== "memory" ? 10_000 : 0,
      inTx: async (tx) => {
        await tx.experiments.setNumShards(experimentId, 99);
        await makePipeline(tx, { experimentId });
        ownWrites = {
          numShards: (await tx.experiments.get(experimentId))?.numShards ?? null,
          pipelines: (await tx.pipelines.list(experimentId)).length,
        };
      },
    });

    expect(ownWrites).toEqual({ numShards: 99, pipelines: 3 });
    expect(r.samples.length).toBe(issuedInTx);
    expect(issuedInTx).toBeGreaterThan(10);
    report("read-beside-write", {
      backend: name,
      holdMs: HOLD_MS,
      readsIssued: issuedInTx,
      completedBeforeCommit: r.samples.filter((s) => s.doneAt < commitAt).length,
      ...r.latencies(),
    });

    if (name !== "memory") {
      for (const s of r.samples) {
        expect(s.doneAt).toBeLessThan(commitAt);
        expect(s.saw).toBe(s.what === "experiments.get" ? 8 : 2);
      }
    }
    if (name === "file") {
      // The read connection created no file of its own: the database's files are still private.
      const path = backend.url.slice("file:".length);
      for (const f of [path, `${path}-wal`, `${path}-shm`]) expect(statSync(f).mode & 0o777, f).toBe(0o600);
    } else if (name === "memory") {
      for (const s of r.samples) {
        expect(s.doneAt).toBeGreaterThan(commitAt);
        expect(s.saw).toBe(s.what === "experiments.get" ? 99 : 3);
      }
    }
    // After the commit everyone sees it.
    expect((await db.experiments.get(experimentId))?.numShards).toBe(99);
    expect(await db.pipelines.list(experimentId)).toHaveLength(3);
  }, 30_000);
});
