/**
 * Loopback counting (and optionally delaying) HTTP proxy in front of sqld.
 *
 *   const proxy = await startProxy({ target: server.url, delayMs: 5 });
 *   const client = createClient({ url: proxy.url });
 *   await client.execute("select 1");
 *   proxy.requests;   // 1
 *   proxy.log;        // [{ method: "POST", path: "/v2/pipeline" }]
 *
 * Every request is buffered (binary-safe), optionally held for `delayMs`, then forwarded with
 * method, path+query, headers and body to the target; the response status, headers and body
 * are relayed back unchanged (no decompression). The Host header is rewritten to the target's
 * host; every other header (Authorization, x-namespace-bin, ...) passes through.
 * Upstream connection failures answer 502 (text/plain).
 */
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface StartProxyOptions {
  /** Base URL of the upstream server, e.g. `server.url` from startSqld(). http only. */
  target: string;
  /** Artificial latency added before forwarding each request (default 0). */
  delayMs?: number;
}

export interface ProxiedRequest {
  method: string;
  path: string;
  /** Upstream status, or 502 when forwarding failed; undefined while in flight. */
  status?: number;
}

export interface TestProxy {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** Number of requests received since start / last reset(). */
  readonly requests: number;
  /** Method + path (+ status) of each request since start / last reset(), in arrival order. */
  readonly log: readonly ProxiedRequest[];
  /** Current artificial delay. */
  delayMs: number;
  reset(): void;
  stop(): Promise<void>;
}

// Hop-by-hop headers (RFC 9110 §7.6.1) plus the ones we recompute.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  "host",
]);

function forwardableHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name.toLowerCase())) continue;
    out[name] = value;
  }
  return out;
}

export async function startProxy(options: StartProxyOptions): Promise<TestProxy> {
  const target = new URL(options.target);
  if (target.protocol !== "http:") throw new Error(`proxy target must be http:, got ${target.protocol}`);
  const targetPort = Number(target.port || 80);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let log: ProxiedRequest[] = [];

  const server = createServer((req, res) => {
    const entry: ProxiedRequest = { method: req.method ?? "GET", path: req.url ?? "/" };
    log.push(entry);
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("error", () => res.destroy());
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const forward = () => {
        const headers = forwardableHeaders(req.headers);
        headers.host = target.host;
        if (body.length > 0 || !["GET", "HEAD"].includes(entry.method)) {
          headers["content-length"] = String(body.length);
        }
        const upstream = httpRequest(
          {
            host: target.hostname,
            port: targetPort,
            method: entry.method,
            path: entry.path,
            headers,
            agent,
          },
          (upRes) => {
            const resChunks: Buffer[] = [];
            upRes.on("data", (chunk: Buffer) => resChunks.push(chunk));
            upRes.on("error", () => res.destroy());
            upRes.on("end", () => {
              const resBody = Buffer.concat(resChunks);
              const resHeaders = forwardableHeaders(upRes.headers);
              resHeaders["content-length"] = String(resBody.length);
              entry.status = upRes.statusCode ?? 502;
              res.writeHead(entry.status, upRes.statusMessage, resHeaders);
              res.end(resBody);
            });
          },
        );
        upstream.setTimeout(30_000, () => upstream.destroy(new Error("upstream timeout")));
        upstream.on("error", (err) => {
          entry.status = 502;
          if (res.headersSent) {
            res.destroy();
            return;
          }
          res.writeHead(502, { "content-type": "text/plain" });
          res.end(`proxy upstream error: ${err.message}`);
        });
        upstream.end(body);
      };
      const delay = proxy.delayMs;
      if (delay > 0) setTimeout(forward, delay);
      else forward();
    });
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let stopped = false;
  const proxy: TestProxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    get requests() {
      return log.length;
    },
    get log() {
      return log;
    },
    delayMs: options.delayMs ?? 0,
    reset() {
      log = [];
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      agent.destroy();
      await closed;
    },
  };
  return proxy;
}
