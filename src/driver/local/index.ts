/**
 * A `Client` (the `@libsql/client` interface Drizzle's libsql driver talks
 * to) for local database files and `:memory:`, built directly on the native
 * `libsql` binding.
 *
 * Why not `createClient({ url: "file:…" })`:
 *
 * 1. Speed. `@libsql/client`'s sqlite3 client prepares every statement again
 *    on every call and builds each row with `Object.defineProperty`. Here
 *    prepared statements, their column metadata and a generated row class
 *    are cached per SQL string (bounded, CLOCK eviction), so a hot call costs
 *    little more than the native call itself.
 * 2. Correctness. Its `transaction()` gives the connection away and lazily
 *    opens a second one for everything else: with `:memory:` that is a new,
 *    empty database, and on a file a write issued meanwhile waits on the
 *    busy timeout *blocking the event loop*, then fails with SQLITE_BUSY.
 *    Here there is ONE write connection per client; interactive
 *    transactions and batches take a FIFO async mutex that every other
 *    write waits for. Reads sent meanwhile run at once on a read connection
 *    (files in WAL mode; `:memory:` has no second connection to its data,
 *    so there they wait too) and see the last committed state.
 * 3. Busy handling. The native busy timeout blocks the JS thread, so it is
 *    kept short (default 100 ms) and a statement that still finds the
 *    database locked by another process is retried asynchronously with
 *    exponential backoff + jitter, within a total budget (default 5 s).
 *
 * Errors, booleans (per `intMode`) and option errors are as in
 * `@libsql/client`: its own test suite (v0.17.4, on a `file:` URL) passes
 * 139 of its 141 checks here; the two left are deliberate (RELIABILITY.md,
 * "The upstream client suite"). Deliberate differences:
 * - `undefined` arguments bind as NULL instead of throwing.
 * - A locked database is retried for up to 5 s (`busyRetry`) instead of
 *   failing once the busy timeout expired.
 * - `:memory:` transactions keep their database (one connection per client).
 * - `execute()` rejects SQL holding more than one statement
 *   (`SQL_MANY_STATEMENTS`) instead of silently ignoring the rest, and
 *   named arguments for a statement with bare `?` placeholders
 *   (`ARGS_INVALID`) instead of crashing the process (a libsql panic).
 * - INSERT/UPDATE/DELETE … RETURNING report `rowsAffected` and
 *   `lastInsertRowid` (the sqlite3 client reports 0/undefined).
 * - `"read"` transactions are enforced with `PRAGMA query_only` (local
 *   libsql accepts writes inside `BEGIN TRANSACTION READONLY`).
 *
 * Hazard: inside an open `transaction()`, writing through the *client*
 * (instead of the transaction object) waits for the transaction to end, i.e.
 * forever (on `:memory:` reads do too); a read through the client does not
 * wait but does not see the transaction's writes. With Drizzle: inside
 * `db.transaction(async (tx) => …)` use `tx`, not `db`. Set `lockTimeoutMs`
 * to turn such a deadlock into an error.
 *
 * The wing, one concept a file (a call goes down this list):
 * - `client.ts` — LocalClient: the fast path, the FIFO mutex, batch,
 *   migrate, close; `retries.ts` — busy retries on a connection (the policy
 *   is src/driver/busy-retry.ts); `read-connection.ts` — reads while the
 *   write connection is held (and always on an embedded replica).
 * - `transaction.ts` — LocalTransaction: calls on the connection the
 *   transaction owns.
 * - `connection.ts` — one native handle, fully synchronous: open + PRAGMAs,
 *   run a statement, BEGIN/COMMIT, atomic batches.
 * - `statement-cache.ts` — prepared statements per SQL string and the libsql
 *   defects they work around; `sql-scan.ts` — what a statement is, read once.
 * - `values.ts` — arguments in, integers and BLOBs out; `rows.ts` — row
 *   classes and the ResultSet.
 * - `options.ts`, `libsql-errors.ts`, `mutex.ts`, `event-loop-budget.ts`.
 */
import { LocalClient } from "./client";
import type { LocalClientOptions } from "./options";

export { LocalClient } from "./client";
export { isBusyError } from "./libsql-errors";
export type { BusyRetryOptions, EffectiveOptions, LocalClientOptions } from "./options";
export { LocalResultSet } from "./rows";

/**
 * Opens a local database (`:memory:` or a file path) as a `Client` for
 * Drizzle (`drizzle(openLocalClient({ path }))`). Synchronous: the
 * connection is opened and configured (WAL + synchronous=NORMAL for files,
 * foreign_keys=ON, busy_timeout) before it returns; at open only, the
 * native wait for a lock may take up to `busyRetry.maxWaitMs`.
 */
export function openLocalClient(options: LocalClientOptions): LocalClient {
  return new LocalClient(options);
}
