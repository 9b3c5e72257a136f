/**
 * `db.watch(…)`: the change feed as an AsyncIterable — one `since` per tick
 * (one request on a remote database), only non-empty batches yielded, a full
 * page followed at once by the next (catching up without waiting), and the
 * end when the signal aborts, also in the middle of a wait. Web-safe.
 */
import { ValidationError } from "../errors";
import * as v from "../validate";
import {
  type ChangeBatch,
  type ChangeFeed,
  DEFAULT_CHANGE_LIMIT,
  knownOptions,
  MAX_CHANGE_LIMIT,
  pageLimit,
} from "./feed";

export interface WatchOptions {
  /** Only this experiment's changes. */
  experimentId?: number;
  /** Pause between two reads when nothing more is waiting (ms, 10 … 3 600 000, default 1000). */
  intervalMs?: number;
  /** Ends the iteration (also during a wait); no timer or listener is left behind. */
  signal?: AbortSignal;
  /** Where to start: a cursor from `snapshot()` or an earlier batch. Default: the log's latest seq (changes from now on). */
  cursor?: number;
  /** Changes per batch at most (1 … 10 000, default 1000). */
  limit?: number;
}

const WATCH_KEYS = ["experimentId", "intervalMs", "signal", "cursor", "limit"] as const;

/** Checked watch options (a ValidationError before anything is read). */
export function watchOptions(options: unknown) {
  const o = knownOptions<WatchOptions>(options, "options", WATCH_KEYS);
  const intervalMs = o.intervalMs === undefined ? 1000 : v.count(o.intervalMs, "intervalMs");
  if (intervalMs < 10 || intervalMs > 3_600_000)
    throw new ValidationError(`intervalMs must be between 10 and 3600000, got ${intervalMs}`, { field: "intervalMs" });
  const signal = o.signal;
  if (signal !== undefined && !isAbortSignal(signal))
    throw new ValidationError("signal must be an AbortSignal", { field: "signal" });
  return {
    experimentId: o.experimentId === undefined ? undefined : v.id(o.experimentId, "experimentId"),
    intervalMs,
    signal,
    cursor: o.cursor === undefined ? undefined : v.count(o.cursor, "cursor"),
    limit: pageLimit(o.limit, DEFAULT_CHANGE_LIMIT, MAX_CHANGE_LIMIT),
  };
}

function isAbortSignal(x: unknown): x is AbortSignal {
  return (
    typeof x === "object" &&
    x !== null &&
    typeof (x as AbortSignal).aborted === "boolean" &&
    typeof (x as AbortSignal).addEventListener === "function"
  );
}

/**
 * Resolves after `ms`, or as soon as `signal` aborts (never rejects). The
 * timer and the listener are both removed whichever comes first.
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** The iteration behind `db.watch`; options already checked by `watchOptions`. */
export async function* watchChanges(
  feed: ChangeFeed,
  o: ReturnType<typeof watchOptions>,
): AsyncGenerator<ChangeBatch, void, undefined> {
  const { signal, limit, intervalMs, experimentId } = o;
  if (signal?.aborted) return;
  let cursor = o.cursor ?? (await feed.head());
  const since = experimentId === undefined ? { limit } : { limit, experimentId };
  while (!signal?.aborted) {
    const batch = await feed.since(cursor, since);
    cursor = batch.cursor;
    if (signal?.aborted) return;
    if (batch.changes.length > 0) yield batch;
    // A full page: more is waiting, read on at once.
    if (batch.changes.length < limit) await abortableSleep(intervalMs, signal);
  }
}
