/**
 * Renders the change-log triggers (src/schema/change-triggers.ts) as a
 * migration body: every trigger dropped and re-created, then the rows that
 * have no log entry yet logged (the backfill).
 *
 *   npx tsx scripts/change-log-triggers.ts                      # print the SQL
 *   npx tsx scripts/change-log-triggers.ts drizzle/0009_x.sql   # fill a custom migration
 *   npx tsx scripts/change-log-triggers.ts --drop drizzle/0010_x.sql  # only drop the triggers
 *
 * After changing the watched tables (CHANGE_FEED_TABLES), or after a
 * drizzle-kit migration that rebuilt one of them (a rebuild drops its
 * triggers): `npx drizzle-kit generate --custom --name <name>`, fill the new
 * file with this script, then `npx tsx scripts/embed-migrations.ts`.
 * tests/change-feed.test.ts fails until the migrated schema matches.
 *
 * A drizzle-kit migration that rebuilds `change_log` itself (new table, copy,
 * drop, rename) fails while the triggers name it (SQLite checks every trigger
 * when a table is renamed): put a `--drop` custom migration before it and a
 * full one after it.
 */
import { writeFileSync } from "node:fs";
import { basename } from "node:path";
import { changeTriggerNames, renderChangeBackfill, renderChangeTriggers } from "../src/schema/change-triggers";

export function renderChangeLogMigration(dropOnly = false, file?: string): string {
  // The file's name in its first line: two renders of the same list are two migrations with distinct
  // hashes (the migrator records each by its hash, under a unique index).
  const header =
    (file ? `-- ${basename(file)}\n` : "") +
    (dropOnly
      ? "-- The change-log triggers dropped (re-created by a later migration), by scripts/change-log-triggers.ts --drop.\n"
      : "-- Change-log triggers, rendered from CHANGE_FEED_TABLES by scripts/change-log-triggers.ts.\n" +
        "-- Do not edit: change the list, then render a new migration.\n");
  const statements = dropOnly
    ? changeTriggerNames().map((n) => `DROP TRIGGER IF EXISTS \`${n}\`;`)
    : [...renderChangeTriggers(), ...renderChangeBackfill()];
  return `${header}${statements.join("\n--> statement-breakpoint\n")}\n`;
}

const dropOnly = process.argv.includes("--drop");
const target = process.argv.slice(2).find((a) => !a.startsWith("--"));
if (target) writeFileSync(target, renderChangeLogMigration(dropOnly, target));
else process.stdout.write(renderChangeLogMigration(dropOnly));
