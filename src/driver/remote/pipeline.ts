/**
 * Calls issued together travel together: over http, the `execute` and
 * `batch` calls a process makes before its event loop turns go to the server
 * in ONE request.
 *
 * `@libsql/client` opens a Hrana stream — one HTTP request — per call, so N
 * concurrent calls (four actors of one process, a dashboard's reads issued
 * with `Promise.all`) cost N requests and N round trips' worth of server
 * work. Here they are collected until the current macrotask is done
 * (setImmediate): one call alone goes to the wrapped client exactly as
 * before; two or more become one Hrana pipeline — one stream, one request per
 * call in the order they were made, one HTTP request — in which every call
 * keeps its own result and its own error: a failing statement affects no
 * other, a `batch` is still atomic and rolls back only itself. Unlike
 * parallel requests, the calls run in the order they were issued (one stream
 * is one connection, executed in sequence), so `Promise.all([write, read])`
 * reads what the write wrote.
 *
 * Everything else (interactive transactions, migrate, executeMultiple) goes
 * to the wrapped client directly. The wrappers above (RemoteClient's bound on
 * each call and abort at close, busy retries, observing) treat each call as
 * before; the request is sent with the same timed `fetch`.
 */
import type { Client, InArgs, InStatement, Replicated, ResultSet, Transaction, TransactionMode } from "@libsql/client";
import { LibsqlError } from "@libsql/core/api";
import { expandConfig } from "@libsql/core/config";
import { encodeBaseUrl } from "@libsql/core/uri";
import type * as Hrana from "@libsql/hrana-client";
import { atomicBatch, type HranaModule, mapError, normalize, resultSet, type Statement, toHrana } from "./hrana";

interface Pending {
  stmt?: Statement;
  batch?: { stmts: Statement[]; mode: TransactionMode };
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

/** Where the pipelined requests go: what the wrapped client was created with. */
export interface PipelineTarget {
  url: string;
  authToken: string | undefined;
  fetch: unknown;
}

const later: (fn: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
    ? (fn) => (globalThis as unknown as { setImmediate(f: () => void): void }).setImmediate(fn)
    : (fn) => setTimeout(fn, 0);

/** How many requests this process sent as pipelines, and how many calls they carried (bench, tests). */
export const pipelineStats = { requests: 0, calls: 0 };

export class PipelinedClient implements Client {
  #queue: Pending[] = [];
  #closed = false;
  #hrana: Promise<{ h: HranaModule; client: Hrana.HttpClient }> | undefined;

  constructor(
    readonly inner: Client,
    readonly target: PipelineTarget,
  ) {}

  get protocol(): string {
    return this.inner.protocol;
  }

  get closed(): boolean {
    return this.#closed || this.inner.closed;
  }

  execute(stmt: InStatement): Promise<ResultSet>;
  execute(sql: string, args?: InArgs): Promise<ResultSet>;
  execute(stmtOrSql: InStatement | string, args?: InArgs): Promise<ResultSet> {
    return this.#enqueue({ stmt: normalize(stmtOrSql, args) }) as Promise<ResultSet>;
  }

  batch(stmts: Array<InStatement | [string, InArgs?]>, mode: TransactionMode = "deferred"): Promise<ResultSet[]> {
    return this.#enqueue({ batch: { stmts: stmts.map((s) => normalize(s)), mode } }) as Promise<ResultSet[]>;
  }

  migrate(stmts: InStatement[]): Promise<ResultSet[]> {
    return this.inner.migrate(stmts);
  }

  transaction(mode?: TransactionMode): Promise<Transaction> {
    return this.inner.transaction(mode);
  }

  executeMultiple(sql: string): Promise<void> {
    return this.inner.executeMultiple(sql);
  }

  sync(): Promise<Replicated> {
    return this.inner.sync();
  }

  reconnect(): void {
    this.inner.reconnect();
  }

  /** Closes the wrapped client; calls not yet sent fail with CLIENT_CLOSED. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const queued = this.#queue;
    this.#queue = [];
    for (const p of queued) p.reject(new LibsqlError("The client is closed", "CLIENT_CLOSED"));
    this.inner.close();
    this.#hrana?.then(
      ({ client }) => client.close(),
      () => undefined,
    );
  }

  #enqueue(p: Omit<Pending, "resolve" | "reject">): Promise<unknown> {
    if (this.closed) return Promise.reject(new LibsqlError("The client is closed", "CLIENT_CLOSED"));
    return new Promise((resolve, reject) => {
      if (this.#queue.push({ ...p, resolve, reject }) === 1) later(() => this.#flush());
    });
  }

  #flush(): void {
    const calls = this.#queue;
    this.#queue = [];
    if (calls.length === 1) this.#alone(calls[0]!);
    else if (calls.length > 1)
      this.#together(calls).catch((e) => {
        for (const c of calls) c.reject(e);
      });
  }

  /** One call: the wrapped client, as without pipelining. */
  #alone(c: Pending): void {
    const sent = c.stmt ? this.inner.execute(c.stmt) : this.inner.batch(c.batch!.stmts, c.batch!.mode);
    (sent as Promise<unknown>).then(c.resolve, c.reject);
  }

  /** Several calls: one stream, each call one request of its pipeline, one HTTP request. */
  async #together(calls: Pending[]): Promise<void> {
    const { h, client } = await this.#parts();
    const version = await client.getVersion();
    if (this.#closed) throw new LibsqlError("The client is closed", "CLIENT_CLOSED");
    const stream = client.openStream();
    try {
      for (const c of calls) {
        if (c.stmt) {
          stream.query(toHrana(h, c.stmt)).then(
            (rows) => c.resolve(resultSet(rows)),
            (e) => c.reject(mapError(h, e)),
          );
        } else {
          const batch = stream.batch(false);
          const results = atomicBatch(h, batch, version, c.batch!.mode, c.batch!.stmts);
          batch.execute().then(
            () => results().then(c.resolve, c.reject),
            (e) => c.reject(mapError(h, e)),
          );
        }
      }
    } finally {
      stream.closeGracefully();
    }
    pipelineStats.requests++;
    pipelineStats.calls += calls.length;
  }

  /** Hrana's own client for the same server, loaded and opened on the first pipeline. */
  #parts(): Promise<{ h: HranaModule; client: Hrana.HttpClient }> {
    this.#hrana ??= import("@libsql/hrana-client").then((h) => {
      const c = expandConfig({ url: this.target.url }, true);
      if (c.scheme !== "http" && c.scheme !== "https") throw new Error(`pipelining needs an http URL, got ${c.scheme}`);
      const client = h.openHttp(encodeBaseUrl(c.scheme, c.authority, c.path), this.target.authToken, this.target.fetch);
      client.intMode = "number";
      return { h, client };
    });
    return this.#hrana;
  }
}
