import { ConfigError } from "./errors";

/** What `RFDatabase.open` accepts. */
export interface OpenOptions {
  /**
   * `:memory:`, `file:<path>`, `libsql://…`, `http(s)://…` or `ws(s)://…`.
   * Default: env `RF_DB_URL`, else `file:<RF_DB_PATH or ~/db>/rapidfire.db`.
   */
  url?: string;
  /** Default: env `RF_DB_AUTH_TOKEN`. Never appears in errors or logs. */
  authToken?: string;
  /**
   * `"auto"` (default): apply pending migrations to `file:`/`:memory:`
   * databases, only check remote ones. `true`: always apply. `false`: never
   * touch or check the schema.
   */
  migrate?: "auto" | boolean;
  /**
   * Local files: how long one attempt waits for another writer's lock
   * (SQLite busy timeout, ms; default 100) — kept short because it blocks the
   * event loop — and the total time retries with backoff may take before a
   * `DatabaseBusyError` (default 5000).
   */
  busyTimeoutMs?: number;
  busyRetryMs?: number;
  /**
   * Remote URLs: the longest any request may take (ms, > 0; default 30000),
   * over http and ws. Past it the call rejects with `ConnectionError` — the
   * outcome of a write is then unknown, as with any broken connection.
   */
  requestTimeoutMs?: number;
}

export type UrlKind = "memory" | "file" | "remote";

export interface ResolvedConfig {
  url: string;
  kind: UrlKind;
  /** For `file:` URLs: the file system path. */
  path?: string;
  authToken: string | undefined;
  migrate: "auto" | boolean;
  busyTimeoutMs: number;
  busyRetryMs: number;
  requestTimeoutMs: number;
  /** Keys whose string values are stored as "***" in JSON configs (undefined: the repositories' default). */
  redactKeys?: RegExp | undefined;
}

type Env = Record<string, string | undefined>;

/** Reads the environment only when called (never at import time), and works where `process` does not exist. */
export function currentEnv(): Env {
  const proc = (globalThis as { process?: { env?: Env } }).process;
  return proc?.env ?? {};
}

const REMOTE = /^(libsql|https?|wss?):\/\//i;

/** Classifies a URL; ConfigError for anything the package cannot open. */
export function classifyUrl(url: string): { kind: UrlKind; path?: string } {
  if (url === ":memory:" || url === "file::memory:" || url.startsWith("file::memory:?")) return { kind: "memory" };
  if (REMOTE.test(url)) {
    if (userInfo(url) !== undefined) {
      throw new ConfigError(
        `the database URL ${redactUrl(url)} carries credentials (user:password@), which would end up in logs and ` +
          "process lists: remove them, and pass the auth token as { authToken } or RF_DB_AUTH_TOKEN " +
          "(rf-db: --auth-token-file PATH)",
      );
    }
    try {
      new URL(url);
    } catch {
      // No cause: Node's URL error keeps the whole input (query included) in a property that inspect() prints.
      throw new ConfigError(`invalid database URL: ${redactUrl(url)}`);
    }
    return { kind: "remote" };
  }
  if (url.startsWith("file:")) {
    let rest = url.slice("file:".length);
    const q = rest.indexOf("?");
    if (q >= 0) rest = rest.slice(0, q);
    if (rest.startsWith("//")) {
      // file://localhost/abs or file:///abs
      const afterAuthority = rest.slice(2);
      const slash = afterAuthority.indexOf("/");
      const host = slash < 0 ? afterAuthority : afterAuthority.slice(0, slash);
      if (host !== "" && host !== "localhost") {
        throw new ConfigError(
          `file: URL with a host (${JSON.stringify(host)}); use file:/absolute/path.db or file:relative.db`,
        );
      }
      rest = slash < 0 ? "" : afterAuthority.slice(slash);
    }
    const path = decodeURIComponent(rest);
    if (!path) throw new ConfigError(`file: URL without a path: ${url}`);
    return { kind: "file", path };
  }
  throw new ConfigError(
    `unsupported database URL ${JSON.stringify(redactUrl(url))}: use :memory:, file:<path>, libsql://, http(s):// or ws(s)://`,
  );
}

/**
 * The user-info of a `scheme://user:password@host` URL (everything between
 * `//` and the LAST `@` before the query: a password may itself hold `@` or
 * `/`), or undefined.
 */
function userInfo(url: string): string | undefined {
  if (/^file:/i.test(url)) return undefined; // a path may hold "@"
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^?#]*)@/i.exec(url);
  return m ? m[1] : undefined;
}

/** The URL without credentials, query string or fragment, safe for messages. */
export function redactUrl(url: string): string {
  const info = userInfo(url);
  const bare = info === undefined ? url : url.replace(`//${info}@`, "//***@");
  return bare.replace(/[?#].*$/s, "?…");
}

/**
 * One place where options and environment become a configuration.
 * `defaultUrl` supplies the embedded default (Node only: it needs the home directory).
 */
export function resolveConfig(
  options: OpenOptions = {},
  defaultUrl: (env: Env) => string,
  env: Env = currentEnv(),
): ResolvedConfig {
  if (typeof options !== "object" || options === null) throw new ConfigError("open options must be an object");
  if (options.url !== undefined && typeof options.url !== "string") throw new ConfigError("url must be a string");
  if (options.authToken !== undefined && typeof options.authToken !== "string")
    throw new ConfigError("authToken must be a string");
  const migrate = options.migrate ?? "auto";
  if (migrate !== "auto" && migrate !== true && migrate !== false) {
    throw new ConfigError(`migrate must be "auto", true or false`);
  }
  const number = (value: unknown, name: string, fallback: number) => {
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0)
      throw new ConfigError(`${name} must be a number >= 0`);
    return value;
  };
  const positive = (value: unknown, name: string, fallback: number) => {
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0)
      throw new ConfigError(`${name} must be a number > 0 (milliseconds)`);
    return value;
  };
  const url = options.url ?? (env.RF_DB_URL || undefined) ?? defaultUrl(env);
  const { kind, path } = classifyUrl(url);
  return {
    url,
    kind,
    ...(path === undefined ? {} : { path }),
    authToken: options.authToken ?? (env.RF_DB_AUTH_TOKEN || undefined),
    migrate,
    busyTimeoutMs: number(options.busyTimeoutMs, "busyTimeoutMs", 100),
    busyRetryMs: number(options.busyRetryMs, "busyRetryMs", 5000),
    requestTimeoutMs: positive(options.requestTimeoutMs, "requestTimeoutMs", 30_000),
  };
}

/**
 * Options under which `RFDatabase.open` resolves to exactly `config`: every
 * value explicit, so nothing is looked up again (for a caller that resolved
 * once, looked at the result, and now opens it).
 * @example const config = resolveNodeConfig(cli); if (config.kind === "file") …; await RFDatabase.open(openOptionsOf(config));
 */
export function openOptionsOf(config: ResolvedConfig): OpenOptions {
  return {
    url: config.url,
    ...(config.authToken === undefined ? {} : { authToken: config.authToken }),
    migrate: config.migrate,
    busyTimeoutMs: config.busyTimeoutMs,
    busyRetryMs: config.busyRetryMs,
    requestTimeoutMs: config.requestTimeoutMs,
  };
}
