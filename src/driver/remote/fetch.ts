/**
 * The `fetch` handed to `@libsql/client` for http URLs: every request gets
 * an AbortSignal that fires after `requestTimeoutMs` — counted until the
 * response BODY has been read, not just its headers (a server can send
 * headers and then stall) — or when the client closes. Aborting frees the
 * socket; the caller's promise is bounded by deadline.ts either way.
 *
 * Web-safe: fetch, AbortController, ReadableStream and timers only.
 */
import { timeoutError } from "./deadline";

/** The requests in flight, so `close()` can abort them. */
export class FetchAborts {
  readonly #controllers = new Set<AbortController>();

  add(c: AbortController): void {
    this.#controllers.add(c);
  }

  delete(c: AbortController): void {
    this.#controllers.delete(c);
  }

  abortAll(reason: unknown): void {
    for (const c of this.#controllers) c.abort(reason);
    this.#controllers.clear();
  }
}

type Fetch = (input: Request | string | URL, init?: RequestInit) => Promise<Response>;

/**
 * A fetch whose every request is aborted after `timeoutMs` (body included)
 * or by `aborts.abortAll`.
 * @example createClient({ url, fetch: timedFetch(globalThis.fetch, 30_000, aborts) })
 */
export function timedFetch(base: Fetch, timeoutMs: number, aborts: FetchAborts): Fetch {
  return async (input, init) => {
    const controller = new AbortController();
    aborts.add(controller);
    const timer = setTimeout(() => controller.abort(timeoutError(timeoutMs)), timeoutMs);
    // The timer must not keep a Node process alive after everything else ended.
    (timer as { unref?: () => void }).unref?.();
    const done = () => {
      clearTimeout(timer);
      aborts.delete(controller);
    };
    try {
      const response = await base(input, { ...init, signal: controller.signal });
      if (response.body === null) {
        done();
        return response;
      }
      return new Response(watched(response.body, done), {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    } catch (err) {
      done();
      throw err;
    }
  };
}

/** The same bytes; `done` runs when the body has been read to its end, failed, or was cancelled. */
function watched(body: ReadableStream<Uint8Array>, done: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const chunk = await reader.read();
        if (chunk.done) {
          done();
          controller.close();
        } else controller.enqueue(chunk.value);
      } catch (err) {
        done();
        controller.error(err);
      }
    },
    cancel(reason) {
      done();
      return reader.cancel(reason);
    },
  });
}
