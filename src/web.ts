/**
 * rf-inferno-db for edge and web runtimes (Cloudflare Workers, Deno, Vercel
 * Edge, browsers): remote libSQL/Turso URLs only, over `fetch` — no Node
 * built-ins, no native modules. Migrations are not applied here (do that at
 * deploy time with `rf-db migrate`); `open` only checks the schema is current.
 *
 * @example
 * import { RFDatabase } from "rf-inferno-db/web";
 * const db = await RFDatabase.open({ url: env.RF_DB_URL, authToken: env.RF_DB_AUTH_TOKEN });
 */
import { createClient, type Client } from "@libsql/client/web";
import { redactUrl, type OpenOptions, type ResolvedConfig } from "./config";
import { drizzle } from "drizzle-orm/libsql/web";
import { RFDatabaseBase, type Connector } from "./database";
import * as schema from "./schema";
import { openRemoteClient } from "./driver/remote";
import { ConfigError } from "./errors";

const webConnector: Connector = {
  defaultUrl() {
    throw new ConfigError(
      "no database URL: rf-inferno-db/web has no embedded default; pass { url } or set RF_DB_URL to a libsql://, https:// or wss:// URL",
    );
  },
  orm: (client) => drizzle(client, { schema }),
  async connect(config: ResolvedConfig): Promise<Client> {
    if (config.kind !== "remote") {
      throw new ConfigError(
        `rf-inferno-db/web cannot open ${config.kind === "memory" ? "an in-memory" : "a file:"} database: edge runtimes have no local ` +
          `SQLite. Use a libsql://, https:// or wss:// URL, or import "rf-inferno-db" on Node.`,
      );
    }
    try {
      return openRemoteClient(createClient, config);
    } catch (cause) {
      throw new ConfigError(`cannot use database URL ${redactUrl(config.url)}`, { cause });
    }
  },
};

/** The database, in an edge runtime. See `RFDatabaseBase` for the members. */
export class RFDatabase extends RFDatabaseBase {
  /**
   * Opens a remote database and checks its schema is current (`migrate: "auto"`).
   * @example const db = await RFDatabase.open({ url: "libsql://my-db.turso.io", authToken });
   */
  static async open(options?: OpenOptions): Promise<RFDatabase> {
    return RFDatabase.openWith(webConnector, options, (client, config, orm) => new RFDatabase(client, config, orm));
  }
}

export * from "./public";
