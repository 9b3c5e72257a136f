/**
 * OpenTelemetry spans for statements, when `@opentelemetry/api` is installed
 * (an optional peer dependency) AND an SDK has registered a tracer provider
 * by the time the database is opened. Otherwise there is no tracer and the
 * client is not wrapped for it: no cost at all. (A provider registered later
 * is not seen by an already open database: register the SDK at start-up, as
 * OpenTelemetry's own instrumentations require.)
 *
 * One CLIENT span per call (a batch is one span), named after the operation
 * and table (`SELECT experiments`, `BATCH`), with the database semantic
 * conventions' attributes: `db.system.name` (and the older `db.system`)
 * `sqlite`, `db.query.text` (the SQL, never the arguments),
 * `db.operation.name`, `db.collection.name`, `db.operation.batch.size`,
 * `db.response.returned_rows`, `server.address`/`server.port` for remote
 * databases. A failure records the (typed, token-free) error and sets the
 * span's status to ERROR. Spans are children of the active context.
 *
 * Web-safe, and free of the API's types: the module is passed in (the Node
 * entry imports it dynamically; the web entry does not, see README).
 */
import type { ResultSet } from "@libsql/client";

/** What observe.ts needs of a tracer. */
export interface Tracing {
  start(sqls: string[], batch: boolean): unknown;
  end(span: unknown, results: ResultSet[] | undefined, error: Error | undefined): void;
}

/** The part of `@opentelemetry/api` used here (structural: the package is optional). */
export interface OtelApi {
  trace: {
    getTracerProvider(): { getDelegate?: () => unknown };
    getTracer(name: string, version?: string): OtelTracer;
  };
  ProxyTracerProvider: new () => { getDelegate(): unknown };
  SpanKind: { CLIENT: number };
  SpanStatusCode: { ERROR: number };
}

interface OtelTracer {
  startSpan(name: string, options: { kind: number; attributes: Record<string, string | number> }): OtelSpan;
}

interface OtelSpan {
  setAttribute(key: string, value: string | number): unknown;
  recordException(exception: Error): void;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}

/** Where the statements go, for the span attributes. */
export interface TraceTarget {
  /** For remote databases: the server's host and port. */
  server?: { address: string; port?: number };
}

/** True when an SDK registered a tracer provider (the API's global is not its no-op one). */
export function tracerRegistered(api: OtelApi): boolean {
  const noop = new api.ProxyTracerProvider().getDelegate();
  const provider = api.trace.getTracerProvider();
  const delegate = typeof provider.getDelegate === "function" ? provider.getDelegate() : provider;
  return delegate !== noop;
}

/**
 * Spans through `api`, or undefined when no SDK is registered (then nothing is traced).
 * @example const tracing = otelTracing(await import("@opentelemetry/api"), { server: { address: "db.example.com" } });
 */
export function otelTracing(api: OtelApi, target: TraceTarget, version?: string): Tracing | undefined {
  if (!tracerRegistered(api)) return undefined;
  const tracer = api.trace.getTracer("rf-inferno-db", version);
  const base: Record<string, string | number> = { "db.system.name": "sqlite", "db.system": "sqlite" };
  if (target.server) {
    base["server.address"] = target.server.address;
    if (target.server.port !== undefined) base["server.port"] = target.server.port;
  }
  const { CLIENT } = api.SpanKind;
  const { ERROR } = api.SpanStatusCode;
  /** Name and attributes per SQL text, made once (the repositories use a fixed set; SDKs copy attributes). */
  const shapes = new Map<string, { name: string; attributes: Record<string, string | number> }>();
  const shapeOf = (sql: string) => {
    let shape = shapes.get(sql);
    if (shape === undefined) {
      const { operation, table } = describe(sql);
      const attributes: Record<string, string | number> = { ...base, "db.query.text": sql };
      if (operation) attributes["db.operation.name"] = operation;
      if (table) attributes["db.collection.name"] = table;
      shape = { name: operation ? (table ? `${operation} ${table}` : operation) : "sqlite", attributes };
      if (shapes.size >= MAX_DESCRIBED) shapes.clear();
      shapes.set(sql, shape);
    }
    return shape;
  };
  return {
    start(sqls, batch) {
      if (batch) {
        const attributes = { ...base };
        attributes["db.operation.name"] = "BATCH";
        attributes["db.operation.batch.size"] = sqls.length;
        attributes["db.query.text"] = sqls.join(";\n");
        return tracer.startSpan("BATCH", { kind: CLIENT, attributes });
      }
      const { name, attributes } = shapeOf(sqls[0]!);
      return tracer.startSpan(name, { kind: CLIENT, attributes });
    },
    end(span, results, error) {
      const s = span as OtelSpan;
      if (results !== undefined && results.length === 1)
        s.setAttribute("db.response.returned_rows", results[0]!.rows.length);
      if (error !== undefined) {
        s.recordException(error);
        s.setStatus({ code: ERROR, message: error.message });
      }
      s.end();
    },
  };
}

const MAX_DESCRIBED = 512;

/** Operation and table of a statement (read once per SQL text, see shapeOf). */
function describe(sql: string): { operation: string; table: string | undefined } {
  const operation = (/^\s*([a-z]+)/i.exec(sql)?.[1] ?? "").toUpperCase();
  const m = /\b(?:from|into|update|table)\s+[`"[]?([\w$]+)/i.exec(sql);
  return { operation, table: m?.[1] };
}
