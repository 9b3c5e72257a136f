/**
 * The triggers that keep the change log (`change_log`, src/schema/change-log.ts)
 * and the list of tables they watch, rendered as SQL from here — so the
 * custom migration that holds them cannot drift from this list:
 * tests/change-feed.test.ts compares the migrated triggers with
 * `renderChangeTriggers()`, and `npx tsx scripts/change-log-triggers.ts
 * drizzle/<file>.sql` fills a new migration after the list changes (the same
 * pattern as the transition triggers, src/schema/transitions.ts; the two
 * sets have distinct names and coexist: BEFORE triggers refuse bad status
 * moves, these AFTER triggers record the changes that happened).
 *
 * Per watched table, inside the writing statement:
 *
 * - insert: a new log row (seq = max + 1), and the entity row's `change_seq`
 *   pointed at it;
 * - update: a new log row, the row's previous entry deleted (found through
 *   `change_seq`: a rowid lookup, no index to maintain on the hot path), the
 *   pointer moved — so each entity row has exactly one entry, with the seq of
 *   its latest change. The pointer's own update is not a change (`WHEN`);
 * - delete: a tombstone replaces the row's entry;
 * - a changed primary key (raw SQL only) leaves a tombstone for the old id.
 *
 * The previous entry is deleted only if it really is this row's (entity and
 * id checked), so a `change_seq` copied between rows by another tool cannot
 * remove someone else's entry. Every trigger is dropped and re-created by the
 * rendered SQL, so the newest migration always holds the current set.
 */
import type { ChangeEntity } from "./change-log";
import { DB_NOW_MS_SQL } from "./columns";

/** A table the change log watches. */
export interface ChangeFeedTable {
  readonly table: string;
  readonly entity: ChangeEntity;
  /** The primary key column. */
  readonly pk: string;
  /** The experiment of the row `ref` (NEW or OLD), as SQL. */
  readonly experiment: (ref: "NEW" | "OLD") => string;
}

/** Every watched table, parents first (the order of the migration's backfill). */
export const CHANGE_FEED_TABLES: readonly ChangeFeedTable[] = [
  { table: "experiments", entity: "experiments", pk: "experiment_id", experiment: (r) => `${r}.\`experiment_id\`` },
  { table: "contexts", entity: "contexts", pk: "context_id", experiment: () => "NULL" },
  { table: "pipelines", entity: "pipelines", pk: "pipeline_id", experiment: (r) => `${r}.\`experiment_id\`` },
  { table: "actor_tasks", entity: "actorTasks", pk: "task_id", experiment: (r) => `${r}.\`experiment_id\`` },
  {
    table: "interactive_control",
    entity: "icOperations",
    pk: "ic_id",
    // Rows without an experiment (written by other tools or older versions): the one their log entry
    // recorded (a delete cascading from the experiment removes the pipeline first), else the pipeline's.
    experiment: (r) =>
      `coalesce(${r}.\`experiment_id\`, (SELECT \`experiment_id\` FROM \`change_log\` WHERE \`seq\` = ${r}.\`change_seq\`), (SELECT \`experiment_id\` FROM \`pipelines\` WHERE \`pipeline_id\` = ${r}.\`pipeline_id\`))`,
  },
];

const LOG_COLUMNS = "`entity`, `row_id`, `experiment_id`, `op`, `status`, `deleted_at`";

function logRow(f: ChangeFeedTable, ref: "NEW" | "OLD", op: string, id = `${ref}.\`${f.pk}\``): string {
  const deletedAt = op === "delete" ? DB_NOW_MS_SQL : "NULL";
  return `INSERT INTO \`change_log\` (${LOG_COLUMNS}) VALUES ('${f.entity}', ${id}, ${f.experiment(ref)}, '${op}', ${ref}.\`status\`, ${deletedAt});`;
}

/** Deletes the row's previous entry (the one `change_seq` points at, if it is this row's). */
function dropPrevious(f: ChangeFeedTable): string {
  return `DELETE FROM \`change_log\` WHERE \`seq\` = OLD.\`change_seq\` AND \`entity\` = '${f.entity}' AND \`row_id\` = OLD.\`${f.pk}\`;`;
}

/** Points the entity row at the entry just inserted. */
function pointAtLatest(f: ChangeFeedTable): string {
  return `UPDATE \`${f.table}\` SET \`change_seq\` = last_insert_rowid() WHERE \`${f.pk}\` = NEW.\`${f.pk}\`;`;
}

function trigger(name: string, event: string, table: string, when: string | null, body: string[]): string {
  return [
    `CREATE TRIGGER \`${name}\``,
    `AFTER ${event} ON \`${table}\``,
    `FOR EACH ROW${when ? ` WHEN ${when}` : ""}`,
    "BEGIN",
    ...body.map((s) => `  ${s}`),
    "END;",
  ].join("\n");
}

function triggersOf(f: ChangeFeedTable): string[] {
  const t = f.table;
  return [
    trigger(`${t}_change_insert`, "INSERT", t, null, [logRow(f, "NEW", "insert"), pointAtLatest(f)]),
    // The pointer's own update (below) changes change_seq: not a change of the row.
    trigger(`${t}_change_update`, "UPDATE", t, "NEW.`change_seq` IS OLD.`change_seq`", [
      logRow(f, "NEW", "update"),
      dropPrevious(f),
      pointAtLatest(f),
    ]),
    trigger(`${t}_change_delete`, "DELETE", t, null, [logRow(f, "OLD", "delete"), dropPrevious(f)]),
    // UPDATE … SET <pk> = …: the update trigger logs the new id; the old one is gone.
    trigger(`${t}_change_rekey`, `UPDATE OF \`${f.pk}\``, t, `NEW.\`${f.pk}\` IS NOT OLD.\`${f.pk}\``, [
      logRow(f, "OLD", "delete"),
    ]),
  ];
}

/** The names of the triggers `renderChangeTriggers` creates. */
export function changeTriggerNames(): string[] {
  return CHANGE_FEED_TABLES.flatMap((f) =>
    ["insert", "update", "delete", "rekey"].map((e) => `${f.table}_change_${e}`),
  );
}

/**
 * The trigger SQL, one statement per element: each trigger dropped if it
 * exists, then created (so the output is also a valid migration replacing
 * older versions of them).
 */
export function renderChangeTriggers(): string[] {
  const drops = changeTriggerNames().map((n) => `DROP TRIGGER IF EXISTS \`${n}\`;`);
  return [...drops, ...CHANGE_FEED_TABLES.flatMap(triggersOf)];
}

/**
 * The horizon row, then logs every row that has no entry yet (written before the change log
 * existed), parents first: the update trigger does the work, so a backfilled
 * row looks exactly like a row changed since. Cursor 0 then means the whole
 * database, not only what changed after the upgrade.
 */
export function renderChangeBackfill(): string[] {
  return [
    // The pruning horizon's one row (since() reads it in the same statement as the changes).
    "INSERT OR IGNORE INTO `change_log_horizon` (`id`, `pruned_through`) VALUES (1, 0);",
    ...CHANGE_FEED_TABLES.map((f) => `UPDATE \`${f.table}\` SET \`change_seq\` = NULL WHERE \`change_seq\` IS NULL;`),
  ];
}
