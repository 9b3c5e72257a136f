/**
 * rf-inferno-db for Node: local files, in-memory databases and remote
 * libSQL/Turso servers, from the same code.
 *
 * @example
 * import { RFDatabase } from "rf-inferno-db";
 * const db = await RFDatabase.open();   // file:~/db/rapidfire.db, migrated
 * const id = await db.experiments.create({ experimentName: "sweep", numActors: 4, numShards: 64 });
 * await db.close();
 */
import { resolve } from "node:path";
import type { Client } from "@libsql/client";
import { LibsqlError } from "@libsql/core/api";
import { redactUrl, type OpenOptions, type ResolvedConfig } from "./config";
import { RFDatabaseBase, type Connector } from "./database";
import { drizzleOver } from "./repositories/engine";
import * as schema from "./schema";
import { type LocalClientOptions, openLocalClient } from "./driver/local";
import { createPrivately, makePrivate, prepareReplica, quickCheck } from "./driver/local/file-setup";
import { probePrimary } from "./driver/replica-probe";
import { retryWhileLocked } from "./driver/busy-retry";
import { openRemoteClient } from "./driver/remote";
import { ConfigError, sqliteBaseCode, StorageError } from "./errors";
import { type OtelApi, otelTracing, type TraceTarget, type Tracing } from "./driver/tracing";
import { assertNotLegacyFile } from "./legacy/peek";
import { unrecordedError } from "./migrate";
import { defaultDatabaseUrl } from "./node-config";

export { defaultDatabaseUrl };

/**
 * `@opentelemetry/api`, when installed (an optional peer dependency) and
 * something registered with it: the API keeps what an SDK registers under
 * this global symbol (its cross-version registry), and creates it only then.
 * Without it no SDK runs, so the API is not even loaded — opening costs
 * nothing more. Loaded once, at the first open that needs it. The web entry
 * does not look for it (a bundler would have to resolve it); there, `logger`
 * can feed a tracer.
 */
const OTEL_GLOBAL = Symbol.for("opentelemetry.js.api.1");
let otelApi: Promise<OtelApi | null> | undefined;
async function nodeTracing(config: ResolvedConfig): Promise<Tracing | undefined> {
  if ((globalThis as Record<symbol, unknown>)[OTEL_GLOBAL] === undefined) return undefined;
  otelApi ??= import("@opentelemetry/api").then(
    (m) => m as unknown as OtelApi,
    () => null,
  );
  const api = await otelApi;
  if (api === null) return undefined;
  let server: TraceTarget["server"];
  if (config.kind === "remote") {
    const u = new URL(config.url);
    server = { address: u.hostname, ...(u.port ? { port: Number(u.port) } : {}) };
  }
  return otelTracing(api, server ? { server } : {});
}

const nodeConnector: Connector = {
  defaultUrl: defaultDatabaseUrl,
  // Not `drizzle-orm/libsql`: it imports @libsql/client, which a local database never uses.
  orm: (client) => drizzleOver(client, schema),
  scratch: () => openLocalClient({ path: ":memory:" }),
  tracing: nodeTracing,
  async connect(config: ResolvedConfig): Promise<Client> {
    if (config.kind === "remote") {
      // Loaded for remote URLs only: @libsql/client is the largest import of the package (~100 ms of CPU).
      const { createClient } = await import("@libsql/client");
      try {
        return openRemoteClient(createClient, config);
      } catch (cause) {
        throw new ConfigError(`cannot use database URL ${redactUrl(config.url)}`, { cause });
      }
    }
    if (config.kind === "memory") {
      return openLocalClient({
        path: ":memory:",
        busyTimeoutMs: config.busyTimeoutMs,
        busyRetry: { maxWaitMs: config.busyRetryMs },
      });
    }
    const path = resolve(config.path!);
    // Before anything opens it for writing (WAL switch, migrations) — whatever `migrate` says.
    const args = config.url === defaultDatabaseUrl() ? "" : `--url file:${path}`;
    const seen = assertNotLegacyFile(path, args);
    // The package's tables without migration records (drizzle-kit push): migrating would fail half-way.
    if (config.migrate !== false && seen?.kind === "package" && !seen.recorded) {
      throw unrecordedError(`the database file ${path}`, args);
    }
    // A read-only or must-exist open creates nothing; otherwise the directory and the file are made private.
    const replica = config.syncUrl !== undefined;
    const newReplica = replica && prepareReplica(path);
    if (replica) await probePrimary(config.syncUrl!, config.requestTimeoutMs);
    if (!replica && !config.readOnly && !config.mustExist) createPrivately(path);
    const client = await retryWhileLocked(
      async () => {
        try {
          return openLocalClient(localOptions(config, path));
        } catch (e) {
          throw explainUnreadable(e, config, path);
        }
      },
      { maxWaitMs: config.busyRetryMs },
    );
    try {
      // An embedded replica starts with what the primary has (the schema check reads it);
      // libsql owns the replica's file, so it gets no quick_check.
      if (newReplica) makePrivate(path);
      if (replica) await client.sync();
      // A read-only open cannot accept writes, so a damaged file may open (db.check() reports it).
      else if (!config.readOnly) await quickCheck(client, path);
    } catch (e) {
      client.close();
      throw e;
    }
    return client;
  },
};

/** The local client's options for a file (opening sets WAL mode; several processes opening a new file at once may get SQLITE_BUSY, so the open is retried). */
function localOptions(config: ResolvedConfig, path: string): LocalClientOptions {
  return {
    path,
    busyTimeoutMs: config.busyTimeoutMs,
    busyRetry: { maxWaitMs: config.busyRetryMs },
    readOnly: config.readOnly,
    mustExist: config.mustExist,
    ...(config.encryptionKey === undefined ? {} : { encryptionKey: config.encryptionKey }),
    ...(config.syncUrl === undefined
      ? {}
      : { sync: { url: config.syncUrl, authToken: config.authToken, intervalSeconds: config.syncIntervalSeconds } }),
  };
}

/** "Not a database" at open says what it most likely means here: a wrong or missing encryption key. */
function explainUnreadable(e: unknown, config: ResolvedConfig, path: string): unknown {
  if (!(e instanceof LibsqlError) || sqliteBaseCode(e) !== "SQLITE_NOTADB") return e;
  const why =
    config.encryptionKey === undefined
      ? "it is not a database, or it is encrypted: open it with its encryptionKey"
      : "the encryptionKey does not decrypt it (a wrong key, or the file is not encrypted, or not a database)";
  return new StorageError(`${path}: cannot read the file: ${why}`, "not-a-database", path, { cause: e });
}

/** The database, on Node. See `RFDatabaseBase` for the members. */
export class RFDatabase extends RFDatabaseBase {
  /**
   * Opens (and by default migrates) a database. URL: `options.url` →
   * env `RF_DB_URL` → `file:<RF_DB_PATH or ~/db>/rapidfire.db`.
   * @example const db = await RFDatabase.open({ url: "libsql://my-db.turso.io", authToken });
   */
  static async open(options?: OpenOptions): Promise<RFDatabase> {
    return RFDatabase.openWith(nodeConnector, options, (client, config, orm) => new RFDatabase(client, config, orm));
  }
}

export * from "./public";
export {
  importLegacy,
  type ImportLegacyOptions,
  type ImportProgress,
  type LegacyImportResult,
  type NaiveTimes,
} from "./legacy/import";
