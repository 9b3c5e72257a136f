/**
 * rf-inferno-db in a Node HTTP service — Hono on @hono/node-server (the same
 * app runs on Fastify or Express with their adapters). The handlers make
 * single calls — a snapshot is one consistent read, one request on a remote
 * database — and never hold a transaction across an `await`, so no request
 * makes the others wait.
 *
 *   GET  /experiments/:id             db.snapshot(id): experiment, pipelines, task counts, running tasks, pending ops
 *   GET  /experiments/:id/events      server-sent events: that snapshot, then only what changed (toEventStream)
 *   GET  /experiments/:id/pipelines   progress of every pipeline, without configs (pipelines.listSummaries)
 *   POST /pipelines/:id/stop          enqueues a stop; a retried request is the same operation (dedupeKey)
 *
 * Run: RF_DB_URL=… RF_DB_AUTH_TOKEN=… PORT=3000 npx tsx node-service.ts
 * (without RF_DB_URL: the embedded default database, ~/db/rapidfire.db).
 */
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { RFDatabase, RFDatabaseError, SSE_HEADERS, toEventStream } from "rf-inferno-db";

const db = await RFDatabase.open(); // RF_DB_URL / RF_DB_AUTH_TOKEN, or the embedded default
const app = new Hono();

/** A positive integer path or query parameter, or a 400. */
function idOf(raw: string | undefined, name: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new BadRequest(`${name} must be a positive integer`);
  return n;
}
class BadRequest extends Error {}

app.get("/experiments/:id", async (c) => c.json(await db.snapshot(idOf(c.req.param("id"), "id"))));

app.get("/experiments/:id/events", (c) => {
  const experimentId = idOf(c.req.param("id"), "id");
  // EventSource sends the last event's id on reconnect: resume from it instead of a new snapshot.
  const last = c.req.header("last-event-id");
  const stream = toEventStream(db, {
    experimentId,
    signal: c.req.raw.signal, // the client went away: the stream and its watch end
    ...(last && /^\d+$/.test(last) ? { cursor: Number(last) } : {}),
  });
  return new Response(stream, { headers: SSE_HEADERS });
});

app.get("/experiments/:id/pipelines", async (c) =>
  // Progress and status of every pipeline, without the configuration columns (a covering index).
  c.json(await db.pipelines.listSummaries(idOf(c.req.param("id"), "id"))),
);

app.post("/pipelines/:id/stop", async (c) => {
  const pipelineId = idOf(c.req.param("id"), "id");
  const icId = await db.icOperations.create({ operation: "stop", pipelineId, dedupeKey: `stop:${pipelineId}` });
  return c.json({ icId }, 202);
});

app.onError((err, c) => {
  if (err instanceof BadRequest) return c.json({ error: "BadRequest", message: err.message }, 400);
  // Typed errors carry a safe message (never the token): ValidationError, NotFoundError, ConnectionError, …
  if (!(err instanceof RFDatabaseError)) throw err;
  const status = { VALIDATION: 400, NOT_FOUND: 404, INVALID_TRANSITION: 409, BUSY: 503 }[err.code as string] ?? 500;
  return c.json({ error: err.name, code: err.code, message: err.message }, status as 400);
});

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000), hostname: "127.0.0.1" }, (info) =>
  console.log(`listening on http://127.0.0.1:${info.port}/`),
);

// A deploy stops the service with SIGTERM: stop accepting, end open streams, then close the database.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    server.close(() => void db.close().then(() => process.exit(0)));
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}
