/**
 * Statements run synchronously on this thread, and a burst of calls (500
 * concurrent requests, a Promise.all over many rows) resolves entirely in
 * microtasks: timers, I/O and other requests would starve until it ends.
 * So a burst is measured from its first call, and once it has run for
 * YIELD_AFTER_MS, further calls first wait for a macrotask turn
 * (setImmediate) — the event loop runs its timers and I/O, then the
 * deferred calls continue in call order. The cost is one hop per budget.
 * (Never yielding was tried and measured: BENCHMARKS.md, "What was tried".)
 */

/** Longest stretch of back-to-back synchronous statements before the client lets the event loop turn. */
const YIELD_AFTER_MS = 8;

export class EventLoopBudget {
  #burstStart = -1;
  readonly #endBurst = () => {
    this.#burstStart = -1;
  };

  /** True when the current burst has used up its budget: wait for {@link nextTurn} first. */
  spent(): boolean {
    const now = performance.now();
    if (this.#burstStart < 0) {
      this.#burstStart = now;
      setImmediate(this.#endBurst);
      return false;
    }
    return now - this.#burstStart > YIELD_AFTER_MS;
  }
}

/** Resolves on the event loop's next turn, after its timers and I/O. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
