/**
 * OpenTelemetry spans, when `@opentelemetry/api` is installed (it is, as a
 * dev dependency) and an SDK has registered a tracer provider before open:
 * one CLIENT span per statement (a batch is one span) with the database
 * semantic conventions' attributes; a failure records the typed error and
 * sets the status to ERROR. Without a registered provider the client is not
 * wrapped at all (no cost).
 *
 * The provider here is a small recording one written against the API (no
 * SDK is installed); it stands where the application's SDK would.
 */
import { context, ProxyTracerProvider, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { afterAll, describe, expect, it } from "vitest";
import { RFDatabase } from "../src/index";
import { startSqld } from "./support/sqld";

interface Recorded {
  name: string;
  kind: number | undefined;
  attributes: Record<string, unknown>;
  status?: { code: number; message?: string };
  exceptions: unknown[];
  ended: boolean;
}

const spans: Recorded[] = [];

/** A tracer provider that records what it is given (what an SDK's exporter would receive). */
function recordingProvider() {
  return {
    getTracer: () => ({
      startSpan(name: string, options: { kind?: number; attributes?: Record<string, unknown> } = {}): Span {
        const r: Recorded = {
          name,
          kind: options.kind,
          attributes: { ...options.attributes },
          exceptions: [],
          ended: false,
        };
        spans.push(r);
        const span = {
          spanContext: () => ({ traceId: "1".repeat(32), spanId: "1".repeat(16), traceFlags: 1 }),
          setAttribute: (k: string, v: unknown) => ((r.attributes[k] = v), span),
          setAttributes: (a: Record<string, unknown>) => (Object.assign(r.attributes, a), span),
          addEvent: () => span,
          addLink: () => span,
          addLinks: () => span,
          setStatus: (s: { code: number; message?: string }) => ((r.status = s), span),
          updateName: () => span,
          end: () => void (r.ended = true),
          isRecording: () => true,
          recordException: (e: unknown) => void r.exceptions.push(e),
        };
        return span as unknown as Span;
      },
      startActiveSpan: () => {
        throw new Error("not used");
      },
    }),
  };
}

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  trace.disable();
});

describe("OpenTelemetry spans", () => {
  it("without a registered provider the client is not wrapped", async () => {
    expect(new ProxyTracerProvider().getDelegate()).toBe(
      (trace.getTracerProvider() as ProxyTracerProvider).getDelegate(),
    );
    const db = await RFDatabase.open({ url: ":memory:" });
    cleanups.push(() => db.close());
    expect(db.client.constructor.name).toBe("LocalClient");
    await db.experiments.create({ experimentName: "untraced", numActors: 1 });
    expect(spans).toEqual([]);
  });

  it("with one: a span per statement, a batch is one span, an error sets the status", async () => {
    expect(trace.setGlobalTracerProvider(recordingProvider() as never)).toBe(true);
    const db = await RFDatabase.open({ url: ":memory:" });
    cleanups.push(() => db.close());
    spans.length = 0;
    const id = await db.experiments.create({ experimentName: "traced", numActors: 1 });
    await db.experiments.get(id);
    await db.resetExperimentStates();
    await expect(
      db.client.execute("INSERT INTO experiments (experiment_name, num_actors, status) VALUES ('x', 1, 'bogus')"),
    ).rejects.toThrow();

    const [insert, select, batch, failed] = spans;
    expect(spans).toHaveLength(4);
    expect(insert).toMatchObject({
      name: "INSERT experiments",
      kind: SpanKind.CLIENT,
      ended: true,
      attributes: {
        "db.system.name": "sqlite",
        "db.operation.name": "INSERT",
        "db.collection.name": "experiments",
        "db.query.text": expect.stringMatching(/^insert into "experiments"/),
      },
    });
    expect(JSON.stringify(insert!.attributes)).not.toContain("traced"); // no arguments
    expect(select).toMatchObject({ name: "SELECT experiments", attributes: { "db.response.returned_rows": 1 } });
    expect(batch).toMatchObject({ name: "BATCH", attributes: { "db.operation.name": "BATCH" } });
    expect(batch!.attributes["db.operation.batch.size"]).toBeGreaterThan(1);
    expect(failed!.status).toMatchObject({ code: SpanStatusCode.ERROR, message: expect.stringMatching(/refused/) });
    expect(failed!.exceptions).toHaveLength(1);
    expect(context.active()).toBeDefined();
  });

  it("remote spans name the server", async () => {
    const server = await startSqld();
    cleanups.push(() => server.stop());
    const db = await RFDatabase.open({ url: server.url, migrate: true });
    cleanups.push(() => db.close());
    spans.length = 0;
    await db.experiments.listNames();
    expect(spans[0]!.attributes).toMatchObject({ "server.address": "127.0.0.1", "server.port": server.port });
  });
});
