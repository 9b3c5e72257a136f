/**
 * What the shared repository code needs to know about an entity, written once
 * at the top of its repository file. Most of it is read from the table
 * itself — the primary key, the statuses (the `status` column's enum) — so a
 * descriptor only names what the table cannot say: the repository's key on
 * the database, the name errors use, and the lifecycle facts below. The
 * entity registry (registry.ts) lists every entity; database.ts derives its
 * resets from it.
 * @example
 * export const pipelineEntity = defineEntity(pipelines, {
 *   key: "pipelines", name: "pipeline", unfinished: ["new", "ongoing"], transitions: PIPELINE_TRANSITIONS,
 * });
 */
import { getTableColumns } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";
import type { RowOf, Transitions } from "../schema";

/** A column of `T`, by its TypeScript key. */
export type ColumnKey<T extends SQLiteTable> = keyof T["$inferSelect"] & string;

/** What a descriptor states (the rest is read from the table). */
export interface EntityFacts {
  /** The repository's name on the database: `db.<key>`. */
  readonly key: string;
  /** The entity as errors name it: `NotFoundError("pipeline", 7)`. */
  readonly name: string;
  /** The error message column's key; default `error`. */
  readonly error?: string;
  /** Has `startedAt`/`completedAt`/`durationSeconds` (setStartTime, setEndTime, the duration policy of lifecycle.ts). */
  readonly timed?: true;
  /** Statuses `resetExperimentStates` moves to `failed` (absent: it leaves the entity alone). */
  readonly unfinished?: readonly string[];
  /** A column `resetExperimentStates` sets to the reset time (IC operations' `processedAt`). */
  readonly recoveredAt?: string;
  /** The root every other row belongs to (experiments): `resetAllTables` keeps it unless asked. */
  readonly root?: true;
  /** The status machine (the schema's `*_TRANSITIONS`): `setStatus` and the named moves obey it. */
  readonly transitions: Transitions<string>;
}

/** An entity: its facts, its table, and what is read from the table. */
export interface Entity<T extends SQLiteTable = SQLiteTable> extends EntityFacts {
  readonly table: T;
  /** The primary key column. */
  readonly id: SQLiteColumn;
  /** The primary key's TypeScript name, also the id argument's name in validation messages (`pipelineId`). */
  readonly idField: string;
  /** The `status` column and its values (the schema's `as const` array). */
  readonly status: SQLiteColumn;
  readonly statuses: readonly string[];
  readonly error: string;
}

/** The status type of an entity. */
export type StatusOf<E extends Entity> = E["table"]["$inferSelect"]["status"];
/** The row type of an entity. */
export type RowOfEntity<E extends Entity> = RowOf<E["table"]>;

/**
 * The entity stored in `table`, with `facts` kept as literal types (the
 * registry derives `ResetCounts` from them) and checked against the table.
 */
export function defineEntity<T extends SQLiteTable, const F extends EntityFacts>(
  table: T,
  facts: F & {
    error?: ColumnKey<T>;
    unfinished?: readonly T["$inferSelect"]["status"][];
    recoveredAt?: ColumnKey<T>;
    transitions: Transitions<T["$inferSelect"]["status"]>;
  },
): Entity<T> & F {
  const columns = Object.entries(getTableColumns(table));
  const primary = columns.find(([, c]) => c.primary);
  const status = columns.find(([key]) => key === "status")?.[1];
  if (!primary || !status?.enumValues) throw new Error(`rf-inferno-db: ${facts.name}: no primary key or status enum`);
  for (const s of status.enumValues)
    if (!Array.isArray(facts.transitions[s]))
      throw new Error(`rf-inferno-db: ${facts.name}: no transitions from "${s}"`);
  return {
    error: "error",
    ...facts,
    table,
    id: primary[1],
    idField: primary[0],
    status,
    statuses: status.enumValues,
  };
}
