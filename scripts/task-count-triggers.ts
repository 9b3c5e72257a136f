/**
 * Renders the migration body that keeps `actor_task_counts` (the triggers on
 * `actor_tasks` and the backfill; src/schema/task-counts.ts).
 *
 *   npx tsx scripts/task-count-triggers.ts                     # print the SQL
 *   npx tsx scripts/task-count-triggers.ts drizzle/0007_x.sql  # fill a custom migration
 *
 * After changing the actor task statuses: `npx drizzle-kit generate --custom
 * --name <name>`, fill the new file with this script, then `npx tsx
 * scripts/embed-migrations.ts`. tests/task-counts.test.ts fails until the
 * migrated triggers match the render.
 */
import { writeFileSync } from "node:fs";
import { renderTaskCountTriggers } from "../src/schema/task-counts";

export function renderTaskCountMigration(): string {
  const header =
    "-- Task counters per experiment, kept by triggers rendered by scripts/task-count-triggers.ts.\n" +
    "-- Do not edit: change src/schema/task-counts.ts, then render a new migration.\n";
  return `${header}${renderTaskCountTriggers().join("\n--> statement-breakpoint\n")}\n`;
}

const target = process.argv[2];
if (target) writeFileSync(target, renderTaskCountMigration());
else process.stdout.write(renderTaskCountMigration());
