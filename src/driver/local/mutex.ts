/**
 * FIFO async mutex used by the local client to give one caller at a time
 * (an interactive transaction, a batch, a busy-retry loop) exclusive use of
 * the single SQLite connection, while every other caller queues in call
 * order instead of getting SQLITE_BUSY or running inside someone else's
 * transaction.
 *
 * Ownership is handed directly to the next waiter on release, so `locked`
 * stays true while anyone is queued: a caller that sees `locked === false`
 * may take the fast path without ever touching the queue.
 */
export class AsyncMutex {
  /** True while someone owns the lock (and therefore also while anyone waits). */
  locked = false;
  #queue: Array<Waiter | undefined> = [];
  #head = 0;
  #closedWith: unknown = undefined;
  #closed = false;

  /** Number of callers waiting (diagnostics and tests). */
  get waiting(): number {
    let n = 0;
    for (let i = this.#head; i < this.#queue.length; i++) if (this.#queue[i] !== undefined) n++;
    return n;
  }

  /** Takes the lock if free, synchronously. */
  tryAcquire(): boolean {
    if (this.locked || this.#closed) return false;
    this.locked = true;
    return true;
  }

  /**
   * Resolves once the caller owns the lock (immediately-resolved promise if
   * it was free). Rejects with the `close()` reason if the mutex is closed
   * before the turn comes, or with `onTimeout()` after `timeoutMs`.
   */
  acquire(timeoutMs?: number, onTimeout?: () => unknown): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedWith);
    if (!this.locked) {
      this.locked = true;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined };
      this.#queue.push(waiter);
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
        waiter.timer = setTimeout(() => {
          // Still queued? (It may have been handed the lock in the meantime.)
          const index = this.#queue.indexOf(waiter, this.#head);
          if (index >= 0) {
            this.#queue[index] = undefined;
            reject(onTimeout ? onTimeout() : new Error("lock wait timed out"));
          }
        }, timeoutMs);
      }
    });
  }

  /** Gives the lock to the next waiter (FIFO), or frees it. */
  release(): void {
    if (!this.locked) return;
    while (this.#head < this.#queue.length) {
      const next = this.#queue[this.#head];
      this.#queue[this.#head++] = undefined;
      if (next === undefined) continue; // timed out
      if (next.timer !== undefined) clearTimeout(next.timer);
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      next.resolve(); // stays locked: ownership moves to `next`
      return;
    }
    this.#queue.length = 0;
    this.#head = 0;
    this.locked = false;
  }

  /** Fails all waiters (and all future `acquire` calls) with `reason`. */
  close(reason: unknown): void {
    this.#closed = true;
    this.#closedWith = reason;
    const queue = this.#queue;
    const head = this.#head;
    this.#queue = [];
    this.#head = 0;
    this.locked = false;
    for (let i = head; i < queue.length; i++) {
      const w = queue[i];
      if (w === undefined) continue;
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.reject(reason);
    }
  }
}

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}
