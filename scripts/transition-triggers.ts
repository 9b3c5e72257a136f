/**
 * Renders the transition triggers (src/schema/transitions.ts) from the
 * current `*_TRANSITIONS` tables as a migration body.
 *
 *   npx tsx scripts/transition-triggers.ts                  # print the SQL
 *   npx tsx scripts/transition-triggers.ts drizzle/0007_x.sql  # fill a custom migration
 *
 * After changing a transition table: `npx drizzle-kit generate --custom --name
 * <name>`, fill the new file with this script, then `npx tsx
 * scripts/embed-migrations.ts`. Every trigger is dropped and re-created, so the
 * newest migration always holds the current machines; tests/transitions.test.ts
 * fails until the migrated schema matches the tables.
 */
import { writeFileSync } from "node:fs";
import { renderTransitionTriggers } from "../src/schema/transitions";

export function renderTriggerMigration(): string {
  const header =
    "-- Status transition triggers, rendered from the *_TRANSITIONS tables by scripts/transition-triggers.ts.\n" +
    "-- Do not edit: change the tables, then render a new migration.\n";
  return `${header}${renderTransitionTriggers().join("\n--> statement-breakpoint\n")}\n`;
}

const target = process.argv[2];
if (target) writeFileSync(target, renderTriggerMigration());
else process.stdout.write(renderTriggerMigration());
