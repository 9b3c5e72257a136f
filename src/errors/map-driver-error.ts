import {
  AuthError,
  ConfigError,
  ConnectionError,
  DatabaseBusyError,
  InvalidTransitionError,
  NotFoundError,
  RFDatabaseError,
  TransactionExpiredError,
  ValidationError,
} from "./classes";
import { causeChain, chainMentions, type Facts, gather, lastMessage, scrub, scrubChain } from "./chain";
import { storageError, storageReason } from "./storage";

/**
 * Turns whatever a driver threw (a LibsqlError, a hrana error, Drizzle's
 * DrizzleQueryError wrapping either, a fetch failure) into one of the typed
 * errors. The same condition gets the same class on every backend: local
 * libSQL reports `SQLITE_CONSTRAINT_CHECK` while sqld may send a bare
 * `SQLITE_CONSTRAINT` with the detail only in the message, so codes *and*
 * messages of the whole cause chain are looked at.
 */
export interface ErrorContext {
  /**
   * The secret to scrub from every message (the auth token). Pass the key even
   * when no token is configured (`{ secret: undefined }`): a 401 then says
   * "no auth token was given" instead of listing every possible cause.
   */
  secret?: string | undefined;
  /**
   * The database, as a `StorageError` names it: the file's path, or the
   * remote URL without credentials. Never a secret.
   */
  database?: string | undefined;
  /** What a foreign-key failure refers to, e.g. `{ entity: "experiment", id: 7 }`. */
  foreignKey?: { entity: string; id: number | undefined };
}

const has = (f: Facts, ...needles: string[]) =>
  needles.some((n) => f.codes.some((c) => c.includes(n)) || f.text.includes(n));

/** Maps `err` to an `RFDatabaseError`, keeping it (scrubbed if needed) as the cause. */
export function mapDriverError(err: unknown, ctx: ErrorContext = {}): RFDatabaseError {
  if (err instanceof RFDatabaseError) return err;
  // A typed error the package's own driver code threw (a request timeout, a call ended by close()),
  // wrapped on the way up by the client or Drizzle: the caller gets it as it was made.
  const typed = causeChain(err).find((link): link is RFDatabaseError => link instanceof RFDatabaseError);
  if (typed) return typed;
  const secret = ctx.secret;
  const cause = secret && chainMentions(err, secret) ? scrubChain(err, secret) : err;
  const f = gather(err);
  const detail = scrub(lastMessage(err), secret);

  if (has(f, "FOREIGN KEY constraint failed", "SQLITE_CONSTRAINT_FOREIGNKEY")) {
    const fk = ctx.foreignKey;
    return new NotFoundError(fk?.entity ?? "referenced row", fk?.id, {
      cause,
      message: fk
        ? `${fk.entity} ${fk.id ?? ""} not found (foreign key)`.replace("  ", " ")
        : `a referenced row does not exist (foreign key): ${detail}`,
    });
  }
  const refused = refusedTransition(f.text, ctx, cause);
  if (refused) return refused;
  if (has(f, "SQLITE_CONSTRAINT", "constraint failed")) {
    return new ValidationError(`the database refused the value: ${detail}`, { cause });
  }
  if (has(f, "SQLITE_TOOBIG", "string or blob too big")) {
    return new ValidationError(
      `a value is larger than the database accepts (string or blob too big; sqld's limit is 5,000,000 bytes per value and per row); nothing was written: ${detail}`,
      { cause },
    );
  }
  const storage = storageReason(f);
  if (storage !== undefined) return storageError(storage, ctx.database, lastMessage(err), cause, secret);
  if (has(f, "SQLITE_BUSY", "SQLITE_LOCKED", "database is locked")) {
    return new DatabaseBusyError(
      `the database was busy (locked by another writer) and the call gave up; nothing was written: ${detail}`,
      {
        cause,
      },
    );
  }
  // Remote (sqld / Turso over Hrana). @libsql/client reports every HTTP
  // failure as LibsqlError "SERVER_ERROR: Server returned HTTP status N"; the
  // status is on the cause (HttpServerError.status), the server's own words
  // are dropped. Verified against sqld 0.24.32 (tests/sqld-harness.test.ts).
  if (f.status === 403 || has(f, "HTTP status 403")) {
    return new AuthError(
      `the server refused the operation for this auth token (HTTP 403: the token does not allow it — e.g. a read-only token used to write); nothing was written`,
      { cause },
    );
  }
  if (f.status === 401 || has(f, "HTTP status 401", "Unauthorized", "AUTH_", "JWT", "jwt")) {
    return new AuthError(`the server refused the credentials (HTTP 401): ${describeToken(ctx)}`, { cause });
  }
  if (has(f, "TRANSACTION_TIMEOUT", "Transaction timed-out", "Transaction timed out", "transaction timed out")) {
    return new TransactionExpiredError(
      `the server ended the transaction: it held the write lock too long while another writer waited (sqld allows ~5 s), ` +
        `so it was rolled back and nothing of it was written. Keep remote transactions short, or use db.batch: ${detail}`,
      { cause },
    );
  }
  if (has(f, "STREAM_EXPIRED", "stream expired", "STREAM_NOT_FOUND")) {
    return new TransactionExpiredError(
      `the server ended the transaction: its stream was idle too long (sqld expires it after ~10 s without a request), ` +
        `so it was rolled back and nothing of it was written: ${detail}`,
      { cause },
    );
  }
  if (has(f, "invalid baton")) {
    return new TransactionExpiredError(
      `the server no longer knows this transaction ("invalid baton": it restarted, or another server instance answered), ` +
        `so it was rolled back and nothing of it was written: ${detail}`,
      { cause },
    );
  }
  if (f.status === 404) {
    return new ConfigError(
      `the server has no database at this URL (HTTP 404): check the database URL (or namespace): ${detail}`,
      {
        cause,
      },
    );
  }
  if (has(f, "CLIENT_CLOSED")) {
    return new ConnectionError(
      "the database was closed (a call still queued or in flight when it closed, or made after): the call was not run",
      { cause },
    );
  }
  if (
    has(
      f,
      "ECONNREFUSED",
      "ECONNRESET",
      "ETIMEDOUT",
      "EHOSTUNREACH",
      "ENOTFOUND",
      "EAI_AGAIN",
      "fetch failed",
      "socket hang up",
    ) ||
    has(f, "Network connection lost", "HRANA_WEBSOCKET_ERROR", "SERVER_ERROR")
  ) {
    return new ConnectionError(`could not reach the database server, or the connection broke: ${detail}`, { cause });
  }
  return new RFDatabaseError(`database error: ${detail}`, { cause });
}

/**
 * The status-transition triggers (src/schema/transitions.ts renders them)
 * abort with a fixed message: RAISE takes only a literal, so the entity is
 * in the text and the row, its status and the target are not. Kept in step
 * with the schema's constants by tests/transitions.test.ts (errors/ imports
 * nothing of the schema).
 */
const TRIGGER_REFUSAL = /rf-inferno-db: refused status change of an? ([A-Za-z ]+?) \(allowed: ([^)]*)\)/;
const DELETED_PIPELINE = "rf-inferno-db: refused IC operation on a deleted pipeline";

function refusedTransition(text: string, ctx: ErrorContext, cause: unknown): InvalidTransitionError | undefined {
  const m = TRIGGER_REFUSAL.exec(text);
  if (m) {
    const entity = m[1]!;
    return new InvalidTransitionError(entity, undefined, "?", "?", {
      cause,
      message: `the database refused a status change of ${entity === "IC operation" ? "an" : /^[aeiou]/.test(entity) ? "an" : "a"} ${entity} that its transition table does not allow (allowed: ${m[2]}); nothing was written`,
    });
  }
  if (text.includes(DELETED_PIPELINE)) {
    const id = ctx.foreignKey?.entity === "pipeline" ? ctx.foreignKey.id : undefined;
    return new InvalidTransitionError("pipeline", id, "deleted", "IC operation", {
      cause,
      message: `pipeline ${id ?? ""} is deleted: it accepts no IC operation; nothing was written`.replace("  ", " "),
    });
  }
  return undefined;
}

/**
 * Why a 401 probably happened, judged from the token the caller configured —
 * without ever quoting it. `ctx.secret` present-but-undefined means "no token
 * was configured"; an absent key means the caller does not know.
 */
function describeToken(ctx: ErrorContext): string {
  if (!("secret" in ctx)) return "the auth token is missing, expired, malformed or signed by the wrong key";
  const token = ctx.secret;
  if (!token) return "no auth token was given; pass { authToken } or set RF_DB_AUTH_TOKEN";
  const exp = jwtExpiry(token);
  if (exp !== undefined && exp * 1000 <= Date.now()) {
    return `the auth token expired at ${new Date(exp * 1000).toISOString()}; create a new one`;
  }
  return "the auth token was rejected (signed by another key, malformed, or revoked); check RF_DB_AUTH_TOKEN / authToken";
}

/** The `exp` claim of a JWT (seconds), read without verifying it; undefined when not a JWT. */
function jwtExpiry(token: string): number | undefined {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const payload = JSON.parse(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4))) as { exp?: unknown };
    return typeof payload.exp === "number" ? payload.exp : undefined;
  } catch {
    return undefined;
  }
}
