/**
 * Remote auth, end to end: a real sqld with Ed25519 JWT auth (the scheme Turso
 * uses) and `RFDatabase.open` from the Node entry point.
 *
 * - A valid token (option or RF_DB_AUTH_TOKEN) opens, migrates and round-trips data.
 * - A missing, wrong-key, malformed or expired token fails `open` — whose first
 *   request is the schema check (migrate "auto") — with `AuthError`
 *   (a `ConfigError`, code "AUTH") that says which of these it is.
 * - A read-only token (`a: "ro"`) reads, and a write fails with `AuthError`
 *   (HTTP 403). Decision: a token that lacks the permission for a call is a
 *   credentials/configuration problem of the deployment, not a transient
 *   driver failure, so it is the same class as a rejected token, with its own message.
 * - In every failure the token appears nowhere: not in the message, stack,
 *   cause chain, String(err), JSON.stringify(err) or util.inspect(err).
 */
import { inspect } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { AuthError, ConfigError, RFDatabase, RFDatabaseError } from "../../src/index";
import { generateJwtKeyPair, signJwt, type JwtKeyPair } from "../support/jwt";
import { startSqld, type SqldServer } from "../support/sqld";

let server: SqldServer;
let keys: JwtKeyPair;
let token: string;
const opened: RFDatabase[] = [];

async function open(options: Parameters<typeof RFDatabase.open>[0]): Promise<RFDatabase> {
  const db = await RFDatabase.open(options);
  opened.push(db);
  return db;
}

beforeAll(async () => {
  keys = generateJwtKeyPair();
  server = await startSqld({ jwtPublicKey: keys.publicKeyPem });
  token = signJwt(keys.privateKey);
});

afterEach(() => {
  vi.unstubAllEnvs();
});

afterAll(async () => {
  for (const db of opened) await db.close();
  await server?.stop();
});

/** Awaits a rejection and returns it (fails the test when `promise` resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

/** Every rendering of an error a user or a logger might see. */
function renderings(err: unknown): Record<string, string> {
  const out: Record<string, string> = {
    "String(err)": String(err),
    "JSON.stringify(err)": JSON.stringify(err) ?? "",
    "util.inspect(err, {depth: 10})": inspect(err, { depth: 10 }),
    "util.inspect(err, {showHidden})": inspect(err, { depth: 10, showHidden: true }),
  };
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 10; depth++) {
    const e = cur as { message?: unknown; stack?: unknown; cause?: unknown };
    out[`cause[${depth}].message`] = String(e.message ?? cur);
    out[`cause[${depth}].stack`] = String(e.stack ?? "");
    out[`JSON.stringify(cause[${depth}])`] = safeJson(cur);
    cur = typeof cur === "object" ? e.cause : undefined;
  }
  return out;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? "";
  } catch {
    return "";
  }
}

/** The token, and its signature (the part that makes it a credential), appear in no rendering of `err`. */
function expectNoSecret(err: unknown, secret: string): void {
  const signature = secret.split(".")[2] ?? secret;
  for (const [where, text] of Object.entries(renderings(err))) {
    expect(text.includes(secret), `token found in ${where}`).toBe(false);
    expect(text.includes(signature), `token signature found in ${where}`).toBe(false);
  }
}

/** The HTTP status recorded anywhere in the cause chain (HttpServerError.status). */
function httpStatus(err: unknown): number | undefined {
  let cur: unknown = err;
  for (let depth = 0; cur && typeof cur === "object" && depth < 10; depth++) {
    const e = cur as { status?: unknown; cause?: unknown };
    if (typeof e.status === "number") return e.status;
    cur = e.cause;
  }
  return undefined;
}

async function expectAuthError(promise: Promise<unknown>, message: RegExp): Promise<AuthError> {
  const err = await rejection(promise);
  expect(err).toBeInstanceOf(AuthError);
  expect(err).toBeInstanceOf(ConfigError);
  expect(err).toBeInstanceOf(RFDatabaseError);
  const e = err as AuthError;
  expect(e.name).toBe("AuthError");
  expect(e.code).toBe("AUTH");
  expect(e.message).toMatch(message);
  // the driver's error is kept as the cause, with its HTTP status
  expect(e.cause).toBeDefined();
  expect([401, 403]).toContain(httpStatus(e));
  return e;
}

describe("remote auth on sqld with Ed25519 JWT", () => {
  it("a valid token opens (migrate: true), writes and reads; a second open only checks the schema", async () => {
    const db = await open({ url: server.url, authToken: token, migrate: true });
    expect(db.kind).toBe("remote");
    const experimentId = await db.experiments.create({ experimentName: "auth-ok", numActors: 2, numShards: 4 });
    const pipelineId = await db.pipelines.create({
      experimentId,
      pipelineName: "p0",
      pipelineType: "vllm",
      modelConfig: { model: "llama-3-8b" },
      samplingParams: { temperature: 0.7 },
    });
    expect(await db.experiments.get(experimentId)).toMatchObject({
      experimentName: "auth-ok",
      numShards: 4,
      status: "running",
    });
    expect((await db.pipelines.list(experimentId)).map((p) => p.pipelineId)).toEqual([pipelineId]);

    const again = await open({ url: server.url, authToken: token }); // migrate "auto": check only
    expect((await again.experiments.getByName("auth-ok"))?.experimentId).toBe(experimentId);
    // the safe-to-print URL never carries credentials
    expect(again.url).toBe(server.url);
  });

  const cases: Array<{ name: string; token: () => string | undefined; message: RegExp }> = [
    { name: "missing token", token: () => undefined, message: /HTTP 401.*no auth token was given.*RF_DB_AUTH_TOKEN/ },
    {
      name: "token signed by another key",
      token: () => signJwt(generateJwtKeyPair().privateKey),
      message: /HTTP 401.*rejected \(signed by another key, malformed, or revoked\)/,
    },
    { name: "malformed token", token: () => "not-a-jwt-but-a-secret", message: /HTTP 401.*rejected/ },
    {
      name: "expired token",
      token: () => signJwt(keys.privateKey, { iat: 1_700_000_000, exp: 1_700_000_600 }),
      // sqld accepts tokens up to 60 s past `exp` (jsonwebtoken's default leeway): use one long expired
      message: /HTTP 401.*the auth token expired at 2023-11-14T22:23:20\.000Z; create a new one/,
    },
  ];

  for (const c of cases) {
    it(`${c.name}: open fails with AuthError on the schema check; the token appears nowhere`, async () => {
      const bad = c.token();
      const err = await expectAuthError(RFDatabase.open({ url: server.url, authToken: bad }), c.message);
      if (bad) expectNoSecret(err, bad);
      // the valid token of this server does not leak either (it was never involved)
      expectNoSecret(err, token);
    });

    it(`${c.name} via RF_DB_URL / RF_DB_AUTH_TOKEN: same AuthError, token nowhere`, async () => {
      const bad = c.token();
      vi.stubEnv("RF_DB_URL", server.url);
      if (bad === undefined) vi.stubEnv("RF_DB_AUTH_TOKEN", "");
      else vi.stubEnv("RF_DB_AUTH_TOKEN", bad);
      const err = await expectAuthError(RFDatabase.open(), c.message);
      if (bad) expectNoSecret(err, bad);
    });
  }

  it("with migrate: true the failure is the same AuthError (first request is the migration bookkeeping)", async () => {
    const bad = signJwt(generateJwtKeyPair().privateKey);
    const err = await expectAuthError(RFDatabase.open({ url: server.url, authToken: bad, migrate: true }), /HTTP 401/);
    expectNoSecret(err, bad);
  });

  it("a valid token from RF_DB_AUTH_TOKEN opens and works", async () => {
    vi.stubEnv("RF_DB_URL", server.url);
    vi.stubEnv("RF_DB_AUTH_TOKEN", token);
    const db = await open(undefined);
    expect(db.url).toBe(server.url);
    const id = await db.experiments.create({ experimentName: "via-env", numActors: 1 });
    expect((await db.experiments.get(id))?.experimentName).toBe("via-env");
    // options win over the environment
    const bad = signJwt(generateJwtKeyPair().privateKey);
    const err = await expectAuthError(RFDatabase.open({ authToken: bad }), /HTTP 401.*rejected/);
    expectNoSecret(err, bad);
    expectNoSecret(err, token);
  });

  it("read-only token: reads work; a write fails with AuthError (HTTP 403) and writes nothing; token nowhere", async () => {
    const rw = await open({ url: server.url, authToken: token });
    const experimentId = await rw.experiments.create({ experimentName: "ro-target", numActors: 1 });

    const roToken = signJwt(keys.privateKey, { a: "ro" });
    const ro = await open({ url: server.url, authToken: roToken }); // the schema check is a read: allowed
    expect((await ro.experiments.get(experimentId))?.experimentName).toBe("ro-target");
    expect(await ro.experiments.listNames()).toContain("ro-target");

    const writes: Array<[string, () => Promise<unknown>]> = [
      ["experiments.create", () => ro.experiments.create({ experimentName: "ro-write", numActors: 1 })],
      ["experiments.setStatus", () => ro.experiments.setStatus(experimentId, "failed")],
      ["db.transaction", () => ro.transaction((tx) => tx.experiments.setError(experimentId, "nope"))],
      ["db.resetExperimentStates", () => ro.resetExperimentStates()],
    ];
    for (const [what, write] of writes) {
      const err = await expectAuthError(write(), /HTTP 403.*read-only token used to write.*nothing was written/);
      expectNoSecret(err, roToken);
      expect(httpStatus(err), what).toBe(403);
    }
    expect(await rw.experiments.get(experimentId)).toMatchObject({ status: "running", error: null });
    expect(await rw.experiments.getByName("ro-write")).toBeNull();
    // and migrating with it is refused the same way
    const err = await expectAuthError(
      RFDatabase.open({ url: server.url, authToken: roToken, migrate: true }),
      /HTTP 403/,
    );
    expectNoSecret(err, roToken);
  });

  it("a wrong token passed in the URL query (?authToken=) fails with AuthError and is not echoed", async () => {
    const bad = signJwt(generateJwtKeyPair().privateKey);
    const err = await rejection(RFDatabase.open({ url: `${server.url}?authToken=${bad}` }));
    expect(err).toBeInstanceOf(AuthError);
    expectNoSecret(err, bad);
  });
});
