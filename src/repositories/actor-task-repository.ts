/**
 * `db.actorTasks`: creating, claiming and reading tasks. The entity, its
 * input and its lifecycle (start/complete/fail/completeWithProgress/
 * heartbeat) are in actor-task-lifecycle.ts; the lease policy in lease.ts.
 */
import { and, count, eq, gte, inArray, type SQL, sql } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import {
  ACTOR_TASK_STATUSES,
  actorTasks,
  actorTaskCounts,
  DB_NOW_MS,
  rowColumns,
  TASK_COUNT_COLUMNS,
  type ActorTask,
  type ActorTaskStatus,
} from "../schema";
import * as v from "../validate";
import {
  ActorTaskLifecycle,
  actorTaskEntity,
  actorTaskInput,
  type CreateActorTaskInput,
  failed,
  type TaskCompletion,
} from "./actor-task-lifecycle";
import { type AdvanceProgressInput, progressDeltaInput } from "./pipeline-repository";
import { CompiledQuery } from "./engine";
import { expiredLeaseOf, expiryMessage, leaseEnd, leaseMs, options } from "./lease";
import { type PageOptions, pageOf } from "./paging";
import { elapsedSeconds } from "./lifecycle";
import { updateOf } from "./update";

export {
  actorTaskEntity,
  actorTaskInput,
  type CreateActorTaskInput,
  type TaskCompletion,
} from "./actor-task-lifecycle";

const p = sql.placeholder;
const t = actorTasks;

/** In progress, lease ended (database clock), with attempts left or none (also `db.reapStale`). */
export const expiredLease = (attemptsLeft: boolean) => expiredLeaseOf(t, "in_progress", attemptsLeft);

/** A task ended by the database (not by its holder): the end is the database's now, nobody holds it any more. */
export const endedByDatabase = {
  completedAt: DB_NOW_MS,
  durationSeconds: elapsedSeconds(t.startedAt, DB_NOW_MS),
  leaseOwner: null,
  leaseExpiresAt: null,
} as const;

/**
 * `→ failed` for tasks whose lease ended after their last attempt: the error names the expiry.
 * (`db.reapStale` uses it too.)
 */
export const exhaustedLease = {
  status: "failed",
  errorMessage: expiryMessage(t.attempts, t.maxAttempts, t.leaseExpiresAt, t.leaseOwner),
  ...endedByDatabase,
} as const;

/** What `claimNext` accepts: the lease length. */
export interface ClaimOptions {
  /** How long the claim holds without a heartbeat, in ms (default 60000). */
  leaseMs?: number;
}

/** `db.actorTasks`: one row per shard of a pipeline run by an actor. */
export class ActorTaskRepository extends ActorTaskLifecycle {
  /**
   * Creates a task; NotFoundError if the experiment or pipeline does not exist.
   * Pass `status: "in_progress"` and `startedAt` to create a running task in
   * one statement (one request remotely) instead of `create` + `start`.
   * @example const taskId = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 3 });
   * @example const taskId = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 3, status: "in_progress", startedAt: new Date() });
   */
  async create(input: CreateActorTaskInput): Promise<number> {
    const values = actorTaskInput.parse(input);
    // Bound as epoch milliseconds (the column's storage), null when absent.
    const startedAt = values.startedAt === null ? null : values.startedAt.getTime();
    const stmt = this.compiled("create", () => {
      const running = sql`${p("status")} = 'in_progress'`;
      return this.db
        .insert(t)
        .values({
          // startedAt: a raw placeholder (not through the Date encoder, which cannot take null).
          ...(actorTaskInput.placeholders({ startedAt: sql`${p("startedAt")}` }) as object),
          // Created running = started by its actor: held without a lease end, one attempt (as `start`).
          leaseOwner: sql`case when ${running} then ${p("actorId")} end`,
          attempts: sql`case when ${running} then 1 else 0 end`,
        } as never)
        .prepare();
    });
    const fk = { entity: "experiment or pipeline", id: undefined };
    return this.insertedId(await this.settle(stmt.run({ ...values, startedAt }), fk));
  }

  /**
   * The experiment's tasks in `in_progress`, by id (index `actor_tasks_experiment_status_idx`);
   * `{ limit, afterId }` reads one keyset page (paging.ts).
   * @example const running = await db.actorTasks.listRunning(experimentId);
   */
  async listRunning(experimentId: number, page?: PageOptions): Promise<ActorTask[]> {
    const eid = v.id(experimentId, "experimentId");
    const pg = pageOf(page);
    const running = () =>
      and(eq(t.experimentId, p("experimentId")), eq(t.status, "in_progress"), gte(t.taskId, p("bound")));
    const stmt = this.rows("listRunning", () => ({ where: running(), orderBy: t.taskId, limit: p("n") }));
    return this.paged(
      pg,
      "asc",
      (r) => r.taskId,
      (bound, n) => stmt.all({ experimentId: eid, bound, n }),
    );
  }

  /**
   * Claims a task of the experiment for an actor and returns it (`null` when
   * none is ready): the one whose lease ended longest ago (its holder died or
   * stalled) or else the oldest `scheduled` one. It moves to `in_progress`
   * with the actor as `actorId` and lease holder, a lease ending `leaseMs`
   * (default 60000) from now by the database's clock, `attempts + 1` and the
   * start time. Tasks whose lease ended after their last attempt
   * (`maxAttempts`) are failed first, with an error naming the expiry. One
   * atomic batch of two statements — one request remotely — whose claim
   * re-checks the status and the lease in its WHERE, so two actors never
   * claim the same task. Keep the lease with `heartbeat`; finish with
   * `complete`/`completeWithProgress`/`fail` and `{ actorId }`.
   *
   * The third argument may also be a Date or ISO string (the first
   * release's form): the start time to record, with the default lease.
   * @example
   * for (let t; (t = await db.actorTasks.claimNext(experimentId, actorId, { leaseMs: 30_000 })); ) {
   *   await runShard(t.pipelineId, t.shardId); // heartbeat(t.taskId, actorId) every ~10 s meanwhile
   *   await db.actorTasks.completeWithProgress(t.taskId, { samples: 512 }, { actorId });
   * }
   */
  async claimNext(
    experimentId: number,
    actorId: number,
    opts?: ClaimOptions | Date | string,
  ): Promise<ActorTask | null> {
    const eid = v.id(experimentId, "experimentId");
    const aid = v.id(actorId, "actorId");
    const legacy = opts instanceof Date || typeof opts === "string";
    const start = v.optionalTime(legacy ? opts : undefined, "time");
    const ms = leaseMs(legacy ? undefined : options(opts, "options", ["leaseMs"]).leaseMs);
    const { exhaust, claim } = this.#claim(false);
    const [, claimed] = await this.settle(
      CompiledQuery.batch([
        { query: exhaust as CompiledQuery<unknown>, values: { experimentId: eid } },
        {
          query: claim as CompiledQuery<unknown>,
          values: { experimentId: eid, actorId: aid, leaseMs: ms, t: start },
        },
      ]),
    );
    return claim.decodeFirst(claimed!) ?? null;
  }

  /**
   * The actor's hand-off in ONE atomic batch — one call, one request remotely,
   * where `completeWithProgress` then `claimNext` cost two: completes task
   * `taskId` with its pipeline's progress exactly as
   * `completeWithProgress(taskId, progress, { actorId })` (the actor must
   * hold its lease), then claims the next task of the same experiment for the
   * same actor exactly as `claimNext(experimentId, actorId, { leaseMs })`.
   * The claim happens only if the completion did: when the completion is
   * refused nothing is claimed and it throws like `completeWithProgress`
   * (LeaseLostError, InvalidTransitionError, NotFoundError).
   * @example
   * let task = await db.actorTasks.claimNext(experimentId, actorId, { leaseMs: 30_000 });
   * while (task) {
   *   const samples = await runShard(task);
   *   ({ next: task } = await db.actorTasks.completeAndClaimNext(task.taskId, { samples, currentShardId: task.shardId }, { actorId, leaseMs: 30_000 }));
   * }
   */
  async completeAndClaimNext(
    taskId: number,
    progress: AdvanceProgressInput,
    opts: { actorId: number; leaseMs?: number },
  ): Promise<{ completed: TaskCompletion; next: ActorTask | null }> {
    const id = v.id(taskId, "taskId");
    const delta = progressDeltaInput.parse(progress ?? {}, "progress");
    const o = options(opts, "options", ["actorId", "leaseMs"]);
    const actorId = v.id(o.actorId, "actorId");
    const ms = leaseMs(o.leaseMs);
    const at = new Date();
    const { advance, complete, progressOf } = this.completion(true);
    const { exhaust, claim } = this.#claim(true);
    const values = { id, actorId, t: at, ms: at.getTime(), leaseMs: ms, ...delta };
    // The claim right after the completion: its `changes() = 1` is the completion's own count. The
    // exhausted leases are failed after the claim (it never takes them), so the task being completed
    // is not failed under it (completeWithProgress does not look at the lease's end either).
    const [advanced, done, claimed, , counters] = await this.settle(
      CompiledQuery.batch(
        [advance, complete, claim, exhaust, progressOf].map((q) => ({ query: q as CompiledQuery<unknown>, values })),
      ),
    );
    const completedRow = await this.completed(id, actorId, advanced!, done!, progressOf.decodeFirst(counters!));
    return { completed: completedRow, next: claim.decodeFirst(claimed!) ?? null };
  }

  /**
   * `claimNext`'s two statements: fail the exhausted leases, then claim. The experiment is
   * `:experimentId`, or (`afterCompletion`) the experiment of task `:id`, and then the claim only
   * happens if the statement just before it changed a row.
   */
  #claim(afterCompletion: boolean) {
    const experiment = afterCompletion
      ? sql`(select ${t.experimentId} from ${t} where ${t.taskId} = ${p("id")})`
      : sql`${p("experimentId")}`;
    const exhaust = this.compiled(afterCompletion ? "failExhaustedLeasesOfTask" : "failExhaustedLeases", () =>
      updateOf(this.db, t, exhaustedLease)
        .where(and(sql`${t.experimentId} = ${experiment}`, expiredLease(false)))
        .prepare(),
    );
    const claim = this.compiled(afterCompletion ? "claimNextAfterCompletion" : "claimNext", () => {
      // The task whose lease ended longest ago (a range of actor_tasks_lease_idx, in its order), else the
      // oldest scheduled one (a range of actor_tasks_experiment_status_idx, in task_id order).
      const candidate = (where: SQL, order: SQLiteColumn) =>
        sql`(select ${t.taskId} from ${t} where ${t.experimentId} = ${experiment} and ${where} order by ${order} limit 1)`;
      return updateOf(this.db, t, {
        status: "in_progress",
        actorId: p("actorId") as never,
        leaseOwner: p("actorId") as never,
        leaseExpiresAt: leaseEnd,
        attempts: sql`${t.attempts} + 1`,
        startedAt: p("t") as never,
        completedAt: null,
        durationSeconds: null,
      })
        .where(
          sql`${t.taskId} = coalesce(${candidate(expiredLease(true), t.leaseExpiresAt)}, ${candidate(sql`${t.status} = 'scheduled'`, t.taskId)}) and (${t.status} = 'scheduled' or ${expiredLease(true)})${afterCompletion ? sql` and changes() = 1` : sql``}`,
        )
        .returning(rowColumns(t))
        .prepare();
    });
    return { exhaust, claim };
  }

  /**
   * How many of the experiment's tasks are in each status (absent statuses are 0).
   * One primary-key read of `actor_task_counts`, which database triggers keep
   * in step with every task insert, status change and delete (src/schema/task-counts.ts):
   * the same time at 10 tasks or 10 million.
   * @example const { completed, in_progress } = await db.actorTasks.countByStatus(experimentId);
   */
  async countByStatus(experimentId: number): Promise<Record<ActorTaskStatus, number>> {
    const eid = v.id(experimentId, "experimentId");
    const stmt = this.compiled("countByStatus", () =>
      this.db
        .select(
          Object.fromEntries(ACTOR_TASK_STATUSES.map((s) => [s, actorTaskCounts[TASK_COUNT_COLUMNS[s]]])) as Record<
            ActorTaskStatus,
            typeof actorTaskCounts.scheduled
          >,
        )
        .from(actorTaskCounts)
        .where(eq(actorTaskCounts.experimentId, p("experimentId")))
        .limit(1)
        .prepare(),
    );
    const row = await this.settle(stmt.get({ experimentId: eid }));
    const counts = Object.fromEntries(ACTOR_TASK_STATUSES.map((s) => [s, 0])) as Record<ActorTaskStatus, number>;
    if (row) for (const s of ACTOR_TASK_STATUSES) counts[s] = Number(row[s]);
    return counts;
  }

  /**
   * Completed tasks of the experiment per actor (the actor that completed each), by actor id,
   * with how many of them it had re-taken after another holder's lease ended (`attempts > 1`).
   * @example const perActor = await db.actorTasks.countCompletedByActor(experimentId); // [{ actorId: 1, tasks: 12, retaken: 1 }, …]
   */
  async countCompletedByActor(experimentId: number): Promise<{ actorId: number; tasks: number; retaken: number }[]> {
    const eid = v.id(experimentId, "experimentId");
    const stmt = this.compiled("countCompletedByActor", () =>
      this.db
        .select({ actorId: t.actorId, tasks: count(), retaken: sql<number>`sum(${t.attempts} > 1)` })
        .from(t)
        .where(and(eq(t.experimentId, p("experimentId")), eq(t.status, "completed")))
        .groupBy(t.actorId)
        .orderBy(t.actorId)
        .prepare(),
    );
    const rows = await this.settle(stmt.all({ experimentId: eid }));
    return rows.map((r) => ({ actorId: r.actorId, tasks: r.tasks, retaken: Number(r.retaken) }));
  }

  /**
   * Fails every `scheduled` or `in_progress` task of the experiment, with the
   * error, the end time and (for started ones) the duration, in one
   * statement; returns how many it failed. For a controller abandoning a run
   * so that no task of it still looks alive.
   * @example const failed = await db.actorTasks.failUnfinished(experimentId, "interrupted (SIGINT)");
   */
  async failUnfinished(experimentId: number, error: string, time?: Date | string): Promise<number> {
    const eid = v.id(experimentId, "experimentId");
    const where = () => and(eq(t.experimentId, p("id")), inArray(t.status, actorTaskEntity.unfinished));
    return (await this.#failWhere("failUnfinished", where, eid, error, time)).rowsAffected;
  }

  /** `→ failed` (error, end time, duration) for the rows `where` selects with `:id` = `id`. */
  async #failWhere(key: string, where: () => SQL | undefined, id: number, error: string, time?: Date | string) {
    const message = v.text(error, "error");
    const at = v.optionalTime(time, "time");
    const stmt = this.compiled(key, () => updateOf(this.db, t, failed).where(where()).prepare());
    return this.settle(stmt.run({ id, error: message, t: at, ms: at.getTime() }));
  }
}
