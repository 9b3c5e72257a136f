/**
 * Renders the change-log triggers (src/schema/change-triggers.ts) as a
 * migration body: every trigger dropped and re-created, then the rows that
 * have no log entry yet logged (the backfill).
 *
 *   npx tsx scripts/change-log-triggers.ts                      # print the SQL
 *   npx tsx scripts/change-log-triggers.ts drizzle/0009_x.sql   # fill a custom migration
 *
 * After changing the watched tables (CHANGE_FEED_TABLES), or after a
 * drizzle-kit migration that rebuilt one of them (a rebuild drops its
 * triggers): `npx drizzle-kit generate --custom --name <name>`, fill the new
 * file with this script, then `npx tsx scripts/embed-migrations.ts`.
 * tests/change-feed.test.ts fails until the migrated schema matches.
 */
import { writeFileSync } from "node:fs";
import { renderChangeBackfill, renderChangeTriggers } from "../src/schema/change-triggers";

export function renderChangeLogMigration(): string {
  const header =
    "-- Change-log triggers, rendered from CHANGE_FEED_TABLES by scripts/change-log-triggers.ts.\n" +
    "-- Do not edit: change the list, then render a new migration.\n";
  const statements = [...renderChangeTriggers(), ...renderChangeBackfill()];
  return `${header}${statements.join("\n--> statement-breakpoint\n")}\n`;
}

const target = process.argv[2];
if (target) writeFileSync(target, renderChangeLogMigration());
else process.stdout.write(renderChangeLogMigration());
