/**
 * Typed errors. Every error the package throws is an `RFDatabaseError`; driver
 * errors are mapped onto the subclasses here (constraint → ValidationError or
 * NotFoundError, busy → DatabaseBusyError, …) with the original kept as
 * `cause`, and any auth token scrubbed from messages and from the cause chain.
 */

export type RFErrorCode =
  | "VALIDATION"
  | "NOT_FOUND"
  | "INVALID_TRANSITION"
  | "LEASE_LOST"
  | "SCHEMA_VERSION"
  | "CONFIG"
  | "AUTH"
  | "BUSY"
  | "TRANSACTION_EXPIRED"
  | "CONNECTION"
  | "STORAGE"
  | "IMPORT"
  | "CURSOR_EXPIRED"
  | "DRIVER";

export class RFDatabaseError extends Error {
  readonly code: RFErrorCode;
  constructor(message: string, options?: { cause?: unknown; code?: RFErrorCode }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options?.code ?? "DRIVER";
  }
}

/**
 * The base of an error class that differs from {@link RFDatabaseError} only by
 * its code: `new DatabaseBusyError(message, { cause })`.
 */
function withCode(code: RFErrorCode) {
  return class extends RFDatabaseError {
    constructor(message: string, options?: { cause?: unknown }) {
      super(message, { cause: options?.cause, code });
    }
  };
}

/** A bad argument (wrong type, bad status, non-JSON value, negative count …) or a constraint the database refused. */
export class ValidationError extends RFDatabaseError {
  /** The argument or column at fault, when known. */
  readonly field: string | undefined;
  constructor(message: string, options?: { field?: string; cause?: unknown }) {
    super(message, { cause: options?.cause, code: "VALIDATION" });
    this.field = options?.field;
  }
}

/** The row addressed by id does not exist (or a foreign key points at nothing). */
export class NotFoundError extends RFDatabaseError {
  constructor(
    readonly entity: string,
    readonly id: number | string | undefined,
    options?: { cause?: unknown; message?: string },
  ) {
    super(options?.message ?? `${entity} ${id === undefined ? "" : `${String(id)} `}not found`.replace("  ", " "), {
      cause: options?.cause,
      code: "NOT_FOUND",
    });
  }
}

/**
 * A status change (start, complete, fail, setStatus, a named move …) from a
 * state that does not allow it; nothing was written. Also what a database
 * trigger's refusal becomes (raw SQL, `db.batch`), where `id`, `from` and
 * `to` may be unknown (`undefined`, `"?"`).
 */
export class InvalidTransitionError extends RFDatabaseError {
  constructor(
    readonly entity: string,
    readonly id: number | undefined,
    readonly from: string,
    readonly to: string,
    options?: { message?: string; cause?: unknown; code?: "INVALID_TRANSITION" | "LEASE_LOST" },
  ) {
    super(options?.message ?? `cannot move ${entity} ${id} from "${from}" to "${to}"`, {
      cause: options?.cause,
      code: options?.code ?? "INVALID_TRANSITION",
    });
  }
}

/**
 * The caller no longer holds the lease it claimed (it ended and the row was
 * handed to someone else, re-queued, or finished by another holder); nothing
 * was written. `holder` is who holds it now (null: nobody), `caller` who asked.
 */
export class LeaseLostError extends InvalidTransitionError {
  readonly holder: number | string | null;
  readonly caller: number | string | null;
  constructor(
    entity: string,
    id: number,
    from: string,
    to: string,
    options: { holder?: number | string | null; caller?: number | string | null; message?: string } = {},
  ) {
    const holder = options.holder ?? null;
    const caller = options.caller ?? null;
    const now = holder === null ? "nobody holds it now" : `${holder} holds it now`;
    super(entity, id, from, to, {
      code: "LEASE_LOST",
      message:
        options.message ??
        `${entity} ${id} is no longer leased to ${caller ?? "the caller"} (${now}; status "${from}"), so it cannot move to "${to}"; nothing was written`,
    });
    this.holder = holder;
    this.caller = caller;
  }
}

/**
 * The database schema does not match the package's migrations: behind, ahead,
 * diverged, or `legacy` — written by RapidFire's Python module (move it over
 * with `rf-db import`; nothing is written to it) — or `unrecorded`: the
 * package's tables without their migration records (`drizzle-kit push`; run
 * `rf-db migrate --baseline`).
 */
export class SchemaVersionError extends RFDatabaseError {
  constructor(
    message: string,
    readonly state: "behind" | "ahead" | "diverged" | "legacy" | "unrecorded",
    options?: { cause?: unknown },
  ) {
    super(message, { cause: options?.cause, code: "SCHEMA_VERSION" });
  }
}

/** Bad configuration: an unsupported URL, a `file:` URL on the web entry point, a rejected auth token … */
export class ConfigError extends RFDatabaseError {
  constructor(message: string, options?: { cause?: unknown; code?: "CONFIG" | "AUTH" }) {
    super(message, { cause: options?.cause, code: options?.code ?? "CONFIG" });
  }
}

/** The server refused the credentials (missing, malformed, expired or wrong token). */
export class AuthError extends ConfigError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { cause: options?.cause, code: "AUTH" });
  }
}

/** Another writer held the database lock for longer than the busy timeout and retries; nothing was written. */
export class DatabaseBusyError extends withCode("BUSY") {}

/**
 * A remote interactive transaction was ended by the server (held open too long,
 * idle stream expired, or the server restarted — "invalid baton"); it was
 * rolled back, so nothing of it was written.
 */
export class TransactionExpiredError extends withCode("TRANSACTION_EXPIRED") {}

/** The server could not be reached or the connection broke. */
export class ConnectionError extends withCode("CONNECTION") {}

/** What went wrong with the storage, as `StorageError.reason`. */
export type StorageReason = "full" | "io" | "read-only" | "cannot-open" | "not-a-database" | "corrupt";

/**
 * The storage under the database failed or refused: disk or file full, I/O
 * error, read-only file or directory, file that cannot be opened, not a
 * database (or encrypted with another key), corrupt. The failed call wrote
 * nothing. The message names the file (or the server's URL, without
 * credentials) and the reason.
 */
export class StorageError extends RFDatabaseError {
  constructor(
    message: string,
    /** Machine-readable reason. */
    readonly reason: StorageReason,
    /** The database file's path (or the remote URL without credentials), when known. */
    readonly path: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, { cause: options?.cause, code: "STORAGE" });
  }
}

/** Why `rf-db import` / `importLegacy` refused a source. */
export type LegacyImportReason =
  | "missing" // no such file
  | "empty" // a 0-byte file, or a database without tables
  | "not-sqlite" // not a (plain, unencrypted) SQLite database
  | "not-legacy" // a SQLite database, but not one RapidFire's Python module wrote (e.g. already this package's)
  | "unreadable" // SQLite could not read it (locked, corrupt, a hot journal that needs a rollback …)
  | "bad-row" // a row the import cannot carry over (an unknown status, an unreadable time …)
  | "changed-since-import"; // the same Python database was imported before and has changed since

/**
 * A database written by RapidFire's Python module could not be imported; the
 * message names the file (and the row, for `bad-row`). Nothing was written to
 * the target, and the source is never written to.
 */
export class LegacyImportError extends RFDatabaseError {
  constructor(
    message: string,
    readonly reason: LegacyImportReason,
    options?: { cause?: unknown },
  ) {
    super(message, { cause: options?.cause, code: "IMPORT" });
  }
}

/**
 * A change-feed cursor the log can no longer serve exactly: deletes after it
 * were pruned (`db.changes.prune`), or it is ahead of every change the
 * database ever logged (it belongs to another database). Take a new
 * `db.snapshot(…)` and continue from its `cursor`.
 */
export class CursorExpiredError extends RFDatabaseError {
  constructor(
    /** The cursor that was passed. */
    readonly cursor: number,
    /** Changes up to here may be gone (`"ahead"`: the log's latest seq instead). */
    readonly horizon: number,
    readonly reason: "pruned" | "ahead",
  ) {
    super(
      reason === "pruned"
        ? `change-feed cursor ${cursor} has expired: deletes up to seq ${horizon} were pruned from the change log; take a new snapshot and continue from its cursor`
        : `change-feed cursor ${cursor} is ahead of the change log (latest seq ${horizon}): it belongs to another database; take a new snapshot and continue from its cursor`,
      { code: "CURSOR_EXPIRED" },
    );
  }
}
