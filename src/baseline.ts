/**
 * `rf-db migrate --baseline` / `db.migrate({ baseline: true })`: adopts a
 * database whose tables were made without the migrator (`drizzle-kit push`,
 * or a copy that lost its bookkeeping).
 *
 * The live schema is compared with what ALL the package's migrations define
 * (the same comparison as `db.check()`). Objects that can be added without
 * touching data — triggers, views and indexes `push` does not create — are
 * created from the migrations' own SQL; any other difference (a missing,
 * extra or different column or constraint, an extra or different index or
 * trigger) refuses the baseline with the list, and nothing is written. Then
 * every migration is recorded as drizzle's migrator records it. The objects
 * and the records go in one atomic batch, under the same unique hash index
 * the migrator races on, so two baselines at once record everything once.
 */
import type { Client } from "@libsql/client";
import { diffShapes, readShape, referenceShape } from "./check";
import { mapDriverError, SchemaVersionError } from "./errors";
import { applyMigrations, MIGRATIONS, type MigrateOptions, type MigrateResult, readSchemaState } from "./migrate";
import { TASK_COUNT_BACKFILL } from "./schema/task-counts";

const TABLE = "__drizzle_migrations";

/** What a baseline did: the migrations it recorded (`applied`), and the objects it created (`"trigger x"`). */
export interface BaselineResult extends MigrateResult {
  created: string[];
  /** False when the database had none of the package's tables, so it was simply migrated. */
  baselined: boolean;
}

/**
 * Verifies the tables and records every migration; returns what it recorded
 * as `applied`. A database with no table of the package is simply migrated.
 */
export async function baselineMigrations(
  client: Client,
  scratch: () => Client,
  options: MigrateOptions & { where: string },
): Promise<BaselineResult> {
  try {
    const state = await readSchemaState(client);
    if (state.state === "empty") return { ...(await applyMigrations(client, options)), created: [], baselined: false };
    if (state.state !== "unrecorded") {
      if (state.state === "current") return { applied: [], state, created: [], baselined: false };
      throw new SchemaVersionError(
        `--baseline is for a database whose tables exist without migration records; ${options.where} has ` +
          `${state.applied.length} recorded (state: ${state.state}): run \`rf-db migrate\` without --baseline`,
        state.state === "behind" ? "behind" : state.state === "ahead" ? "ahead" : "diverged",
      );
    }
    const [live, reference] = await Promise.all([readShape(client), referenceShape(scratch, MIGRATIONS)]);
    // What push leaves out and can be added without touching data: the reference's missing objects.
    const missing = [...reference.objects].filter(([name, o]) => !live.objects.has(name) && o.create !== null);
    const blocking = diffShapes(live, reference).filter((p) => !missing.some(([name]) => isMissing(p, name)));
    if (blocking.length > 0) {
      throw new SchemaVersionError(
        `${options.where} does not match the migrations, so they cannot be recorded as applied (nothing was written):\n` +
          blocking.map((p) => `  - ${p}`).join("\n"),
        "diverged",
      );
    }
    try {
      await client.migrate([
        {
          sql: `CREATE TABLE IF NOT EXISTS ${TABLE} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`,
          args: [],
        },
        { sql: `CREATE UNIQUE INDEX IF NOT EXISTS ${TABLE}_hash_uq ON ${TABLE} (hash)`, args: [] },
        ...missing.map(([, o]) => ({ sql: o.create!, args: [] })),
        // The task counters' triggers were just created: count the tasks push left uncounted.
        ...TASK_COUNT_BACKFILL.map((sql) => ({ sql, args: [] })),
        ...MIGRATIONS.map((m) => ({
          sql: `INSERT INTO ${TABLE} ("hash", "created_at") VALUES (?, ?)`,
          args: [m.hash, m.when],
        })),
      ]);
    } catch (err) {
      // Another baseline (or migrator) recorded them first: what is there now is the answer.
      const now = await readSchemaState(client);
      if (now.state === "current") return { applied: [], state: now, created: [], baselined: false };
      throw err;
    }
    for (const m of MIGRATIONS) options.onApplied?.(m);
    return {
      applied: [...MIGRATIONS],
      state: await readSchemaState(client),
      created: missing.map(([name, o]) => `${o.type} ${name}`),
      baselined: true,
    };
  } catch (err) {
    throw mapDriverError(err, { secret: options.secret });
  }
}

/** True when problem line `p` says that object `name` is missing (and so can be created). */
function isMissing(p: string, name: string): boolean {
  return p.endsWith(" is missing") && p.includes(` ${name} (on `);
}
