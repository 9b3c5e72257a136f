/**
 * How many actor tasks each experiment has in each status, kept by database
 * triggers on `actor_tasks` (rendered below from ACTOR_TASK_STATUSES, held
 * by a custom migration; tests/task-counts.test.ts compares the two and
 * checks the counts against the tasks after every kind of write). It makes
 * `actorTasks.countByStatus` — every dashboard's question — one primary-key
 * read instead of counting index entries: constant in the number of tasks
 * (BENCHMARKS.md, dashboards). The price is one more small row written in
 * the same transaction as each task insert, status change and delete.
 *
 * Triggers, not the repositories, keep it, so rows written by any tool
 * (raw SQL, Python's sqlite3, the legacy import) are counted too. One row
 * per experiment with a column per status: a status change is ONE update of
 * one row (−1 for the old status, +1 for the new one).
 */
import { integer, sqliteTable } from "drizzle-orm/sqlite-core";
import { ACTOR_TASK_STATUSES, type ActorTaskStatus } from "./actor-tasks";
import { experiments } from "./experiments";

export const actorTaskCounts = sqliteTable("actor_task_counts", {
  experimentId: integer("experiment_id")
    .primaryKey()
    .references(() => experiments.experimentId, { onDelete: "cascade" }),
  scheduled: integer("scheduled").notNull().default(0),
  inProgress: integer("in_progress").notNull().default(0),
  completed: integer("completed").notNull().default(0),
  failed: integer("failed").notNull().default(0),
});

export type ActorTaskCounts = typeof actorTaskCounts.$inferSelect;

/** The counter column of each status (its SQL name is the status). */
export const TASK_COUNT_COLUMNS: Record<ActorTaskStatus, keyof ActorTaskCounts> = {
  scheduled: "scheduled",
  in_progress: "inProgress",
  completed: "completed",
  failed: "failed",
};

/** `scheduled = scheduled + (NEW.status = 'scheduled') - …`: one SET item per status. */
function adjust(add: "NEW" | "OLD" | null, sub: "NEW" | "OLD" | null): string {
  return ACTOR_TASK_STATUSES.map((s) => {
    const terms = [add && ` + (${add}.\`status\` = '${s}')`, sub && ` - (${sub}.\`status\` = '${s}')`];
    return `\`${s}\` = \`${s}\`${terms.filter(Boolean).join("")}`;
  }).join(", ");
}

/** Counts NEW's status into its experiment's row, creating the row on its first task. */
function countIn(): string {
  const cols = ACTOR_TASK_STATUSES.map((s) => `\`${s}\``).join(", ");
  const values = ACTOR_TASK_STATUSES.map((s) => `NEW.\`status\` = '${s}'`).join(", ");
  const update = ACTOR_TASK_STATUSES.map((s) => `\`${s}\` = \`${s}\` + excluded.\`${s}\``).join(", ");
  return (
    `INSERT INTO \`actor_task_counts\` (\`experiment_id\`, ${cols}) VALUES (NEW.\`experiment_id\`, ${values})\n` +
    `    ON CONFLICT (\`experiment_id\`) DO UPDATE SET ${update};`
  );
}

const countOut = (row: "OLD") =>
  `UPDATE \`actor_task_counts\` SET ${adjust(null, row)} WHERE \`experiment_id\` = ${row}.\`experiment_id\`;`;

/** The triggers' names, for DROP IF EXISTS (a later migration re-renders them all). */
const NAMES = [
  "actor_task_counts_insert",
  "actor_task_counts_status",
  "actor_task_counts_move",
  "actor_task_counts_delete",
];

/**
 * The statements of the migration that keeps `actor_task_counts`: the
 * triggers, then the counts of the tasks already there (a database migrated
 * with tasks in it starts right).
 */
export function renderTaskCountTriggers(): string[] {
  return [
    ...NAMES.map((n) => `DROP TRIGGER IF EXISTS \`${n}\`;`),
    `CREATE TRIGGER \`actor_task_counts_insert\` AFTER INSERT ON \`actor_tasks\`\nBEGIN\n  ${countIn()}\nEND;`,
    // The common case: a status change within the experiment, one row updated once.
    `CREATE TRIGGER \`actor_task_counts_status\` AFTER UPDATE OF \`status\` ON \`actor_tasks\`\n` +
      `FOR EACH ROW WHEN NEW.\`status\` IS NOT OLD.\`status\` AND NEW.\`experiment_id\` IS OLD.\`experiment_id\`\n` +
      `BEGIN\n  UPDATE \`actor_task_counts\` SET ${adjust("NEW", "OLD")} WHERE \`experiment_id\` = NEW.\`experiment_id\`;\nEND;`,
    // A task moved to another experiment (raw SQL only): out of the old row, into the new one.
    `CREATE TRIGGER \`actor_task_counts_move\` AFTER UPDATE OF \`experiment_id\` ON \`actor_tasks\`\n` +
      `FOR EACH ROW WHEN NEW.\`experiment_id\` IS NOT OLD.\`experiment_id\`\n` +
      `BEGIN\n  ${countOut("OLD")}\n  ${countIn()}\nEND;`,
    `CREATE TRIGGER \`actor_task_counts_delete\` AFTER DELETE ON \`actor_tasks\`\nBEGIN\n  ${countOut("OLD")}\nEND;`,
    ...TASK_COUNT_BACKFILL,
  ];
}

/**
 * The counters recomputed from the tasks: the end of the migration, and what
 * `migrate --baseline` runs (a `drizzle-kit push` database has the table but
 * none of the triggers, whatever tasks it holds).
 */
export const TASK_COUNT_BACKFILL: readonly string[] = [
  `DELETE FROM \`actor_task_counts\`;`,
  `INSERT INTO \`actor_task_counts\` (\`experiment_id\`, ${ACTOR_TASK_STATUSES.map((s) => `\`${s}\``).join(", ")})\n` +
    `  SELECT \`experiment_id\`, ${ACTOR_TASK_STATUSES.map((s) => `sum(\`status\` = '${s}')`).join(", ")}\n` +
    `  FROM \`actor_tasks\` GROUP BY \`experiment_id\`;`,
];
