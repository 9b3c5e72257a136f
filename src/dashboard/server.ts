/**
 * The dashboard's HTTP side (Hono): the page and its script, one server-sent
 * event stream per open page (`liveEvents`: a snapshot, then only what
 * changed), the full row of a pipeline for the clone editor, and the one
 * write — enqueueing an IC operation. Nothing here runs an operation: the
 * scheduler claims and applies them (`icOperations.claimNext` + `apply`).
 *
 * The server is for the machine it runs on (it binds to 127.0.0.1 unless told
 * otherwise) and its page can stop and delete pipelines, so it guards against
 * other web pages the browser has open: the Host header must be one of the
 * names the server answers to (a DNS-rebinding page sends its own name), a
 * write must be JSON (a cross-site form cannot send it without a preflight,
 * which is never granted) from the page's own origin, and no other site may
 * frame the page. The page is built with `textContent` only, under a CSP
 * that allows no inline script, so a pipeline name or config is shown, never run.
 */
import { createHash } from "node:crypto";
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { secureHeaders } from "hono/secure-headers";
import { streamSSE } from "hono/streaming";
import { InvalidTransitionError, NotFoundError, RFDatabaseError, ValidationError } from "../errors";
import type { RFDatabase } from "../index";
import { IC_OPERATIONS } from "../schema";
import type { DashboardAssets } from "./assets";
import { liveEvents } from "./live";
import { pipelineView } from "./view";

export interface DashboardOptions {
  assets: DashboardAssets;
  /**
   * Host names (without port) the page may be reached under; a request for
   * another Host is refused (DNS rebinding). `"any"` when the user bound the
   * server to a non-loopback address on purpose.
   */
  allowedHosts: readonly string[] | "any";
  /** How often each stream asks for changes, in ms. */
  intervalMs?: number;
  /** Aborted when the server shuts down: every stream ends. */
  signal?: AbortSignal;
  /** Where an unexpected (non-database) error is reported; the page only gets a generic message. */
  log?: (line: string) => void;
}

/** Keeps an idle stream's connection open through proxies, and notices a closed tab. */
const KEEPALIVE_MS = 15_000;
/** A clone's config can be large, a stop is tiny; nothing legitimate is near this. */
const MAX_BODY_BYTES = 1_000_000;

/** The HTTP status for a database error a request caused, and the message the page shows. */
export function statusOf(err: unknown): 400 | 404 | 409 | 500 {
  if (err instanceof ValidationError) return 400;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof InvalidTransitionError) return 409;
  return 500;
}

/** A message safe to show: typed errors carry no secret; anything else is not shown. */
export function safeMessage(err: unknown): string {
  return err instanceof RFDatabaseError ? err.message : "internal error (see the terminal running rf-db dashboard)";
}

/** CSP hashes of the page's own <style> blocks: those run, any other inline style does not. */
function styleHashes(html: string): string[] {
  return [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map(
    (m) => `'sha256-${createHash("sha256").update(m[1]!).digest("base64")}'`,
  );
}

/** `host[:port]` → host, lower-cased; IPv6 literals keep their brackets. */
function hostName(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(header.trim().toLowerCase());
  return m ? m[1]! : null;
}

/** Whether an Origin header names the host the request was sent to (the page's own origin). */
function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false; // "null" (a sandboxed frame, a file: page) or garbage
  }
}

/** A request body of `POST /api/operations`, checked field by field (the repository checks again). */
export interface OperationRequest {
  operation: (typeof IC_OPERATIONS)[number];
  pipelineId: number;
  dedupeKey?: string;
  config?: Record<string, unknown>;
  pipelineName?: string;
  warmStart?: boolean;
}

function parseOperation(body: unknown): OperationRequest {
  const fail = (message: string, field: string) => {
    throw new ValidationError(message, { field });
  };
  if (typeof body !== "object" || body === null || Array.isArray(body)) fail("the body must be a JSON object", "body");
  const b = body as Record<string, unknown>;
  const known = new Set(["operation", "pipelineId", "dedupeKey", "config", "pipelineName", "warmStart"]);
  for (const key of Object.keys(b)) if (!known.has(key)) fail(`unknown field ${JSON.stringify(key)}`, key);
  if (!IC_OPERATIONS.includes(b.operation as never))
    fail(`operation must be one of ${IC_OPERATIONS.join(", ")}`, "operation");
  if (!Number.isSafeInteger(b.pipelineId) || (b.pipelineId as number) < 1)
    fail("pipelineId must be a positive integer", "pipelineId");
  if (b.dedupeKey !== undefined && (typeof b.dedupeKey !== "string" || !b.dedupeKey || b.dedupeKey.length > 200))
    fail("dedupeKey must be a string of 1 to 200 characters", "dedupeKey");
  const clone = b.operation === "clone";
  for (const key of ["config", "pipelineName", "warmStart"])
    if (!clone && b[key] !== undefined) fail(`${key} is only for a clone`, key);
  if (clone && (typeof b.config !== "object" || b.config === null || Array.isArray(b.config)))
    fail("a clone's config must be a JSON object", "config");
  if (b.pipelineName !== undefined && (typeof b.pipelineName !== "string" || !b.pipelineName.trim()))
    fail("pipelineName must be a non-empty string", "pipelineName");
  if (b.warmStart !== undefined && typeof b.warmStart !== "boolean")
    fail("warmStart must be true or false", "warmStart");
  return b as unknown as OperationRequest;
}

/**
 * Enqueues the operation and returns its id — the id of the live operation
 * with the same `dedupeKey` when there is one, so a double click is one
 * operation. A clone is a typed clone request of the pipeline's experiment.
 */
async function enqueue(db: RFDatabase, req: OperationRequest): Promise<number> {
  const dedupeKey = req.dedupeKey ?? null;
  if (req.operation !== "clone")
    return db.icOperations.create({ operation: req.operation, pipelineId: req.pipelineId, dedupeKey });
  const parent = await db.pipelines.get(req.pipelineId);
  if (!parent) throw new NotFoundError("pipeline", req.pipelineId);
  return db.icOperations.create({
    operation: "clone",
    experimentId: parent.experimentId,
    parentPipelineId: req.pipelineId,
    config: req.config ?? {},
    warmStart: req.warmStart ?? false,
    pipelineName: req.pipelineName?.trim() ?? null,
    dedupeKey,
  });
}

/**
 * The dashboard as a Hono app (serve it with `@hono/node-server`, or call
 * `app.request()` in tests).
 * @example const app = createDashboardApp(db, { assets, allowedHosts: ["127.0.0.1", "localhost"] });
 */
export function createDashboardApp(db: RFDatabase, options: DashboardOptions): Hono {
  const app = new Hono();
  const log = options.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const allowed = options.allowedHosts === "any" ? null : new Set(options.allowedHosts.map((h) => h.toLowerCase()));

  app.use("*", async (c, next) => {
    const host = hostName(c.req.header("host"));
    if (allowed && (!host || !allowed.has(host))) return c.text("unknown host: open the address rf-db printed", 403);
    await next();
  });
  app.use(
    "*",
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", ...styleHashes(options.assets["page.html"])],
        connectSrc: ["'self'"],
        imgSrc: ["'self'", "data:"],
        baseUri: ["'none'"],
        formAction: ["'none'"],
        frameAncestors: ["'none'"],
      },
      xFrameOptions: "DENY",
      referrerPolicy: "no-referrer",
      crossOriginResourcePolicy: "same-origin",
    }),
  );
  app.onError((err, c) => {
    const status = statusOf(err);
    if (!(err instanceof RFDatabaseError)) log(`rf-db dashboard: ${c.req.method} ${c.req.path}: ${String(err)}`);
    return c.json({ error: err instanceof RFDatabaseError ? err.name : "Error", message: safeMessage(err) }, status);
  });

  const page = (c: Context, body: string, type: string) =>
    c.body(body, 200, { "content-type": `${type}; charset=utf-8`, "cache-control": "no-store" });
  app.get("/", (c) => page(c, options.assets["page.html"], "text/html"));
  app.get("/page.js", (c) => page(c, options.assets["page.js"], "text/javascript"));
  app.get("/actions.js", (c) => page(c, options.assets["actions.js"], "text/javascript"));

  app.get("/api/events", (c) => {
    const raw = c.req.query("experiment");
    const experimentId = raw === undefined || raw === "" ? null : Number(raw);
    if (experimentId !== null && (!Number.isSafeInteger(experimentId) || experimentId < 1))
      return c.json({ error: "ValidationError", message: "experiment must be a positive integer" }, 400);
    return streamSSE(c, async (stream) => {
      const stop = new AbortController();
      const end = () => stop.abort();
      options.signal?.addEventListener("abort", end, { once: true });
      stream.onAbort(end);
      const keepalive = setInterval(() => void stream.write(": keepalive\n\n").catch(end), KEEPALIVE_MS);
      try {
        const events = liveEvents(db, { experimentId, signal: stop.signal, intervalMs: options.intervalMs });
        for await (const ev of events) await stream.writeSSE({ event: ev.event, data: JSON.stringify(ev.data) });
      } catch (err) {
        if (!stop.signal.aborted) {
          if (!(err instanceof RFDatabaseError)) log(`rf-db dashboard: event stream: ${String(err)}`);
          // The page shows it and reconnects (a fresh snapshot) after the retry delay.
          await stream.writeSSE({ event: "failure", data: JSON.stringify({ message: safeMessage(err) }), retry: 2000 });
        }
      } finally {
        clearInterval(keepalive);
        options.signal?.removeEventListener("abort", end);
      }
    });
  });

  app.get("/api/pipelines/:id", async (c) => {
    const id = Number(c.req.param("id"));
    if (!Number.isSafeInteger(id) || id < 1) throw new ValidationError("pipeline id must be a positive integer");
    const pipeline = await db.pipelines.get(id);
    if (!pipeline) throw new NotFoundError("pipeline", id);
    return c.json({ pipeline: { ...pipelineView(pipeline), configJson: pipeline.configJson ?? null } });
  });

  app.post(
    "/api/operations",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => c.json({ error: "ValidationError", message: "request body too large" }, 413),
    }),
    async (c) => {
      if (!/^application\/json\b/i.test(c.req.header("content-type") ?? ""))
        return c.json({ error: "ValidationError", message: "send the operation as application/json" }, 415);
      const origin = c.req.header("origin");
      const fetchSite = c.req.header("sec-fetch-site");
      if ((origin !== undefined && !sameHost(origin, c.req.header("host"))) || fetchSite === "cross-site")
        return c.json({ error: "Forbidden", message: "operations are accepted from the dashboard page only" }, 403);
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        throw new ValidationError("the body is not valid JSON");
      }
      const icId = await enqueue(db, parseOperation(body));
      const op = await db.icOperations.get(icId);
      return c.json({ icId, status: op?.status ?? null }, 201);
    },
  );

  app.notFound((c) => c.json({ error: "NotFound", message: `no route for ${c.req.method} ${c.req.path}` }, 404));
  return app;
}
