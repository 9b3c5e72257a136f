/**
 * Busy retries on one connection of the local client, under the package's
 * one policy (src/driver/busy-retry.ts). Shared by the write connection and
 * the read connection, so both keep the same rules: waits are the client's
 * wakeable timers (close() ends them), an attempt on a closed connection
 * fails with CLIENT_CLOSED, and giving up hands the connection to `giveUp`
 * — a statement that failed with SQLITE_BUSY stays active inside libsql and
 * would spoil every later COMMIT on it (RELIABILITY.md, F1), so the owner
 * replaces that connection.
 */
import { type RetryHooks, retryWhileLocked, type WakeableSleeps } from "../busy-retry";
import type { Connection } from "./connection";
import { clientClosedError, isBusyError } from "./libsql-errors";
import type { BusyRetryOptions } from "./options";

export class ConnectionRetries {
  readonly #cfg: Required<BusyRetryOptions> | null;
  readonly #sleeps: WakeableSleeps;
  readonly #giveUp: (conn: Connection) => void;
  #hooks: RetryHooks | undefined;
  #hooksConn: Connection | undefined;

  constructor(cfg: Required<BusyRetryOptions> | null, sleeps: WakeableSleeps, giveUp: (conn: Connection) => void) {
    this.#cfg = cfg;
    this.#sleeps = sleeps;
    this.#giveUp = giveUp;
  }

  /**
   * Runs `op` on `conn`; while it fails with SQLITE_BUSY/SQLITE_LOCKED it is
   * run again after a backoff on a timer, within `busyRetry.maxWaitMs`. Only
   * for operations that wrote nothing when they failed: an autocommit
   * statement, a BEGIN, a whole batch. `retry: false` runs it once. `first`:
   * `op` already failed once with it.
   */
  run<T>(conn: Connection, op: () => T, retry = true, first?: unknown): Promise<T> {
    const cfg = this.#cfg;
    if (retry && cfg !== null) return retryWhileLocked(op, cfg, this.#hooksFor(conn), first);
    if (first !== undefined) return Promise.reject(first);
    try {
      return Promise.resolve(op());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The hooks for retries on `conn` (made once per connection: batches and queued calls reuse them). */
  #hooksFor(conn: Connection): RetryHooks {
    if (this.#hooksConn === conn && this.#hooks !== undefined) return this.#hooks;
    this.#hooksConn = conn;
    this.#hooks = {
      retryable: isBusyError,
      sleep: this.#sleeps.sleep,
      beforeAttempt: () => {
        if (conn.closed) throw clientClosedError();
      },
      onGiveUp: () => this.#giveUp(conn),
    };
    return this.#hooks;
  }
}
