/**
 * Recognising a database written by RapidFire's Python module (the
 * `rapidfireai/evals/db` module this package replaces), from its tables and
 * columns alone. Web-safe: no Node built-ins, so the migrator (shared by both
 * entry points) can refuse a legacy remote database too.
 *
 * The two upstream schemas share table names with this package
 * (`experiments`, `pipelines`, …) but not their shape: their pipelines and
 * tasks carry no `experiment_id`. Migrating such a file in place would fail
 * half-way ("table experiments already exists") after writing bookkeeping into
 * it — so `open` and `migrate` refuse it first and name `rf-db import`.
 */
import type { Client } from "@libsql/client";
import { SchemaVersionError } from "../errors";

/** The upstream commits whose schemas the import reads (6158eec: the first contract; 6dd53c1: current). */
export type LegacyVersion = "6158eec" | "6dd53c1";

/** Table name → its column names. */
export type TableColumns = ReadonlyMap<string, ReadonlySet<string>>;

export type SchemaKind =
  | { kind: "empty" }
  | { kind: "legacy"; version: LegacyVersion }
  | { kind: "package"; recorded: boolean }
  | { kind: "unknown"; tables: string[] };

/** Every table of `schema` (main, or an attached one) with its columns, in one statement (SQLite 3.16+). */
export function tableColumnsSql(schema = "main"): string {
  return (
    `SELECT m.name, p.name FROM "${schema}".sqlite_master AS m JOIN pragma_table_info(m.name, '${schema}') AS p ` +
    "WHERE m.type = 'table' ORDER BY m.name, p.cid"
  );
}

/** Groups `[table, column]` rows as `tableColumnsSql` returns them. */
export function groupColumns(rows: Iterable<readonly unknown[]>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [table, column] of rows) {
    const t = String(table);
    const set = out.get(t) ?? new Set<string>();
    out.set(t, set);
    set.add(String(column));
  }
  return out;
}

/**
 * What kind of schema the tables describe. Legacy means the Python module's
 * `experiments` and `pipelines` with no `experiment_id` on pipelines; its
 * version follows the pipelines' payload columns (`pipeline_config` since
 * 6dd53c1, `model_config_json` before). A 6158eec file later opened by the
 * 6dd53c1 module keeps its 6158eec pipelines (that module only ALTERs
 * experiments and adds `metric_run_id`), so it counts as 6158eec; the import
 * reads whichever columns exist.
 * @example classifySchema(groupColumns(rows)) // { kind: "legacy", version: "6dd53c1" }
 */
export function classifySchema(tables: TableColumns): SchemaKind {
  const names = [...tables.keys()].filter((t) => !t.startsWith("sqlite_"));
  if (names.length === 0) return { kind: "empty" };
  const pipelines = tables.get("pipelines");
  // `recorded`: the migration bookkeeping exists (a database made by `drizzle-kit push` has none).
  if (tables.has("__drizzle_migrations") || pipelines?.has("experiment_id"))
    return { kind: "package", recorded: tables.has("__drizzle_migrations") };
  if (tables.has("experiments") && pipelines) {
    if (pipelines.has("pipeline_config")) return { kind: "legacy", version: "6dd53c1" };
    if (pipelines.has("model_config_json")) return { kind: "legacy", version: "6158eec" };
  }
  return { kind: "unknown", tables: names.sort() };
}

/**
 * The error `open`, `migrate` and the CLI give for a legacy database: it names
 * the command that moves the data over and says the file was left alone.
 */
export function legacySchemaError(where: string, version: LegacyVersion, importArgs: string): SchemaVersionError {
  const command = `npx rf-db import${importArgs ? ` ${importArgs}` : ""}`;
  return new SchemaVersionError(
    `${where} was written by RapidFire's Python module (schema ${version}) and cannot be opened in place: ` +
      `move its data over with \`${command}\` (the file is kept, unchanged, under a new name it prints). ` +
      `Nothing was written to it.`,
    "legacy",
  );
}

/**
 * A statement that fails ("malformed JSON", from `json()` of a table name) on
 * a database whose tables `classifySchema` calls legacy, and returns nothing
 * otherwise. The migrator puts it first in its bookkeeping batch, so a legacy
 * database fails that batch — rolled back, nothing written — without costing
 * a remote database an extra request. SQLite has no RAISE outside triggers;
 * the argument comes from a row so the error cannot be folded into a constant.
 */
export const LEGACY_GUARD_SQL = `SELECT json(m.name) FROM sqlite_master AS m
WHERE m.type = 'table' AND m.name = 'pipelines'
  AND NOT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '__drizzle_migrations')
  AND EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'experiments')
  AND NOT EXISTS (SELECT 1 FROM pragma_table_info('pipelines') WHERE name = 'experiment_id')
  AND EXISTS (SELECT 1 FROM pragma_table_info('pipelines') WHERE name IN ('pipeline_config', 'model_config_json'))`;

/**
 * Throws `legacySchemaError` when the database behind `client` has the Python
 * module's schema. One read; used by the migrator on a database without
 * migration bookkeeping (remote ones: local files are peeked before opening).
 */
export async function assertNotLegacy(client: Client, where: string, importArgs: string): Promise<void> {
  const rs = await client.execute(tableColumnsSql());
  const schema = classifySchema(groupColumns(rs.rows.map((r) => [r[0], r[1]])));
  if (schema.kind === "legacy") throw legacySchemaError(where, schema.version, importArgs);
}
