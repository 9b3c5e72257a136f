/**
 * The one busy-retry policy of the package, for every transport (web-safe:
 * no Node APIs). Another connection holding the lock makes a statement fail
 * with SQLITE_BUSY/SQLITE_LOCKED (sqld: "database is locked"). An autocommit
 * statement, a BEGIN or a whole batch that failed so wrote nothing (the batch
 * was rolled back as a unit), so running it again later is safe; a statement
 * inside an interactive transaction is not retried — the transaction's
 * earlier statements may have been rolled back with it.
 *
 * Used by the remote client (`withBusyRetry`), by `open` on a local file, and
 * by the local client (src/driver/local/client.ts), which adds its own hooks:
 * sleeps that end when the client is closed, and a fresh connection when it
 * gives up.
 */
import type { Client, InArgs, InStatement, ResultSet, TransactionMode } from "@libsql/client";
import { isLockedError } from "../errors";

export interface BusyRetryBudget {
  /** Total time retries may take after the first failure (ms). */
  maxWaitMs: number;
  /** First backoff delay, ms (doubled each attempt, with jitter). Default 5. */
  initialDelayMs?: number;
  /** Upper bound of one backoff delay, ms. Default 100. */
  maxDelayMs?: number;
}

/** What a caller of {@link retryWhileLocked} may change about the loop. */
export interface RetryHooks {
  /** Which failures are worth another attempt. Default: {@link isLockedError} (anywhere in the cause chain). */
  retryable?: (err: unknown) => boolean;
  /** How to wait. Default: a plain timer. */
  sleep?: (ms: number) => Promise<void>;
  /** Runs after each wait, before the next attempt; throwing stops the loop (e.g. the client was closed). */
  beforeAttempt?: () => void;
  /** Runs once when the budget is spent, before the last error is rethrown. */
  onGiveUp?: (err: unknown) => void;
}

const timer = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const NO_HOOKS: RetryHooks = {};
const isPromiseLike = <T>(v: T | PromiseLike<T>): v is PromiseLike<T> =>
  typeof (v as { then?: unknown } | null)?.then === "function";

/**
 * Runs `op`, and while it fails with a retryable error waits (exponential
 * backoff with jitter, on a timer: the event loop keeps running) and runs it
 * again, until `maxWaitMs` has passed since the first failure; then rethrows
 * the last error. `firstError`: `op` already failed once with it (the loop
 * starts by waiting).
 *
 * @example
 * const rs = await retryWhileLocked(() => client.execute("UPDATE t SET n = n + 1"), { maxWaitMs: 5000 });
 */
export async function retryWhileLocked<T>(
  op: () => T | Promise<T>,
  budget: BusyRetryBudget,
  hooks: RetryHooks = NO_HOOKS,
  firstError?: unknown,
): Promise<T> {
  const retryable = hooks.retryable ?? isLockedError;
  let err = firstError;
  if (err === undefined) {
    try {
      const r = op();
      // A synchronous op (the local client's) settles without an extra microtask hop.
      return isPromiseLike(r) ? await r : r;
    } catch (e) {
      if (!retryable(e)) throw e;
      err = e;
    }
  }
  const initial = budget.initialDelayMs ?? 5;
  const maxDelay = budget.maxDelayMs ?? 100;
  const sleep = hooks.sleep ?? timer;
  const start = performance.now();
  for (let attempt = 0; ; attempt++) {
    const left = budget.maxWaitMs - (performance.now() - start);
    if (left <= 0) {
      hooks.onGiveUp?.(err);
      throw err;
    }
    const cap = Math.min(maxDelay, initial * 2 ** attempt);
    await sleep(Math.min(left, cap / 2 + (Math.random() * cap) / 2));
    hooks.beforeAttempt?.();
    try {
      return await op();
    } catch (e) {
      if (!retryable(e)) throw e;
      err = e;
    }
  }
}

/**
 * Timers for retry waits that can all be ended at once: closing a client
 * wakes its sleeping retries (they then see it closed) instead of leaving
 * them pending on timers.
 */
export class WakeableSleeps {
  readonly #sleepers = new Set<{ timer: ReturnType<typeof setTimeout>; resolve: () => void }>();

  readonly sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const s = {
        timer: setTimeout(() => {
          this.#sleepers.delete(s);
          resolve();
        }, ms),
        resolve,
      };
      this.#sleepers.add(s);
    });

  /** Ends every pending sleep now. */
  wakeAll(): void {
    for (const s of this.#sleepers) {
      clearTimeout(s.timer);
      s.resolve();
    }
    this.#sleepers.clear();
  }
}

/**
 * A remote client whose `execute`, `batch` and `migrate` retry on lock
 * errors within the budget (sqld answers "database is locked" when many
 * writers contend); everything else is the wrapped client's.
 */
export function withBusyRetry(client: Client, budget: BusyRetryBudget): Client {
  if (budget.maxWaitMs <= 0) return client;
  const retrying: Partial<Client> = {
    execute: ((stmtOrSql: InStatement | string, args?: InArgs): Promise<ResultSet> =>
      retryWhileLocked(
        () => (typeof stmtOrSql === "string" ? client.execute(stmtOrSql, args) : client.execute(stmtOrSql)),
        budget,
      )) as Client["execute"],
    batch: (stmts: InStatement[], mode?: TransactionMode) => retryWhileLocked(() => client.batch(stmts, mode), budget),
    migrate: (stmts: InStatement[]) => retryWhileLocked(() => client.migrate(stmts), budget),
  };
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop in retrying) return retrying[prop as keyof Client];
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
