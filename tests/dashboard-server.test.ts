/**
 * `rf-db dashboard`'s server, without a browser (tests/dashboard-browser.test.ts
 * has one): the Hono app on each backend, called as a browser would —
 * the page and its scripts under a strict CSP, the event stream (a
 * snapshot, then patches carrying only the rows that changed), the clone
 * editor's read, and the one write (an IC operation, deduplicated) with the
 * guards that keep other web pages from using it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ASSET_FILES } from "../src/dashboard/assets";
import { createDashboardApp } from "../src/dashboard/server";
import { loadAssets } from "../src/cli/dashboard-command";
import type { RFDatabase } from "../src/index";
import { BACKENDS, openBackend, type Backend } from "./support/backends";

const ORIGIN = "http://127.0.0.1:7878";
const HOST = { host: "127.0.0.1:7878" };
const NAME = `<img src=x onerror="globalThis.pwned=1"> & "quotes"`;

/** A JSON POST from the page itself. */
function post(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return {
    method: "POST",
    headers: { ...HOST, "content-type": "application/json", origin: ORIGIN, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  };
}

describe.each(BACKENDS)("dashboard server on %s", (name) => {
  let backend: Backend;
  let db: RFDatabase;
  let app: ReturnType<typeof createDashboardApp>;
  const stop = new AbortController();
  let experimentId: number;
  let pipelineId: number;
  const logged: string[] = [];

  beforeAll(async () => {
    backend = await openBackend(name);
    db = backend.db;
    app = createDashboardApp(db, {
      assets: loadAssets(),
      allowedHosts: ["127.0.0.1", "localhost", "[::1]"],
      intervalMs: 50,
      signal: stop.signal,
      log: (line) => logged.push(line),
    });
    experimentId = await db.experiments.create({ experimentName: "served", numActors: 2, numShards: 8 });
    pipelineId = await db.pipelines.create({
      experimentId,
      pipelineName: NAME,
      pipelineType: "vllm",
      configJson: { model: { name: "m", temperature: 0.5 }, api_key: "sk-live-123" },
    });
    await db.pipelines.start(pipelineId);
  }, 60_000);
  afterAll(async () => {
    stop.abort();
    await backend?.close();
  });

  it("serves the page and its scripts with a CSP that allows no inline script and no framing", async () => {
    for (const [path, type] of [
      ["/", "text/html"],
      ["/page.js", "text/javascript"],
      ["/actions.js", "text/javascript"],
    ] as const) {
      const r = await app.request(path, { headers: HOST });
      expect(r.status, path).toBe(200);
      expect(r.headers.get("content-type")).toContain(type);
      const csp = r.headers.get("content-security-policy") ?? "";
      expect(csp).toMatch(/script-src 'self'(;|$)/);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(r.headers.get("x-frame-options")).toBe("DENY");
    }
    expect(ASSET_FILES).toContain("page.html");
    const html = await (await app.request("/", { headers: HOST })).text();
    expect(html).not.toMatch(/<script>(?!<\/script>)/); // no inline script: only <script src=…>
  });

  it("refuses a Host it does not answer to (DNS rebinding) and answers unknown routes with JSON", async () => {
    const rebound = await app.request("/", { headers: { host: "evil.example:7878" } });
    expect(rebound.status).toBe(403);
    const rebound2 = await app.request(
      "/api/operations",
      post({ operation: "stop", pipelineId }, { host: "evil.example" }),
    );
    expect(rebound2.status).toBe(403);
    expect(await db.icOperations.listPending()).toEqual([]);
    const missing = await app.request("/nope", { headers: HOST });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: "NotFound" });
  });

  it("enqueues an operation; the same dedupe key while it is live is the same operation (a double click)", async () => {
    const body = { operation: "stop", pipelineId, dedupeKey: `stop:${pipelineId}` };
    const [a, b] = await Promise.all([
      app.request("/api/operations", post(body)),
      app.request("/api/operations", post(body)),
    ]);
    expect([a.status, b.status]).toEqual([201, 201]);
    const [ra, rb] = [await a.json(), await b.json()];
    expect(ra.icId).toBe(rb.icId);
    expect(ra.status).toBe("pending");
    const pending = await db.icOperations.listPending();
    expect(pending.map((o) => [o.icId, o.operation, o.pipelineId, o.experimentId])).toEqual([
      [ra.icId, "stop", pipelineId, experimentId],
    ]);
    // Applied by the scheduler, the key is free again: a later stop is a new operation.
    const op = await db.icOperations.claimNext();
    await db.icOperations.apply(op!.icId);
    expect((await db.pipelines.get(pipelineId))?.status).toBe("stopped");
    const resume = await app.request("/api/operations", post({ operation: "resume", pipelineId, dedupeKey: "k" }));
    expect(resume.status).toBe(201);
    await db.icOperations.apply((await db.icOperations.claimNext())!.icId);
    expect((await db.pipelines.get(pipelineId))?.status).toBe("ongoing");
  });

  it("a clone is a typed clone request of the parent's experiment, with the edited config", async () => {
    const r = await app.request(
      "/api/operations",
      post({ operation: "clone", pipelineId, config: { model: { temperature: 0.9 } }, pipelineName: "hotter" }),
    );
    expect(r.status, await r.clone().text()).toBe(201);
    const { icId } = await r.json();
    const op = await db.icOperations.get(icId);
    expect(op).toMatchObject({ operation: "clone", experimentId, pipelineId, status: "pending" });
    expect(op?.requestData).toMatchObject({ parentPipelineId: pipelineId, config: { model: { temperature: 0.9 } } });
    await db.icOperations.claimNext();
    const child = await db.pipelines.get(await db.icOperations.apply(icId));
    expect(child).toMatchObject({ parentPipelineId: pipelineId, pipelineName: "hotter" });
    expect(child?.flattenedConfig).toMatchObject({ "model.temperature": 0.9, "model.name": "m" });
  });

  it("the clone editor reads the parent's config as stored (secrets redacted), with typed errors for bad ids", async () => {
    const r = await app.request(`/api/pipelines/${pipelineId}`, { headers: HOST });
    expect(r.status).toBe(200);
    const { pipeline } = await r.json();
    expect(pipeline).toMatchObject({ pipelineId, pipelineName: NAME, configJson: { api_key: "***" } });
    expect(JSON.stringify(pipeline)).not.toContain("sk-live-123");
    expect((await app.request("/api/pipelines/999999", { headers: HOST })).status).toBe(404);
    expect((await app.request("/api/pipelines/abc", { headers: HOST })).status).toBe(400);
  });

  it("refuses bad or foreign writes with a clear message and writes nothing", async () => {
    const before = (await db.icOperations.listAll()).length;
    const cases: [RequestInit, number, RegExp][] = [
      [post({ operation: "explode", pipelineId }), 400, /operation must be one of/],
      [post({ operation: "stop", pipelineId: -1 }), 400, /pipelineId/],
      [post({ operation: "stop", pipelineId: 999_999 }), 404, /pipeline 999999/],
      [post({ operation: "stop", pipelineId, extra: 1 }), 400, /unknown field "extra"/],
      [post({ operation: "stop", pipelineId, config: {} }), 400, /only for a clone/],
      [post({ operation: "clone", pipelineId, config: [1] }), 400, /JSON object/],
      [post("{not json"), 400, /not valid JSON/],
      // A cross-site form cannot send JSON without a preflight; a script on another origin is refused by Origin.
      [post({ operation: "stop", pipelineId }, { "content-type": "text/plain" }), 415, /application\/json/],
      [post({ operation: "stop", pipelineId }, { origin: "https://evil.example" }), 403, /dashboard page only/],
      [post({ operation: "stop", pipelineId }, { "sec-fetch-site": "cross-site" }), 403, /dashboard page only/],
      [post({ operation: "stop", pipelineId, config: "x".repeat(1_100_000) }), 413, /too large/],
    ];
    for (const [init, status, message] of cases) {
      const r = await app.request("/api/operations", init);
      const body = await r.json();
      expect([r.status, body.message], String(init.body).slice(0, 80)).toEqual([
        status,
        expect.stringMatching(message),
      ]);
    }
    expect((await db.icOperations.listAll()).length).toBe(before);
    // A move the pipeline's status does not allow is refused by apply, not here: enqueueing a resume of an
    // ongoing pipeline is allowed (the scheduler fails it with the reason), so the page shows that outcome.
    expect(logged).toEqual([]);
  });
});

/** The server-sent events of a response, one at a time (comments skipped). */
function eventsOf(response: Response) {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  return {
    // biome-ignore lint/suspicious/noExplicitAny: the events' JSON, checked by the assertions
    async next(): Promise<{ event: string; data: Record<string, any> }> {
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) return { event, data: JSON.parse(data) };
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error("the stream ended");
        buffer += decoder.decode(value, { stream: true });
      }
    },
    cancel: () => reader.cancel().catch(() => undefined),
  };
}

describe.each(BACKENDS)("dashboard event stream on %s", (name) => {
  let backend: Backend;
  let db: RFDatabase;
  const statements: string[] = [];
  let app: ReturnType<typeof createDashboardApp>;
  const stop = new AbortController();

  beforeAll(async () => {
    backend = await openBackend(name);
    // The server's own connection logs every statement it sends (memory: one connection, so no log).
    const served = backend.shared ? await backend.reopen({ logger: (e) => statements.push(e.sql) }) : backend.db;
    db = backend.db;
    app = createDashboardApp(served, {
      assets: loadAssets(),
      allowedHosts: ["127.0.0.1"],
      intervalMs: 20,
      signal: stop.signal,
    });
  }, 60_000);
  afterAll(async () => {
    stop.abort();
    await backend?.close();
  });

  it("a snapshot, then patches with only the rows that changed, each read again by its id", async () => {
    const experimentId = await db.experiments.create({ experimentName: "live", numActors: 2, numShards: 4 });
    const pipelineId = await db.pipelines.create({
      experimentId,
      pipelineName: "p",
      pipelineType: "vllm",
      configJson: { model: { t: 0.1 } },
    });
    const other = await db.pipelines.create({ experimentId, pipelineType: "vllm", configJson: { model: { t: 0.2 } } });
    await db.pipelines.start(pipelineId);
    const taskId = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 0 });
    const res = await app.request(`/api/events?experiment=${experimentId}`, { headers: HOST });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const events = eventsOf(res);
    try {
      const first = await events.next();
      expect(first.event).toBe("snapshot");
      expect(first.data).toMatchObject({
        pinned: true,
        experiment: { experimentId, experimentName: "live", numShards: 4 },
        taskCounts: { scheduled: 1, in_progress: 0, completed: 0, failed: 0 },
        runningTasks: [],
      });
      expect(first.data.pipelines.map((p: { pipelineId: number }) => p.pipelineId)).toEqual([pipelineId, other]);
      expect(first.data.pipelines[0].flattenedConfig).toEqual({ "model.t": 0.1 });
      expect(JSON.stringify(first.data)).not.toMatch(/pipelineConfig|leaseOwner":"/);
      statements.length = 0;

      // Progress: this pipeline only, without its (unchanged) config.
      await db.pipelines.advanceProgress(pipelineId, { samples: 5 });
      const progress = await events.next();
      expect(progress.event).toBe("patch");
      expect(progress.data.pipelines).toEqual([expect.objectContaining({ pipelineId, shardsCompleted: 1 })]);
      expect(progress.data.pipelines[0]).not.toHaveProperty("flattenedConfig");
      expect([progress.data.experiments, progress.data.runningTasks, progress.data.operations]).toEqual([[], [], []]);

      // A claimed task appears with its actor and lease; completed, it leaves, and the counts follow.
      await db.actorTasks.claimNext(experimentId, 7);
      const started = await events.next();
      expect(started.data.runningTasks).toEqual([
        expect.objectContaining({ taskId, leaseOwner: 7, actorId: 7, status: "in_progress" }),
      ]);
      expect(Date.parse(started.data.runningTasks[0].leaseExpiresAt)).toBeGreaterThan(Date.now());
      await db.actorTasks.complete(taskId);
      let finished = await events.next();
      while (!finished.data.finishedTasks.length) finished = await events.next();
      expect(finished.data.finishedTasks).toEqual([taskId]);
      let counts = finished.data.taskCounts;
      while (counts?.completed !== 1) counts = (await events.next()).data.taskCounts ?? counts;
      expect(counts).toEqual({ scheduled: 0, in_progress: 0, completed: 1, failed: 0 });

      // An operation enqueued elsewhere appears; a change of another experiment costs no read.
      const icId = await db.icOperations.create({ operation: "stop", pipelineId });
      const elsewhere = await db.experiments.create({ experimentName: "other", numActors: 1 });
      await db.pipelines.create({ experimentId: elsewhere, pipelineType: "vllm" });
      let op = await events.next();
      while (!op.data.operations.length) op = await events.next();
      expect(op.data.operations).toEqual([expect.objectContaining({ icId, operation: "stop", status: "pending" })]);

      // No statement after the snapshot reads a whole table: the change log, rows by primary key, and the count.
      if (backend.shared) {
        expect(statements.length).toBeGreaterThan(0);
        const key = { pipelines: "pipeline_id", actor_tasks: "task_id", interactive_control: "ic_id" };
        for (const sql of statements) {
          for (const [table, column] of Object.entries(key)) {
            if (new RegExp(`from "${table}"`).test(sql) && !/count\(\*\)/i.test(sql))
              expect(sql, sql).toMatch(new RegExp(`"${column}" = \\?`));
          }
          expect(sql).not.toMatch(/from "pipelines" where "pipelines"."experiment_id" = \?/);
        }
      }
    } finally {
      await events.cancel();
    }
  }, 30_000);

  it("without an experiment it follows the running-or-latest one, and moves on to a new one", async () => {
    const res = await app.request("/api/events", { headers: HOST });
    const events = eventsOf(res);
    try {
      const first = await events.next();
      expect(first.data.pinned).toBe(false);
      const latest = first.data.experiment?.experimentId ?? 0;
      const created = await db.experiments.create({ experimentName: "newer", numActors: 1 });
      expect(created).toBeGreaterThan(latest);
      let next = await events.next();
      while (next.event !== "snapshot") next = await events.next();
      expect(next.data.experiment).toMatchObject({ experimentId: created, experimentName: "newer" });
      expect(next.data.experiments[0]).toMatchObject({ experimentId: created });
    } finally {
      await events.cancel();
    }
  }, 30_000);
});
