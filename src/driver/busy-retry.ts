import type { Client, InArgs, InStatement, ResultSet, TransactionMode } from "@libsql/client";
import { isLockedError } from "../errors";

/**
 * Retrying on "database is locked" where that is safe, for any transport
 * (web-safe: no Node APIs). A single autocommit statement or a whole batch
 * that failed with SQLITE_BUSY/SQLITE_LOCKED wrote nothing (the batch was
 * rolled back as a unit), so running it again later is safe; a statement
 * inside an interactive transaction is not retried — the transaction's
 * earlier statements may have been rolled back with it.
 */

export interface BusyRetryBudget {
  /** Total time retries may take after the first failure (ms). */
  maxWaitMs: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `op`, and while it fails with a lock error waits (exponential backoff
 * with jitter, on a timer) and runs it again, until `maxWaitMs` has passed
 * since the first failure; then rethrows the last error.
 */
export async function retryWhileLocked<T>(op: () => Promise<T>, budget: BusyRetryBudget): Promise<T> {
  const initial = budget.initialDelayMs ?? 5;
  const maxDelay = budget.maxDelayMs ?? 100;
  let started: number | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!isLockedError(err)) throw err;
      const now = Date.now();
      started ??= now;
      const left = budget.maxWaitMs - (now - started);
      if (left <= 0) throw err;
      const cap = Math.min(maxDelay, initial * 2 ** attempt);
      await sleep(Math.min(left, cap / 2 + (Math.random() * cap) / 2));
    }
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
