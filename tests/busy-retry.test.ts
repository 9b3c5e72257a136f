/**
 * The one busy-retry policy (src/driver/busy-retry.ts) on its own: what it
 * retries, when it stops, and the hooks the local client relies on. The
 * end-to-end behaviour against real lock holders is in local-client.test.ts
 * and tests/reliability/.
 */
import { describe, expect, it } from "vitest";
import { LibsqlError } from "@libsql/client";
import { retryWhileLocked } from "../src/driver/busy-retry";

const busy = () => new LibsqlError("database is locked", "SQLITE_BUSY", "SQLITE_BUSY", 5);

describe("retryWhileLocked", () => {
  it("runs a synchronous op again after lock errors until it succeeds", async () => {
    let calls = 0;
    const result = await retryWhileLocked(
      () => {
        if (++calls < 3) throw busy();
        return "done";
      },
      { maxWaitMs: 5000, initialDelayMs: 1, maxDelayMs: 2 },
    );
    expect(result).toBe("done");
    expect(calls).toBe(3);
  });

  it("rethrows at once an error that is not a lock error", async () => {
    let calls = 0;
    const err = new Error("no such table: t");
    await expect(
      retryWhileLocked(
        async () => {
          calls++;
          throw err;
        },
        { maxWaitMs: 5000 },
      ),
    ).rejects.toBe(err);
    expect(calls).toBe(1);
  });

  it("gives up after the budget with the last error, calling onGiveUp once", async () => {
    const given: unknown[] = [];
    let calls = 0;
    const started = performance.now();
    const failure = retryWhileLocked(
      () => {
        calls++;
        throw busy();
      },
      { maxWaitMs: 60, initialDelayMs: 5, maxDelayMs: 10 },
      { onGiveUp: (e) => given.push(e) },
    );
    await expect(failure).rejects.toBeInstanceOf(LibsqlError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    expect(calls).toBeGreaterThan(2);
    expect(given).toHaveLength(1);
  });

  it("starts by waiting when given the first failure, and beforeAttempt can stop it", async () => {
    let calls = 0;
    const stop = new Error("client closed");
    await expect(
      retryWhileLocked(
        () => calls++,
        { maxWaitMs: 5000, initialDelayMs: 1 },
        {
          beforeAttempt: () => {
            throw stop;
          },
        },
        busy(),
      ),
    ).rejects.toBe(stop);
    expect(calls).toBe(0);
  });

  it("asks the retryable hook which errors to retry, and uses the sleep hook to wait", async () => {
    const waits: number[] = [];
    let calls = 0;
    const result = await retryWhileLocked(
      () => {
        if (++calls < 3) throw new Error("flaky");
        return calls;
      },
      { maxWaitMs: 5000, initialDelayMs: 8, maxDelayMs: 100 },
      {
        retryable: (e) => e instanceof Error && e.message === "flaky",
        sleep: async (ms) => {
          waits.push(ms);
        },
      },
    );
    expect(result).toBe(3);
    expect(waits).toHaveLength(2);
    // backoff with jitter: within [cap/2, cap] of 8 ms, then of 16 ms
    expect(waits[0]).toBeGreaterThanOrEqual(4);
    expect(waits[0]).toBeLessThanOrEqual(8);
    expect(waits[1]).toBeGreaterThanOrEqual(8);
    expect(waits[1]).toBeLessThanOrEqual(16);
  });
});
