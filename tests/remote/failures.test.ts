/**
 * What a remote failure looks like to the caller — real sqld 0.24.32, real timings.
 *
 * SLOW FILE (~12 s): two cases wait for sqld's own timers (the ~5 s write-lock
 * timeout and the ~10 s idle-stream expiry). The four cases run concurrently,
 * each on its own sqld, so the file takes as long as the slowest one.
 *
 * (a) a transaction holding the write lock while another writer waits is rolled
 *     back by sqld after ~5 s: the holder's next call inside `db.transaction`
 *     rejects with TransactionExpiredError, the other writer's write landed,
 *     nothing of the expired transaction did;
 * (b) a transaction idle > 10 s (no contention): its stream expires, next call
 *     → TransactionExpiredError, nothing written;
 * (c) sqld restarts mid-transaction: next call → TransactionExpiredError
 *     ("invalid baton"), nothing half-written, and the same RFDatabase works afterwards;
 * (d) sqld is gone: a call rejects with ConnectionError, promptly.
 */
import { afterAll, describe, expect, it } from "vitest";
import { ConnectionError, RFDatabase, RFDatabaseError, TransactionExpiredError } from "../../src/index";
import { startSqld, type SqldServer } from "../support/sqld";

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function migratedServer(): Promise<{ server: SqldServer; open: () => Promise<RFDatabase> }> {
  const server = await startSqld();
  cleanups.push(() => server.stop());
  const open = async () => {
    const db = await RFDatabase.open({ url: server.url, migrate: true });
    cleanups.push(() => db.close());
    return db;
  };
  return { server, open };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

/** Every message of the cause chain (the driver's own words are kept there). */
function causeText(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = (err as Error).cause;
  for (let depth = 0; cur && typeof cur === "object" && depth < 8; depth++) {
    parts.push(String((cur as Error).message));
    cur = (cur as Error).cause;
  }
  return parts.join(" | ");
}

describe.concurrent("remote failures surface as typed errors (slow: ~12 s, waits on sqld timers)", () => {
  it("(a) write lock held > 5 s while another writer waits → TransactionExpiredError; the other write landed, ours did not", async () => {
    const { open } = await migratedServer();
    const db = await open();
    const other = await open();

    let otherWrite: { id: number; waitedMs: number } | undefined;
    const started = performance.now();
    const err = await rejection(
      db.transaction(async (tx) => {
        await tx.experiments.create({ experimentName: "expired-holder", numActors: 1 }); // takes the write lock
        // Another writer (another client, as another process would be) wants the lock now:
        // sqld lets it wait ~5 s, then rolls our transaction back and lets it in.
        const t0 = performance.now();
        const id = await other.experiments.create({ experimentName: "other-writer", numActors: 1 });
        otherWrite = { id, waitedMs: performance.now() - t0 };
        await tx.experiments.create({ experimentName: "expired-holder-2", numActors: 1 }); // rejected
      }),
    );
    const elapsed = performance.now() - started;

    expect(err).toBeInstanceOf(TransactionExpiredError);
    const e = err as TransactionExpiredError;
    expect(e.code).toBe("TRANSACTION_EXPIRED");
    expect(e.message).toMatch(/held the write lock too long while another writer waited/);
    expect(e.message).toMatch(/rolled back and nothing of it was written/);
    expect(causeText(e)).toMatch(/TRANSACTION_TIMEOUT: Transaction timed out/);
    expect(otherWrite!.waitedMs).toBeGreaterThan(4_000);
    expect(otherWrite!.waitedMs).toBeLessThan(8_000);
    expect(elapsed).toBeLessThan(10_000);

    expect((await db.experiments.get(otherWrite!.id))?.experimentName).toBe("other-writer");
    expect(await db.experiments.listNames()).toEqual(["other-writer"]);
    // the same database object is fine afterwards
    await db.transaction((tx) => tx.experiments.create({ experimentName: "after", numActors: 1 }));
    expect((await db.experiments.listNames()).sort()).toEqual(["after", "other-writer"]);
  }, 20_000);

  it("(b) transaction idle > 10 s → TransactionExpiredError (stream expired); nothing written", async () => {
    const { open } = await migratedServer();
    const db = await open();
    const started = performance.now();
    const err = await rejection(
      db.transaction(async (tx) => {
        await tx.experiments.create({ experimentName: "idle", numActors: 1 });
        // sqld expires a Hrana-over-HTTP stream 10 s after its last request (checked at 1 s granularity)
        await sleep(12_000);
        await tx.experiments.create({ experimentName: "idle-2", numActors: 1 });
      }),
    );
    expect(err).toBeInstanceOf(TransactionExpiredError);
    expect((err as Error).message).toMatch(/idle too long .*rolled back and nothing of it was written/);
    expect(causeText(err)).toMatch(/STREAM_EXPIRED: The stream has expired due to inactivity/);
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(await db.experiments.listNames()).toEqual([]);
  }, 25_000);

  it("(b') a transaction whose callback outlives the stream fails at COMMIT the same way", async () => {
    const { open } = await migratedServer();
    const db = await open();
    const err = await rejection(
      db.transaction(async (tx) => {
        await tx.experiments.create({ experimentName: "idle-commit", numActors: 1 });
        await sleep(12_000); // e.g. slow work between the last statement and the end of the callback
      }),
    );
    expect(err).toBeInstanceOf(TransactionExpiredError);
    expect((err as Error).message).toMatch(/idle too long/);
    expect(await db.experiments.listNames()).toEqual([]);
  }, 25_000);

  it("(c) sqld restart mid-transaction → TransactionExpiredError (invalid baton); nothing half-written; the same db works after", async () => {
    const { server, open } = await migratedServer();
    const db = await open();
    const keep = await db.experiments.create({ experimentName: "before-restart", numActors: 1 });
    const err = await rejection(
      db.transaction(async (tx) => {
        await tx.experiments.create({ experimentName: "half", numActors: 1 });
        await tx.experiments.setStatus(keep, "failed");
        await server.restart();
        await tx.experiments.create({ experimentName: "half-2", numActors: 1 });
      }),
    );
    expect(err).toBeInstanceOf(TransactionExpiredError);
    expect((err as Error).message).toMatch(/invalid baton.*restarted.*rolled back and nothing of it was written/);
    expect(causeText(err)).toMatch(/HTTP status 400: Received an invalid baton/);
    expect(await db.experiments.listNames()).toEqual(["before-restart"]);
    expect((await db.experiments.get(keep))?.status).toBe("running");
    // a fresh call and a fresh transaction on the same RFDatabase succeed
    const id = await db.experiments.create({ experimentName: "after-restart", numActors: 1 });
    await db.transaction((tx) => tx.experiments.setStatus(id, "completed"));
    expect((await db.experiments.get(id))?.status).toBe("completed");
  }, 20_000);

  it("(d) sqld stopped → ConnectionError within a bounded time, for every kind of call", async () => {
    const { server, open } = await migratedServer();
    const db = await open();
    const id = await db.experiments.create({ experimentName: "up", numActors: 1 });
    await server.stop();

    const calls: Array<[string, () => Promise<unknown>]> = [
      ["get", () => db.experiments.get(id)],
      ["setStatus", () => db.experiments.setStatus(id, "failed")],
      ["batch", () => db.resetExperimentStates()],
      ["transaction", () => db.transaction((tx) => tx.experiments.setError(id, "x"))],
      ["open", () => RFDatabase.open({ url: server.url })],
    ];
    for (const [what, call] of calls) {
      const started = performance.now();
      const err = await rejection(call());
      const ms = performance.now() - started;
      expect(err, what).toBeInstanceOf(ConnectionError);
      expect(err, what).toBeInstanceOf(RFDatabaseError);
      expect((err as ConnectionError).code).toBe("CONNECTION");
      expect((err as Error).message, what).toMatch(/could not reach the database server/);
      expect(ms, `${what} took ${ms} ms`).toBeLessThan(2_000);
    }
  });
});
