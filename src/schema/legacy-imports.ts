import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { createdAt, idCheck, json, updatedAt } from "./columns";

/**
 * One row per database imported from RapidFire's Python module (`rf-db import`,
 * `importLegacy`), written in the same transaction as the imported rows. It is
 * what makes the import idempotent: a source whose `fingerprint` is already
 * here is not imported again, and one with a known `origin` but another
 * fingerprint (the same Python database, changed since) is refused rather
 * than duplicated. `resetAllTables({ experiments: true })` clears it too.
 */
export const legacyImports = sqliteTable(
  "legacy_imports",
  {
    importId: integer("import_id").primaryKey({ autoIncrement: true }),
    /** sha256 of the source's rows (every table, in key order): the same content is the same import. */
    fingerprint: text("fingerprint").notNull(),
    /** sha256 of the source's first experiment (id, name, created_at): the same Python database, even after it changed. */
    origin: text("origin").notNull(),
    /** The file it was read from (as given, made absolute). */
    sourcePath: text("source_path").notNull(),
    /** The upstream schema it was written with: `6158eec` or `6dd53c1`. */
    schemaVersion: text("schema_version").notNull(),
    /** Rows imported per table: `{ experiments, contexts, pipelines, actorTasks, icOperations }`. */
    counts: json("counts").notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    idCheck("legacy_imports", t.importId),
    // importLegacy: WHERE fingerprint = ? (already imported?), and the race between two imports of one file.
    uniqueIndex("legacy_imports_fingerprint_idx").on(t.fingerprint),
    // importLegacy: WHERE origin = ? (imported before, changed since?).
    index("legacy_imports_origin_idx").on(t.origin),
  ],
);

export type LegacyImport = typeof legacyImports.$inferSelect;
export type NewLegacyImport = typeof legacyImports.$inferInsert;
