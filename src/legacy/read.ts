/**
 * Reading a database written by RapidFire's Python module — read-only, never
 * writing to it or beside it (see peek.ts) — into memory: every row of its
 * five tables as the module stored them, the schema version, and the
 * fingerprints that make the import idempotent. Node only.
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { LegacyImportError } from "../errors";
import { columnsOf, inspect, openReadOnly, type ReadOnlyFile, SOURCE } from "./peek";
import { classifySchema, type LegacyVersion, type TableColumns } from "./schema";

/** A row as SQLite returned it: column name → value. */
export type LegacyRow = Record<string, unknown>;

/** The module's tables, with their primary keys (rows are read in key order). */
export const LEGACY_TABLES = {
  experiments: "experiment_id",
  contexts: "context_id",
  pipelines: "pipeline_id",
  actor_tasks: "task_id",
  interactive_control: "ic_id",
} as const;
export type LegacyTable = keyof typeof LEGACY_TABLES;

export interface LegacySource {
  /** Absolute path of the file. */
  path: string;
  version: LegacyVersion;
  columns: TableColumns;
  /** Every row of each table (a table the file lacks is empty). */
  rows: Record<LegacyTable, LegacyRow[]>;
  /** sha256 of every row of every table, in key order: equal content, equal fingerprint. */
  fingerprint: string;
  /** sha256 of the first experiment (or pipeline): the same Python database, also after it changed. */
  origin: string;
}

/** Progress of a long import: `done` of `total` rows in the current phase. */
export interface ImportProgress {
  phase: "read" | "write";
  done: number;
  total: number;
}

const CHUNK = 5000;

/**
 * Reads the legacy database at `path`. Bad or unknown files are a
 * `LegacyImportError` (`missing`, `empty`, `not-sqlite`, `not-legacy`, `unreadable`).
 * @example const source = readLegacy("/home/me/db/rapidfire.python-20261130.db");
 */
export function readLegacy(path: string, onProgress?: (p: ImportProgress) => void): LegacySource {
  const abs = resolve(path);
  const { kind, uri } = inspect(abs);
  if (kind === "missing") throw new LegacyImportError(`no such file: ${abs}`, "missing");
  if (kind === "empty") throw new LegacyImportError(`${abs} is empty (0 bytes): nothing to import`, "empty");
  if (kind === "not-sqlite") throw notSqlite(abs);
  let file: ReadOnlyFile | undefined;
  try {
    try {
      file = openReadOnly(uri);
    } catch (cause) {
      throw unreadable(abs, cause);
    }
    const schema = readSchema(file, abs);
    if (schema.kind === "empty") throw new LegacyImportError(`${abs} has no tables: nothing to import`, "empty");
    if (schema.kind === "package") {
      throw new LegacyImportError(
        `${abs} is already an rf-inferno-db database, not one written by RapidFire's Python module: nothing to import (open it directly)`,
        "not-legacy",
      );
    }
    if (schema.kind === "unknown") {
      throw new LegacyImportError(
        `${abs} is a SQLite database but not one RapidFire's Python module wrote (tables: ${schema.tables.join(", ")})`,
        "not-legacy",
      );
    }
    return readRows(file, abs, schema.version, schema.columns, onProgress);
  } finally {
    file?.close();
  }
}

function readSchema(file: ReadOnlyFile, path: string) {
  try {
    const columns = columnsOf(file);
    return { ...classifySchema(columns), columns };
  } catch (cause) {
    const text = String((cause as Error)?.message ?? cause);
    if (/not a database|file is encrypted/i.test(text)) throw notSqlite(path, cause);
    throw unreadable(path, cause);
  }
}

function readRows(
  file: ReadOnlyFile,
  path: string,
  version: LegacyVersion,
  columns: TableColumns,
  onProgress?: (p: ImportProgress) => void,
): LegacySource {
  const tables = Object.keys(LEGACY_TABLES) as LegacyTable[];
  const rows = {} as Record<LegacyTable, LegacyRow[]>;
  const hash = createHash("sha256").update(`rapidfire-legacy:${version}\n`);
  try {
    const present = tables.filter((t) => columns.has(t));
    const total = present.reduce((n, t) => n + count(file, t), 0);
    let done = 0;
    onProgress?.({ phase: "read", done, total });
    for (const table of tables) {
      rows[table] = [];
      if (!columns.has(table)) continue;
      const key = LEGACY_TABLES[table];
      const stmt = file.db.prepare(
        `SELECT * FROM ${SOURCE}."${table}" WHERE "${key}" > ? ORDER BY "${key}" LIMIT ${CHUNK}`,
      );
      hash.update(`table ${table}\n`);
      for (let after = Number.MIN_SAFE_INTEGER; ; ) {
        const chunk = stmt.all(after) as LegacyRow[];
        for (const row of chunk) rows[table].push(row);
        hash.update(JSON.stringify(chunk, jsonValue)).update("\n");
        done += chunk.length;
        onProgress?.({ phase: "read", done, total });
        if (chunk.length < CHUNK) break;
        after = Number(chunk[chunk.length - 1]![key]);
      }
    }
  } catch (cause) {
    throw unreadable(path, cause);
  }
  const first = rows.experiments[0] ?? rows.pipelines[0] ?? {};
  const origin = createHash("sha256")
    .update(JSON.stringify([version, Object.values(first)], jsonValue))
    .digest("hex");
  return { path, version, columns, rows, fingerprint: hash.digest("hex"), origin };
}

function count(file: ReadOnlyFile, table: LegacyTable): number {
  return Number((file.db.prepare(`SELECT count(*) FROM ${SOURCE}."${table}"`).raw(true).get() as unknown[])[0]);
}

/** Bigints hash by value (Buffers, i.e. BLOBs, already do through their toJSON). */
function jsonValue(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

function notSqlite(path: string, cause?: unknown): LegacyImportError {
  return new LegacyImportError(`${path} is not a SQLite database (or is encrypted)`, "not-sqlite", { cause });
}

function unreadable(path: string, cause: unknown): LegacyImportError {
  const reason = String((cause as Error)?.message ?? cause);
  if (/not a database|file is encrypted/i.test(reason)) return notSqlite(path, cause);
  return new LegacyImportError(`cannot read ${path}: ${reason}`, "unreadable", { cause });
}
