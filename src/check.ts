/**
 * `db.check()`: is this database healthy, and is it the schema the package's
 * migrations define?
 *
 * 1. SQLite's `PRAGMA integrity_check` (b-trees, pages, indexes against their
 *    tables) and `PRAGMA foreign_key_check`.
 * 2. The migration bookkeeping: every package migration recorded, none
 *    unknown.
 * 3. The live schema against a reference: the migrations that are recorded,
 *    applied to an empty in-memory database (the `scratch` client the entry
 *    point supplies), then both read the same way — each table's SQL (columns,
 *    types, defaults, CHECK and FOREIGN KEY clauses; identifier quoting and
 *    whitespace do not count) and columns, every index and trigger on the
 *    package's tables. Tables that are not the package's are not looked at: a
 *    database may hold other tables of its owner's.
 *
 * Web-safe: talks to a `Client`; building the reference needs a local SQLite,
 * which only the Node entry has.
 */
import type { Client } from "@libsql/client";
import { lastMessage } from "./errors";
import { applyMigrations, MIGRATIONS, type Migration, readSchemaState, type SchemaState } from "./migrate";
import { topLevelItems } from "./schema/sql-text";

/** What `db.check()` returns: `ok` when `problems` is empty. */
export interface CheckResult {
  ok: boolean;
  /** One line per problem, e.g. `index pipelines_experiment_idx (on pipelines) is missing`. */
  problems: string[];
}

/** A table as SQLite describes it. */
interface TableShape {
  sql: string;
  columns: Map<string, string>;
}

/** An index, trigger or view: the table it belongs to, and its SQL (null for automatic indexes). */
interface ObjectShape {
  type: string;
  table: string;
  /** Normalized, as compared. */
  sql: string | null;
  /** As SQLite keeps it: what creates the object again. */
  create: string | null;
}

/** The schema objects of a database, read from `sqlite_master` and `pragma_table_info`. */
export interface SchemaShape {
  tables: Map<string, TableShape>;
  objects: Map<string, ObjectShape>;
}

/** Bookkeeping and SQLite's own objects: not part of what the migrations define. */
const INTERNAL = "(m.name LIKE 'sqlite\\_%' ESCAPE '\\' OR m.name LIKE '\\_\\_drizzle\\_migrations%' ESCAPE '\\')";

/** Reads the shape of the database behind `client` (two statements). */
export async function readShape(client: Client): Promise<SchemaShape> {
  const [objects, columns] = await client.batch(
    [
      `SELECT m.type, m.name, m.tbl_name, m.sql FROM sqlite_master AS m WHERE NOT ${INTERNAL} ORDER BY m.type, m.name`,
      `SELECT m.name, p.name, p.type, p."notnull", p.dflt_value, p.pk FROM sqlite_master AS m
         JOIN pragma_table_info(m.name) AS p WHERE m.type = 'table' AND NOT ${INTERNAL} ORDER BY m.name, p.cid`,
    ],
    "read",
  );
  const shape: SchemaShape = { tables: new Map(), objects: new Map() };
  for (const r of objects!.rows) {
    const [type, name, table, sql] = [r[0], r[1], r[2], r[3]];
    if (type === "table") shape.tables.set(String(name), { sql: tableShape(String(sql)), columns: new Map() });
    else
      shape.objects.set(String(name), {
        type: String(type),
        table: String(table),
        sql: sql === null ? null : normalize(String(sql)),
        create: sql === null ? null : String(sql),
      });
  }
  for (const r of columns!.rows) {
    const [table, name, type, notnull, dflt, pk] = [r[0], r[1], r[2], r[3], r[4], r[5]];
    const describe = `${String(type) || "(no type)"}${Number(notnull) ? " NOT NULL" : ""}${
      dflt === null ? "" : ` DEFAULT ${String(dflt)}`
    }${Number(pk) ? " PRIMARY KEY" : ""}`;
    shape.tables.get(String(table))?.columns.set(String(name), describe);
  }
  return shape;
}

/** SQL as compared: identifier quotes, whitespace and a trailing `;` do not count. */
function normalize(sql: string): string {
  return sql
    .replace(/[`"[\]]/g, "")
    .replace(/\s+/g, " ")
    .replace(/\s*([(),=])\s*/g, "$1")
    .replace(/;\s*$/, "")
    .trim();
}

/**
 * A CREATE TABLE as compared: normalized, with its column definitions and
 * table constraints as a set. Their order does not count: `drizzle-kit push`
 * declares them in the TypeScript schema's order, the migrations where each
 * was added (ALTER TABLE … ADD COLUMN appends), and no statement of the
 * package depends on it (every one names its columns).
 */
function tableShape(sql: string): string {
  const s = normalize(sql);
  const open = s.indexOf("(");
  const close = s.lastIndexOf(")");
  if (open < 0 || close < open) return s;
  return `${s.slice(0, open)}(${topLevelItems(s.slice(open + 1, close))
    .sort()
    .join(",")})${s.slice(close + 1)}`;
}

/**
 * The differences of `live` from `reference`, one line each. Only the
 * reference's tables are compared; objects on other tables are not looked at.
 */
export function diffShapes(live: SchemaShape, reference: SchemaShape): string[] {
  const problems: string[] = [];
  for (const [name, ref] of reference.tables) {
    const got = live.tables.get(name);
    if (!got) {
      problems.push(`table ${name} is missing`);
      continue;
    }
    if (got.sql === ref.sql) continue;
    const before = problems.length;
    for (const [column, describe] of ref.columns) {
      const have = got.columns.get(column);
      if (have === undefined) problems.push(`table ${name}: column ${column} is missing`);
      else if (have !== describe)
        problems.push(`table ${name}: column ${column} is ${have}, the migrations say ${describe}`);
    }
    for (const column of got.columns.keys()) {
      if (!ref.columns.has(column)) problems.push(`table ${name}: column ${column} is not defined by the migrations`);
    }
    if (problems.length === before) {
      problems.push(
        `table ${name}: its constraints (CHECK, FOREIGN KEY, PRIMARY KEY, UNIQUE) differ from the migrations`,
      );
    }
  }
  for (const [name, ref] of reference.objects) {
    const got = live.objects.get(name);
    if (!got || got.type !== ref.type) problems.push(`${ref.type} ${name} (on ${ref.table}) is missing`);
    else if (got.sql !== ref.sql) problems.push(`${ref.type} ${name} (on ${ref.table}) differs from the migrations`);
  }
  for (const [name, got] of live.objects) {
    if (!reference.objects.has(name) && reference.tables.has(got.table)) {
      problems.push(`${got.type} ${name} (on ${got.table}) is not defined by the migrations`);
    }
  }
  return problems;
}

/** At most this many lines of integrity_check output are reported. */
const MAX_INTEGRITY_LINES = 20;

/** What `integrity_check` and `foreign_key_check` report, as problems. */
export async function integrityProblems(client: Client): Promise<string[]> {
  const problems: string[] = [];
  try {
    const rs = await client.execute(`PRAGMA integrity_check(${MAX_INTEGRITY_LINES})`);
    const lines = rs.rows.flatMap((r) => String(r[0]).split("\n")).filter((l) => l && !l.startsWith("***"));
    if (!(lines.length === 1 && lines[0] === "ok")) problems.push(...lines.map((l) => `integrity: ${l}`));
  } catch (err) {
    problems.push(`integrity: the check could not run: ${lastMessage(err)}`);
  }
  try {
    const rs = await client.execute("PRAGMA foreign_key_check");
    for (const r of rs.rows.slice(0, MAX_INTEGRITY_LINES)) {
      problems.push(`foreign key: ${String(r[0])} row ${String(r[1])} refers to a missing ${String(r[2])} row`);
    }
  } catch (err) {
    problems.push(`foreign key: the check could not run: ${lastMessage(err)}`);
  }
  return problems;
}

/** The shape the given migrations give an empty database (cached: the embedded migrations never change). */
const references = new Map<string, Promise<SchemaShape>>();

export function referenceShape(scratch: () => Client, migrations: readonly Migration[]): Promise<SchemaShape> {
  const key = migrations.map((m) => m.hash).join(",");
  let ref = references.get(key);
  if (ref === undefined) {
    ref = (async () => {
      const client = scratch();
      try {
        await applyMigrations(client, { migrations });
        return await readShape(client);
      } finally {
        client.close();
      }
    })();
    references.set(key, ref);
    ref.catch(() => references.delete(key));
  }
  return ref;
}

/** The migrations of this package the database has recorded (a prefix of MIGRATIONS), or undefined when it cannot tell. */
export function recordedMigrations(state: SchemaState): Migration[] | undefined {
  if (state.state === "ahead" || state.state === "diverged") return undefined;
  if (state.state === "unrecorded") return [...MIGRATIONS];
  return MIGRATIONS.filter((m) => !state.pending.includes(m));
}

/** The whole check: integrity, bookkeeping, shape. */
export async function checkDatabase(client: Client, scratch: () => Client): Promise<CheckResult> {
  const problems = await integrityProblems(client);
  let state: SchemaState | undefined;
  try {
    state = await readSchemaState(client);
  } catch (err) {
    problems.push(`schema: the migration records cannot be read: ${lastMessage(err)}`);
  }
  if (state) {
    problems.push(...bookkeepingProblems(state));
    const recorded = recordedMigrations(state);
    if (recorded !== undefined && recorded.length > 0) {
      try {
        const [live, reference] = await Promise.all([readShape(client), referenceShape(scratch, recorded)]);
        problems.push(...diffShapes(live, reference));
      } catch (err) {
        problems.push(`schema: the tables cannot be read: ${lastMessage(err)}`);
      }
    }
  }
  return { ok: problems.length === 0, problems };
}

function bookkeepingProblems(state: SchemaState): string[] {
  switch (state.state) {
    case "current":
      return [];
    case "empty":
      return ["schema: the database has none of the package's tables (never migrated): run `rf-db migrate`"];
    case "behind":
      return [
        `schema: ${state.pending.length} migration(s) not applied (${state.pending.map((m) => m.tag).join(", ")}): run \`rf-db migrate\``,
      ];
    case "unrecorded":
      return [
        "schema: the package's tables exist but no migration is recorded (drizzle-kit push?): run `rf-db migrate --baseline`",
      ];
    case "ahead":
      return ["schema: the database was migrated by a newer version of rf-inferno-db (upgrade to compare its tables)"];
    case "diverged":
      return ["schema: the recorded migrations differ from this package's (migrated by a different build)"];
  }
}
