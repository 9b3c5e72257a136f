/**
 * rf-inferno-db in an edge function — Cloudflare Workers module syntax; the
 * same code runs on Vercel Edge, Deno Deploy and other fetch-based runtimes.
 * The database is remote (Turso or any libSQL server) and was migrated by the
 * deploy (`rf-db migrate`); `open` here only checks the schema.
 *
 *   POST /runs              records a small experiment end to end, returns it
 *   GET  /experiments/:id   an experiment with its pipelines and running tasks
 *   GET  /experiments/:id/events
 *                           server-sent events: the experiment's snapshot, then only what
 *                           changed (toEventStream); a browser's EventSource resumes from
 *                           the last event it saw (Last-Event-ID) without a new snapshot
 *
 * Bindings: RF_DB_URL (libsql://… or https://…) and the secret RF_DB_AUTH_TOKEN.
 */
import { RFDatabase, RFDatabaseError, SSE_HEADERS, toEventStream } from "rf-inferno-db/web";

export interface Env {
  RF_DB_URL: string;
  RF_DB_AUTH_TOKEN?: string;
}

// One database per isolate: the schema check (one request) runs once, not per request.
let database: Promise<RFDatabase> | undefined;
function open(env: Env): Promise<RFDatabase> {
  database ??= RFDatabase.open({ url: env.RF_DB_URL, authToken: env.RF_DB_AUTH_TOKEN }).catch((err: unknown) => {
    database = undefined; // try again on the next request
    throw err;
  });
  return database;
}

/** Experiment → context → pipeline → actor tasks → interactive control, one request per call. */
async function recordRun(db: RFDatabase) {
  const experimentId = await db.experiments.create({ experimentName: "edge-run", numActors: 1, numShards: 2 });
  const contextId = await db.contexts.create({ contextHash: `edge-${experimentId}`, ragConfig: { k: 4 } });
  const pipelineId = await db.pipelines.create({
    experimentId,
    contextId,
    pipelineName: "llama-3-8b t=0.7",
    pipelineType: "vllm",
    modelConfig: { model: "llama-3-8b" },
    samplingParams: { temperature: 0.7 },
  });
  for (const shardId of [0, 1]) {
    const taskId = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId });
    await db.actorTasks.start(taskId);
    await db.pipelines.advanceProgress(pipelineId, { samples: 100, currentShardId: shardId });
    await db.actorTasks.complete(taskId);
  }
  await db.icOperations.create({ operation: "stop", pipelineId });
  const op = await db.icOperations.claimNext(); // atomically: pending → processing
  if (op?.pipelineId) await db.pipelines.setStatus(op.pipelineId, "stopped");
  if (op) await db.icOperations.setStatus(op.icId, "completed");
  await db.experiments.setStatus(experimentId, "completed");
  return { experimentId, contextId, pipelineId, icId: op?.icId ?? null };
}

/**
 * The change feed as server-sent events. The stream polls the database (one
 * request per tick, only while the client is connected) and ends when the
 * client goes away (the stream is cancelled) or the request is aborted.
 */
function eventStream(db: RFDatabase, experimentId: number, request: Request): Response {
  const last = request.headers.get("last-event-id");
  const stream = toEventStream(db, {
    experimentId,
    signal: request.signal,
    ...(last && /^\d+$/.test(last) ? { cursor: Number(last) } : {}),
  });
  return new Response(stream, { headers: SSE_HEADERS });
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    try {
      const db = await open(env);
      const { pathname } = new URL(request.url);
      if (request.method === "POST" && pathname === "/runs") return json(await recordRun(db), 201);
      const events = /^\/experiments\/(\d+)\/events$/.exec(pathname);
      if (request.method === "GET" && events) return eventStream(db, Number(events[1]), request);
      const id = Number(/^\/experiments\/(\d+)$/.exec(pathname)?.[1]);
      if (request.method === "GET" && id) {
        const experiment = await db.experiments.get(id);
        if (!experiment) return json({ error: "NotFound", message: `experiment ${id} not found` }, 404);
        const [pipelines, running] = await Promise.all([db.pipelines.list(id), db.actorTasks.listRunning(id)]);
        return json({ experiment, pipelines, running });
      }
      return json({ error: "NotFound", message: `no route for ${request.method} ${pathname}` }, 404);
    } catch (err) {
      // Typed errors: ConfigError, AuthError, SchemaVersionError, ConnectionError, … (never the token)
      if (!(err instanceof RFDatabaseError)) throw err;
      const status = err.code === "VALIDATION" ? 400 : err.code === "NOT_FOUND" ? 404 : 500;
      return json({ error: err.name, code: err.code, message: err.message }, status);
    }
  },
};
