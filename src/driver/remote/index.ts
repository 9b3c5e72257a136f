/**
 * The remote client: `@libsql/client` (Hrana over http or ws, to sqld or
 * Turso), made to keep the package's promises — no call waits longer than
 * `requestTimeoutMs`, `close()` ends the calls in flight, a value the server
 * would refuse is a `ValidationError` before it is sent, and a locked
 * database is retried (busy-retry.ts). Web-safe: each entry point passes its
 * own `createClient` (`@libsql/client` or `@libsql/client/web`).
 *
 * - `deadline.ts` — the bound on each call, and rejecting them all at close;
 * - `fetch.ts` — the http `fetch` hook: a per-request AbortSignal that covers
 *   the body too, aborted by the timer or at close;
 * - `client.ts` — RemoteClient: the Client interface over all that, and the
 *   ws connection replaced after a timeout;
 * - `limits.ts` — sqld's 5,000,000-byte value limit;
 * - `pipeline.ts` (+ `hrana.ts`) — over http, calls issued together go in one request.
 */
import type { Client, Config } from "@libsql/client";
import { withBusyRetry } from "../busy-retry";
import { RemoteClient } from "./client";
import { FetchAborts, timedFetch } from "./fetch";
import { PipelinedClient } from "./pipeline";

export { REMOTE_MAX_VALUE_BYTES } from "./limits";
export { RemoteClient } from "./client";
export { pipelineStats } from "./pipeline";

export interface RemoteOptions {
  url: string;
  authToken: string | undefined;
  /** Bound on every request, ms (> 0). */
  requestTimeoutMs: number;
  /** Busy-retry budget, ms (0: no retries). */
  busyRetryMs: number;
}

/**
 * A remote `Client` for `url` (`libsql:`, `http(s):`, `ws(s):`).
 * @example const client = openRemoteClient(createClient, { url, authToken, requestTimeoutMs: 30_000, busyRetryMs: 5000 });
 */
export function openRemoteClient(createClient: (config: Config) => Client, o: RemoteOptions): Client {
  const ws = /^wss?:/i.test(o.url);
  const aborts = ws ? undefined : new FetchAborts();
  const base: Config = { url: o.url, authToken: o.authToken, intMode: "number" };
  const create = aborts
    ? () => {
        const fetch = timedFetch(globalThis.fetch.bind(globalThis), o.requestTimeoutMs, aborts);
        // Calls issued together go as one request (pipeline.ts); one alone goes as before.
        return new PipelinedClient(createClient({ ...base, fetch }), { url: o.url, authToken: o.authToken, fetch });
      }
    : () => createClient(base);
  const client = new RemoteClient({
    create,
    requestTimeoutMs: o.requestTimeoutMs,
    replaceOnTimeout: ws,
    ...(aborts ? { aborts } : {}),
  });
  return withBusyRetry(client, { maxWaitMs: o.busyRetryMs });
}
