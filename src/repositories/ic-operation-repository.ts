import { asc, desc, eq, sql } from "drizzle-orm";
import { ValidationError } from "../errors";
// One name inside the package: "IC operation" (icOperations, IcOperation…); the SQL table keeps the
// Python module's name `interactive_control`, and the schema still exports `interactiveControl` as an alias.
import { IC_OPERATIONS, IC_STATUSES, IC_TRANSITIONS, icOperations, type IcOperation, type IcStatus } from "../schema";
import { statusesLeadingTo } from "../schema/transitions";
import * as v from "../validate";
import { BaseRepository, slot } from "./base-repository";
import { defineEntity } from "./entity";
import { field, type InputOf, inputSpec } from "./input";
import { updateOf } from "./update";

const p = sql.placeholder;

/** The IC operation entity (see entity.ts). `resetExperimentStates` fails pending ones and stamps `processedAt`. */
export const icOperationEntity = defineEntity(icOperations, {
  key: "icOperations",
  name: "IC operation",
  unfinished: ["pending"],
  recoveredAt: "processedAt",
  transitions: IC_TRANSITIONS,
});

/** `icOperations.create`'s input; the status is always the schema's default (`pending`). */
export const icOperationInput = inputSpec(icOperations, {
  operation: field.oneOf(IC_OPERATIONS),
  /** Required for every operation but `clone`. */
  pipelineId: field.id().nullable(),
  requestData: field.json().optional(),
});
export interface CreateIcOperationInput extends InputOf<typeof icOperationInput> {}

/** `db.icOperations`: the queue of interactive-control requests (stop, resume, delete, clone). */
export class IcOperationRepository extends BaseRepository<typeof icOperationEntity> {
  protected readonly entity = icOperationEntity;

  /**
   * Queues an operation as `pending`; NotFoundError if the pipeline does not exist.
   * @example await db.icOperations.create({ operation: "stop", pipelineId: pid });
   * @example await db.icOperations.create({ operation: "clone", requestData: { from: pid, modelConfig: { temperature: 0.2 } } });
   */
  async create(input: CreateIcOperationInput): Promise<number> {
    const values = icOperationInput.parse(input);
    const { operation, pipelineId } = values;
    if (pipelineId === null && operation !== "clone") {
      throw new ValidationError(`pipelineId is required for a "${operation}" operation`, { field: "pipelineId" });
    }
    return this.insert(icOperationInput, values, { entity: "pipeline", id: pipelineId ?? undefined });
  }

  /**
   * Pending operations, oldest first.
   * @example for (const op of await db.icOperations.listPending()) console.log(op.operation, op.pipelineId);
   */
  async listPending(): Promise<IcOperation[]> {
    const pending = () => eq(icOperations.status, "pending");
    const stmt = this.rows("listPending", () => ({ where: pending(), orderBy: asc(icOperations.icId) }));
    return this.settle(stmt.all());
  }

  /**
   * Every operation, newest first.
   * @example const history = await db.icOperations.listAll();
   */
  async listAll(): Promise<IcOperation[]> {
    const stmt = this.rows("listAll", () => ({ orderBy: desc(icOperations.icId) }));
    return this.settle(stmt.all());
  }

  /**
   * Atomically moves the oldest pending operation to `processing` and returns
   * it, or `null` when none is pending. One statement that re-checks the
   * status in its WHERE (SQLite has no SKIP LOCKED; its single writer makes
   * the statement atomic), so two workers never claim the same operation.
   * @example const op = await db.icOperations.claimNext(); if (op) await handle(op);
   */
  async claimNext(): Promise<IcOperation | null> {
    const stmt = this.compiled("claimNext", () =>
      updateOf(this.db, icOperations, { status: "processing" })
        .where(
          sql`${icOperations.icId} = (select ${icOperations.icId} from ${icOperations} where ${icOperations.status} = 'pending' order by ${icOperations.icId} limit 1) and ${icOperations.status} = 'pending'`,
        )
        .returning()
        .prepare(),
    );
    return (await this.settle(stmt.get())) ?? null;
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
    });
    const from = statusesLeadingTo(IC_TRANSITIONS, s);
    await this.move(`setStatus>${s}`, icId, s, from, set, { error: message, t: new Date() });
  }
}
