/**
 * The lifecycle columns every entity shares — status, error message, start
 * and end time with the duration — written by one helper, with one duration
 * policy. A repository gets the setters by extending `LifecycleRepository`
 * (status, error) or `TimedLifecycleRepository` (also start/end time) with
 * its entity descriptor (entity.ts); lifecycle transitions of its own
 * (`actorTasks.complete`, …) use `elapsedSeconds` for their duration.
 *
 * THE DURATION POLICY: a duration computed by the database is
 * `max(0, end − start)` seconds, and null when no start was recorded. An end
 * a little before the start is clamped to 0, not refused: the start and the
 * end are often written by different hosts (a controller starts a context,
 * a worker finishes it), whose clocks disagree by some milliseconds; refusing
 * would lose the end time — the information that the work finished — over
 * clock skew. The end time itself is stored exactly as given. An explicit
 * `durationSeconds` argument is taken as is, and must be a finite number >= 0.
 */
import { type Placeholder, sql, type SQL } from "drizzle-orm";
import type { SQLiteColumn, SQLiteUpdateSetSource } from "drizzle-orm/sqlite-core";
import { statusesLeadingTo } from "../schema/transitions";
import * as v from "../validate";
import { BaseRepository, slot } from "./base-repository";
import type { Entity, StatusOf } from "./entity";

/**
 * Seconds from the row's `startedAt` to `end` (epoch ms; default the
 * placeholder `:ms`, or e.g. `DB_NOW_MS` when the database decides the end):
 * `max(0, (end - started_at) / 1000.0)` — null when `started_at` is null
 * (SQLite's `max` of a NULL is NULL). See the policy above.
 */
export function elapsedSeconds(startedAt: SQLiteColumn, end: SQL | Placeholder = sql.placeholder("ms")): SQL {
  return sql`max(0, (${end} - ${startedAt}) / 1000.0)`;
}

type SetOf<E extends Entity> = SQLiteUpdateSetSource<E["table"]>;

/** A SET keyed by the entity descriptor's column keys (checked against the table by defineEntity). */
const setOf = <E extends Entity>(set: Record<string, unknown>) => set as unknown as SetOf<E>;

/** `setStatus` and `setError` for an entity (see entity.ts). */
export abstract class LifecycleRepository<E extends Entity> extends BaseRepository<E> {
  /**
   * Moves the row to `status` if the entity's transition table allows it
   * (`PIPELINE_TRANSITIONS` …), in one conditional statement.
   * InvalidTransitionError (nothing written) when it does not; NotFoundError
   * if the id does not exist. Setting the status the row already has is a
   * no-op: accepted, nothing written (so a retried call succeeds).
   * @example await db.pipelines.setStatus(pipelineId, "ongoing");
   */
  async setStatus(id: number, status: StatusOf<E>): Promise<void> {
    const rowId = v.id(id, this.entity.idField);
    const s = v.oneOf(status, this.entity.statuses, "status");
    await this.move(`setStatus>${s}`, rowId, s, statusesLeadingTo(this.entity.transitions, s));
  }

  /**
   * Records an error message (the status is unchanged).
   * @example await db.pipelines.setError(pipelineId, "CUDA out of memory on shard 12");
   */
  async setError(id: number, error: string): Promise<void> {
    const rowId = v.id(id, this.entity.idField);
    const message = v.text(error, "error");
    await this.updateById("setError", () => setOf<E>({ [this.entity.error]: slot("error") }), {
      id: rowId,
      error: message,
    });
  }
}

/** `LifecycleRepository` plus `setStartTime` / `setEndTime` with the duration policy. */
export abstract class TimedLifecycleRepository<E extends Entity> extends LifecycleRepository<E> {
  /**
   * Records the start time.
   * @example await db.contexts.setStartTime(contextId, new Date());
   */
  async setStartTime(id: number, time: Date | string): Promise<void> {
    const rowId = v.id(id, this.entity.idField);
    const t = v.time(time, "time");
    await this.updateById("setStartTime", () => setOf<E>({ startedAt: slot("t") }), { id: rowId, t });
  }

  /**
   * Records the end time and the duration: `durationSeconds` when given,
   * else computed from the recorded start — clamped at 0 when the end is
   * before the start (clocks of different hosts), null when no start was
   * recorded. One statement either way.
   * @example await db.actorTasks.setEndTime(taskId, new Date());
   * @example await db.contexts.setEndTime(contextId, "2026-01-02T03:05:00Z", 12.5);
   */
  async setEndTime(id: number, time: Date | string, durationSeconds?: number): Promise<void> {
    const rowId = v.id(id, this.entity.idField);
    const t = v.time(time, "time");
    if (durationSeconds === undefined) {
      await this.updateById("setEndTimeComputed", () => this.#endSet(elapsedSeconds(this.#startedAt)), {
        id: rowId,
        t,
        ms: t.getTime(),
      });
    } else {
      const d = v.duration(durationSeconds, "durationSeconds");
      await this.updateById("setEndTime", () => this.#endSet(slot("d")), { id: rowId, t, d });
    }
  }

  /** `completedAt = :t, durationSeconds = <duration>`. */
  #endSet(duration: unknown): SetOf<E> {
    this.#startedAt; // throws for an entity without start/end columns
    return setOf<E>({ completedAt: slot("t"), durationSeconds: duration });
  }

  get #startedAt(): SQLiteColumn {
    const start = (this.entity.table as unknown as Record<string, SQLiteColumn>).startedAt;
    if (!this.entity.timed || !start) throw new Error(`rf-inferno-db: ${this.entity.name} has no start/end columns`);
    return start;
  }
}
