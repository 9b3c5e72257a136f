/**
 * The web entry point (`rf-inferno-db/web`) in a real edge runtime.
 *
 * (a) esbuild bundles it — the library entry src/web.ts and the README's
 *     example examples/edge-worker.ts, which imports "rf-inferno-db/web"
 *     (aliased here to src/web.ts) — for `platform: "browser"` with the
 *     conditions edge bundlers use (["worker", "browser"]), and the result
 *     has no Node built-ins (`node:` or bare), no module stubbed out by a
 *     package's "browser" field, no native module (`libsql`, `.node`), no
 *     imports left at all. Control: the Node entry (src/index.ts) does not bundle so.
 * (b) The bundled example runs in workerd (Miniflare 4, no nodejs_compat)
 *     against a loopback sqld with JWT auth, migrated beforehand from Node:
 *     POST /runs does a whole experiment → context → pipeline → actor task
 *     (create, start, advanceProgress, complete) → IC op (create, claimNext,
 *     setStatus) lifecycle; the test checks the JSON and, from Node, the rows.
 *     Requests go through a counting proxy: the per-isolate database is opened
 *     once (the schema check is paid by the first request only).
 * (c) In the worker, a `file:` or `:memory:` URL, a missing URL and a wrong
 *     token fail with typed errors (ConfigError / AuthError) the worker can
 *     report, without the token.
 * (d) GET /experiments/:id/events (toEventStream) streams the snapshot, then
 *     the change a write from Node made.
 *
 * workerd reaches 127.0.0.1 through Miniflare's default outbound service: no
 * option is needed for loopback.
 */
import { join } from "node:path";
import * as esbuild from "esbuild";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RFDatabase } from "../../src/index";
import { generateJwtKeyPair, signJwt } from "../support/jwt";
import { startProxy, type TestProxy } from "../support/proxy";
import { REPO_ROOT, startSqld, type SqldServer } from "../support/sqld";

const WEB_ENTRY = join(REPO_ROOT, "src", "web.ts");
const EXAMPLE = join(REPO_ROOT, "examples", "edge-worker.ts");
const COMPATIBILITY_DATE = "2025-06-01";

/** Node's built-in modules, as an edge bundle must not import them (with or without `node:`). */
const NODE_BUILTINS = [
  "assert",
  "async_hooks",
  "buffer",
  "child_process",
  "cluster",
  "console",
  "crypto",
  "dgram",
  "diagnostics_channel",
  "dns",
  "events",
  "fs",
  "fs/promises",
  "http",
  "http2",
  "https",
  "inspector",
  "module",
  "net",
  "os",
  "path",
  "perf_hooks",
  "process",
  "querystring",
  "readline",
  "stream",
  "string_decoder",
  "timers",
  "tls",
  "tty",
  "url",
  "util",
  "v8",
  "vm",
  "wasi",
  "worker_threads",
  "zlib",
];

/** Resolves the package's own web entry to the source, as `npm i rf-inferno-db` would to dist/web.js. */
const selfReference: esbuild.Plugin = {
  name: "rf-inferno-db-self-reference",
  setup(build) {
    build.onResolve({ filter: /^rf-inferno-db\/web$/ }, () => ({ path: WEB_ENTRY }));
  },
};

async function bundle(entry: string): Promise<{ code: string; metafile: esbuild.Metafile }> {
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: "browser",
    format: "esm",
    conditions: ["worker", "browser"],
    target: "es2022",
    metafile: true,
    write: false,
    logLevel: "silent",
    plugins: [selfReference],
  });
  return { code: result.outputFiles[0]!.text, metafile: result.metafile };
}

function expectEdgeClean(name: string, { code, metafile }: { code: string; metafile: esbuild.Metafile }) {
  const inputs = Object.keys(metafile.inputs);
  const builtin = new RegExp(`^(node:.*|${NODE_BUILTINS.map((b) => b.replace("/", "\\/")).join("|")})$`);
  const imported = Object.values(metafile.inputs).flatMap((i) => i.imports.map((imp) => imp.path));
  expect(
    inputs.filter((p) => p.startsWith("node:") || builtin.test(p)),
    `${name}: Node built-ins bundled`,
  ).toEqual([]);
  expect(
    imported.filter((p) => builtin.test(p)),
    `${name}: Node built-ins imported`,
  ).toEqual([]);
  // a package "browser" field can replace a module by an empty stub: esbuild lists it as "(disabled):…"
  expect(
    inputs.filter((p) => p.startsWith("(disabled)")),
    `${name}: modules stubbed out`,
  ).toEqual([]);
  // native modules: the libsql binding and its loaders, any .node file, the Node flavour of @libsql/client
  expect(
    inputs.filter((p) =>
      /node_modules\/(libsql|@libsql\/(linux|darwin|win32)[^/]*|@neon-rs|detect-libc)\/|\.node$|@libsql\/client\/lib-esm\/(node|sqlite3)\.js$/.test(
        p,
      ),
    ),
    `${name}: native modules bundled`,
  ).toEqual([]);
  expect(
    inputs.some((p) => p.endsWith("@libsql/client/lib-esm/web.js")),
    `${name}: uses @libsql/client/web`,
  ).toBe(true);
  // nothing left to resolve at run time
  for (const output of Object.values(metafile.outputs))
    expect(output.imports, `${name}: unbundled imports`).toEqual([]);
  // and the text agrees: no import/require of a built-in slipped through as a string
  const names = NODE_BUILTINS.map((b) => b.replace("/", "\\/")).join("|");
  const importOfBuiltin = new RegExp(`(from\\s*|import\\s*\\(\\s*|require\\s*\\(\\s*)["'](node:[\\w/]+|${names})["']`);
  expect(code.match(importOfBuiltin)?.[0], `${name}: a built-in import in the bundle text`).toBeUndefined();
  expect(code.includes('"node:'), `${name}: a "node:" specifier in the bundle text`).toBe(false);
}

describe("rf-inferno-db/web bundles for the edge", () => {
  it("src/web.ts: no Node built-ins, no native modules, nothing left unbundled", async () => {
    expectEdgeClean("src/web.ts", await bundle(WEB_ENTRY));
  });

  it("examples/edge-worker.ts (imports rf-inferno-db/web): the same", async () => {
    const built = await bundle(EXAMPLE);
    expectEdgeClean("examples/edge-worker.ts", built);
    expect(Object.keys(built.metafile.inputs)).toContain("src/web.ts");
    expect(Object.keys(built.metafile.inputs)).not.toContain("src/index.ts");
  });

  it("control: the Node entry (src/index.ts) cannot be bundled for the browser (the checks above are not vacuous)", async () => {
    const failure = await bundle(join(REPO_ROOT, "src", "index.ts")).then(
      () => undefined,
      (err: esbuild.BuildFailure) => err,
    );
    expect(failure?.errors.map((e) => e.text).join("\n")).toMatch(/Could not resolve "(node:)?(fs|os|path)"/);
    // and bundled for Node, the checks reject it
    const forNode = await esbuild.build({
      entryPoints: [join(REPO_ROOT, "src", "index.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      metafile: true,
      write: false,
      logLevel: "silent",
      external: ["libsql"],
    });
    expect(() =>
      expectEdgeClean("src/index.ts for node", { code: forNode.outputFiles[0]!.text, metafile: forNode.metafile }),
    ).toThrow(/Node built-ins/);
  });
});

describe("the example worker in workerd (Miniflare) against a loopback sqld", () => {
  let server: SqldServer;
  let proxy: TestProxy;
  let token: string;
  let script: string;
  const instances: Miniflare[] = [];

  beforeAll(async () => {
    const keys = generateJwtKeyPair();
    token = signJwt(keys.privateKey);
    [server, script] = await Promise.all([
      startSqld({ jwtPublicKey: keys.publicKeyPem }),
      bundle(EXAMPLE).then((b) => b.code),
    ]);
    proxy = await startProxy({ target: server.url });
    // the deploy step: migrate from Node (rf-db migrate does the same)
    await (await RFDatabase.open({ url: server.url, authToken: token, migrate: true })).close();
  });

  afterAll(async () => {
    for (const mf of instances) await mf.dispose();
    await proxy?.stop();
    await server?.stop();
  });

  function worker(bindings: Record<string, string>): Miniflare {
    const mf = new Miniflare({
      modules: true,
      script,
      compatibilityDate: COMPATIBILITY_DATE, // no compatibilityFlags: not even nodejs_compat is needed
      bindings,
    });
    instances.push(mf);
    return mf;
  }

  async function call(
    mf: Miniflare,
    method: string,
    path: string,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await mf.dispatchFetch(`http://worker.test${path}`, { method });
    const text = await res.text();
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new Error(`worker answered ${res.status} with non-JSON: ${text.slice(0, 500)}`);
    }
    return { status: res.status, body };
  }

  it("(b) POST /runs: the whole lifecycle runs in workerd; the rows are in sqld; one schema check per isolate", async () => {
    const mf = worker({ RF_DB_URL: proxy.url, RF_DB_AUTH_TOKEN: token });

    proxy.reset();
    const first = await call(mf, "POST", "/runs");
    const firstRequests = proxy.requests;
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const ids = first.body as { experimentId: number; contextId: number; pipelineId: number; icId: number };
    for (const k of ["experimentId", "contextId", "pipelineId", "icId"] as const) expect(ids[k]).toBeTypeOf("number");

    // from Node: what the worker wrote
    const db = await RFDatabase.open({ url: server.url, authToken: token });
    try {
      expect(await db.experiments.get(ids.experimentId)).toMatchObject({
        experimentName: "edge-run",
        status: "completed",
        numShards: 2,
      });
      expect(await db.contexts.get(ids.contextId)).toMatchObject({
        contextHash: `edge-${ids.experimentId}`,
        ragConfig: { k: 4 },
      });
      expect(await db.pipelines.get(ids.pipelineId)).toMatchObject({
        experimentId: ids.experimentId,
        contextId: ids.contextId,
        status: "stopped",
        shardsCompleted: 2,
        totalSamplesProcessed: 200,
        currentShardId: 1,
        modelConfig: { model: "llama-3-8b" },
        samplingParams: { temperature: 0.7 },
      });
      expect(await db.actorTasks.countByStatus(ids.experimentId)).toEqual({
        scheduled: 0,
        in_progress: 0,
        completed: 2,
        failed: 0,
      });
      const op = await db.icOperations.get(ids.icId);
      expect(op).toMatchObject({ operation: "stop", pipelineId: ids.pipelineId, status: "completed", error: null });
      expect(op!.processedAt).toBeInstanceOf(Date);

      // GET /experiments/:id: rows as JSON (dates as ISO strings)
      const status = await call(mf, "GET", `/experiments/${ids.experimentId}`);
      expect(status.status).toBe(200);
      const body = status.body as {
        experiment: Record<string, unknown>;
        pipelines: Array<Record<string, unknown>>;
        running: unknown[];
      };
      expect(body.experiment).toMatchObject({ experimentId: ids.experimentId, status: "completed" });
      expect(new Date(body.experiment.createdAt as string).getTime()).toBe(
        (await db.experiments.get(ids.experimentId))!.createdAt.getTime(),
      );
      expect(body.pipelines.map((p) => [p.pipelineId, p.shardsCompleted])).toEqual([[ids.pipelineId, 2]]);
      expect(body.running).toEqual([]);
      expect((await call(mf, "GET", "/experiments/999999")).status).toBe(404);

      // a second run in the same isolate reuses the opened database: exactly one request fewer (no schema check)
      proxy.reset();
      const second = await call(mf, "POST", "/runs");
      expect(second.status).toBe(201);
      expect(firstRequests - proxy.requests).toBe(1);
      // 3 creates + 2 × (create, start, advanceProgress, complete) + IC create, claimNext, 3 × setStatus = 16 calls, 1 request each
      expect(proxy.requests).toBe(16);
      expect((second.body as { experimentId: number }).experimentId).toBeGreaterThan(ids.experimentId);
    } finally {
      await db.close();
    }
  });

  it("(d) GET /experiments/:id/events streams the snapshot, then the changes made elsewhere (toEventStream)", async () => {
    const mf = worker({ RF_DB_URL: server.url, RF_DB_AUTH_TOKEN: token });
    const db = await RFDatabase.open({ url: server.url, authToken: token });
    const experimentId = await db.experiments.create({ experimentName: "edge-events", numActors: 1, numShards: 3 });
    const pipelineId = await db.pipelines.create({ experimentId, pipelineType: "vllm" });
    const res = await mf.dispatchFetch(`http://worker.test/experiments/${experimentId}/events`);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = res.body!.getReader();
    let text = "";
    const until = async (pattern: RegExp) => {
      while (!pattern.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    };
    try {
      await until(/^event: snapshot\n/m);
      expect(text).toContain('"experimentName":"edge-events"');
      await db.pipelines.advanceProgress(pipelineId, { samples: 3 });
      await until(/^event: changes\n/m);
      expect(text).toMatch(new RegExp(`"entity":"pipelines","id":${pipelineId}`));
      expect(text).not.toContain(token);
    } finally {
      await reader.cancel();
      await db.close();
    }
  });

  it("(c) a file: or :memory: URL in the worker fails with ConfigError; so does a missing URL", async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [
        { RF_DB_URL: "file:/tmp/rapidfire.db" },
        /rf-inferno-db\/web cannot open a file: database: edge runtimes have no local SQLite/,
      ],
      [{ RF_DB_URL: ":memory:" }, /cannot open an in-memory database/],
      [{}, /no database URL: rf-inferno-db\/web has no embedded default/],
    ];
    for (const [bindings, message] of cases) {
      const r = await call(worker(bindings), "POST", "/runs");
      expect(r.status).toBe(500);
      expect(r.body).toMatchObject({ error: "ConfigError", code: "CONFIG" });
      expect(r.body.message).toMatch(message);
    }
  });

  it("(c) a wrong token in the worker fails with AuthError (HTTP 401) and the worker's answer does not contain it", async () => {
    const wrong = signJwt(generateJwtKeyPair().privateKey);
    const mf = worker({ RF_DB_URL: server.url, RF_DB_AUTH_TOKEN: wrong });
    const res = await mf.dispatchFetch("http://worker.test/runs", { method: "POST" });
    const text = await res.text();
    expect(res.status).toBe(500);
    expect(JSON.parse(text)).toMatchObject({ error: "AuthError", code: "AUTH" });
    expect(text).toMatch(/HTTP 401/);
    expect(text).not.toContain(wrong);
    expect(text).not.toContain(wrong.split(".")[2]!);
    // the failed open is not cached: with the same bindings the next request fails the same way (not a stale rejection)
    expect((await call(mf, "POST", "/runs")).body).toMatchObject({ error: "AuthError" });
  });
});
