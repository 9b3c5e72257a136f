/**
 * No remote call waits forever: `requestTimeoutMs` bounds every request over
 * http and ws, and `close()` ends calls in flight — against real sockets that
 * never answer (tests/support/hung-servers.ts), and against a real sqld behind
 * a proxy that freezes its connections.
 *
 * Before the bound existed, a call to a black hole rejected after ~301 s over
 * http (undici's default) and was still pending after 420 s over ws.
 *
 * Timings: the timeout here is 300 ms and a call must reject within
 * 300 ms + 1 s (the bound); what each case measured is printed.
 */
import { afterAll, describe, expect, it } from "vitest";
import { ConnectionError, RFDatabase, RFDatabaseError } from "../../src/index";
import { blackHole, freezableProxy, type HungServer, stallingHttp, stallingWs } from "../support/hung-servers";
import { startSqld } from "../support/sqld";

const TIMEOUT = 300;
const BOUND = TIMEOUT + 1000;
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function keep<T extends { stop(): Promise<void> }>(server: T): T {
  cleanups.push(() => server.stop());
  return server;
}

/** Runs `call` (timing starts before it: building a statement on first use is part of the call). */
async function timed(call: () => Promise<unknown>): Promise<{ err: unknown; ms: number; at: number }> {
  const t0 = performance.now();
  try {
    await call();
  } catch (err) {
    const at = performance.now();
    return { err, ms: at - t0, at };
  }
  throw new Error("expected a rejection");
}

function expectConnectionError(err: unknown, what: string, pattern: RegExp) {
  expect(err, what).toBeInstanceOf(ConnectionError);
  expect(err, what).toBeInstanceOf(RFDatabaseError);
  expect((err as ConnectionError).code, what).toBe("CONNECTION");
  expect((err as Error).message, what).toMatch(pattern);
}

const NO_ANSWER = new RegExp(`did not answer within ${TIMEOUT} ms \\(requestTimeoutMs\\)`);
const figures: string[] = [];
afterAll(() => {
  if (figures.length) console.info(`[timeouts] ${figures.join("; ")}`);
});

type Transport = "http" | "ws";
const url = (server: HungServer, t: Transport) => (t === "http" ? server.httpUrl : server.wsUrl);

async function openLazy(u: string, requestTimeoutMs = TIMEOUT): Promise<RFDatabase> {
  const db = await RFDatabase.open({ url: u, requestTimeoutMs, migrate: false });
  cleanups.push(() => db.close());
  return db;
}

/** Every kind of call: a read, a write, a batch, a transaction. */
function calls(db: RFDatabase): Array<[string, () => Promise<unknown>]> {
  return [
    ["get", () => db.experiments.get(1)],
    ["create", () => db.experiments.create({ experimentName: "x", numActors: 1 })],
    ["batch", () => db.resetExperimentStates()],
    ["transaction", () => db.transaction((tx) => tx.experiments.setStatus(1, "failed"))],
  ];
}

describe.concurrent.each(["http", "ws"] as const)("requestTimeoutMs over %s", (t) => {
  it("black hole (TCP accepted, never answered): every kind of call rejects with ConnectionError in time", async () => {
    const server = keep(await blackHole());
    const db = await openLazy(url(server, t));
    for (const [what, call] of calls(db)) {
      const { err, ms } = await timed(call);
      expectConnectionError(err, what, NO_ANSWER);
      expect(ms, `${what} took ${ms} ms`).toBeLessThan(BOUND);
      if (what === "get") figures.push(`${t} black hole: ${Math.round(ms)} ms`);
    }
  });

  it('black hole: open with migrate "auto" rejects with ConnectionError in time', async () => {
    const server = keep(await blackHole());
    const { err, ms } = await timed(() => RFDatabase.open({ url: url(server, t), requestTimeoutMs: TIMEOUT }));
    expectConnectionError(err, "open", NO_ANSWER);
    expect(ms).toBeLessThan(BOUND);
    figures.push(`${t} open auto: ${Math.round(ms)} ms`);
  });

  it(
    t === "http" ? "headers sent, body stalls: rejects in time" : "handshake done, no answer: rejects in time",
    async () => {
      // 1.5 s, not 300 ms: the request must get as far as the stall (past the version probe, or the
      // handshake) before the timer fires, also on a loaded machine.
      const server = keep(t === "http" ? await stallingHttp() : await stallingWs());
      const db = await openLazy(url(server, t), 1500);
      const { err, ms } = await timed(() => db.experiments.get(1));
      expectConnectionError(err, "get", /did not answer within 1500 ms \(requestTimeoutMs\)/);
      expect(ms).toBeLessThan(1500 + 1000);
      if (t === "http") expect((server as { stalled: number }).stalled).toBeGreaterThan(0);
      else expect((server as { upgraded: number }).upgraded).toBeGreaterThan(0);
      figures.push(`${t} stalled: ${Math.round(ms)} ms`);
    },
  );

  it("close() during hung calls rejects them with ConnectionError at once", async () => {
    const server = keep(await blackHole());
    const db = await RFDatabase.open({ url: url(server, t), requestTimeoutMs: 60_000, migrate: false });
    const pending = calls(db).map(([what, call]) => [what, timed(call)] as const);
    await new Promise((r) => setTimeout(r, 100));
    const closedAt = performance.now();
    await db.close();
    for (const [what, p] of pending) {
      const { err, at } = await p;
      expectConnectionError(err, what, /closed while the call was in flight/);
      expect(at - closedAt, `${what} settled ${at - closedAt} ms after close()`).toBeLessThan(1000);
      if (what === "get") figures.push(`${t} close: settled ${(at - closedAt).toFixed(1)} ms after close()`);
    }
    // and later calls fail at once too
    const after = await timed(() => db.experiments.get(1));
    expectConnectionError(after.err, "after close", /closed/);
  });

  it("a connection that froze mid-use: the call times out, the next one works on a new connection", async () => {
    const sqld = keep(await startSqld());
    await (await RFDatabase.open({ url: sqld.url, migrate: true })).close();
    const proxy = keep(await freezableProxy(sqld.url));
    const db = await openLazy(t === "http" ? proxy.httpUrl : proxy.wsUrl, 1000);
    const id = await db.experiments.create({ experimentName: "before", numActors: 1 });
    proxy.freeze();
    const { err, ms } = await timed(() => db.experiments.get(id));
    expectConnectionError(err, "frozen", /did not answer within 1000 ms/);
    expect(ms).toBeLessThan(1000 + 1000);
    const t0 = performance.now();
    expect((await db.experiments.get(id))?.experimentName).toBe("before");
    figures.push(`${t} frozen: ${Math.round(ms)} ms, next call ${Math.round(performance.now() - t0)} ms`);
  });
});

describe("requestTimeoutMs: configuration", () => {
  it("defaults to 30000 and refuses a value that is not a positive number", async () => {
    const { resolveConfig } = await import("../../src/config");
    const dflt = () => ":memory:";
    expect(resolveConfig({ url: "http://127.0.0.1:1" }, dflt).requestTimeoutMs).toBe(30_000);
    expect(resolveConfig({ url: "http://127.0.0.1:1", requestTimeoutMs: 250 }, dflt).requestTimeoutMs).toBe(250);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "300"]) {
      expect(() => resolveConfig({ url: "http://127.0.0.1:1", requestTimeoutMs: bad as number }, dflt)).toThrow(
        /requestTimeoutMs/,
      );
    }
  });
});
