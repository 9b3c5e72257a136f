import { asc, desc, eq, sql } from "drizzle-orm";
import { ValidationError } from "../errors";
import {
  IC_OPERATIONS,
  IC_STATUSES,
  interactiveControl,
  type IcOperation,
  type IcOperationType,
  type IcStatus,
} from "../schema";
import * as v from "../validate";
import { BaseRepository, slot } from "./base-repository";

const p = sql.placeholder;

export interface CreateIcOperationInput {
  operation: IcOperationType;
  /** Required for every operation but `clone`. */
  pipelineId?: number | null;
  requestData?: unknown;
}

/** `db.icOperations`: the queue of interactive-control requests (stop, resume, delete, clone). */
export class IcOperationRepository extends BaseRepository {
  /**
   * Queues an operation as `pending`; NotFoundError if the pipeline does not exist.
   * @example await db.icOperations.create({ operation: "stop", pipelineId: pid });
   * @example await db.icOperations.create({ operation: "clone", requestData: { from: pid, modelConfig: { temperature: 0.2 } } });
   */
  async create(input: CreateIcOperationInput): Promise<number> {
    const i = v.record(input, "input");
    const operation = v.oneOf(i.operation, IC_OPERATIONS, "operation");
    const pipelineId = i.pipelineId === undefined || i.pipelineId === null ? null : v.id(i.pipelineId, "pipelineId");
    if (pipelineId === null && operation !== "clone") {
      throw new ValidationError(`pipelineId is required for a "${operation}" operation`, { field: "pipelineId" });
    }
    const values = { operation, pipelineId, requestData: v.optionalJson(i.requestData, "requestData") };
    const stmt = this.compiled("create", () =>
      this.db
        .insert(interactiveControl)
        .values({
          operation: p("operation"),
          pipelineId: p("pipelineId"),
          requestData: p("requestData"),
          status: "pending",
        })
        .returning({ id: interactiveControl.icId })
        .prepare(),
    );
    const row = await this.settle(stmt.get(values), { entity: "pipeline", id: pipelineId ?? undefined });
    return row!.id;
  }

  /**
   * The operation, or `null`.
   * @example const op = await db.icOperations.get(icId); op?.status
   */
  async get(id: number): Promise<IcOperation | null> {
    return this.findById(interactiveControl, interactiveControl.icId, v.id(id, "icId"));
  }

  /**
   * Pending operations, oldest first.
   * @example for (const op of await db.icOperations.listPending()) console.log(op.operation, op.pipelineId);
   */
  async listPending(): Promise<IcOperation[]> {
    const stmt = this.compiled("listPending", () =>
      this.db
        .select()
        .from(interactiveControl)
        .where(eq(interactiveControl.status, "pending"))
        .orderBy(asc(interactiveControl.icId))
        .prepare(),
    );
    return this.settle(stmt.all());
  }

  /**
   * Every operation, newest first.
   * @example const history = await db.icOperations.listAll();
   */
  async listAll(): Promise<IcOperation[]> {
    const stmt = this.compiled("listAll", () =>
      this.db.select().from(interactiveControl).orderBy(desc(interactiveControl.icId)).prepare(),
    );
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
      this.db
        .update(interactiveControl)
        .set({ status: "processing" })
        .where(
          sql`${interactiveControl.icId} = (select ${interactiveControl.icId} from ${interactiveControl} where ${interactiveControl.status} = 'pending' order by ${interactiveControl.icId} limit 1) and ${interactiveControl.status} = 'pending'`,
        )
        .returning()
        .prepare(),
    );
    return (await this.settle(stmt.get())) ?? null;
  }

  /**
   * Sets the status (any of IC_STATUSES), an optional error, and `processedAt` = now.
   * @example await db.icOperations.setStatus(op.icId, "completed");
   * @example await db.icOperations.setStatus(op.icId, "failed", "pipeline already stopped");
   */
  async setStatus(id: number, status: IcStatus, error?: string): Promise<void> {
    const icId = v.id(id, "icId");
    const s = v.oneOf(status, IC_STATUSES, "status");
    const message = error === undefined ? null : v.text(error, "error");
    await this.updateById(
      interactiveControl,
      interactiveControl.icId,
      "IC operation",
      "setStatus",
      {
        status: slot("status"),
        error: sql`coalesce(${p("error")}, ${interactiveControl.error})`,
        processedAt: slot("t"),
      },
      { id: icId, status: s, error: message, t: new Date() },
    );
  }
}
