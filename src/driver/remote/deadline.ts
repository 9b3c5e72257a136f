/**
 * The bound on every remote call, and the end of every call at `close()`.
 *
 * `@libsql/client` has no timeout of its own: over http a request waits for
 * undici's defaults (~300 s for headers, then 300 s per body chunk), over ws
 * it waits forever. Every call of the remote client is therefore raced
 * against a timer of `requestTimeoutMs`, and every call still pending when
 * the client closes is rejected then — the caller gets a `ConnectionError`
 * either way, and never waits longer. (Over http the request itself is also
 * aborted, see fetch.ts, so its socket is freed; over ws the connection is
 * replaced, see client.ts.)
 *
 * Web-safe: timers and promises only.
 */
import { causeChain, ConnectionError } from "../../errors";

/** Rejects the calls in flight; `close(reason)` rejects them all. */
export class InFlight {
  readonly #pending = new Set<(err: unknown) => void>();
  #closed: ConnectionError | undefined;

  constructor(readonly timeoutMs: number) {}

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  get size(): number {
    return this.#pending.size;
  }

  /**
   * `op()`'s result, or a `ConnectionError` after `timeoutMs` or at `close()`.
   * `onTimeout` runs when the timer wins (the transport may then drop the
   * connection the call was waiting on).
   */
  run<T>(op: () => Promise<T>, onTimeout?: () => void): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#pending.delete(fail);
        reject(err);
      };
      const timer = setTimeout(() => {
        fail(timeoutError(this.timeoutMs));
        onTimeout?.();
      }, this.timeoutMs);
      this.#pending.add(fail);
      let started: Promise<T>;
      try {
        started = op();
      } catch (err) {
        fail(err);
        return;
      }
      started.then(
        (value) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          this.#pending.delete(fail);
          resolve(value);
        },
        (err) => fail(typedIn(err) ?? err),
      );
    });
  }

  /** Rejects every pending call with `ConnectionError` (closed); later calls reject at once. */
  close(): void {
    this.#closed ??= new ConnectionError(
      "the database was closed while the call was in flight (or before it started); it was abandoned — " +
        "if it was a write, it may or may not have been applied",
    );
    for (const fail of [...this.#pending]) fail(this.#closed);
  }
}

/** The error of a request that got no (complete) answer in time. */
export function timeoutError(ms: number): ConnectionError {
  return new ConnectionError(
    `the database server did not answer within ${ms} ms (requestTimeoutMs); the request was abandoned — ` +
      "if it was a write, it may or may not have been applied",
  );
}

/**
 * A `ConnectionError` this wing made (a timeout, a close) found in the cause
 * chain of what the client threw: the client wraps the abort reason in its
 * own errors, the caller should see ours.
 */
function typedIn(err: unknown): ConnectionError | undefined {
  return causeChain(err).find((link): link is ConnectionError => link instanceof ConnectionError);
}
