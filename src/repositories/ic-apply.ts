/**
 * `icOperations.apply(icId)`: an IC operation's completion AND its effect,
 * atomically — or its failure with the reason, and nothing else.
 *
 * stop / resume / delete: ONE atomic batch (one request on a remote
 * database), five statements chained by `changes()` (the rows the previous
 * statement changed, triggers' rows not counted), so each runs only if the
 * one before it wrote:
 *
 *   take     operation pending|processing → processing, only if its pipeline
 *            may make the move (the named moves' start statuses: PIPELINE_MOVES)
 *   move     the pipeline → stopped / ongoing / deleted        if take wrote
 *   complete operation processing → completed (processedAt)    if move wrote
 *   refuse   operation still live → failed, with the reason (the pipeline is
 *            deleted, missing, or in a state the move cannot start from)
 *   state    the operation afterwards (and a clone's parent)
 *
 * clone: the child's configuration is computed here (the parent's
 * `configJson` merged with the request's `config`, flattened, redacted,
 * hashed — sha256 is not SQL), so it takes the first batch's read of the
 * parent and a second batch: take (only while the parent exists and is not
 * deleted) → insert the child (`parentPipelineId`, `source: "clone"`, the
 * parent's experiment, context, type, model config, sampling params and
 * opaque `pipelineConfig`) → complete. Two requests remotely.
 *
 * Two `apply` of one operation at once: SQLite runs the batches one after
 * the other; the second finds the operation completed, writes nothing and
 * throws. A state that changed between the clone's two batches (the parent
 * deleted meanwhile) makes the second batch write nothing; `apply` then
 * reads again and decides again.
 */
import { and, eq, inArray, type SQL, sql } from "drizzle-orm";
import { InvalidTransitionError, NotFoundError, RFDatabaseError, ValidationError } from "../errors";
import { DB_NOW_MS, icOperations, pipelines } from "../schema";
import { CompiledQuery, type RowOf } from "./engine";
import type { Executor } from "./executor";
import { insertSelect } from "./insert-select";
import { configViews, mergeConfig } from "./pipeline-config";
import { PIPELINE_MOVES } from "./pipeline-repository";
import { updateOf } from "./update";

const p = sql.placeholder;

/** The pipeline move each operation makes: `pipelines.stop/resume/delete`'s (target, start statuses). */
const MOVE_OF = { stop: PIPELINE_MOVES.stop, resume: PIPELINE_MOVES.resume, delete: PIPELINE_MOVES.delete } as const;
type Move = keyof typeof MOVE_OF;
const MOVES = Object.keys(MOVE_OF) as Move[];

/** What apply needs of its repository (its protected parts, handed over as functions). */
export interface ApplyHost {
  db: Executor;
  compiled<P>(key: string, build: () => P): CompiledQuery<RowOf<P>>;
  settle<T>(pending: Promise<T>): Promise<T>;
  redactKeys: RegExp | undefined;
}

const ic = icOperations;
const LIVE = ["pending", "processing"] as const;
/** Our own constants as SQL literals (never user input). */
const lit = (s: string) => `'${s}'`;
const list = (xs: readonly string[]) => sql.raw(xs.map(lit).join(", "));
/** `(operation = 'stop' and <status> in ('new', 'ongoing')) or …` */
const allowedMove = (status: SQL) =>
  sql.join(
    MOVES.map((m) => sql`(${ic.operation} = ${sql.raw(lit(m))} and ${status} in (${list(MOVE_OF[m].from)}))`),
    sql` or `,
  );
/** `case operation when 'stop' then 'stopped' … end` */
const targetOf = sql`case ${ic.operation} ${sql.raw(MOVES.map((m) => `when ${lit(m)} then ${lit(MOVE_OF[m].to)}`).join(" "))} end`;
/** A value of the operation `:ic`, as a scalar subquery. */
const ofOp = (value: SQL) => sql`(select ${value} from ${ic} where ${ic.icId} = ${p("ic")})`;
/** A clone's parent: its pipelineId, else (rows of the Python module) the id in its request. */
const declaredParent = sql`coalesce(${ic.pipelineId}, case when json_valid(${ic.requestData}) then coalesce(json_extract(${ic.requestData}, '$.parentPipelineId'), json_extract(${ic.requestData}, '$.parent_pipeline_id')) end)`;
/** Why a move cannot be made, for the operation row being updated (see `refuse`). */
const refusal = sql`coalesce((select case when ${pipelines.status} = 'deleted'
    then 'pipeline ' || ${pipelines.pipelineId} || ' is deleted: it accepts no IC operation'
    else 'cannot move pipeline ' || ${pipelines.pipelineId} || ' from "' || ${pipelines.status} || '" to "' || (${targetOf}) || '"' end
  from ${pipelines} where ${pipelines.pipelineId} = ${ic.pipelineId}),
  'pipeline ' || coalesce(${ic.pipelineId}, '?') || ' does not exist')`;

/** The statements, compiled once per repository class (keys `apply.*`). */
function statements(h: ApplyHost) {
  const live = () => and(eq(ic.icId, p("ic")), inArray(ic.status, LIVE));
  return {
    take: h.compiled("apply.take", () =>
      updateOf(h.db, ic, { status: "processing" })
        .where(
          and(
            live(),
            inArray(ic.operation, MOVES),
            sql`exists (select 1 from ${pipelines} where ${pipelines.pipelineId} = ${ic.pipelineId} and (${allowedMove(sql`${pipelines.status}`)}))`,
          ),
        )
        .prepare(),
    ),
    move: h.compiled("apply.move", () =>
      updateOf(h.db, pipelines, { status: ofOp(targetOf) as never })
        .where(sql`${pipelines.pipelineId} = ${ofOp(sql`${ic.pipelineId}`)} and changes() = 1`)
        .prepare(),
    ),
    complete: h.compiled("apply.complete", () =>
      updateOf(h.db, ic, { status: "completed", processedAt: DB_NOW_MS as never })
        .where(and(eq(ic.icId, p("ic")), eq(ic.status, "processing"), sql`changes() = 1`))
        .prepare(),
    ),
    refuse: h.compiled("apply.refuse", () =>
      updateOf(h.db, ic, { status: "failed", error: refusal as never, processedAt: DB_NOW_MS as never })
        .where(and(live(), inArray(ic.operation, MOVES)))
        .prepare(),
    ),
    state: h.compiled("apply.state", () =>
      h.db
        .select({
          operation: ic.operation,
          status: ic.status,
          error: ic.error,
          pipelineId: ic.pipelineId,
          requestData: ic.requestData,
          declaredParent: sql<number | null>`${declaredParent}`.mapWith(Number),
          targetStatus: pipelines.status,
          targetId: pipelines.pipelineId,
          experimentId: pipelines.experimentId,
          contextId: pipelines.contextId,
          pipelineName: pipelines.pipelineName,
          pipelineType: pipelines.pipelineType,
          modelConfig: pipelines.modelConfig,
          samplingParams: pipelines.samplingParams,
          pipelineConfig: pipelines.pipelineConfig,
          configJson: pipelines.configJson,
        })
        .from(ic)
        .leftJoin(pipelines, sql`${pipelines.pipelineId} = ${declaredParent}`)
        .where(eq(ic.icId, p("ic")))
        .limit(1)
        .prepare(),
    ),
    /** A clone's take: only while its parent exists and is not deleted. */
    takeClone: h.compiled("apply.takeClone", () =>
      updateOf(h.db, ic, { status: "processing" })
        .where(
          and(
            live(),
            eq(ic.operation, "clone"),
            sql`exists (select 1 from ${pipelines} where ${pipelines.pipelineId} = ${p("parent")} and ${pipelines.status} <> 'deleted')`,
          ),
        )
        .prepare(),
    ),
    insertChild: h.compiled("apply.insertChild", () =>
      insertSelect(
        h.db,
        pipelines,
        {
          experimentId: p("experimentId"),
          contextId: p("contextId"),
          parentPipelineId: p("parent"),
          pipelineName: p("pipelineName"),
          pipelineType: p("pipelineType"),
          modelConfig: p("modelConfig"),
          samplingParams: p("samplingParams"),
          pipelineConfig: p("pipelineConfig"),
          configJson: p("configJson"),
          flattenedConfig: p("flattenedConfig"),
          configHash: p("configHash"),
          source: sql`'clone'`,
        },
        sql`where changes() = 1`,
      ).prepare(),
    ),
    /** A clone's refusal, only while the parent is as it was read (`is`: also "still missing"). */
    refuseClone: h.compiled("apply.refuseClone", () =>
      updateOf(h.db, ic, { status: "failed", error: p("reason") as never, processedAt: DB_NOW_MS as never })
        .where(
          and(
            live(),
            sql`(select ${pipelines.status} from ${pipelines} where ${pipelines.pipelineId} = ${p("parent")}) is ${p("parentStatus")}`,
          ),
        )
        .prepare(),
    ),
  };
}

type Statements = ReturnType<typeof statements>;
type State = NonNullable<ReturnType<Statements["state"]["decodeFirst"]>>;
const batch = (h: ApplyHost, steps: { query: CompiledQuery<unknown>; values: Record<string, unknown> }[]) =>
  h.settle(CompiledQuery.batch(steps));

/** How many times apply reads again after a state changed under a clone (practically never more than once). */
const ATTEMPTS = 5;

/**
 * Applies operation `icId` (see the module comment): returns the id of the
 * pipeline it moved, or of the clone it created; throws NotFoundError /
 * InvalidTransitionError when it is refused (the operation is then failed
 * with the reason) or when the operation is missing or no longer live.
 */
export async function applyOperation(h: ApplyHost, icId: number): Promise<number> {
  const s = statements(h);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const values = { ic: icId };
    const [, , completed, refused, read] = await batch(h, [
      { query: s.take as CompiledQuery<unknown>, values },
      { query: s.move as CompiledQuery<unknown>, values },
      { query: s.complete as CompiledQuery<unknown>, values },
      { query: s.refuse as CompiledQuery<unknown>, values },
      { query: s.state as CompiledQuery<unknown>, values },
    ]);
    const state = s.state.decodeFirst(read!);
    if (!state) throw new NotFoundError("IC operation", icId);
    if (completed!.rowsAffected === 1) return state.pipelineId!;
    if (refused!.rowsAffected === 1) throw refusedMove(state);
    if (state.status !== "pending" && state.status !== "processing")
      throw new InvalidTransitionError("IC operation", icId, state.status, "completed");
    if (state.operation !== "clone") continue; // cannot happen: a live move is taken or refused
    const child = await applyClone(h, s, icId, state);
    if (child !== undefined) return child;
  }
  throw new RFDatabaseError(`IC operation ${icId}: its pipeline kept changing while it was applied; try again`);
}

/** The error for a move the first batch refused (the operation now holds the same reason). */
function refusedMove(state: State): RFDatabaseError {
  const id = state.pipelineId ?? -1;
  if (state.targetStatus === null) return new NotFoundError("pipeline", id, { message: state.error ?? undefined });
  return new InvalidTransitionError("pipeline", id, state.targetStatus, MOVE_OF[state.operation as Move].to);
}

/** The clone's second batch; the child's id, or undefined when the parent changed meanwhile (read again). */
async function applyClone(h: ApplyHost, s: Statements, icId: number, state: State): Promise<number | undefined> {
  const parent = state.declaredParent;
  const request = (state.requestData ?? {}) as Record<string, unknown>;
  const edits = request.config ?? request.config_json ?? {};
  const reason =
    parent === null
      ? "the clone request names no parent pipeline"
      : state.targetId === null
        ? `parent pipeline ${parent} does not exist`
        : state.targetStatus === "deleted"
          ? `parent pipeline ${parent} is deleted: it accepts no IC operation`
          : typeof edits !== "object" || edits === null || Array.isArray(edits)
            ? "the clone request's config is not a JSON object"
            : undefined;
  if (reason !== undefined) {
    const [failed] = await batch(h, [
      {
        query: s.refuseClone as CompiledQuery<unknown>,
        values: { ic: icId, reason, parent, parentStatus: state.targetStatus },
      },
    ]);
    if (failed!.rowsAffected === 0) return undefined;
    if (parent === null || state.targetId === null)
      throw new NotFoundError("pipeline", parent ?? undefined, { message: `IC operation ${icId} failed: ${reason}` });
    if (state.targetStatus === "deleted") throw new InvalidTransitionError("pipeline", parent, "deleted", "cloned");
    throw new ValidationError(`IC operation ${icId} failed: ${reason}`, { field: "config" });
  }
  const configJson = mergeConfig(state.configJson ?? {}, edits);
  const views = await configViews(configJson, null, h.redactKeys);
  const name = typeof request.pipelineName === "string" ? request.pipelineName : null;
  const child = {
    parent,
    experimentId: state.experimentId,
    contextId: state.contextId,
    pipelineName: name ?? (state.pipelineName === null ? null : `${state.pipelineName} (clone)`),
    pipelineType: state.pipelineType,
    modelConfig: state.modelConfig,
    samplingParams: state.samplingParams,
    pipelineConfig: state.pipelineConfig,
    ...views,
  };
  const [, inserted, completed] = await batch(h, [
    { query: s.takeClone as CompiledQuery<unknown>, values: { ic: icId, parent } },
    { query: s.insertChild as CompiledQuery<unknown>, values: child },
    { query: s.complete as CompiledQuery<unknown>, values: { ic: icId } },
  ]);
  if (completed!.rowsAffected !== 1) return undefined;
  return Number(inserted!.lastInsertRowid);
}
