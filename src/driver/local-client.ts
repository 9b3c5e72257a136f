/**
 * A `Client` (the `@libsql/client` interface Drizzle's libsql driver talks
 * to) for local database files and `:memory:`, built directly on the native
 * `libsql` binding.
 *
 * Why not `createClient({ url: "file:…" })`:
 *
 * 1. Speed. `@libsql/client`'s sqlite3 client prepares every statement again
 *    on every call and builds each row with `Object.defineProperty`. Here
 *    prepared statements, their column metadata and a generated row class
 *    are cached per SQL string (bounded, CLOCK eviction), so a hot call costs
 *    little more than the native call itself.
 * 2. Correctness. Its `transaction()` gives the connection away and lazily
 *    opens a second one for everything else: with `:memory:` that is a new,
 *    empty database, and on a file a write issued meanwhile waits on the
 *    busy timeout *blocking the event loop*, then fails with SQLITE_BUSY.
 *    Here there is ONE connection per client; interactive transactions and
 *    batches take a FIFO async mutex that every other call waits for.
 * 3. Busy handling. The native busy timeout blocks the JS thread, so it is
 *    kept short (default 100 ms) and a statement that still finds the
 *    database locked by another process is retried asynchronously with
 *    exponential backoff + jitter, within a total budget (default 5 s).
 *
 * Deliberate differences from `@libsql/client`'s local client:
 * - `LibsqlError.code` is the most specific SQLite code libsql reports
 *   (`SQLITE_CONSTRAINT_CHECK`, not `SQLITE_CONSTRAINT`); `extendedCode` is
 *   the same string, `rawCode` the number (`rawCode & 0xff` = base code).
 * - `undefined` arguments bind as NULL instead of throwing.
 * - `execute()` rejects SQL holding more than one statement
 *   (`SQL_MANY_STATEMENTS`) instead of silently ignoring the rest, and
 *   named arguments for a statement with bare `?` placeholders
 *   (`ARGS_INVALID`) instead of crashing the process (a libsql panic).
 * - INSERT/UPDATE/DELETE … RETURNING report `rowsAffected` and
 *   `lastInsertRowid` (the sqlite3 client reports 0/undefined).
 * - `"read"` transactions are enforced with `PRAGMA query_only` (local
 *   libsql accepts writes inside `BEGIN TRANSACTION READONLY`).
 *
 * Hazard: inside an open `transaction()`, calling the *client* (instead of
 * the transaction object) waits for the transaction to end, i.e. forever.
 * With Drizzle: inside `db.transaction(async (tx) => …)` use `tx`, not `db`.
 * Set `lockTimeoutMs` to turn such a deadlock into an error.
 */
import { Buffer } from "node:buffer";
import Database from "libsql";
import { LibsqlBatchError, LibsqlError } from "@libsql/client";
import type {
  Client,
  InArgs,
  InStatement,
  IntMode,
  Replicated,
  ResultSet,
  Row,
  Transaction,
  TransactionMode,
  Value,
} from "@libsql/client";
import { isLockCode, SQLITE_BASE_CODES, sqliteBaseCode } from "../errors";
import { AsyncMutex } from "./mutex";
import { scanSql, type SqlInfo, type SqlKind } from "./sql-scan";

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/** Asynchronous retry of statements that find the database locked by another connection. */
export interface BusyRetryOptions {
  /** Total time retries may take after the first SQLITE_BUSY/SQLITE_LOCKED, ms. Default 5000. */
  maxWaitMs?: number;
  /** First backoff delay, ms (doubled each attempt, with jitter). Default 5. */
  initialDelayMs?: number;
  /** Upper bound of one backoff delay, ms. Default 100. */
  maxDelayMs?: number;
}

export interface LocalClientOptions {
  /** `":memory:"` or a file system path (not a `file:` URL). */
  path: string;
  /**
   * SQLite busy timeout per attempt, ms. Default 100. Kept short on purpose:
   * SQLite waits for the lock *synchronously*, blocking the event loop.
   */
  busyTimeoutMs?: number;
  /** Async retries after the busy timeout expired; `false` disables them. Default `{ maxWaitMs: 5000 }`. */
  busyRetry?: BusyRetryOptions | false;
  /** Max prepared statements kept per connection (0 disables caching). Default 256. */
  statementCacheSize?: number;
  /** How SQLite integers are returned, as in `@libsql/client`. Default `"number"` (RangeError beyond ±2^53-1). */
  intMode?: IntMode;
  /**
   * Max time a call waits for the connection while a transaction/batch of
   * this client holds it, ms. Default: no limit. When exceeded the call
   * rejects with code `CLIENT_LOCK_TIMEOUT`.
   */
  lockTimeoutMs?: number;
}

interface ResolvedOptions {
  path: string;
  memory: boolean;
  busyTimeoutMs: number;
  retry: Required<BusyRetryOptions> | null;
  cacheSize: number;
  intMode: IntMode;
  lockTimeoutMs: number | undefined;
}

function resolveOptions(o: LocalClientOptions): ResolvedOptions {
  if (!o || typeof o.path !== "string") throw new TypeError("openLocalClient: `path` must be a string");
  const nonNeg = (v: number | undefined, name: string, dflt: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v))
      throw new RangeError(`openLocalClient: ${name} must be a finite number >= 0`);
    return v;
  };
  const r = o.busyRetry;
  const retry =
    r === false
      ? null
      : {
          maxWaitMs: nonNeg(r?.maxWaitMs, "busyRetry.maxWaitMs", 5000),
          initialDelayMs: nonNeg(r?.initialDelayMs, "busyRetry.initialDelayMs", 5),
          maxDelayMs: nonNeg(r?.maxDelayMs, "busyRetry.maxDelayMs", 100),
        };
  const intMode = o.intMode ?? "number";
  if (intMode !== "number" && intMode !== "bigint" && intMode !== "string")
    throw new RangeError(`openLocalClient: invalid intMode ${String(intMode)}`);
  return {
    path: o.path,
    memory: o.path === ":memory:" || o.path === "",
    busyTimeoutMs: Math.floor(nonNeg(o.busyTimeoutMs, "busyTimeoutMs", 100)),
    retry: retry && retry.maxWaitMs > 0 ? retry : null,
    cacheSize: Math.floor(nonNeg(o.statementCacheSize, "statementCacheSize", 256)),
    intMode,
    lockTimeoutMs: o.lockTimeoutMs === undefined ? undefined : nonNeg(o.lockTimeoutMs, "lockTimeoutMs", 0),
  };
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/**
 * True for SQLITE_BUSY* / SQLITE_LOCKED* raised by this connection (the error
 * itself, not its causes): another connection holds a lock; retrying later may succeed.
 */
export function isBusyError(err: unknown): boolean {
  return err instanceof LibsqlError && isLockCode(sqliteBaseCode(err));
}

/** Turns libsql's SqliteError into a LibsqlError (other errors, e.g. RangeError for bad arguments, pass through). */
function toLibsqlError(e: unknown): unknown {
  if (e instanceof LibsqlError) return e;
  if (e !== null && typeof e === "object") {
    const se = e as { code?: unknown; rawCode?: unknown; message?: unknown };
    const rawCode = typeof se.rawCode === "number" ? se.rawCode : undefined;
    let code = typeof se.code === "string" && se.code.startsWith("SQLITE_") ? se.code : undefined;
    if (code === undefined && !(e instanceof Database.SqliteError)) return e;
    if ((code === undefined || code === "SQLITE_UNKNOWN") && rawCode !== undefined)
      code = SQLITE_BASE_CODES[rawCode & 0xff] ?? code;
    code ??= "SQLITE_UNKNOWN";
    return new LibsqlError(String(se.message ?? ""), code, code, rawCode, e instanceof Error ? e : undefined);
  }
  return e;
}

function toBatchError(e: unknown, index: number): unknown {
  if (e instanceof LibsqlBatchError || !(e instanceof LibsqlError)) return e;
  // Rebuild from the driver's own message so the code is not prefixed twice.
  const message = e.cause instanceof Error ? e.cause.message : e.message;
  return new LibsqlBatchError(
    message,
    index,
    e.code,
    e.extendedCode,
    e.rawCode,
    e.cause instanceof Error ? e.cause : undefined,
  );
}

const clientClosedError = () => new LibsqlError("The client is closed", "CLIENT_CLOSED");
const txClosedError = () => new LibsqlError("The transaction is closed", "TRANSACTION_CLOSED");

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MIN_SAFE_BIG = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_I64 = -9223372036854775808n;
const MAX_I64 = 9223372036854775807n;

type Bound = unknown[] | Record<string, unknown>;
const EMPTY_ARGS: unknown[] = Object.freeze([]) as unknown as unknown[];
const EMPTY_STRINGS: string[] = Object.freeze([]) as unknown as string[];

/** One JS argument → what the native binding accepts (it panics on booleans and mis-handles the rest). */
function toSqlValue(v: unknown): unknown {
  switch (typeof v) {
    case "string":
      return v;
    case "number":
      if (!Number.isFinite(v))
        throw new RangeError("Only finite numbers (not Infinity or NaN) can be passed as arguments");
      return v;
    case "bigint":
      if (v < MIN_I64 || v > MAX_I64)
        throw new RangeError("bigint is too large to be represented as a 64-bit integer and passed as argument");
      return v;
    case "boolean":
      return v ? 1 : 0;
    case "undefined":
      return null;
    case "object":
      if (v === null || v instanceof Uint8Array) return v;
      if (v instanceof ArrayBuffer) return Buffer.from(v);
      if (v instanceof Date) {
        const t = v.valueOf();
        if (!Number.isFinite(t)) throw new RangeError("Invalid Date cannot be passed as argument");
        return t;
      }
      throw new TypeError(`Unsupported argument type: ${Object.prototype.toString.call(v)}`);
    default:
      throw new TypeError(`Unsupported argument type: ${typeof v}`);
  }
}

/** Converts arguments; copies an array only when some element needs converting. */
function bindArgs(args: InArgs, info: SqlInfo): Bound {
  if (Array.isArray(args)) {
    let out: unknown[] = args;
    for (let i = 0; i < args.length; i++) {
      const v: unknown = args[i];
      if (typeof v === "string" || v === null) continue;
      const c = toSqlValue(v);
      if (c !== v) {
        if (out === args) out = args.slice();
        out[i] = c;
      }
    }
    return out;
  }
  if (args === null || typeof args !== "object")
    throw new TypeError("Statement arguments must be an array or an object");
  if (info.anonymousParams > 0) {
    throw new LibsqlError(
      "Named arguments were given, but the statement uses '?' placeholders; pass an array",
      "ARGS_INVALID",
    );
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(args)) {
    const c0 = key.charCodeAt(0);
    const name = c0 === 58 /* : */ || c0 === 64 /* @ */ || c0 === 36 /* $ */ ? key.slice(1) : key;
    out[name] = toSqlValue((args as Record<string, unknown>)[key]);
  }
  return out;
}

function blobToArrayBuffer(b: Uint8Array): ArrayBuffer {
  const buf = b.buffer;
  if (b.byteOffset === 0 && b.byteLength === buf.byteLength && buf instanceof ArrayBuffer) return buf;
  return buf.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

function bigintToValue(v: bigint, intMode: IntMode): Value {
  if (intMode === "number") {
    if (v < MIN_SAFE_BIG || v > MAX_SAFE_BIG)
      throw new RangeError("Received integer which cannot be safely represented as a JavaScript number");
    return Number(v);
  }
  return intMode === "bigint" ? v : `${v}`;
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

/**
 * Rows look like libsql's: `row.name`, `row[0]`, `row.length`,
 * `Array.prototype.slice.call(row)` all work, and `Object.keys(row)` /
 * `JSON.stringify(row)` / `{...row}` see only the column names. Column
 * values are own enumerable properties; `length` and the index keys are
 * getters on a per-statement prototype, so building a row is a handful of
 * plain stores instead of `defineProperty` calls. Columns whose name is
 * taken (duplicates — first one wins, as in libsql —, `length`, or an index
 * key) are kept in a private field, reachable by index only.
 */
type RowCtor = new (raw: unknown[]) => Row;

interface Layout {
  /** Column indexes stored as own properties (their name is usable). */
  own: number[];
  /** Column indexes reachable only by index. */
  hidden: number[];
}

function layoutOf(names: readonly string[]): Layout {
  const n = names.length;
  const seen = new Set<string>();
  const own: number[] = [];
  const hidden: number[] = [];
  for (let i = 0; i < n; i++) {
    const name = names[i]!;
    const asIndex = Number(name);
    const isIndexKey =
      name !== "" && String(asIndex) === name && Number.isInteger(asIndex) && asIndex >= 0 && asIndex < n;
    if (name === "length" || isIndexKey || seen.has(name)) hidden.push(i);
    else {
      seen.add(name);
      own.push(i);
    }
  }
  return { own, hidden };
}

function defineOwn(o: object, name: string, value: unknown): void {
  Object.defineProperty(o, name, { value, writable: true, enumerable: true, configurable: true });
}

/** Row class used on a statement's first execution (no code generation). */
function genericRowClass(names: readonly string[]): RowCtor {
  const { own, hidden } = layoutOf(names);
  const ownNames = own.map((i) => names[i]!);
  class GenericRow {
    #h: unknown[] | undefined;
    constructor(r: unknown[]) {
      const self = this as unknown as Record<string, unknown>;
      for (let k = 0; k < own.length; k++) {
        const name = ownNames[k]!;
        if (name === "__proto__") defineOwn(this, name, r[own[k]!]);
        else self[name] = r[own[k]!];
      }
      if (hidden.length > 0) this.#h = hidden.map((i) => r[i]);
    }
    static hiddenOf(o: GenericRow): unknown[] {
      return o.#h!;
    }
  }
  const desc: PropertyDescriptorMap = { length: { get: () => names.length } };
  names.forEach((name, i) => {
    const slot = hidden.indexOf(i);
    desc[i] =
      slot < 0
        ? {
            get(this: Record<string, unknown>) {
              return this[name];
            },
          }
        : {
            get(this: GenericRow) {
              return GenericRow.hiddenOf(this)[slot];
            },
          };
  });
  Object.defineProperties(GenericRow.prototype, desc);
  return GenericRow as unknown as RowCtor;
}

/**
 * Same shape as {@link genericRowClass}, but generated code with one
 * monomorphic store per column (~5x faster to build). Used from a
 * statement's second execution on; undefined if code generation is
 * disallowed (`--disallow-code-generation-from-strings`).
 */
function compileRowClass(names: readonly string[]): RowCtor | undefined {
  const { own, hidden } = layoutOf(names);
  const lit = (s: string) => JSON.stringify(s);
  let src = '"use strict";\nreturn class Row {\n';
  if (hidden.length > 0) src += "#h;\n";
  src += "constructor(r) {\n";
  for (const i of own) {
    const name = names[i]!;
    src +=
      name === "__proto__"
        ? `Object.defineProperty(this, "__proto__", { value: r[${i}], writable: true, enumerable: true, configurable: true });\n`
        : `this[${lit(name)}] = r[${i}];\n`;
  }
  if (hidden.length > 0) src += `this.#h = [${hidden.map((i) => `r[${i}]`).join(", ")}];\n`;
  src += "}\n";
  for (let i = 0; i < names.length; i++) {
    const slot = hidden.indexOf(i);
    src += `get ${i}() { return ${slot < 0 ? `this[${lit(names[i]!)}]` : `this.#h[${slot}]`}; }\n`;
  }
  src += `get length() { return ${names.length}; }\n};\n`;
  try {
    return new Function(src)() as RowCtor;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// Result sets
// ---------------------------------------------------------------------------

/**
 * `ResultSet` as `@libsql/client` defines it. `columns`/`columnTypes` are
 * shared with the statement cache and therefore frozen.
 */
export class LocalResultSet implements ResultSet {
  constructor(
    public columns: Array<string>,
    public columnTypes: Array<string>,
    public rows: Array<Row>,
    public rowsAffected: number,
    public lastInsertRowid: bigint | undefined,
  ) {}

  toJSON(): unknown {
    return {
      columns: this.columns,
      columnTypes: this.columnTypes,
      rows: this.rows.map((row) => Array.prototype.map.call(row, valueToJson)),
      rowsAffected: this.rowsAffected,
      lastInsertRowid: this.lastInsertRowid !== undefined ? `${this.lastInsertRowid}` : null,
    };
  }
}

function valueToJson(v: unknown): unknown {
  if (typeof v === "bigint") return `${v}`;
  if (v instanceof ArrayBuffer) return Buffer.from(v).toString("base64");
  return v;
}

// ---------------------------------------------------------------------------
// Connection: one native handle + statement cache, fully synchronous
// ---------------------------------------------------------------------------

interface Entry {
  sql: string;
  stmt: Database.Statement;
  /**
   * Second handle for `get()` when the statement is run with both `get()`
   * and `all()` (trailing `LIMIT ?`): libsql 0.5.29's first `get()` after an
   * `all()`/`iterate()` on the same statement returns rows for the
   * *previous* bindings, so one native statement must only ever see one of
   * the two.
   */
  stmtOne: Database.Statement | undefined;
  info: SqlInfo;
  reader: boolean;
  columns: string[];
  columnTypes: string[];
  Row: RowCtor;
  compiled: boolean;
  uses: number;
  /** CLOCK "recently used" bit. */
  used: boolean;
  /**
   * Read statement in intMode "number": run without safeIntegers (BigInt
   * per integer costs ~10%) and re-run with them only if a value beyond
   * ±2^53-1 shows up, which may have lost precision. Re-running is safe
   * because the statement is a plain SELECT.
   */
  fast: boolean;
}

type NormalizedStmt = { sql: string; args: InArgs | undefined };

function normalizeStmt(s: InStatement | [string, InArgs?]): NormalizedStmt {
  if (typeof s === "string") return { sql: s, args: undefined };
  if (Array.isArray(s)) return { sql: s[0], args: s[1] };
  if (s === null || typeof s !== "object" || typeof s.sql !== "string")
    throw new TypeError("Invalid statement: expected a string or { sql, args }");
  return { sql: s.sql, args: s.args };
}

function checkMode(mode: TransactionMode): void {
  if (mode !== "write" && mode !== "read" && mode !== "deferred") {
    throw new RangeError('Unknown transaction mode, supported values are "write", "read" and "deferred"');
  }
}

class Connection {
  readonly db: Database.Database;
  closed = false;
  /** Kind of the statement most recently run (set before it runs). */
  lastKind: SqlKind = "other";
  readonly #cache = new Map<string, Entry>();
  readonly #internal = new Map<string, Database.Statement>();
  readonly #cacheSize: number;
  readonly #intMode: IntMode;

  /** `reopen`: a replacement connection to a file this client already set up (WAL is persistent). */
  constructor(o: ResolvedOptions, reopen = false) {
    this.#cacheSize = o.cacheSize;
    this.#intMode = o.intMode;
    let db: Database.Database;
    try {
      db = new Database(o.path);
    } catch (e) {
      throw toLibsqlError(e);
    }
    this.db = db;
    try {
      // Setup may need the write lock (switching to WAL), once, at open:
      // wait for it natively up to the whole retry budget.
      // A replacement connection skips that: the file is already in WAL mode,
      // and it is opened while another process holds the lock.
      const setupWait = reopen
        ? o.busyTimeoutMs
        : Math.max(o.busyTimeoutMs, o.retry ? Math.ceil(o.retry.maxWaitMs) : 0);
      db.exec(`PRAGMA busy_timeout = ${setupWait}`);
      if (reopen && !o.memory) {
        db.exec("PRAGMA synchronous = NORMAL");
      } else if (!o.memory) {
        const row = db.prepare("PRAGMA journal_mode = WAL").raw(true).get([]) as unknown[] | undefined;
        // WAL can be refused (e.g. some network file systems); then keep the
        // file's mode and its default (FULL) synchronous setting.
        if (String(row?.[0]).toLowerCase() === "wal") db.exec("PRAGMA synchronous = NORMAL");
      }
      db.exec("PRAGMA foreign_keys = ON");
      db.exec(`PRAGMA busy_timeout = ${o.busyTimeoutMs}`);
    } catch (e) {
      try {
        db.close();
      } catch {
        /* ignore */
      }
      throw toLibsqlError(e);
    }
  }

  /** Runs one statement (prepared statement from cache). Throws LibsqlError/RangeError/TypeError. */
  run(sql: string, args: InArgs | undefined): LocalResultSet {
    if (this.closed) throw clientClosedError();
    let e = this.#cache.get(sql);
    if (e === undefined) e = this.#prepare(sql);
    else e.used = true;
    this.lastKind = e.info.kind;
    const bound = args == null ? EMPTY_ARGS : bindArgs(args, e.info);
    try {
      if (!e.reader) {
        const r = e.stmt.run(bound);
        if (e.info.kind === "schema") this.clearCache();
        return new LocalResultSet(EMPTY_STRINGS, EMPTY_STRINGS, [], r.changes, this.#rowid(r.lastInsertRowid));
      }
      return this.#query(e, bound);
    } catch (err) {
      const le = toLibsqlError(err);
      // libsql 0.5 does not reset a statement that failed. Its get() then
      // re-executes with the failed call's bindings on the next call (a
      // FOREIGN KEY failure would repeat for every later caller), so a
      // failed statement is dropped and the next call prepares a fresh one.
      // Not after BUSY: that statement is still active (SQLite could resume
      // it) and the retry loop re-runs this same statement with the same
      // arguments, which resets it; when retries give up, the client
      // replaces the whole connection (see LocalClient.#retrying).
      if (!isBusyError(le)) this.#cache.delete(sql);
      throw le;
    }
  }

  #query(e: Entry, bound: Bound): LocalResultSet {
    const stmt = e.stmt;
    const info = e.info;
    let one = info.maxOneRow === 1;
    if (info.maxOneRow === 2) {
      const v = (bound as unknown[])[info.anonymousParams - 1];
      one = (typeof v === "number" && v >= 0 && v <= 1) || (typeof v === "bigint" && v >= 0n && v <= 1n);
    }
    let raws: unknown[][];
    if (info.maxOneRow === 2) {
      if (one) raws = fetchOne(e.stmtOne ?? this.#prepareOne(e), bound);
      else raws = stmt.all(bound) as unknown[][];
    } else raws = one ? fetchOne(stmt, bound) : (stmt.all(bound) as unknown[][]);
    let rows: Row[] | null = null;
    if (e.fast) rows = this.#buildRows(e, raws, true);
    if (rows === null) {
      if (e.fast) {
        // An integer may have lost precision: read it again exactly, and
        // stay in exact mode for this statement from now on.
        e.fast = false;
        stmt.safeIntegers(true);
        e.stmtOne?.safeIntegers(true);
        const s = one && e.stmtOne !== undefined ? e.stmtOne : stmt;
        raws = one ? fetchOne(s, bound) : (s.all(bound) as unknown[][]);
      }
      rows = this.#buildRows(e, raws, false)!;
    }
    if (info.kind === "write") {
      // RETURNING: all()/get() do not report changes; ask SQLite.
      const r = this.#internalStmt("SELECT changes(), last_insert_rowid()", true).get([]) as [bigint, bigint];
      return new LocalResultSet(e.columns, e.columnTypes, rows, Number(r[0]), r[1]);
    }
    return new LocalResultSet(e.columns, e.columnTypes, rows, 0, undefined);
  }

  /** Converts native rows in place and wraps them; null if `fast` and a possibly imprecise integer was seen. */
  #buildRows(e: Entry, raws: unknown[][], fast: boolean): Row[] | null {
    const n = raws.length;
    const out = new Array<Row>(n);
    if (n === 0) return out;
    // `SELECT *` is re-prepared by SQLite after another connection changed
    // the schema; the width tells us our cached names are stale.
    if (raws[0]!.length !== e.columns.length) this.#describe(e);
    if (!e.compiled && ++e.uses >= 2) {
      e.compiled = true;
      e.Row = compileRowClass(e.columns) ?? e.Row;
    }
    const Ctor = e.Row;
    const width = e.columns.length;
    const intMode = this.#intMode;
    for (let i = 0; i < n; i++) {
      const raw = raws[i]!;
      for (let j = 0; j < width; j++) {
        const v = raw[j];
        if (typeof v === "number") {
          if (fast && (v > MAX_SAFE || v < -MAX_SAFE)) return null;
        } else if (typeof v === "object") {
          if (v !== null) raw[j] = blobToArrayBuffer(v as Uint8Array);
        } else if (typeof v === "bigint") {
          raw[j] = bigintToValue(v, intMode);
        }
      }
      out[i] = new Ctor(raw);
    }
    return out;
  }

  #rowid(id: number | bigint): bigint {
    if (typeof id === "bigint") return id;
    if (id <= MAX_SAFE && id >= -MAX_SAFE) return BigInt(id);
    // The binding reports it as a double; fetch the exact value.
    return (this.#internalStmt("SELECT changes(), last_insert_rowid()", true).get([]) as [bigint, bigint])[1];
  }

  #prepare(sql: string): Entry {
    if (typeof sql !== "string") throw new TypeError("SQL must be a string");
    const info = scanSql(sql);
    if (info.empty) throw new LibsqlError("The SQL string does not contain any statement", "SQL_NO_STATEMENT");
    if (info.multipleStatements) {
      throw new LibsqlError(
        "The SQL string contains more than one statement; use executeMultiple() or batch()",
        "SQL_MANY_STATEMENTS",
      );
    }
    let stmt: Database.Statement;
    try {
      stmt = this.db.prepare(sql);
    } catch (err) {
      throw toLibsqlError(err);
    }
    const e: Entry = {
      sql,
      stmt,
      stmtOne: undefined,
      info,
      reader: stmt.reader,
      columns: EMPTY_STRINGS,
      columnTypes: EMPTY_STRINGS,
      Row: undefined as unknown as RowCtor,
      compiled: false,
      uses: 0,
      used: false,
      fast: false,
    };
    if (e.reader) {
      stmt.raw(true);
      e.fast = this.#intMode === "number" && info.kind === "read";
      if (!e.fast) stmt.safeIntegers(true);
      this.#describe(e);
    }
    if (this.#cacheSize > 0) {
      if (this.#cache.size >= this.#cacheSize) this.#evictOne();
      this.#cache.set(sql, e);
    }
    return e;
  }

  #prepareOne(e: Entry): Database.Statement {
    const s = this.db.prepare(e.sql);
    s.raw(true);
    if (!e.fast) s.safeIntegers(true);
    e.stmtOne = s;
    return s;
  }

  #describe(e: Entry): void {
    const cols = e.stmt.columns();
    e.columns = Object.freeze(cols.map((c) => c.name)) as string[];
    e.columnTypes = Object.freeze(cols.map((c) => c.type ?? "")) as string[];
    e.Row = genericRowClass(e.columns);
    e.compiled = false;
    e.uses = 0;
  }

  /** CLOCK: skip (and clear) recently used entries, evict the first one not used since the last sweep. */
  #evictOne(): void {
    let budget = this.#cache.size + 1;
    for (const [sql, e] of this.#cache) {
      if (e.used && budget-- > 0) {
        e.used = false;
        this.#cache.delete(sql);
        this.#cache.set(sql, e);
        continue;
      }
      this.#cache.delete(sql);
      return;
    }
  }

  /** Drops cached statements (their column metadata may be stale after DDL). */
  clearCache(): void {
    this.#cache.clear();
  }

  get cachedStatements(): number {
    return this.#cache.size;
  }

  #internalStmt(sql: string, reader = false): Database.Statement {
    let s = this.#internal.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      if (reader) s.raw(true).safeIntegers(true);
      this.#internal.set(sql, s);
    }
    return s;
  }

  /** Runs a fixed internal statement; throws LibsqlError. */
  internal(sql: string): void {
    if (this.closed) throw clientClosedError();
    try {
      this.#internalStmt(sql).run([]);
    } catch (e) {
      const le = toLibsqlError(e);
      if (!isBusyError(le)) this.#internal.delete(sql); // see run()
      throw le;
    }
  }

  /**
   * BEGIN for a transaction mode. "read" = BEGIN DEFERRED + PRAGMA
   * query_only, because local libsql accepts writes in
   * `BEGIN TRANSACTION READONLY`; query_only makes writes fail with
   * SQLITE_READONLY like a remote read transaction would.
   */
  begin(mode: TransactionMode): void {
    this.internal(mode === "write" ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
    if (mode === "read") {
      try {
        this.internal("PRAGMA query_only = 1");
      } catch (e) {
        this.rollbackQuietly();
        throw e;
      }
    }
  }

  /** Undoes `begin("read")`'s query_only once the transaction is over. */
  endTransaction(mode: TransactionMode): void {
    if (mode === "read" && !this.closed) {
      try {
        this.internal("PRAGMA query_only = 0");
      } catch {
        /* connection unusable anyway */
      }
    }
  }

  get inTransaction(): boolean {
    return !this.closed && this.db.inTransaction;
  }

  rollbackQuietly(): void {
    try {
      if (this.inTransaction) this.internal("ROLLBACK");
    } catch {
      /* nothing more we can do */
    }
  }

  /** The statements of an atomic batch: BEGIN, all, COMMIT; ROLLBACK and LibsqlBatchError(index) on failure. */
  batch(stmts: NormalizedStmt[], mode: TransactionMode): ResultSet[] {
    this.begin(mode);
    try {
      const out: ResultSet[] = new Array(stmts.length);
      for (let i = 0; i < stmts.length; i++) {
        const s = stmts[i]!;
        try {
          out[i] = this.run(s.sql, s.args);
          if (this.lastKind === "transaction" && !this.inTransaction && i < stmts.length - 1) {
            throw new LibsqlBatchError(
              "The transaction was ended by a statement of the batch",
              i + 1,
              "TRANSACTION_CLOSED",
            );
          }
        } catch (e) {
          throw toBatchError(e, i);
        }
      }
      if (this.inTransaction) this.internal("COMMIT");
      return out;
    } catch (e) {
      this.rollbackQuietly();
      throw e;
    } finally {
      this.endTransaction(mode);
    }
  }

  exec(sql: string): void {
    if (this.closed) throw clientClosedError();
    try {
      this.db.exec(sql);
    } catch (e) {
      throw toLibsqlError(e);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#cache.clear();
    this.#internal.clear();
    this.db.close();
  }
}

/** Only for statements that are never run with all()/iterate() (see Entry.stmtOne). */
function fetchOne(stmt: Database.Statement, bound: Bound): unknown[][] {
  const r = stmt.get(bound) as unknown[] | undefined;
  return r === undefined ? [] : [r];
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

interface Sleeper {
  timer: ReturnType<typeof setTimeout>;
  resolve: () => void;
}

/**
 * The client. All methods return promises (the work itself is synchronous
 * and done on the calling tick when the connection is free).
 */
/** Longest stretch of back-to-back synchronous statements before the client lets the event loop turn. */
const YIELD_AFTER_MS = 8;

export class LocalClient implements Client {
  closed = false;
  readonly protocol = "file";
  readonly #o: ResolvedOptions;
  #conn: Connection;
  #mutex = new AsyncMutex();
  #tx: LocalTransaction | null = null;
  readonly #sleepers = new Set<Sleeper>();
  /** A BEGIN issued through execute() (not transaction()) is open: no busy retries then. */
  #manualTx = false;

  constructor(options: LocalClientOptions) {
    this.#o = resolveOptions(options);
    this.#conn = new Connection(this.#o);
  }

  /** The options in effect (defaults filled in). */
  get options(): Readonly<{
    path: string;
    busyTimeoutMs: number;
    busyRetry: Required<BusyRetryOptions> | false;
    statementCacheSize: number;
    intMode: IntMode;
  }> {
    const o = this.#o;
    return {
      path: o.path,
      busyTimeoutMs: o.busyTimeoutMs,
      busyRetry: o.retry ?? false,
      statementCacheSize: o.cacheSize,
      intMode: o.intMode,
    };
  }

  /** True while a transaction, batch or busy retry holds the connection. */
  get busy(): boolean {
    return this.#mutex.locked;
  }

  execute(stmt: InStatement): Promise<ResultSet>;
  execute(sql: string, args?: InArgs): Promise<ResultSet>;
  execute(stmtOrSql: InStatement, args?: InArgs): Promise<ResultSet> {
    let sql: string;
    let a: InArgs | undefined;
    if (typeof stmtOrSql === "string") {
      sql = stmtOrSql;
      a = args;
    } else {
      sql = stmtOrSql.sql;
      a = stmtOrSql.args;
    }
    if (this.#mutex.locked || this.closed) return this.#executeQueued(sql, a);
    if (this.#overBudget()) return this.#afterYield().then(() => this.execute(sql, a));
    // Fast path: connection free, run now on this tick.
    const conn = this.#conn;
    const retry = !this.#manualTx;
    try {
      const rs = conn.run(sql, a);
      if (conn.lastKind === "transaction") this.#manualTx = conn.inTransaction;
      return Promise.resolve(rs);
    } catch (e) {
      if (conn.lastKind === "transaction") this.#manualTx = conn.inTransaction;
      if (retry && this.#o.retry !== null && isBusyError(e)) return this.#retryExecute(conn, sql, a, e);
      return Promise.reject(e);
    }
  }

  #runTracked(conn: Connection, sql: string, a: InArgs | undefined): ResultSet {
    try {
      return conn.run(sql, a);
    } finally {
      if (conn.lastKind === "transaction") this.#manualTx = conn.inTransaction;
    }
  }

  async #executeQueued(sql: string, a: InArgs | undefined): Promise<ResultSet> {
    const m = await this.#lock();
    try {
      const conn = this.#conn;
      const retry = !this.#manualTx;
      return await this.#retrying(conn, () => this.#runTracked(conn, sql, a), retry);
    } finally {
      m.release();
    }
  }

  async #retryExecute(conn: Connection, sql: string, a: InArgs | undefined, first: unknown): Promise<ResultSet> {
    // Hold the connection while retrying so later calls stay in call order.
    const m = await this.#lock();
    try {
      return await this.#retrying(conn, () => this.#runTracked(conn, sql, a), true, first);
    } finally {
      m.release();
    }
  }

  /**
   * Statements run synchronously on this thread, and a burst of calls (500
   * concurrent requests, a Promise.all over many rows) resolves entirely in
   * microtasks: timers, I/O and other requests would starve until it ends.
   * So a burst is measured from its first call, and once it has run for
   * YIELD_AFTER_MS, further calls first wait for a macrotask turn
   * (setImmediate) — the event loop runs its timers and I/O, then the
   * deferred calls continue in call order. The cost is one hop per budget.
   */
  #overBudget(): boolean {
    const now = performance.now();
    if (this.#burstStart < 0) {
      this.#burstStart = now;
      setImmediate(this.#endBurst);
      return false;
    }
    return now - this.#burstStart > YIELD_AFTER_MS;
  }

  #burstStart = -1;
  readonly #endBurst = () => {
    this.#burstStart = -1;
  };

  #afterYield(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }

  /** Waits for the connection (FIFO). Returns the mutex to release (it is replaced on reconnect). */
  async #lock(): Promise<AsyncMutex> {
    if (this.closed) throw clientClosedError();
    const m = this.#mutex;
    const t = this.#o.lockTimeoutMs;
    await m.acquire(
      t,
      () =>
        new LibsqlError(
          `Waited more than ${t} ms for the connection held by a transaction or batch of this client (calling the client instead of the transaction object inside a transaction deadlocks)`,
          "CLIENT_LOCK_TIMEOUT",
        ),
    );
    // Hand-offs between waiters are promise resolutions, so a queue of
    // transactions would otherwise run as one long microtask chain.
    if (this.#overBudget()) {
      await this.#afterYield();
      if (this.closed) {
        m.release();
        throw clientClosedError();
      }
    }
    return m;
  }

  /**
   * Runs `op`; while it fails with SQLITE_BUSY/SQLITE_LOCKED, waits
   * (exponential backoff with jitter, on a timer — the event loop keeps
   * running) and runs it again, until `busyRetry.maxWaitMs` has passed since
   * the first failure. Only for operations that wrote nothing when they
   * failed: an autocommit statement, a BEGIN, a whole batch.
   */
  async #retrying<T>(conn: Connection, op: () => T, retry = true, first?: unknown): Promise<T> {
    const cfg = this.#o.retry;
    let err = first;
    if (err === undefined) {
      try {
        return op();
      } catch (e) {
        if (!retry || cfg === null || !isBusyError(e)) throw e;
        err = e;
      }
    }
    if (cfg === null) throw err;
    const start = performance.now();
    for (let attempt = 0; ; attempt++) {
      const left = cfg.maxWaitMs - (performance.now() - start);
      if (left <= 0) {
        this.#replaceBusyConnection(conn);
        throw err;
      }
      const cap = Math.min(cfg.maxDelayMs, cfg.initialDelayMs * 2 ** attempt);
      await this.#sleep(Math.min(left, cap / 2 + (Math.random() * cap) / 2));
      if (conn.closed) throw clientClosedError();
      try {
        return op();
      } catch (e) {
        if (!isBusyError(e)) throw e;
        err = e;
      }
    }
  }

  /**
   * After retries gave up on SQLITE_BUSY, the statement that failed is still
   * active inside libsql (it cannot be reset without running it), and an
   * active statement makes every later COMMIT on the connection fail with
   * "SQL statements in progress". Swap in a fresh connection; the old one is
   * closed (libsql frees it once its statements are collected). Files only:
   * a `:memory:` database has no other writer to be busy with.
   */
  #replaceBusyConnection(conn: Connection): void {
    if (this.#o.memory || conn !== this.#conn || conn.closed || conn.inTransaction) return;
    try {
      this.#conn = new Connection(this.#o, true);
    } catch {
      return; // keep the old one; the next call reports what is wrong
    }
    try {
      conn.close();
    } catch {
      /* the old connection is unusable anyway */
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const s: Sleeper = {
        timer: setTimeout(() => {
          this.#sleepers.delete(s);
          resolve();
        }, ms),
        resolve,
      };
      this.#sleepers.add(s);
    });
  }

  async batch(stmts: Array<InStatement | [string, InArgs?]>, mode: TransactionMode = "deferred"): Promise<ResultSet[]> {
    checkMode(mode);
    const list = stmts.map(normalizeStmt);
    const m = await this.#lock();
    try {
      const conn = this.#conn;
      // A failed batch was rolled back, so replaying it whole is safe.
      return await this.#retrying(conn, () => conn.batch(list, mode), !this.#manualTx);
    } finally {
      m.release();
    }
  }

  /** Like batch("deferred") with foreign keys off (around the transaction, where the PRAGMA has effect). */
  async migrate(stmts: InStatement[]): Promise<ResultSet[]> {
    const list = stmts.map(normalizeStmt);
    const m = await this.#lock();
    const conn = this.#conn;
    try {
      conn.internal("PRAGMA foreign_keys = OFF");
      return await this.#retrying(conn, () => conn.batch(list, "deferred"), !this.#manualTx);
    } finally {
      try {
        if (!conn.closed) conn.internal("PRAGMA foreign_keys = ON");
      } catch {
        /* ignore */
      }
      conn.clearCache();
      m.release();
    }
  }

  /**
   * Starts an interactive transaction; every other call on this client
   * waits until it is committed, rolled back or closed. Default mode
   * "write" (BEGIN IMMEDIATE), as `@libsql/client` (Drizzle passes none).
   */
  async transaction(mode: TransactionMode = "write"): Promise<Transaction> {
    checkMode(mode);
    const m = await this.#lock();
    const conn = this.#conn;
    try {
      await this.#retrying(conn, () => conn.begin(mode), !this.#manualTx);
    } catch (e) {
      m.release();
      throw e;
    }
    const tx: LocalTransaction = new LocalTransaction(conn, mode, () => {
      if (this.#tx === tx) this.#tx = null;
      m.release();
    });
    this.#tx = tx;
    return tx;
  }

  /**
   * Runs a script (no busy retries: part of it may already have been
   * applied). As in `@libsql/client`, a transaction the script leaves open
   * is rolled back.
   */
  async executeMultiple(sql: string): Promise<void> {
    const m = await this.#lock();
    const conn = this.#conn;
    try {
      conn.exec(sql);
    } finally {
      conn.rollbackQuietly();
      this.#manualTx = false;
      conn.clearCache();
      m.release();
    }
  }

  async sync(): Promise<Replicated> {
    throw new LibsqlError("sync() is not supported by the local client (no embedded replica)", "SYNC_NOT_SUPPORTED");
  }

  /**
   * Closes the connection; pending and later calls fail with CLIENT_CLOSED,
   * an open transaction is rolled back. Note: libsql offers no way to
   * finalize a prepared statement, and SQLite keeps a connection open while
   * it has statements; the cached ones are dropped here and the file handle
   * (and its shared WAL lock) goes away when they are garbage-collected.
   * Other connections can read and write meanwhile; only exclusive changes
   * (e.g. leaving WAL mode) would see SQLITE_BUSY until then.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#shutdown(clientClosedError());
  }

  #shutdown(reason: unknown): void {
    this.#mutex.close(reason);
    const tx = this.#tx;
    this.#tx = null;
    tx?.abandon();
    for (const s of this.#sleepers) {
      clearTimeout(s.timer);
      s.resolve();
    }
    this.#sleepers.clear();
    this.#manualTx = false;
    this.#conn.close();
  }

  /** Closes (if open) and opens a new connection. A `:memory:` database starts empty again. */
  reconnect(): void {
    if (!this.closed) {
      this.closed = true;
      this.#shutdown(new LibsqlError("The client was reconnected", "CLIENT_CLOSED"));
    }
    this.#conn = new Connection(this.#o);
    this.#mutex = new AsyncMutex();
    this.closed = false;
  }

  /** @internal Number of cached prepared statements (tests). */
  get cachedStatements(): number {
    return this.#conn.cachedStatements;
  }
}

/**
 * Interactive transaction on the client's connection. Its calls never
 * wait for the client's mutex (the transaction owns it) and are never
 * busy-retried ("write" already holds the write lock; for "deferred" a
 * retry could replay a statement after a partial transaction).
 */
class LocalTransaction implements Transaction {
  readonly #conn: Connection;
  readonly #mode: TransactionMode;
  readonly #onFinish: () => void;
  #done = false;

  constructor(conn: Connection, mode: TransactionMode, onFinish: () => void) {
    this.#conn = conn;
    this.#mode = mode;
    this.#onFinish = onFinish;
  }

  get closed(): boolean {
    return this.#done;
  }

  #closedError(): LibsqlError {
    return this.#conn.closed ? clientClosedError() : txClosedError();
  }

  execute(stmt: InStatement): Promise<ResultSet>;
  execute(sql: string, args?: InArgs): Promise<ResultSet>;
  execute(stmtOrSql: InStatement, args?: InArgs): Promise<ResultSet> {
    if (this.#done) return Promise.reject(this.#closedError());
    const conn = this.#conn;
    try {
      const rs = typeof stmtOrSql === "string" ? conn.run(stmtOrSql, args) : conn.run(stmtOrSql.sql, stmtOrSql.args);
      if (conn.lastKind === "transaction") this.#checkEnded();
      return Promise.resolve(rs);
    } catch (e) {
      this.#checkEnded();
      return Promise.reject(e);
    }
  }

  async batch(stmts: Array<InStatement | [string, InArgs?]>): Promise<ResultSet[]> {
    const list = stmts.map(normalizeStmt);
    const out: ResultSet[] = [];
    for (let i = 0; i < list.length; i++) {
      if (this.#done) throw toBatchError(this.#closedError(), i);
      try {
        out.push(this.#conn.run(list[i]!.sql, list[i]!.args));
        if (this.#conn.lastKind === "transaction") this.#checkEnded();
      } catch (e) {
        this.#checkEnded();
        throw toBatchError(e, i);
      }
    }
    return out;
  }

  async executeMultiple(sql: string): Promise<void> {
    if (this.#done) throw this.#closedError();
    try {
      this.#conn.exec(sql);
    } finally {
      this.#conn.clearCache();
      this.#checkEnded();
    }
  }

  async commit(): Promise<void> {
    if (this.#done) throw this.#closedError();
    try {
      this.#conn.internal("COMMIT");
    } finally {
      // A failed COMMIT (e.g. deferred FK violation, SQLITE_BUSY) leaves the
      // transaction open: the caller may retry or roll back.
      this.#checkEnded();
    }
  }

  /** No-op if already closed (so `catch { await tx.rollback() }` cannot mask the original error). */
  async rollback(): Promise<void> {
    if (this.#done) return;
    try {
      if (this.#conn.inTransaction) this.#conn.internal("ROLLBACK");
    } finally {
      this.#finish();
    }
  }

  /** Rolls back if still open; never throws (meant for `finally`). */
  close(): void {
    if (this.#done) return;
    this.#conn.rollbackQuietly();
    this.#finish();
  }

  /** @internal The client was closed under us: the connection (and its transaction) is gone. */
  abandon(): void {
    this.#done = true;
  }

  #checkEnded(): void {
    if (!this.#done && !this.#conn.inTransaction) this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#conn.endTransaction(this.#mode);
    this.#onFinish();
  }
}

/**
 * Opens a local database (`:memory:` or a file path) as a `Client` for
 * Drizzle (`drizzle(openLocalClient({ path }))`). Synchronous: the
 * connection is opened and configured (WAL + synchronous=NORMAL for files,
 * foreign_keys=ON, busy_timeout) before it returns; at open only, the
 * native wait for a lock may take up to `busyRetry.maxWaitMs`.
 */
export function openLocalClient(options: LocalClientOptions): LocalClient {
  return new LocalClient(options);
}
