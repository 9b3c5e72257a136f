import type { Client, InStatement } from "@libsql/client";
import type { BatchItem, BatchResponse } from "drizzle-orm/batch";
import { redactUrl, resolveConfig, type OpenOptions, type ResolvedConfig, type UrlKind } from "./config";
import { ConfigError, mapDriverError, RFDatabaseError, SchemaVersionError, ValidationError } from "./errors";
import { baselineMigrations } from "./baseline";
import { observeClient } from "./driver/observe";
import type { Tracing } from "./driver/tracing";
import { type CheckResult, checkDatabase } from "./check";
import { assertNotLegacy } from "./legacy/schema";
import {
  type ChangeBatch,
  ChangeFeed,
  type Snapshot,
  SnapshotReader,
  watchChanges,
  watchOptions,
  type WatchOptions,
} from "./changes";
import { probePrimary } from "./driver/replica-probe";
import {
  applyMigrations,
  assertNotAhead,
  readSchemaState,
  unrecordedError,
  type MigrateResult,
  type SchemaState,
} from "./migrate";
import {
  ActorTaskRepository,
  DEFAULT_REDACT_KEYS,
  PAGE_ROWS,
  ContextRepository,
  ExperimentRepository,
  IcOperationRepository,
  PipelineRepository,
  type Database,
  type Executor,
  type ReapCounts,
  type RepositoryOptions,
  type ResetCounts,
  reapStale,
  resetAllTables,
  resetExperimentStates,
} from "./repositories";

/** The five repositories, bound to the database or to one transaction. */
export class Repositories {
  readonly experiments: ExperimentRepository;
  readonly contexts: ContextRepository;
  readonly pipelines: PipelineRepository;
  readonly actorTasks: ActorTaskRepository;
  readonly icOperations: IcOperationRepository;
  /**
   * The pattern stored JSON configurations are redacted with (the `redactKeys`
   * open option, else the default): string values under matching keys become `"***"`.
   */
  readonly redactKeys: RegExp;

  constructor(
    /** The Drizzle database (or transaction) underneath, for queries of your own. */
    readonly drizzle: Executor,
    options: RepositoryOptions,
  ) {
    this.redactKeys = options.redactKeys ?? DEFAULT_REDACT_KEYS;
    this.experiments = new ExperimentRepository(drizzle, options);
    this.contexts = new ContextRepository(drizzle, options);
    this.pipelines = new PipelineRepository(drizzle, options);
    this.actorTasks = new ActorTaskRepository(drizzle, options);
    this.icOperations = new IcOperationRepository(drizzle, options);
  }
}

/** What `db.transaction(async (tx) => …)` hands the callback. */
export type TransactionScope = Repositories;

/** How an entry point turns a resolved configuration into a libSQL client. */
export interface Connector {
  defaultUrl(env: Record<string, string | undefined>): string;
  connect(config: ResolvedConfig): Promise<Client>;
  /**
   * Drizzle over the client. Each entry point brings its own (`drizzle-orm/libsql`
   * or `drizzle-orm/libsql/web`): the former imports @libsql/client's Node build
   * with its native module, which must never reach an edge bundle.
   */
  orm(client: Client): Database;
  /**
   * An empty in-memory database, where `db.check()` applies the migrations to
   * get the schema to compare with. Node only (edge runtimes have no local SQLite).
   */
  scratch?: () => Client;
  /**
   * OpenTelemetry spans, when the entry can load `@opentelemetry/api` and an
   * SDK is registered (undefined otherwise: nothing is traced, nothing is wrapped).
   */
  tracing?: (config: ResolvedConfig) => Promise<Tracing | undefined>;
}

export type { ReapCounts, ResetCounts } from "./repositories";

/**
 * The database: one libSQL client, Drizzle on top, a repository per entity.
 * Open with `RFDatabase.open()` from `rf-inferno-db` (Node) or
 * `rf-inferno-db/web` (edge runtimes).
 */
export class RFDatabaseBase extends Repositories {
  /** The URL, with any credentials and query removed: safe to print. */
  readonly url: string;
  readonly kind: UrlKind;
  readonly #client: Client;
  readonly #options: RepositoryOptions;
  #scratch: (() => Client) | undefined;
  readonly #config: ResolvedConfig;
  readonly #snapshots: SnapshotReader;
  declare readonly drizzle: Database;
  /** The change feed: `db.changes.since(cursor, { experimentId?, limit? })`, `head()`, `prune()`. */
  readonly changes: ChangeFeed;

  protected constructor(client: Client, config: ResolvedConfig, orm: Database) {
    const options = {
      secret: config.authToken,
      database: databaseLabel(config),
      redactKeys: config.redactKeys,
      pageRows: config.kind === "remote" ? PAGE_ROWS.remote : PAGE_ROWS.local,
    };
    super(orm, options);
    this.#client = client;
    this.#options = options;
    this.#config = config;
    this.url = redactUrl(config.url);
    this.kind = config.kind;
    this.changes = new ChangeFeed(orm, options);
    this.#snapshots = new SnapshotReader(orm, options);
  }

  /**
   * The change feed as an AsyncIterable of non-empty batches `{ changes, cursor }`:
   * one `changes.since` per tick (one request remotely), every `intervalMs`
   * (default 1000) or at once while a full page shows more waiting. Starts at
   * `cursor` (e.g. a snapshot's), else from now; ends when `signal` aborts.
   * @example
   * const { cursor } = await db.snapshot(experimentId);
   * for await (const { changes } of db.watch({ experimentId, cursor, signal })) render(changes);
   */
  watch(options?: WatchOptions): AsyncIterable<ChangeBatch> {
    return watchChanges(this.changes, watchOptions(options));
  }

  /**
   * One experiment as a dashboard draws it — the experiment, its pipelines,
   * task counts per status, running tasks, pending IC operations — read in one
   * consistent read (one request on a remote database), with the change-feed
   * `cursor` of that moment. NotFoundError when the experiment does not exist.
   * @example const { pipelines, taskCounts, cursor } = await db.snapshot(experimentId);
   */
  async snapshot(experimentId: number): Promise<Snapshot> {
    return this.#snapshots.read(experimentId);
  }

  /** The libSQL client underneath (for `batch`, raw SQL, or closing it yourself). */
  get client(): Client {
    return this.#client;
  }

  protected static async openWith<T extends RFDatabaseBase>(
    connector: Connector,
    options: OpenOptions | undefined,
    create: (client: Client, config: ResolvedConfig, orm: Database) => T,
  ): Promise<T> {
    const config = resolveConfig(options, connector.defaultUrl);
    let client: Client | undefined;
    try {
      const tracing = await connector.tracing?.(config);
      client = observeClient(await connector.connect(config), {
        logger: config.logger,
        tracing,
        secret: config.authToken,
      });
      const db = create(client, config, connector.orm(client));
      db.#scratch = connector.scratch;
      await db.#prepareSchema(config);
      return db;
    } catch (err) {
      client?.close();
      throw mapDriverError(err, { secret: config.authToken, database: databaseLabel(config) });
    }
  }

  async #prepareSchema(config: ResolvedConfig): Promise<void> {
    if (config.migrate === false) return;
    // "auto" applies migrations only to a database this process owns: a writable
    // local file or :memory:. A read-only file and an embedded replica (whose
    // primary is remote) are only checked, like a remote database.
    const owned = config.kind !== "remote" && !config.readOnly && config.syncUrl === undefined;
    if (config.migrate === true || owned) {
      await this.migrate();
      return;
    }
    const state = await this.schemaState();
    assertNotAhead(state, `the database at ${this.url}`);
    if (state.applied.length === 0) {
      await assertNotLegacy(
        this.#client,
        `the database at ${this.url}`,
        `<a local copy of it> --url <the new database's URL>`,
      );
    }
    if (state.state === "unrecorded") throw unrecordedError(`the database at ${this.url}`, `--url ${this.url}`);
    if (state.pending.length > 0) {
      throw new SchemaVersionError(
        `the database at ${this.url} is behind this package (${state.pending.length} pending migration(s): ` +
          `${state.pending.map((m) => m.tag).join(", ")}). Run \`npx rf-db migrate --url ${this.url}\` ` +
          `(token from RF_DB_AUTH_TOKEN) as part of the deploy, or open with { migrate: true }.`,
        "behind",
      );
    }
  }

  /**
   * Applies pending migrations (safe when several processes do it at once).
   * With `{ baseline: true }` (`rf-db migrate --baseline`), for a database whose tables were made
   * without the migrator (`drizzle-kit push`): checks they match the migrations, creates what push
   * leaves out (triggers, views, indexes), and records every migration; refuses, writing nothing,
   * when they differ (`SchemaVersionError` listing the differences).
   * @example const { applied } = await db.migrate(); console.log(applied.map((m) => m.tag));
   */
  async migrate(options?: {
    onApplied?: (m: { tag: string }) => void;
    baseline?: boolean;
  }): Promise<MigrateResult & { created?: string[]; baselined?: boolean }> {
    const o = { onApplied: options?.onApplied, ...this.#options, url: this.url };
    if (options?.baseline === true) {
      return baselineMigrations(this.#client, this.#needScratch("migrate({ baseline: true })"), {
        ...o,
        where: `the database at ${this.url}`,
      });
    }
    return applyMigrations(this.#client, o);
  }

  /**
   * SQLite's integrity and foreign-key checks, the migration records, and the
   * live schema (tables, columns, constraints, indexes, triggers) compared
   * with what the migrations define. Never writes. Node only: the reference
   * schema is built in a local in-memory database.
   * @example const { ok, problems } = await db.check(); if (!ok) console.error(problems.join("\n"));
   */
  async check(): Promise<CheckResult> {
    const scratch = this.#needScratch("check()");
    return this.#mapped(() => checkDatabase(this.#client, scratch));
  }

  #needScratch(what: string): () => Client {
    if (this.#scratch) return this.#scratch;
    throw new ConfigError(
      `db.${what} builds the reference schema in a local in-memory SQLite database, which this runtime does not have: ` +
        `run it on Node (\`npx rf-db check --url …\`, \`npx rf-db migrate --baseline --url …\`)`,
    );
  }

  /**
   * Where the schema stands relative to this package: empty, behind, current, ahead or diverged.
   * @example (await db.schemaState()).state // "current"
   */
  async schemaState(): Promise<SchemaState> {
    return this.#mapped(() => readSchemaState(this.#client));
  }

  /**
   * Runs raw SQL statements all or nothing, errors mapped (token scrubbed) like
   * every other call: on a local database in one write transaction, calling
   * `onEach(i)` after statement `i` (for a progress bar); on a remote one as
   * one batch — one request, where an interactive transaction would cost one
   * per statement and be aborted by sqld after ~5 s. For bulk writes that
   * Drizzle's builders make slow (`importLegacy`: 100k rows).
   * @example await db.executeAtomic([{ sql: "DELETE FROM actor_tasks WHERE experiment_id = ?", args: [3] }]);
   */
  async executeAtomic(statements: InStatement[], onEach?: (index: number) => void): Promise<void> {
    if (!Array.isArray(statements)) throw new ValidationError("executeAtomic: statements must be an array");
    if (statements.length === 0) return;
    return this.#mapped(async () => {
      if (this.kind === "remote") {
        await this.#client.batch(statements, "write");
        for (let i = 0; i < statements.length; i++) onEach?.(i);
        return;
      }
      const tx = await this.#client.transaction("write");
      try {
        for (const [i, statement] of statements.entries()) {
          await tx.execute(statement);
          onEach?.(i);
        }
        await tx.commit();
      } finally {
        tx.close(); // rolls back unless committed
      }
    });
  }

  /**
   * Runs `fn` in one transaction with the repositories bound to it: everything
   * commits together, or — if `fn` throws — nothing is written and the error
   * is rethrown as it was. Remote: each statement inside is one round trip
   * (plus one for the commit), and sqld aborts transactions held ~5 s; prefer
   * single calls or `db.batch` for remote work.
   * @example
   * await db.transaction(async (tx) => {
   *   const id = await tx.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 1 });
   *   await tx.actorTasks.start(id);
   * });
   */
  async transaction<T>(fn: (tx: TransactionScope) => Promise<T>): Promise<T> {
    if (typeof fn !== "function") throw new ValidationError("transaction(fn) needs a function", { field: "fn" });
    let thrown: { error: unknown } | undefined;
    try {
      return await this.drizzle.transaction(async (dtx) => {
        try {
          return await fn(new Repositories(dtx, this.#options));
        } catch (error) {
          thrown = { error };
          throw error;
        }
      });
    } catch (err) {
      // The callback's own error wins, also when the rollback after it failed: on a remote
      // database whose server already ended the transaction (timeout, expired stream,
      // restart) ROLLBACK answers "no transaction is active", which would hide the real cause.
      if (thrown) throw thrown.error;
      throw mapDriverError(err, this.#options);
    }
  }

  /**
   * Runs several Drizzle queries (built on `db.drizzle` with the tables from
   * `rf-inferno-db/schema`) as one atomic batch: all or nothing, and on a
   * remote database a single HTTP request, where an interactive
   * `transaction` costs one per statement. Results come back in order.
   * @example
   * import { actorTasks, pipelines } from "rf-inferno-db/schema";
   * import { eq, sql } from "drizzle-orm";
   * const [, progress] = await db.batch([
   *   db.drizzle.update(actorTasks).set({ status: "completed", completedAt: new Date() }).where(eq(actorTasks.taskId, taskId)),
   *   db.drizzle.update(pipelines).set({ shardsCompleted: sql`${pipelines.shardsCompleted} + 1` })
   *     .where(eq(pipelines.pipelineId, pipelineId)).returning({ done: pipelines.shardsCompleted }),
   * ]);
   */
  async batch<U extends BatchItem<"sqlite">, T extends Readonly<[U, ...U[]]>>(queries: T): Promise<BatchResponse<T>> {
    return this.#mapped(() => this.drizzle.batch(queries));
  }

  /** Runs `fn`, its driver errors mapped onto the typed errors (token scrubbed, database named). */
  async #mapped<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw mapDriverError(err, this.#options);
    }
  }

  /**
   * Deletes all rows of tasks, IC operations, pipelines and contexts — and of
   * experiments when `{ experiments: true }` — in one transaction.
   * @example await db.resetAllTables({ experiments: true });
   */
  async resetAllTables(options: { experiments?: boolean } = {}): Promise<void> {
    return this.#mapped(() => resetAllTables(this.drizzle, options));
  }

  /**
   * Recovery after a crash: marks every unfinished piece of work as failed —
   * scheduled/in-progress tasks, new/ongoing pipelines, pending/building
   * contexts and pending/processing IC operations — in one transaction, and
   * returns how many rows of each it changed. With `experimentId`, only that
   * experiment's tasks, pipelines and IC operations (contexts are shared
   * between experiments and are left alone: `contexts: 0`).
   * Prefer `reapStale()` while other processes may still be alive: it only
   * touches what a dead process left behind.
   * @example const counts = await db.resetExperimentStates(); // { actorTasks: 3, pipelines: 1, … }
   * @example await db.resetExperimentStates(experimentId); // this run only
   */
  async resetExperimentStates(experimentId?: number): Promise<ResetCounts> {
    return this.#mapped(() => resetExperimentStates(this.drizzle, experimentId));
  }

  /**
   * Recovers what dead processes left behind, and nothing else, in one
   * transaction (one request remotely), by the database's clock:
   *
   * - `running` experiments whose controller's heartbeat lease ended
   *   (`experiments.heartbeat`) → `failed` with the error
   *   `controller lost: no heartbeat since <ISO time>`, and their unfinished
   *   pipelines (`new`/`ongoing`) and tasks → `failed`;
   * - tasks whose lease ended → `scheduled` again (or `failed`, naming the
   *   expiry, after their last attempt);
   * - IC operations whose lease ended → `pending` again (or `failed`).
   *
   * Experiments without a heartbeat lease, live leases and finished rows are
   * untouched. `claimNext` re-takes ended leases by itself; this is for a
   * supervisor, a cron job or `rf-db reap`.
   * @example const { actorTasks, icOperations, experiments } = await db.reapStale();
   */
  async reapStale(): Promise<ReapCounts> {
    return this.#mapped(() => reapStale(this.drizzle));
  }

  /**
   * Embedded replica (opened with `syncUrl`): pulls the primary's changes
   * into the local file now (writes already go to the primary). Blocks the
   * event loop while it pulls (libsql's sync is synchronous). ConfigError on
   * any other database.
   * @example const db = await RFDatabase.open({ url: "file:replica.db", syncUrl, authToken }); await db.sync();
   */
  async sync(): Promise<{ framesSynced: number; frameNo: number }> {
    if (this.#config.syncUrl === undefined) {
      throw new ConfigError("db.sync() applies to an embedded replica: open a file: URL with syncUrl (and authToken)");
    }
    const syncUrl = this.#config.syncUrl;
    return this.#mapped(async () => {
      await probePrimary(syncUrl, this.#config.requestTimeoutMs);
      const r = await this.#client.sync();
      return { framesSynced: r?.frames_synced ?? 0, frameNo: r?.frame_no ?? 0 };
    });
  }

  /** Closes the connection. Further calls fail. */
  async close(): Promise<void> {
    this.#client.close();
  }
}

export { RFDatabaseError };

/** How errors name the database: the file's path, or the URL without credentials. */
function databaseLabel(config: ResolvedConfig): string {
  return config.kind === "file" && config.path !== undefined ? config.path : redactUrl(config.url);
}
