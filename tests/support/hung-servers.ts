/**
 * Servers that never answer, on real loopback sockets — what a remote call
 * meets when the network or the server hangs:
 *
 * - `blackHole()`: accepts TCP connections and never sends a byte (a firewall
 *   that drops replies, a frozen server). Over http the request waits for
 *   headers; over ws the WebSocket handshake never completes.
 * - `stallingHttp()`: answers the Hrana version probe (`GET /v3` …) at once,
 *   then for every `POST` sends status and headers and the first bytes of a
 *   JSON body, and nothing more (a server that hangs mid-response).
 * - `stallingWs()`: completes the WebSocket handshake (101), then never
 *   answers a message (the Hrana `hello` stays unanswered).
 * - `freezableProxy(target)`: a TCP pass-through to `target` whose `freeze()`
 *   stops forwarding on every connection open at that moment (a half-open
 *   connection after a NAT or load balancer forgot it); connections made
 *   later are forwarded normally.
 *
 * Every server counts connections and is closed (sockets destroyed) by `stop()`.
 */
import { createHash } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";

export interface HungServer {
  readonly port: number;
  /** `http://127.0.0.1:PORT` */
  readonly httpUrl: string;
  /** `ws://127.0.0.1:PORT` */
  readonly wsUrl: string;
  /** TCP connections accepted so far. */
  readonly connections: number;
  stop(): Promise<void>;
}

function listen(server: Server | HttpServer, sockets: Set<Socket>): Promise<number> {
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => resolve((server.address() as AddressInfo).port));
  });
}

function handle(server: Server | HttpServer, port: number, sockets: Set<Socket>, count: () => number): HungServer {
  return {
    port,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    get connections() {
      return count();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Adds a live counter (Object.assign would copy its value once). */
function withGetter<T extends object, K extends string>(target: T, key: K, get: () => number): T & Record<K, number> {
  return Object.defineProperty(target, key, { get, enumerable: true }) as T & Record<K, number>;
}

/** Accepts connections and never answers. */
export async function blackHole(): Promise<HungServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((s) => {
    accepted++;
    s.resume(); // read (and drop) what the client sends, so its writes never block
  });
  const port = await listen(server, sockets);
  return handle(server, port, sockets, () => accepted);
}

/** Answers the version probe, then sends headers and a partial body for every POST, and stalls. */
export async function stallingHttp(): Promise<HungServer & { readonly stalled: number }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let stalled = 0;
  const server = createHttpServer((req, res) => {
    req.resume();
    if (req.method === "GET") {
      res.writeHead(200, { "content-type": "text/plain" }).end();
      return;
    }
    stalled++;
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"baton":null,"base_url":null,"results":['); // … and never the rest
  });
  server.on("connection", () => accepted++);
  const port = await listen(server, sockets);
  return withGetter(
    handle(server, port, sockets, () => accepted),
    "stalled",
    () => stalled,
  );
}

/** Completes the WebSocket handshake, then never answers. */
export async function stallingWs(): Promise<HungServer & { readonly upgraded: number }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let upgraded = 0;
  const server = createHttpServer((_req, res) => res.writeHead(404).end());
  server.on("upgrade", (req: IncomingMessage, socket: Socket) => {
    upgraded++;
    const key = String(req.headers["sec-websocket-key"] ?? "");
    const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    const protocol = String(req.headers["sec-websocket-protocol"] ?? "")
      .split(",")[0]
      ?.trim();
    socket.write(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${accept}\r\n${protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : ""}\r\n`,
    );
    socket.resume(); // frames are read and ignored
  });
  server.on("connection", () => accepted++);
  const port = await listen(server, sockets);
  return withGetter(
    handle(server, port, sockets, () => accepted),
    "upgraded",
    () => upgraded,
  );
}

export interface FreezableProxy extends HungServer {
  /** Stops forwarding on every connection open now (both directions); later connections are forwarded. */
  freeze(): void;
}

/** A TCP pass-through to `target` (`http://host:port`) that can freeze its open connections. */
export async function freezableProxy(target: string): Promise<FreezableProxy> {
  const { hostname, port: targetPort } = new URL(target);
  const sockets = new Set<Socket>();
  const live = new Set<{ frozen: boolean }>();
  let accepted = 0;
  const server = createServer((client) => {
    accepted++;
    const state = { frozen: false };
    live.add(state);
    const upstream = connect({ host: hostname, port: Number(targetPort) });
    sockets.add(upstream);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    client.on("data", (d) => state.frozen || upstream.write(d));
    upstream.on("data", (d) => state.frozen || client.write(d));
    client.on("close", () => {
      live.delete(state);
      upstream.destroy();
    });
    upstream.on("close", () => {
      sockets.delete(upstream);
      if (!state.frozen) client.destroy();
    });
  });
  const port = await listen(server, sockets);
  return Object.assign(
    handle(server, port, sockets, () => accepted),
    {
      freeze() {
        for (const s of live) s.frozen = true;
      },
    },
  );
}
