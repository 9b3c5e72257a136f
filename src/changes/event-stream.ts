/**
 * `toEventStream(db, …)`: the change feed as server-sent events, for an HTTP
 * handler on Node or an edge function (`new Response(stream, { headers:
 * SSE_HEADERS })`). Web-safe: ReadableStream, TextEncoder and timers only.
 *
 *   event: snapshot   data: db.snapshot(experimentId)     (first, when an experiment is given)
 *   event: ready      data: { cursor }                    (first, otherwise)
 *   event: changes    data: { changes, cursor }           (each non-empty batch of db.watch)
 *   : heartbeat                                           (a comment, when nothing was sent for heartbeatMs)
 *
 * Each event carries `id: <cursor>`, so a browser's EventSource reconnects
 * with `Last-Event-ID`: pass it back as `cursor` and the stream resumes
 * without a snapshot. If the cursor has expired (pruned deletes) the stream
 * sends a fresh `snapshot` (with an experiment) or ends with an `error` event.
 * The stream closes when `signal` aborts or the client goes away (cancel).
 */
import { CursorExpiredError, ValidationError } from "../errors";
import * as v from "../validate";
import type { ChangeBatch } from "./feed";
import { knownOptions } from "./feed";
import type { Snapshot } from "./snapshot";
import type { WatchOptions } from "./watch";

/** What the stream needs of a database (RFDatabase from either entry point). */
export interface ChangeSource {
  watch(options?: WatchOptions): AsyncIterable<ChangeBatch>;
  snapshot(experimentId: number): Promise<Snapshot>;
  readonly changes: { head(): Promise<number> };
}

export interface EventStreamOptions {
  /** Snapshot this experiment first and stream only its changes. */
  experimentId?: number;
  /** Poll interval of the underlying watch (ms, default 1000). */
  intervalMs?: number;
  /** Closes the stream. */
  signal?: AbortSignal;
  /** Resume after this cursor (e.g. the request's `Last-Event-ID`) instead of starting with a snapshot. */
  cursor?: number;
  /** A comment line when nothing else was sent for this long (ms, default 15000; keeps proxies from closing an idle connection). */
  heartbeatMs?: number;
}

/** Response headers for the stream. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache, no-transform",
  connection: "keep-alive",
  "x-accel-buffering": "no",
};

function event(name: string, id: number | undefined, data: unknown): string {
  const idLine = id === undefined ? "" : `id: ${id}\n`;
  // JSON never contains a raw newline, so one data line carries the whole document.
  return `event: ${name}\n${idLine}data: ${JSON.stringify(data)}\n\n`;
}

/**
 * A ReadableStream of server-sent events: a snapshot (or `ready`), then the
 * change batches of `db.watch`, with heartbeat comments between.
 * @example
 * // Hono / a Worker: return the stream as the response
 * app.get("/events/:id", (c) =>
 *   new Response(toEventStream(db, { experimentId: Number(c.req.param("id")), signal: c.req.raw.signal }), { headers: SSE_HEADERS }));
 */
export function toEventStream(db: ChangeSource, options?: EventStreamOptions): ReadableStream<Uint8Array> {
  const o = knownOptions<EventStreamOptions>(options, "options", [
    "experimentId",
    "intervalMs",
    "signal",
    "cursor",
    "heartbeatMs",
  ]);
  const experimentId = o.experimentId === undefined ? undefined : v.id(o.experimentId, "experimentId");
  const heartbeatMs = o.heartbeatMs === undefined ? 15_000 : v.count(o.heartbeatMs, "heartbeatMs");
  if (heartbeatMs < 10) throw new ValidationError("heartbeatMs must be at least 10", { field: "heartbeatMs" });
  const resumeAt = o.cursor === undefined ? undefined : v.count(o.cursor, "cursor");
  const stop = new AbortController();
  const outer = o.signal;
  const onAbort = () => stop.abort();
  if (outer?.aborted) stop.abort();
  else outer?.addEventListener("abort", onAbort, { once: true });
  const encoder = new TextEncoder();
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let lastSent = Date.now();

  const finish = () => {
    if (heartbeat !== undefined) clearInterval(heartbeat);
    heartbeat = undefined;
    outer?.removeEventListener("abort", onAbort);
    stop.abort();
  };

  return new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (text: string) => {
        if (stop.signal.aborted) return;
        lastSent = Date.now();
        controller.enqueue(encoder.encode(text));
      };
      heartbeat = setInterval(() => {
        if (Date.now() - lastSent >= heartbeatMs) send(": heartbeat\n\n");
      }, heartbeatMs);
      const opening = async (): Promise<number> => {
        if (experimentId === undefined) {
          const cursor = await db.changes.head();
          send(event("ready", cursor, { cursor }));
          return cursor;
        }
        const snap = await db.snapshot(experimentId);
        send(event("snapshot", snap.cursor, snap));
        return snap.cursor;
      };
      const run = async () => {
        let cursor = resumeAt ?? (await opening());
        for (;;) {
          try {
            const watch = db.watch({
              cursor,
              signal: stop.signal,
              ...(experimentId === undefined ? {} : { experimentId }),
              ...(o.intervalMs === undefined ? {} : { intervalMs: o.intervalMs }),
            });
            for await (const batch of watch) {
              send(event("changes", batch.cursor, batch));
              cursor = batch.cursor;
            }
            return;
          } catch (err) {
            // An expired cursor with an experiment to show: start over from a fresh snapshot.
            if (!(err instanceof CursorExpiredError) || experimentId === undefined) throw err;
            cursor = await opening();
          }
        }
      };
      run()
        .catch((err: unknown) => {
          const message = err instanceof Error ? err.message : String(err);
          send(event("error", undefined, { name: err instanceof Error ? err.name : "Error", message }));
        })
        .finally(() => {
          finish();
          try {
            controller.close();
          } catch {
            /* the reader cancelled: already closed */
          }
        });
    },
    cancel() {
      finish();
    },
  });
}
