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
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Client } from "@libsql/client";
import { redactUrl, type OpenOptions, type ResolvedConfig } from "./config";
import { RFDatabaseBase, type Connector } from "./database";
import { drizzleOver } from "./repositories/engine";
import * as schema from "./schema";
import { openLocalClient } from "./driver/local";
import { retryWhileLocked } from "./driver/busy-retry";
import { openRemoteClient } from "./driver/remote";
import { ConfigError } from "./errors";
import { assertNotLegacyFile } from "./legacy/peek";
import { unrecordedError } from "./migrate";
import { defaultDatabaseUrl } from "./node-config";

export { defaultDatabaseUrl };

const nodeConnector: Connector = {
  defaultUrl: defaultDatabaseUrl,
  // Not `drizzle-orm/libsql`: it imports @libsql/client, which a local database never uses.
  orm: (client) => drizzleOver(client, schema),
  scratch: () => openLocalClient({ path: ":memory:" }),
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
    const path = config.kind === "memory" ? ":memory:" : resolve(config.path!);
    if (config.kind === "file") {
      try {
        mkdirSync(dirname(path), { recursive: true });
      } catch (cause) {
        throw new ConfigError(`cannot create the database directory ${dirname(path)}`, { cause });
      }
      // Before anything opens it for writing (WAL switch, migrations) — whatever `migrate` says.
      const args = config.url === defaultDatabaseUrl() ? "" : `--url file:${path}`;
      const seen = assertNotLegacyFile(path, args);
      // The package's tables without migration records (drizzle-kit push): migrating would fail half-way.
      if (config.migrate !== false && seen?.kind === "package" && !seen.recorded) {
        throw unrecordedError(`the database file ${path}`, args);
      }
    }
    // Opening sets WAL mode; when several processes open a new file at once SQLite can answer
    // SQLITE_BUSY at once (deadlock avoidance skips the busy handler), so opening retries too.
    return retryWhileLocked(
      async () =>
        openLocalClient({ path, busyTimeoutMs: config.busyTimeoutMs, busyRetry: { maxWaitMs: config.busyRetryMs } }),
      { maxWaitMs: config.busyRetryMs },
    );
  },
};

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
