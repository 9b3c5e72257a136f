import type { Client } from "@libsql/client";
import { getTableName, is } from "drizzle-orm";
import { SQLiteTable } from "drizzle-orm/sqlite-core";
import { gather, mapDriverError, SchemaVersionError } from "./errors";
import { assertNotLegacy, LEGACY_GUARD_SQL } from "./legacy/schema";
import { MIGRATIONS } from "./migrations/bundle";
import type { Migration } from "./migrations/types";
import * as schema from "./schema";

export type { Migration } from "./migrations/types";
export { MIGRATIONS } from "./migrations/bundle";

/**
 * Applying and checking the embedded drizzle-kit migrations.
 *
 * Bookkeeping is drizzle's own: the `__drizzle_migrations` table, one row per
 * migration with the file's sha256 and the journal's `when` as `created_at`,
 * and "pending" meaning newer than the newest recorded row. So `rf-db migrate`
 * and `drizzle-kit migrate` can be used interchangeably on one database.
 *
 * Drizzle's migrator takes no lock: two processes opening a new file at once
 * both see nothing applied and both run `CREATE TABLE` (one fails with "table
 * already exists"). Here each migration's batch starts by inserting its own
 * bookkeeping row under a UNIQUE index on `hash`; the batch is one transaction,
 * so of two racing migrators exactly one commits, the other's batch fails on
 * that unique key, rolls back whole, re-reads the state and finds nothing left
 * to do. The same works on a local file and through sqld, with no lock table.
 */

const TABLE = "__drizzle_migrations";

/**
 * `unrecorded`: the package's tables exist but no migration is recorded — a
 * database made by `drizzle-kit push` (or a copy without its bookkeeping).
 * `rf-db migrate --baseline` verifies the tables and records the migrations.
 */
export type SchemaStateKind = "empty" | "behind" | "current" | "ahead" | "diverged" | "unrecorded";

export interface SchemaState {
  state: SchemaStateKind;
  /** Rows of `__drizzle_migrations`, oldest first. */
  applied: { hash: string; createdAt: number }[];
  /** Package migrations not yet applied, oldest first. */
  pending: Migration[];
  /** The newest migration this package knows. */
  latest: Migration | undefined;
}

export async function readSchemaState(
  client: Client,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<SchemaState> {
  const { applied, unrecorded } = await readRecords(client);
  const latest = migrations[migrations.length - 1];
  const last = applied.length ? applied[applied.length - 1]!.createdAt : undefined;
  const pending = migrations.filter((m) => last === undefined || m.when > last);
  const byWhen = new Map(migrations.map((m) => [m.when, m.hash]));
  let state: SchemaStateKind;
  if (applied.some((a) => byWhen.has(a.createdAt) && byWhen.get(a.createdAt) !== a.hash)) state = "diverged";
  else if (latest && last !== undefined && last > latest.when) state = "ahead";
  else if (unrecorded) state = "unrecorded";
  else if (applied.length === 0) state = migrations.length ? "empty" : "current";
  else state = pending.length ? "behind" : "current";
  return { state, applied, pending, latest };
}

type Applied = { hash: string; createdAt: number }[];

/**
 * The migration records, and whether the package's tables exist without any
 * (`unrecorded`) — in one statement, so both come from one snapshot: the
 * migrator commits a migration's tables and its record together, so what is
 * seen here is never half of another process's migration.
 */
async function readRecords(client: Client): Promise<{ applied: Applied; unrecorded: boolean }> {
  const names = tableNames();
  const tables = `(SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (${names.map(() => "?").join(", ")}))`;
  try {
    const rs = await client.execute({
      sql: `SELECT 0 AS k, hash, created_at FROM ${TABLE} UNION ALL SELECT 1, NULL, ${tables} ORDER BY k, created_at`,
      args: names,
    });
    const applied = rs.rows
      .filter((r) => Number(r[0]) === 0)
      .map((r) => ({ hash: String(r[1]), createdAt: Number(r[2]) }));
    const present = Number(rs.rows.find((r) => Number(r[0]) === 1)?.[2] ?? 0);
    return { applied, unrecorded: applied.length === 0 && present > 0 };
  } catch (err) {
    if (!String((err as Error)?.message ?? err).includes("no such table")) throw err;
  }
  // No bookkeeping table. The migrator creates it before any table of the package, so tables seen now
  // mean push-made — unless another process created the bookkeeping (and migrated) in between: then
  // read the records again.
  const rs = await client.execute({
    sql: `SELECT ${tables}, (SELECT count(*) FROM sqlite_master WHERE name = '${TABLE}')`,
    args: names,
  });
  const present = Number(rs.rows[0]?.[0] ?? 0);
  if (Number(rs.rows[0]?.[1] ?? 0) > 0) return readRecords(client);
  return { applied: [], unrecorded: present > 0 };
}

/** The package's table names (from the schema: every Drizzle table). */
let packageTables: string[] | undefined;
function tableNames(): string[] {
  packageTables ??= Object.values(schema)
    .filter((t) => is(t, SQLiteTable))
    .map((t) => getTableName(t as SQLiteTable));
  return packageTables;
}

/**
 * Like LEGACY_GUARD_SQL: fails ("malformed JSON") the migrator's first batch, so nothing is written,
 * when the package's tables exist without the bookkeeping table (a database made by `drizzle-kit push`).
 */
function unrecordedGuardSql(): string {
  const names = tableNames()
    .map((n) => `'${n.replace(/'/g, "''")}'`)
    .join(", ");
  return `SELECT json(m.name) FROM sqlite_master AS m WHERE m.type = 'table' AND m.name IN (${names})
  AND NOT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '${TABLE}') LIMIT 1`;
}

/** The error for a database whose tables exist without their migration records. */
export function unrecordedError(where: string, baselineArgs = ""): SchemaVersionError {
  return new SchemaVersionError(
    `${where} has the package's tables but no record of its migrations (created by \`drizzle-kit push\`, or copied ` +
      `without its bookkeeping), so which migrations it has cannot be known: run \`npx rf-db migrate --baseline` +
      `${baselineArgs ? ` ${baselineArgs}` : ""}\`, which checks that the tables match the migrations and records them. ` +
      "Nothing was written.",
    "unrecorded",
  );
}

export interface MigrateOptions {
  migrations?: readonly Migration[];
  /** Called after each migration is committed by this process. */
  onApplied?: (m: Migration) => void;
  /** The auth token, scrubbed from any error (and used to explain a 401). */
  secret?: string | undefined;
  /** The database's URL, safe to print (for messages). */
  url?: string | undefined;
  /** Named by a StorageError (see ErrorContext.database). */
  database?: string | undefined;
}

export interface MigrateResult {
  /** Migrations this call applied (empty when the database was already current). */
  applied: Migration[];
  state: SchemaState;
}

function isLostRace(err: unknown): boolean {
  const { codes, text } = gather(err);
  return (
    (text.includes("UNIQUE constraint failed") && text.includes(TABLE)) ||
    text.includes("already exists") ||
    codes.includes("SQLITE_CONSTRAINT_UNIQUE")
  );
}

export function assertNotAhead(state: SchemaState, where: string): void {
  if (state.state === "ahead") {
    const newest = state.applied[state.applied.length - 1];
    throw new SchemaVersionError(
      `the schema of ${where} is newer than this version of rf-inferno-db (database at migration ${newest?.createdAt}, ` +
        `package knows up to ${state.latest?.tag} / ${state.latest?.when}): upgrade rf-inferno-db`,
      "ahead",
    );
  }
  if (state.state === "diverged") {
    throw new SchemaVersionError(
      `the migrations recorded in ${where} differ from this package's (same timestamp, different SQL): the database was migrated by a different build`,
      "diverged",
    );
  }
}

/** Applies pending migrations; safe to run twice and from several processes at once. */
export async function applyMigrations(client: Client, options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = options.migrations ?? MIGRATIONS;
  const mine: Migration[] = [];
  try {
    // A database RapidFire's Python module wrote would make the first CREATE TABLE fail as if another
    // migrator had won the race: LEGACY_GUARD_SQL fails this batch (so nothing is written) on one, at no
    // extra request; only then is the schema read again, to name the version and `rf-db import`.
    await client
      .batch(
        [
          LEGACY_GUARD_SQL,
          unrecordedGuardSql(),
          `CREATE TABLE IF NOT EXISTS ${TABLE} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`,
          `CREATE UNIQUE INDEX IF NOT EXISTS ${TABLE}_hash_uq ON ${TABLE} (hash)`,
        ],
        "write",
      )
      .catch(async (err: unknown) => {
        if (gather(err).text.includes("malformed JSON")) {
          const where = options.url ? `the database at ${options.url}` : "the database";
          await assertNotLegacy(client, where, "<a local copy of it> --url <the new database's URL>");
          if ((await readSchemaState(client, migrations)).state === "unrecorded") {
            throw unrecordedError(where, options.url ? `--url ${options.url}` : "");
          }
        }
        throw err;
      });
    for (let attempt = 0; ; attempt++) {
      const state = await readSchemaState(client, migrations);
      assertNotAhead(state, "the database");
      if (state.state === "unrecorded") {
        throw unrecordedError(
          options.url ? `the database at ${options.url}` : "the database",
          options.url ? `--url ${options.url}` : "",
        );
      }
      if (state.pending.length === 0) return { applied: mine, state };
      // One migration per batch, so progress can be reported and a later
      // failure leaves the earlier ones committed (as drizzle-kit does per run).
      const m = state.pending[0]!;
      try {
        await client.migrate([
          { sql: `INSERT INTO ${TABLE} ("hash", "created_at") VALUES (?, ?)`, args: [m.hash, m.when] },
          ...m.statements.map((s) => ({ sql: s, args: [] })),
        ]);
        mine.push(m);
        options.onApplied?.(m);
      } catch (err) {
        if (!isLostRace(err) || attempt > 50) throw err;
        // Another process applied it first: re-read and carry on.
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
      }
    }
  } catch (err) {
    throw mapDriverError(err, { secret: options.secret, database: options.database });
  }
}
