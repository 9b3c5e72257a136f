/**
 * The status machines of every entity, in one list, and the database
 * triggers rendered from them. The repositories' checks (`setStatus`, the
 * named moves) and the triggers that make raw SQL obey come from the same
 * `*_TRANSITIONS` tables, so they cannot disagree; the custom migration that
 * holds the triggers is compared with `renderTransitionTriggers()` by
 * tests/transitions.test.ts, and `npx tsx scripts/transition-triggers.ts`
 * prints the SQL for a new migration after a table changes.
 *
 * Moving to the status a row already has is not a transition: the triggers
 * let it through (an UPDATE of other columns that repeats the status is not
 * refused), and the repositories treat it as a no-op that writes nothing.
 *
 * The triggers' messages are string literals: `RAISE` takes no expression
 * before SQLite 3.48 (checked with 3.45), and a trigger an older SQLite
 * cannot parse would make the whole database unreadable to it.
 */
import { ACTOR_TASK_TRANSITIONS } from "./actor-tasks";
import type { Transitions } from "./columns";
import { CONTEXT_TRANSITIONS } from "./contexts";
import { EXPERIMENT_TRANSITIONS } from "./experiments";
import { IC_TRANSITIONS } from "./ic-operations";
import { PIPELINE_TRANSITIONS } from "./pipelines";

/** One status machine: the SQL table, the entity as errors name it, its transitions. */
export interface StatusMachine {
  readonly table: string;
  readonly entity: string;
  readonly transitions: Transitions<string>;
}

/** Every entity's status machine (parents first, as the registry lists them). */
export const STATUS_MACHINES: readonly StatusMachine[] = [
  { table: "experiments", entity: "experiment", transitions: EXPERIMENT_TRANSITIONS },
  { table: "contexts", entity: "context", transitions: CONTEXT_TRANSITIONS },
  { table: "pipelines", entity: "pipeline", transitions: PIPELINE_TRANSITIONS },
  { table: "actor_tasks", entity: "actor task", transitions: ACTOR_TASK_TRANSITIONS },
  { table: "interactive_control", entity: "IC operation", transitions: IC_TRANSITIONS },
];

/** The statuses a row may move to `to` from (the rows of `t` that list `to`). */
export function statusesLeadingTo<S extends string>(t: Transitions<S>, to: S): S[] {
  return (Object.keys(t) as S[]).filter((from) => t[from].includes(to));
}

/** True when `from → to` is allowed (or is no change at all). */
export function isAllowedTransition<S extends string>(t: Transitions<S>, from: S, to: S): boolean {
  return from === to || t[from].includes(to);
}

/** The start of every trigger message; src/errors maps it to InvalidTransitionError. */
export const TRANSITION_REFUSED = "rf-inferno-db: refused status change of";
/** The message of the trigger that keeps IC operations off deleted pipelines. */
export const DELETED_PIPELINE_REFUSED = "rf-inferno-db: refused IC operation on a deleted pipeline";

const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** `new→ongoing|stopped; ongoing→completed|…` (final statuses omitted): the human half of a message. */
function describeMachine(t: Transitions<string>): string {
  return Object.entries(t)
    .filter(([, to]) => to.length > 0)
    .map(([from, to]) => `${from}->${to.join("|")}`)
    .join(", ");
}

/** `CREATE TRIGGER <table>_status_transition …`: refuses a status change the machine does not list. */
function statusTrigger(m: StatusMachine): string {
  // A value that is no status at all is left to the column's CHECK (a ValidationError, as before).
  const statuses = Object.keys(m.transitions).map(quote);
  const pairs = Object.entries(m.transitions).flatMap(([from, to]) => to.map((s) => quote(`${from}>${s}`)));
  const article = /^[aeiouAEIOU]|^IC/.test(m.entity) ? "an" : "a";
  const message = `${TRANSITION_REFUSED} ${article} ${m.entity} (allowed: ${describeMachine(m.transitions)})`;
  return [
    `CREATE TRIGGER \`${m.table}_status_transition\``,
    `BEFORE UPDATE OF \`status\` ON \`${m.table}\``,
    `FOR EACH ROW WHEN NEW.\`status\` <> OLD.\`status\` AND NEW.\`status\` IN (${statuses.join(", ")})`,
    `  AND OLD.\`status\` || '>' || NEW.\`status\` NOT IN (${pairs.join(", ")})`,
    `BEGIN SELECT RAISE(ABORT, ${quote(message)}); END;`,
  ].join("\n");
}

/**
 * A live (pending or processing) IC operation may not point at a deleted
 * pipeline — on INSERT, and when an UPDATE re-points one. Finished
 * operations may (history: the `delete` operation that deleted it).
 */
function deletedPipelineTriggers(): string[] {
  const when = (event: string) =>
    [
      `CREATE TRIGGER \`interactive_control_pipeline_${event === "INSERT" ? "insert" : "update"}_not_deleted\``,
      `BEFORE ${event} ON \`interactive_control\``,
      `FOR EACH ROW WHEN NEW.\`status\` IN ('pending', 'processing')`,
      "  AND (SELECT `status` FROM `pipelines` WHERE `pipeline_id` = NEW.`pipeline_id`) = 'deleted'",
      `BEGIN SELECT RAISE(ABORT, ${quote(DELETED_PIPELINE_REFUSED)}); END;`,
    ].join("\n");
  return [when("INSERT"), when("UPDATE OF `pipeline_id`")];
}

/** The names of the triggers `renderTransitionTriggers` creates. */
export function transitionTriggerNames(): string[] {
  return [
    ...STATUS_MACHINES.map((m) => `${m.table}_status_transition`),
    "interactive_control_pipeline_insert_not_deleted",
    "interactive_control_pipeline_update_not_deleted",
  ];
}

/**
 * The trigger SQL for the current tables, one statement per element: each
 * trigger dropped if it exists, then created — so the same output is also a
 * valid migration that replaces older versions of the triggers.
 */
export function renderTransitionTriggers(): string[] {
  const creates = [...STATUS_MACHINES.map(statusTrigger), ...deletedPipelineTriggers()];
  const drops = transitionTriggerNames().map((n) => `DROP TRIGGER IF EXISTS \`${n}\`;`);
  return [...drops, ...creates];
}
