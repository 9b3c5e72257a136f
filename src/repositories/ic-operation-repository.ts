import { and, asc, desc, eq, gte, lte, sql } from "drizzle-orm";
import { InvalidTransitionError, NotFoundError, ValidationError } from "../errors";
// One name inside the package: "IC operation" (icOperations, IcOperation…); the SQL table keeps the
// Python module's name `interactive_control`, and the schema still exports `interactiveControl` as an alias.
import {
  experiments,
  IC_OPERATIONS,
  IC_STATUSES,
  IC_TRANSITIONS,
  icOperations,
  LIVE_DEDUPE_KEY,
  pipelines,
  type IcOperation,
  type IcStatus,
} from "../schema";
import { statusesLeadingTo } from "../schema/transitions";
import * as v from "../validate";
import { slot } from "./base-repository";
import { defineEntity } from "./entity";
import { applyOperation } from "./ic-apply";
import { IcOperationLeases } from "./ic-operation-leases";
import { field, type InputOf, inputSpec } from "./input";
import { insertSelect } from "./insert-select";
import { type PageOptions, pageOf } from "./paging";
import { redactFields } from "./redact";

const p = sql.placeholder;

/** The IC operation entity (see entity.ts). `resetExperimentStates` fails pending and processing ones and stamps `processedAt`. */
export const icOperationEntity = defineEntity(icOperations, {
  key: "icOperations",
  name: "IC operation",
  unfinished: ["pending", "processing"],
  recoveredAt: "processedAt",
  transitions: IC_TRANSITIONS,
});

/** `icOperations.create`'s input; the status is always the schema's default (`pending`). */
export const icOperationInput = inputSpec(icOperations, {
  operation: field.oneOf(IC_OPERATIONS),
  /** Required for every operation but `clone` (for a clone: its parent). */
  pipelineId: field.id().nullable(),
  /** Taken from the pipeline when omitted; when given it must be the pipeline's. A clone without a pipeline needs it. */
  experimentId: field.id().nullable(),
  requestData: field.json().optional(),
  /** While an operation with this key is live (pending/processing), `create` returns its id instead of adding one. */
  dedupeKey: field.text({ nonEmpty: true }).nullable(),
});
export interface CreateIcOperationInput extends InputOf<typeof icOperationInput> {}

/** A typed clone request: `apply` makes the child pipeline of `parentPipelineId` with `config` merged into the parent's. */
export const cloneRequestInput = inputSpec(null, {
  experimentId: field.id().nullable(),
  parentPipelineId: field.id(),
  /** A JSON object merged into the parent's `configJson` (objects key by key; anything else replaces). */
  config: field.json(),
  /** Start the child from the parent's state (for the scheduler; stored in `requestData`). */
  warmStart: field.flag().optional(false),
  /** The child's name; default: the parent's name with " (clone)". */
  pipelineName: field.text({ nonEmpty: true }).nullable(),
  dedupeKey: field.text({ nonEmpty: true }).nullable(),
});
export interface CloneRequest extends InputOf<typeof cloneRequestInput> {
  operation: "clone";
}

/** What a typed clone request stores in `requestData` (`apply` reads it back). */
export interface CloneRequestData {
  parentPipelineId: number;
  config: Record<string, unknown>;
  warmStart: boolean;
  pipelineName: string | null;
}

/** Either form of `create`'s input, as the one row it stores. */
function normalize(input: CreateIcOperationInput | CloneRequest) {
  const i = v.record(input, "input");
  if (i.operation === "clone" && (i.parentPipelineId !== undefined || i.config !== undefined)) {
    for (const k of ["pipelineId", "requestData"])
      if (i[k] !== undefined)
        throw new ValidationError(`a typed clone request (parentPipelineId, config) takes no ${k}`, { field: k });
    const c = cloneRequestInput.parse(i);
    if (typeof c.config !== "object" || c.config === null || Array.isArray(c.config))
      throw new ValidationError("config must be a JSON object", { field: "config" });
    const requestData: CloneRequestData = {
      parentPipelineId: c.parentPipelineId,
      config: c.config as Record<string, unknown>,
      warmStart: c.warmStart!,
      pipelineName: c.pipelineName,
    };
    return icOperationInput.parse({
      operation: "clone",
      pipelineId: c.parentPipelineId,
      experimentId: c.experimentId,
      requestData,
      dedupeKey: c.dedupeKey,
    });
  }
  const values = icOperationInput.parse(i);
  if (values.pipelineId === null && values.operation !== "clone")
    throw new ValidationError(`pipelineId is required for a "${values.operation}" operation`, { field: "pipelineId" });
  if (values.pipelineId === null && values.experimentId === null)
    throw new ValidationError("a clone without a pipeline needs its experimentId", { field: "experimentId" });
  return values;
}

/** A live operation with the same dedupe key: the existing row is "updated" to itself, and RETURNING yields its id. */
const dedupe = {
  target: sql.raw(LIVE_DEDUPE_KEY) as never,
  set: { dedupeKey: sql`excluded.dedupe_key` },
};

/** `db.icOperations`: the queue of interactive-control requests (stop, resume, delete, clone). */
export class IcOperationRepository extends IcOperationLeases<typeof icOperationEntity> {
  protected readonly entity = icOperationEntity;

  /**
   * Queues an operation as `pending` and returns its id. Its experiment is
   * its pipeline's (an `experimentId` that differs is a ValidationError); a
   * missing pipeline is a NotFoundError, a deleted one (it accepts no IC
   * operation) an InvalidTransitionError. With `dedupeKey`, while an operation with
   * that key is pending or processing, its id is returned and nothing is
   * added — one statement (an upsert on a unique index), so a double-clicked
   * stop, or two processes asking at once, yield one operation.
   * @example await db.icOperations.create({ operation: "stop", pipelineId: pid, dedupeKey: `stop:${pid}` });
   * @example await db.icOperations.create({ operation: "clone", experimentId, parentPipelineId: pid, config: { sampling_params: { temperature: 0.2 } } });
   */
  async create(input: CreateIcOperationInput | CloneRequest): Promise<number> {
    const values = redactFields(icOperationInput, normalize(input), this.options.redactKeys);
    const row = await (values.pipelineId === null
      ? this.settle(this.#createFor("createForExperiment", experiments).get(values))
      : this.settle(this.#createFor("createForPipeline", pipelines).get(values)));
    if (row) return row.icId;
    return this.#explainNotCreated(values.pipelineId, values.experimentId);
  }

  /** The INSERT … SELECT FROM `from` (the pipeline, or for a pipeline-less clone the experiment) with the dedupe upsert. */
  #createFor(key: string, from: typeof pipelines | typeof experiments) {
    return this.compiled(key, () => {
      const viaPipeline = from === pipelines;
      const where = viaPipeline
        ? sql`where ${pipelines.pipelineId} = ${p("pipelineId")} and (${p("experimentId")} is null or ${pipelines.experimentId} = ${p("experimentId")}) and ${pipelines.status} <> 'deleted'`
        : sql`where ${experiments.experimentId} = ${p("experimentId")}`;
      const values = {
        experimentId: viaPipeline ? pipelines.experimentId : experiments.experimentId,
        pipelineId: viaPipeline ? pipelines.pipelineId : sql`null`,
        operation: p("operation"),
        requestData: p("requestData"),
        dedupeKey: p("dedupeKey"),
      };
      return insertSelect(this.db, icOperations, values, sql`from ${from} ${where}`)
        .onConflictDoUpdate(dedupe)
        .returning({ icId: icOperations.icId })
        .prepare();
    });
  }

  /** Why the INSERT … SELECT found no row: the pipeline (or experiment) is missing, deleted, or of another experiment. */
  async #explainNotCreated(pipelineId: number | null, experimentId: number | null): Promise<never> {
    if (pipelineId === null) throw new NotFoundError("experiment", experimentId ?? undefined);
    const stmt = this.compiled("createTarget", () =>
      this.db
        .select({ experimentId: pipelines.experimentId, status: pipelines.status })
        .from(pipelines)
        .where(eq(pipelines.pipelineId, p("id")))
        .limit(1)
        .prepare(),
    );
    const pipeline = await this.settle(stmt.get({ id: pipelineId }));
    if (!pipeline) throw new NotFoundError("pipeline", pipelineId);
    if (pipeline.status === "deleted")
      throw new InvalidTransitionError("pipeline", pipelineId, "deleted", "IC operation", {
        message: `pipeline ${pipelineId} is deleted: it accepts no IC operation; nothing was written`,
      });
    throw new ValidationError(
      `pipeline ${pipelineId} belongs to experiment ${pipeline.experimentId}, not ${experimentId}`,
      { field: "experimentId" },
    );
  }

  /**
   * Pending operations, oldest first (index `interactive_control_status_idx`);
   * `{ limit, afterId }` reads one keyset page (paging.ts).
   * @example for (const op of await db.icOperations.listPending()) console.log(op.operation, op.pipelineId);
   * @example const first = await db.icOperations.listPending({ limit: 100 });
   */
  async listPending(page?: PageOptions): Promise<IcOperation[]> {
    const pg = pageOf(page);
    const pending = () => and(eq(icOperations.status, "pending"), gte(icOperations.icId, p("bound")));
    const stmt = this.rows("listPending", () => ({ where: pending(), orderBy: asc(icOperations.icId), limit: p("n") }));
    return this.paged(
      pg,
      "asc",
      (r) => r.icId,
      (bound, n) => stmt.all({ bound, n }),
    );
  }

  /**
   * Every operation, newest first; `{ limit, afterId }` reads one keyset page
   * (the operations older than `afterId`).
   * @example const history = await db.icOperations.listAll();
   * @example const older = await db.icOperations.listAll({ limit: 20, afterId: oldestShown });
   */
  async listAll(page?: PageOptions): Promise<IcOperation[]> {
    const pg = pageOf(page);
    const stmt = this.rows("listAll", () => ({
      where: lte(icOperations.icId, p("bound")),
      orderBy: desc(icOperations.icId),
      limit: p("n"),
    }));
    return this.paged(
      pg,
      "desc",
      (r) => r.icId,
      (bound, n) => stmt.all({ bound, n }),
    );
  }

  /**
   * Moves the operation to `status` if IC_TRANSITIONS allows it, with an
   * optional error and `processedAt` = now, in one conditional statement;
   * InvalidTransitionError (nothing written) otherwise, NotFoundError for a
   * missing id. The status it already has is a no-op (nothing written).
   * @example await db.icOperations.setStatus(op.icId, "completed");
   * @example await db.icOperations.setStatus(op.icId, "failed", "pipeline already stopped");
   */
  async setStatus(id: number, status: IcStatus, error?: string): Promise<void> {
    const icId = v.id(id, "icId");
    const s = v.oneOf(status, IC_STATUSES, "status");
    const message = error === undefined ? null : v.text(error, "error");
    const set = () => ({
      error: sql`coalesce(${p("error")}, ${icOperations.error})`,
      processedAt: slot("t"),
      // Whatever the new status, no worker's lease runs on (a `processing` set by hand never expires).
      leaseExpiresAt: null,
    });
    const from = statusesLeadingTo(IC_TRANSITIONS, s);
    await this.move(`setStatus>${s}`, icId, s, from, set, { error: message, t: new Date() });
  }

  /**
   * Completes the operation AND makes its change, in one transaction: stop,
   * resume and delete move its pipeline (one atomic batch: one request on a
   * remote database); clone creates the child pipeline — `parentPipelineId`,
   * `source: "clone"`, the parent's `configJson` merged with the request's
   * `config` — and returns its id (two requests). Returns the id of the
   * pipeline moved or created. When the change cannot be made (the pipeline
   * is deleted or gone, a move its status does not allow) the operation is
   * failed with the reason, nothing else changes, and it throws
   * (InvalidTransitionError / NotFoundError). An operation that is no longer
   * pending or processing — e.g. applied by a concurrent call — throws
   * InvalidTransitionError and nothing is written.
   * @example const op = await db.icOperations.claimNext(); if (op) await db.icOperations.apply(op.icId);
   * @example const childId = await db.icOperations.apply(cloneOpId);
   */
  async apply(icId: number): Promise<number> {
    const id = v.id(icId, "icId");
    return applyOperation(
      {
        db: this.db,
        compiled: (key, build) => this.compiled(key, build),
        settle: (pending) => this.settle(pending),
        redactKeys: this.options.redactKeys,
      },
      id,
    );
  }
}
