/**
 * The one place where `RFDatabase.open`'s options and the environment become
 * a configuration: every option is checked here — its type, and whether it
 * applies to the URL — so that nothing is ever silently ignored. The list of
 * options is the `CHECKS` table below, defined once; `OpenOptions` must
 * match it key for key (the compiler checks). Web-safe: no Node built-ins.
 */
import { ConfigError } from "./errors";

/**
 * What `logger` is called with, once per statement (README "Logging and
 * tracing"): the SQL (never the arguments), the call's wall time (a batch's
 * for each of its statements), rows returned, rows written, and the typed
 * error (auth token scrubbed) when it failed.
 */
export interface StatementLogEvent {
  sql: string;
  durationMs: number;
  rows: number;
  rowsAffected?: number;
  error?: Error;
}

/** What `RFDatabase.open` accepts: exactly these keys (any other is a ConfigError). */
export interface OpenOptions {
  /**
   * `:memory:`, `file:<path>` (`?mode=ro` = `readOnly`), `libsql://…`,
   * `http(s)://…` or `ws(s)://…`.
   * Default: env `RF_DB_URL`, else `file:<RF_DB_PATH or ~/db>/rapidfire.db`.
   */
  url?: string;
  /** Remote URLs and `syncUrl`. Default: env `RF_DB_AUTH_TOKEN`. Never appears in errors or logs. */
  authToken?: string;
  /**
   * `"auto"` (default): apply pending migrations to `file:`/`:memory:`
   * databases, only check remote ones (and read-only files and embedded
   * replicas). `true`: always apply. `false`: never touch or check the schema.
   */
  migrate?: "auto" | boolean;
  /**
   * Local files: open without writing anything (no migration, no
   * journal-mode change); every write is a `StorageError`. Same as `?mode=ro`.
   */
  readOnly?: boolean;
  /** Local files and embedded replicas: encrypt the file at rest (libSQL encryption) with this key. */
  encryptionKey?: string;
  /**
   * Local files: make the file an embedded replica of this remote primary —
   * reads are local, writes go to the primary, `db.sync()` pulls its changes.
   */
  syncUrl?: string;
  /** With `syncUrl`: also pull in the background every this many seconds (> 0). */
  syncIntervalSeconds?: number;
  /**
   * Remote URLs: the longest any request may take (ms, > 0; default 30000),
   * over http and ws. Past it the call rejects with `ConnectionError`.
   * Embedded replicas: bounds the check that the primary answers, made before
   * the open and before each `sync()` (libsql's own calls cannot be bounded).
   */
  requestTimeoutMs?: number;
  /**
   * Local files and `:memory:`: how long one attempt waits for another
   * writer's lock (SQLite busy timeout, ms; default 100) — kept short because
   * it blocks the event loop.
   */
  busyTimeoutMs?: number;
  /** The total time retries with backoff may take before a `DatabaseBusyError` (ms; default 5000). */
  busyRetryMs?: number;
  /** Called with `{ sql, durationMs, rows, error? }` for every statement. */
  logger?: (event: StatementLogEvent) => void;
  /**
   * String values under keys matching this in stored JSON configs are
   * replaced by `"***"` (default `DEFAULT_REDACT_KEYS`,
   * `/(api[_-]?key|token|secret|password)/i`).
   */
  redactKeys?: RegExp;
}

export type UrlKind = "memory" | "file" | "remote";

export interface ResolvedConfig {
  url: string;
  kind: UrlKind;
  /** For `file:` URLs: the file system path. */
  path?: string;
  authToken: string | undefined;
  migrate: "auto" | boolean;
  /** `readOnly: true` or `?mode=ro`. */
  readOnly: boolean;
  /** `?mode=rw`: open an existing file, never create one. */
  mustExist: boolean;
  encryptionKey?: string;
  /** Set: the file is an embedded replica of this primary. */
  syncUrl?: string;
  syncIntervalSeconds?: number;
  requestTimeoutMs: number;
  busyTimeoutMs: number;
  busyRetryMs: number;
  logger?: (event: StatementLogEvent) => void;
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

/** Query parameters a `file:` URL may carry, and what each may say. */
const FILE_PARAMS: Readonly<Record<string, readonly string[]>> = { mode: ["ro", "rw", "rwc"] };

/**
 * Classifies a URL; ConfigError for anything the package cannot open. A
 * `file:` URL's query parameters are checked here (`?mode=ro|rw|rwc`; any
 * other parameter is refused rather than ignored).
 */
export function classifyUrl(url: string): { kind: UrlKind; path?: string; mode?: string } {
  if (url === ":memory:" || url === "file::memory:") return { kind: "memory" };
  if (url.startsWith("file::memory:?") || url.startsWith(":memory:?")) {
    throw new ConfigError(
      `${JSON.stringify(url)}: query parameters on an in-memory database are not supported; use ":memory:"`,
    );
  }
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
    const mode = q >= 0 ? fileParams(url, rest.slice(q + 1)) : undefined;
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
    return mode === undefined ? { kind: "file", path } : { kind: "file", path, mode };
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

/** The `mode` of a `file:` URL's query; ConfigError for any other parameter or value. */
function fileParams(url: string, query: string): string | undefined {
  let mode: string | undefined;
  for (const [name, value] of new URLSearchParams(query)) {
    const allowed = FILE_PARAMS[name];
    if (allowed === undefined) {
      throw new ConfigError(
        `unsupported query parameter ${JSON.stringify(name)} in ${JSON.stringify(url)}: a file: URL accepts only ?mode=ro|rw|rwc ` +
          `(use the open options for anything else)`,
      );
    }
    if (!allowed.includes(value)) {
      throw new ConfigError(`${name}=${value} in ${JSON.stringify(url)}: ${name} must be one of ${allowed.join(", ")}`);
    }
    mode = value;
  }
  return mode;
}

/** The URL without credentials, query string or fragment, safe for messages. */
export function redactUrl(url: string): string {
  const info = userInfo(url);
  const bare = info === undefined ? url : url.replace(`//${info}@`, "//***@");
  return bare.replace(/[?#].*$/s, "?…");
}

/** What kind of database an option applies to; `replica` = a `file:` URL with `syncUrl`. */
type Target = "memory" | "file" | "replica" | "remote";
const LOCAL: readonly Target[] = ["memory", "file", "replica"];
const ANY: readonly Target[] = ["memory", "file", "replica", "remote"];

/** How one option is checked: its type (a description, and a test) and where it applies. */
interface Check {
  type: string;
  valid(value: unknown): boolean;
  appliesTo: readonly Target[];
}

const isString = (v: unknown) => typeof v === "string";
const isPositive = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v > 0;
const isNonNegative = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0;

/** Every option `open` accepts, defined once: the keys of `OpenOptions`, exactly (checked by the compiler). */
const CHECKS: { readonly [K in keyof Required<OpenOptions>]: Check } = {
  url: { type: "a string", valid: isString, appliesTo: ANY },
  authToken: { type: "a string", valid: isString, appliesTo: ["replica", "remote"] },
  migrate: { type: '"auto", true or false', valid: (v) => v === "auto" || typeof v === "boolean", appliesTo: ANY },
  readOnly: { type: "a boolean", valid: (v) => typeof v === "boolean", appliesTo: ["file"] },
  encryptionKey: { type: "a non-empty string", valid: (v) => isString(v) && v !== "", appliesTo: ["file", "replica"] },
  syncUrl: { type: "a string", valid: isString, appliesTo: ["replica"] },
  syncIntervalSeconds: { type: "a number > 0 (seconds)", valid: isPositive, appliesTo: ["replica"] },
  requestTimeoutMs: { type: "a number > 0 (milliseconds)", valid: isPositive, appliesTo: ["remote", "replica"] },
  busyTimeoutMs: { type: "a number >= 0 (milliseconds)", valid: isNonNegative, appliesTo: LOCAL },
  busyRetryMs: { type: "a number >= 0 (milliseconds)", valid: isNonNegative, appliesTo: ANY },
  logger: { type: "a function", valid: (v) => typeof v === "function", appliesTo: ANY },
  redactKeys: { type: "a RegExp", valid: (v) => v instanceof RegExp, appliesTo: ANY },
};

/** The options `RFDatabase.open` accepts, in the order of API.md. */
export const OPEN_OPTION_KEYS = Object.keys(CHECKS) as readonly (keyof OpenOptions)[];

const WHERE: Record<Target, string> = {
  memory: "an in-memory database",
  file: "a local file",
  replica: "an embedded replica (file: URL with syncUrl)",
  remote: "a remote URL",
};

/** The accepted key closest to a misspelt one (case, or one or two typos), for the error message. */
function nearest(key: string): string | undefined {
  const lower = key.toLowerCase();
  let best: { key: string; d: number } | undefined;
  for (const k of OPEN_OPTION_KEYS) {
    const d = k.toLowerCase() === lower ? 0 : editDistance(lower, k.toLowerCase());
    if (d <= 2 && (best === undefined || d < best.d)) best = { key: k, d };
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** Checks every key and type of `options` (before the URL is known). */
function checkOptions(options: unknown): OpenOptions {
  if (options === undefined) return {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new ConfigError("open options must be an object, e.g. { url }");
  }
  for (const [key, value] of Object.entries(options)) {
    const check = (CHECKS as Record<string, Check | undefined>)[key];
    if (check === undefined || !Object.hasOwn(CHECKS, key)) {
      const hint = nearest(key);
      throw new ConfigError(
        `unknown open option ${JSON.stringify(key)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ""}; ` +
          `accepted: ${OPEN_OPTION_KEYS.join(", ")}`,
      );
    }
    if (value !== undefined && !check.valid(value)) {
      throw new ConfigError(`open option ${key} must be ${check.type}, got ${describe(value)}`);
    }
  }
  return options as OpenOptions;
}

/** A value's kind for an error message — never the value itself (it may be a secret). */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "number") return Number.isFinite(value) ? "a number out of range" : String(value);
  return `a ${typeof value}`;
}

/**
 * One place where options and environment become a configuration.
 * `defaultUrl` supplies the embedded default (Node only: it needs the home directory).
 * ConfigError naming the option for an unknown key, a wrong type, or an
 * option that does not apply to the URL.
 */
export function resolveConfig(
  options: OpenOptions | undefined,
  defaultUrl: (env: Env) => string,
  env: Env = currentEnv(),
): ResolvedConfig {
  const o = checkOptions(options);
  const url = o.url ?? (env.RF_DB_URL || undefined) ?? defaultUrl(env);
  const { kind, path, mode } = classifyUrl(url);
  if (o.syncUrl !== undefined && kind !== "file") {
    throw new ConfigError(`open option syncUrl needs a file: URL for the local replica, not ${WHERE[kind]}`);
  }
  const target: Target = o.syncUrl !== undefined ? "replica" : kind;
  for (const key of OPEN_OPTION_KEYS) {
    if (o[key] === undefined || CHECKS[key].appliesTo.includes(target)) continue;
    throw new ConfigError(
      `open option ${key} does not apply to ${WHERE[target]} (${redactUrl(url)}); it applies to ` +
        `${CHECKS[key].appliesTo.map((t) => WHERE[t]).join(" or ")}`,
    );
  }
  if (o.syncUrl !== undefined && !/^(libsql|https?):\/\/[^/@]+(\/|$)/i.test(o.syncUrl)) {
    throw new ConfigError(
      "open option syncUrl must be a libsql://, https:// or http:// URL of the primary, without credentials (use authToken)",
    );
  }
  if (o.readOnly === false && mode === "ro") {
    throw new ConfigError(`readOnly: false contradicts ?mode=ro in ${JSON.stringify(redactUrl(url))}`);
  }
  const readOnly = o.readOnly === true || mode === "ro";
  if (readOnly && o.migrate === true) {
    throw new ConfigError("migrate: true cannot apply migrations to a database opened read-only");
  }
  const token =
    o.authToken ?? (target === "remote" || target === "replica" ? env.RF_DB_AUTH_TOKEN || undefined : undefined);
  return {
    url,
    kind,
    ...(path === undefined ? {} : { path }),
    authToken: token,
    migrate: o.migrate ?? "auto",
    readOnly,
    mustExist: mode === "rw",
    ...(o.encryptionKey === undefined ? {} : { encryptionKey: o.encryptionKey }),
    ...(o.syncUrl === undefined ? {} : { syncUrl: o.syncUrl }),
    ...(o.syncIntervalSeconds === undefined ? {} : { syncIntervalSeconds: o.syncIntervalSeconds }),
    requestTimeoutMs: o.requestTimeoutMs ?? 30_000,
    busyTimeoutMs: o.busyTimeoutMs ?? 100,
    busyRetryMs: o.busyRetryMs ?? 5000,
    ...(o.logger === undefined ? {} : { logger: o.logger }),
    ...(o.redactKeys === undefined ? {} : { redactKeys: o.redactKeys }),
  };
}

/**
 * Options under which `RFDatabase.open` resolves to exactly `config`: every
 * value explicit (and only those that apply to its URL), so nothing is
 * looked up again (for a caller that resolved once, looked at the result,
 * and now opens it).
 * @example const config = resolveNodeConfig(cli); if (config.kind === "file") …; await RFDatabase.open(openOptionsOf(config));
 */
export function openOptionsOf(config: ResolvedConfig): OpenOptions {
  const remote = config.kind === "remote";
  const { encryptionKey, syncUrl, syncIntervalSeconds, logger } = config;
  return {
    url: config.url,
    ...(config.authToken === undefined ? {} : { authToken: config.authToken }),
    migrate: config.migrate,
    ...(config.readOnly ? { readOnly: true } : {}),
    ...(encryptionKey === undefined ? {} : { encryptionKey }),
    ...(syncUrl === undefined ? {} : { syncUrl }),
    ...(syncIntervalSeconds === undefined ? {} : { syncIntervalSeconds }),
    ...(remote || syncUrl !== undefined ? { requestTimeoutMs: config.requestTimeoutMs } : {}),
    ...(remote ? {} : { busyTimeoutMs: config.busyTimeoutMs }),
    busyRetryMs: config.busyRetryMs,
    ...(logger === undefined ? {} : { logger }),
    ...(config.redactKeys === undefined ? {} : { redactKeys: config.redactKeys }),
  };
}
