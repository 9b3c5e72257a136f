/** Options of the local client, checked and with their defaults filled in once, at open. */
import type { IntMode } from "@libsql/client";

/** Asynchronous retry of statements that find the database locked by another connection. */
export interface BusyRetryOptions {
  /** Total time retries may take after the first SQLITE_BUSY/SQLITE_LOCKED, ms. Default 5000. */
  maxWaitMs?: number;
  /** First backoff delay, ms (doubled each attempt, with jitter). Default 5. */
  initialDelayMs?: number;
  /** Upper bound of one backoff delay, ms. Default 100. */
  maxDelayMs?: number;
}

export interface LocalClientOptions {
  /** `":memory:"` or a file system path (not a `file:` URL). */
  path: string;
  /**
   * SQLite busy timeout per attempt, ms. Default 100. Kept short on purpose:
   * SQLite waits for the lock *synchronously*, blocking the event loop.
   */
  busyTimeoutMs?: number;
  /** Async retries after the busy timeout expired; `false` disables them. Default `{ maxWaitMs: 5000 }`. */
  busyRetry?: BusyRetryOptions | false;
  /** Max prepared statements kept per connection (0 disables caching). Default 256. */
  statementCacheSize?: number;
  /** How SQLite integers are returned, as in `@libsql/client`. Default `"number"` (RangeError beyond ±2^53-1). */
  intMode?: IntMode;
  /**
   * Max time a call waits for the connection while a transaction/batch of
   * this client holds it, ms. Default: no limit. When exceeded the call
   * rejects with code `CLIENT_LOCK_TIMEOUT`.
   */
  lockTimeoutMs?: number;
  /**
   * Open read-only (SQLite `mode=ro`): nothing is written to the file, not
   * even the journal mode; every write fails with SQLITE_READONLY.
   */
  readOnly?: boolean;
  /** Open an existing file only (SQLite `mode=rw`): a missing file is SQLITE_CANTOPEN, not a new database. */
  mustExist?: boolean;
  /** libSQL encryption at rest: the file (and its WAL) is encrypted with this key. */
  encryptionKey?: string;
  /**
   * Embedded replica: the file replicates the primary at `url` (reads are
   * local, writes go to the primary, `sync()` pulls); `intervalSeconds`
   * also pulls in the background.
   */
  sync?: { url: string; authToken?: string | undefined; intervalSeconds?: number | undefined };
}

export interface ResolvedOptions {
  path: string;
  memory: boolean;
  busyTimeoutMs: number;
  retry: Required<BusyRetryOptions> | null;
  cacheSize: number;
  intMode: IntMode;
  lockTimeoutMs: number | undefined;
  readOnly: boolean;
  mustExist: boolean;
  encryptionKey: string | undefined;
  sync: { url: string; authToken: string | undefined; intervalSeconds: number } | undefined;
}

export function resolveOptions(o: LocalClientOptions): ResolvedOptions {
  if (!o || typeof o.path !== "string") throw new TypeError("openLocalClient: `path` must be a string");
  const nonNeg = (v: number | undefined, name: string, dflt: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v))
      throw new RangeError(`openLocalClient: ${name} must be a finite number >= 0`);
    return v;
  };
  const r = o.busyRetry;
  const retry =
    r === false
      ? null
      : {
          maxWaitMs: nonNeg(r?.maxWaitMs, "busyRetry.maxWaitMs", 5000),
          initialDelayMs: nonNeg(r?.initialDelayMs, "busyRetry.initialDelayMs", 5),
          maxDelayMs: nonNeg(r?.maxDelayMs, "busyRetry.maxDelayMs", 100),
        };
  const intMode = o.intMode ?? "number";
  if (intMode !== "number" && intMode !== "bigint" && intMode !== "string")
    throw new TypeError(
      `Invalid value for intMode, expected "number", "bigint" or "string", got ${JSON.stringify(intMode)}`,
    );
  const memory = o.path === ":memory:" || o.path === "";
  if (memory && (o.readOnly || o.mustExist || o.encryptionKey || o.sync))
    throw new RangeError("openLocalClient: readOnly, mustExist, encryptionKey and sync apply to files, not :memory:");
  return {
    path: o.path,
    memory,
    busyTimeoutMs: Math.floor(nonNeg(o.busyTimeoutMs, "busyTimeoutMs", 100)),
    retry: retry && retry.maxWaitMs > 0 ? retry : null,
    cacheSize: Math.floor(nonNeg(o.statementCacheSize, "statementCacheSize", 256)),
    intMode,
    lockTimeoutMs: o.lockTimeoutMs === undefined ? undefined : nonNeg(o.lockTimeoutMs, "lockTimeoutMs", 0),
    readOnly: o.readOnly === true,
    mustExist: o.mustExist === true,
    encryptionKey: o.encryptionKey || undefined,
    sync:
      o.sync === undefined
        ? undefined
        : {
            url: o.sync.url,
            authToken: o.sync.authToken,
            intervalSeconds: nonNeg(o.sync.intervalSeconds, "sync.intervalSeconds", 0),
          },
  };
}

/** The options in effect, as `LocalClient.options` reports them. */
export type EffectiveOptions = Readonly<{
  path: string;
  busyTimeoutMs: number;
  busyRetry: Required<BusyRetryOptions> | false;
  statementCacheSize: number;
  intMode: IntMode;
}>;

export function effectiveOptions(o: ResolvedOptions): EffectiveOptions {
  return {
    path: o.path,
    busyTimeoutMs: o.busyTimeoutMs,
    busyRetry: o.retry ?? false,
    statementCacheSize: o.cacheSize,
    intMode: o.intMode,
  };
}
