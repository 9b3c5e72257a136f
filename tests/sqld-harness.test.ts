/**
 * Proves the sqld test harness (tests/support/{sqld,jwt,proxy}.ts) against a real sqld and pins
 * down how @libsql/client (HTTP, Hrana v2 over /v2/pipeline) reports server-side failures.
 * The facts asserted here are what the typed-error mapping of the data layer relies on.
 *
 * Tests run concurrently (each owns its sqld) so that the two slow, timing-based cases (stream
 * expiry after ~10 s idle, transaction timeout after ~5 s of lock contention) overlap and the
 * whole file stays around 13-15 s.
 */
import { existsSync } from "node:fs";
import { createClient, LibsqlBatchError, LibsqlError, type Client } from "@libsql/client";
import { afterAll, describe, expect, test } from "vitest";
import { generateJwtKeyPair, signJwt } from "./support/jwt";
import { startProxy, type TestProxy } from "./support/proxy";
import { startSqld, type SqldServer } from "./support/sqld";

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function sqld(options?: Parameters<typeof startSqld>[0]): Promise<SqldServer> {
  const server = await startSqld(options);
  cleanups.push(() => server.stop());
  return server;
}

async function proxyTo(target: string, delayMs?: number): Promise<TestProxy> {
  const proxy = await startProxy({ target, delayMs });
  cleanups.push(() => proxy.stop());
  return proxy;
}

function client(config: Parameters<typeof createClient>[0]): Client {
  const c = createClient(config);
  cleanups.push(() => c.close());
  return c;
}

/** Runs `fn`, expects it to reject, returns the rejection. */
async function failure(fn: () => Promise<unknown>): Promise<LibsqlError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LibsqlError);
    return err as LibsqlError;
  }
  throw new Error("expected a rejection");
}

function httpStatusOf(err: LibsqlError): number | undefined {
  return (err.cause as { status?: number } | undefined)?.status;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.concurrent("sqld harness", () => {
  test("executes SQL over HTTP; restart keeps data on the same port; stop cleans up", async () => {
    const server = await sqld();
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(existsSync(server.dataDir)).toBe(true);

    const c = client({ url: server.url });
    await c.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
    await c.execute({ sql: "INSERT INTO items (name) VALUES (?)", args: ["alpha"] });
    const rows = await c.execute("SELECT id, name FROM items");
    expect(rows.rows.map((r) => ({ ...r }))).toEqual([{ id: 1, name: "alpha" }]);

    const pidBefore = server.pid!;
    await server.restart();
    expect(server.pid).not.toBe(pidBefore);
    expect(processAlive(pidBefore)).toBe(false);
    // same client, same URL: data survived
    const after = await c.execute("SELECT count(*) AS n FROM items");
    expect(after.rows[0]?.n).toBe(1);

    const pid = server.pid!;
    await server.stop();
    expect(processAlive(pid)).toBe(false);
    expect(existsSync(server.dataDir)).toBe(false);
    await server.stop(); // idempotent
  });

  test("startup failures reject with sqld's output", async () => {
    await expect(startSqld({ binary: "/nonexistent/sqld" })).rejects.toThrow(/not found/);
    await expect(startSqld({ extraArgs: ["--no-such-flag"] })).rejects.toThrow(
      /exited during startup[\s\S]*no-such-flag/,
    );
  });

  test("JWT auth: PEM and raw base64url keys; missing / wrong / expired / read-only tokens", async () => {
    const keys = generateJwtKeyPair();
    const otherKeys = generateJwtKeyPair();
    const [pemServer, rawServer] = await Promise.all([
      sqld({ jwtPublicKey: keys.publicKeyPem }),
      sqld({ jwtPublicKey: keys.publicKeyBase64Url }),
    ]);
    const token = signJwt(keys.privateKey);
    expect(token.split(".")[0]).toBe(Buffer.from('{"alg":"EdDSA","typ":"JWT"}').toString("base64url"));

    for (const server of [pemServer, rawServer]) {
      const ok = client({ url: server.url, authToken: token });
      await ok.execute("CREATE TABLE IF NOT EXISTS j (x)");
      await ok.execute("INSERT INTO j VALUES (1)");
      // a token without `exp` is accepted too
      const noExp = client({ url: server.url, authToken: signJwt(keys.privateKey, { exp: undefined }) });
      expect((await noExp.execute("SELECT count(*) AS n FROM j")).rows[0]?.n).toBe(1);
    }

    // Every auth failure surfaces as LibsqlError code "SERVER_ERROR"; the HTTP status is only on
    // err.cause (hrana HttpServerError .status). sqld's JSON body ({"error": ...}) is dropped by
    // the client because it has no "message" field, so the message is generic.
    const cases: Array<[string, string | undefined, number, string]> = [
      ["missing token", undefined, 401, "Expected authorization header but none given"],
      ["token signed by another key", signJwt(otherKeys.privateKey), 401, "The JWT is invalid"],
      ["malformed token", "not.a.jwt", 401, "The JWT is invalid"],
      ["expired token", signJwt(keys.privateKey, { iat: 1_000, exp: 2_000 }), 401, "The JWT has expired"],
    ];
    for (const [, authToken, status, serverText] of cases) {
      const err = await failure(() => client({ url: pemServer.url, authToken }).execute("SELECT 1"));
      expect(err.code).toBe("SERVER_ERROR");
      expect(err.message).toBe(`SERVER_ERROR: Server returned HTTP status ${status}`);
      expect(err.cause?.constructor.name).toBe("HttpServerError");
      expect(httpStatusOf(err)).toBe(status);

      // what sqld actually says (visible only with a raw request)
      const raw = await fetch(`${pemServer.url}/v2/pipeline`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(authToken === undefined ? {} : { authorization: `Bearer ${authToken}` }),
        },
        body: JSON.stringify({ requests: [{ type: "execute", stmt: { sql: "SELECT 1" } }] }),
      });
      expect(raw.status).toBe(status);
      expect(((await raw.json()) as { error: string }).error).toContain(serverText);
    }

    // read-only token: reads work, writes are 403
    const ro = client({ url: pemServer.url, authToken: signJwt(keys.privateKey, { a: "ro" }) });
    expect((await ro.execute("SELECT count(*) AS n FROM j")).rows[0]?.n).toBe(1);
    const roErr = await failure(() => ro.execute("INSERT INTO j VALUES (2)"));
    expect(roErr.code).toBe("SERVER_ERROR");
    expect(roErr.message).toBe("SERVER_ERROR: Server returned HTTP status 403");
    expect(httpStatusOf(roErr)).toBe(403);

    // /health needs no token
    expect((await fetch(`${pemServer.url}/health`)).status).toBe(200);
  });

  test("proxy: HTTP requests per execute / batch / interactive transaction; delay", async () => {
    const server = await sqld();
    const proxy = await proxyTo(server.url);
    const c = client({ url: proxy.url });
    await c.execute("CREATE TABLE p (x INTEGER)");

    proxy.reset();
    await c.execute({ sql: "INSERT INTO p VALUES (?)", args: [1] });
    expect(proxy.requests).toBe(1);
    expect(proxy.log).toEqual([{ method: "POST", path: "/v2/pipeline", status: 200 }]);

    proxy.reset();
    await c.batch(["INSERT INTO p VALUES (2)", "INSERT INTO p VALUES (3)", "SELECT count(*) FROM p"], "write");
    expect(proxy.requests).toBe(1); // BEGIN + stmts + COMMIT + close pipelined

    proxy.reset();
    const tx = await c.transaction("write");
    expect(proxy.requests).toBe(0); // nothing sent until the first statement
    await tx.execute("INSERT INTO p VALUES (4)"); // BEGIN piggybacks on this request
    await tx.execute("INSERT INTO p VALUES (5)");
    await tx.commit(); // COMMIT + close in one request
    expect(proxy.requests).toBe(3);
    expect(proxy.log.every((r) => r.method === "POST" && r.path === "/v2/pipeline")).toBe(true);

    proxy.reset();
    const tx2 = await c.transaction("write");
    await tx2.batch(["INSERT INTO p VALUES (6)", "INSERT INTO p VALUES (7)"]);
    await tx2.commit();
    expect(proxy.requests).toBe(2);

    proxy.reset();
    const tx3 = await c.transaction("write");
    await tx3.execute("INSERT INTO p VALUES (8)");
    await tx3.rollback();
    expect(proxy.requests).toBe(2);

    expect((await c.execute("SELECT count(*) AS n FROM p")).rows[0]?.n).toBe(7);

    // binary-safe bodies/results through the proxy
    const blob = new Uint8Array(256).map((_, i) => i);
    await c.execute("CREATE TABLE b (v BLOB)");
    await c.execute({ sql: "INSERT INTO b VALUES (?)", args: [blob] });
    const back = (await c.execute("SELECT v FROM b")).rows[0]?.v as ArrayBuffer;
    expect(new Uint8Array(back)).toEqual(blob);

    // artificial latency: 5 sequential executes with 40 ms each take >= 200 ms
    proxy.delayMs = 40;
    proxy.reset();
    const started = performance.now();
    for (let i = 0; i < 5; i++) await c.execute("SELECT 1");
    expect(performance.now() - started).toBeGreaterThanOrEqual(195);
    expect(proxy.requests).toBe(5);

    // upstream down -> 502 from the proxy -> SERVER_ERROR
    await server.stop();
    const err = await failure(() => c.execute("SELECT 1"));
    expect(err.code).toBe("SERVER_ERROR");
    expect(httpStatusOf(err)).toBe(502);
  });

  test("namespaces: one sqld, isolated databases via x-namespace-bin", async () => {
    const server = await sqld({ namespaces: true });
    expect(server.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await server.createNamespace("ns-a");
    await server.createNamespace("ns_b");

    const a = client(server.namespaceConfig("ns-a"));
    const b = client(server.namespaceConfig("ns_b"));
    await a.execute("CREATE TABLE t (x)");
    await a.execute("INSERT INTO t VALUES ('a')");
    await b.execute("CREATE TABLE t (x)");
    expect((await a.execute("SELECT count(*) AS n FROM t")).rows[0]?.n).toBe(1);
    expect((await b.execute("SELECT count(*) AS n FROM t")).rows[0]?.n).toBe(0);

    // transactions + proxy work with the namespace fetch (the header passes through)
    const proxy = await proxyTo(server.url);
    const viaProxy = client(server.namespaceConfig("ns_b", proxy.url));
    const tx = await viaProxy.transaction("write");
    await tx.execute("INSERT INTO t VALUES ('b1')");
    await tx.execute("INSERT INTO t VALUES ('b2')");
    await tx.commit();
    expect(proxy.requests).toBe(3);
    expect((await b.execute("SELECT count(*) AS n FROM t")).rows[0]?.n).toBe(2);

    // the default namespace is reachable by name ...
    await client(server.namespaceConfig("default")).execute("SELECT 1");
    // ... but NOT by the bare URL: Host "127.0.0.1:PORT" means namespace "127"
    const bare = await failure(() => client({ url: server.url }).execute("SELECT 1"));
    expect(bare.code).toBe("SERVER_ERROR");
    expect(httpStatusOf(bare)).toBe(404);
    const raw = await fetch(`${server.url}/v2/pipeline`, {
      method: "POST",
      body: JSON.stringify({ requests: [] }),
    });
    expect(await raw.text()).toContain("Namespace `127` doesn't exist");

    // unknown / dropped namespace -> HTTP 404
    const missing = await failure(() => client(server.namespaceConfig("nope")).execute("SELECT 1"));
    expect(httpStatusOf(missing)).toBe(404);

    // namespaces survive a restart
    await server.restart();
    expect((await a.execute("SELECT count(*) AS n FROM t")).rows[0]?.n).toBe(1);

    await server.dropNamespace("ns-a");
    const dropped = await failure(() => a.execute("SELECT 1"));
    expect(dropped.code).toBe("SERVER_ERROR");
    expect(httpStatusOf(dropped)).toBe(404);
    await expect(server.createNamespace("ns_b")).rejects.toThrow(/already exists/);
    expect(() => server.namespaceHeaders("bad.name")).toThrow(/invalid namespace/);

    // without namespaces: helpers refuse
    const plain = await sqld();
    await expect(plain.createNamespace("x")).rejects.toThrow(/namespaces are disabled/);
  });

  test("restart mid-transaction: next statement fails with 'invalid baton' (HTTP 400)", async () => {
    const server = await sqld();
    const c = client({ url: server.url });
    await c.execute("CREATE TABLE r (x)");
    const tx = await c.transaction("write");
    await tx.execute("INSERT INTO r VALUES (1)");

    await server.restart();

    const err = await failure(() => tx.execute("INSERT INTO r VALUES (2)"));
    expect(err).not.toBeInstanceOf(LibsqlBatchError);
    expect(err.code).toBe("SERVER_ERROR");
    expect(err.message).toBe("SERVER_ERROR: Server returned HTTP status 400: Received an invalid baton");
    expect(httpStatusOf(err)).toBe(400);

    // the client has closed the stream: commit -> TRANSACTION_CLOSED, rollback is a no-op
    const commitErr = await failure(() => tx.commit());
    expect(commitErr.code).toBe("TRANSACTION_CLOSED");
    expect(commitErr.message).toBe("TRANSACTION_CLOSED: Cannot commit the transaction because it is already closed");
    await tx.rollback();
    expect(tx.closed).toBe(true);
    // the uncommitted insert is gone
    expect((await c.execute("SELECT count(*) AS n FROM r")).rows[0]?.n).toBe(0);
  });

  test("write lock held > 5 s while another writer waits: holder gets TRANSACTION_TIMEOUT", async () => {
    const server = await sqld();
    const c = client({ url: server.url });
    await c.execute("CREATE TABLE l (x)");
    const tx = await c.transaction("write");
    await tx.execute("INSERT INTO l VALUES (1)");

    // The competing write blocks until sqld rolls the idle holder back (~5 s), then succeeds.
    const started = performance.now();
    await c.execute("INSERT INTO l VALUES (99)");
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThan(4_000);
    expect(waited).toBeLessThan(8_000);

    const err = await failure(() => tx.execute("INSERT INTO l VALUES (2)"));
    expect(err).toBeInstanceOf(LibsqlBatchError);
    expect((err as LibsqlBatchError).statementIndex).toBe(0);
    expect(err.code).toBe("TRANSACTION_TIMEOUT");
    expect(err.message).toBe("TRANSACTION_TIMEOUT: TRANSACTION_TIMEOUT: Transaction timed out");
    expect(err.cause?.constructor.name).toBe("ResponseError");
    expect((err.cause as { code?: string }).code).toBe("TRANSACTION_TIMEOUT");
    await tx.rollback().catch(() => undefined);
    expect((await c.execute("SELECT x FROM l")).rows.map((r) => r.x)).toEqual([99]);
  }, 20_000);

  test("interactive transaction idle: fine after 6 s alone, STREAM_EXPIRED after > 10 s", async () => {
    const server = await sqld();
    const c = client({ url: server.url });
    await c.execute("CREATE TABLE e (x)");

    // no contention: 6 s idle is harmless (sqld only times a transaction out when another
    // connection wants the write lock)
    const shortTx = await c.transaction("write");
    await shortTx.execute("INSERT INTO e VALUES (1)");
    const longTx = await c.transaction("read");
    await longTx.execute("SELECT 1");
    await sleep(6_000);
    await shortTx.execute("INSERT INTO e VALUES (2)");
    await shortTx.commit();
    expect((await c.execute("SELECT count(*) AS n FROM e")).rows[0]?.n).toBe(2);

    // longTx has now been idle for 6 s; sqld expires Hrana-over-HTTP streams after 10 s
    // without a request (rounded up to the next second), i.e. at most 11 s.
    await sleep(6_000);
    const err = await failure(() => longTx.execute("SELECT 1"));
    expect(err).not.toBeInstanceOf(LibsqlBatchError);
    expect(err.code).toBe("STREAM_EXPIRED");
    expect(err.message).toBe("STREAM_EXPIRED: The stream has expired due to inactivity");
    expect(err.cause?.constructor.name).toBe("ResponseError");
    const commitErr = await failure(() => longTx.commit());
    expect(commitErr.code).toBe("TRANSACTION_CLOSED");
  }, 25_000);
});
