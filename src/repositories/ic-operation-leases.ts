/**
 * The interactive-control queue's leases: `claimNext` (which re-takes
 * operations whose worker's lease ended) and `heartbeat`. The policy is
 * lease.ts's; IcOperationRepository (ic-operation-repository.ts) extends
 * this class with the rest of `db.icOperations`.
 */
import { and, eq, type SQL, sql } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { LeaseLostError } from "../errors";
import { DB_NOW_MS, icOperations, rowColumns, type IcOperation } from "../schema";
import * as v from "../validate";
import { BaseRepository } from "./base-repository";
import { CompiledQuery } from "./engine";
import type { Entity } from "./entity";
import { expiredLeaseOf, expiryMessage, leaseEnd, leaseMs, options } from "./lease";
import { updateOf } from "./update";

const p = sql.placeholder;
const ic = icOperations;

/** Processing, lease ended (database clock), with attempts left or none (also `db.reapStale`). */
export const expiredIcLease = (attemptsLeft: boolean) => expiredLeaseOf(ic, "processing", attemptsLeft);

/** `→ failed` for operations whose lease ended after their last attempt (also `db.reapStale`). */
export const exhaustedIcLease = {
  status: "failed",
  error: expiryMessage(ic.attempts, ic.maxAttempts, ic.leaseExpiresAt),
  processedAt: DB_NOW_MS,
  leaseExpiresAt: null,
} as const;

/** What `icOperations.claimNext` accepts. */
export interface IcClaimOptions {
  /** How long the claim holds without a heartbeat, in ms (default 60000). */
  leaseMs?: number;
  /** Only this experiment's operations (index `interactive_control_experiment_idx`). */
  experimentId?: number;
}

/** The lease half of `db.icOperations` (see the module comment). */
export abstract class IcOperationLeases<E extends Entity> extends BaseRepository<E> {
  /**
   * Claims the next operation and returns it (`null` when none is ready):
   * one whose worker's lease ended (the worker died or stalled), else the
   * oldest `pending` one — of one experiment with `{ experimentId }`. It
   * moves to `processing` with a lease ending `leaseMs` (default 60000) from
   * now by the database's clock and `attempts + 1`. Operations whose lease
   * ended after their last attempt (`maxAttempts`) are failed first, with an
   * error naming the expiry. One atomic batch of two statements — one
   * request remotely — whose claim re-checks status and lease in its WHERE
   * (SQLite has no SKIP LOCKED; its single writer makes it atomic), so two
   * workers never hold the same operation. Finish with `setStatus`.
   * @example
   * const op = await db.icOperations.claimNext({ leaseMs: 30_000, experimentId });
   * if (op) { await handle(op); await db.icOperations.setStatus(op.icId, "completed"); }
   */
  async claimNext(opts?: IcClaimOptions): Promise<IcOperation | null> {
    const o = options(opts, "options", ["leaseMs", "experimentId"]);
    const ms = leaseMs(o.leaseMs);
    const eid = o.experimentId === undefined ? undefined : v.id(o.experimentId, "experimentId");
    const scoped = eid !== undefined;
    const scope = (where: SQL) => (scoped ? sql`${ic.experimentId} = ${p("experimentId")} and ${where}` : where);
    const exhaust = this.compiled(scoped ? "failExhaustedLeasesOf" : "failExhaustedLeases", () =>
      updateOf(this.db, ic, exhaustedIcLease)
        .where(scope(expiredIcLease(false)))
        .prepare(),
    );
    const claim = this.compiled(scoped ? "claimNextOf" : "claimNext", () => {
      // The operation whose lease ended longest ago (a range of interactive_control_lease_idx, in its
      // order), else the oldest pending one (interactive_control_status_idx or _experiment_idx, by ic_id).
      const candidate = (where: SQL, order: SQLiteColumn) =>
        sql`(select ${ic.icId} from ${ic} where ${scope(where)} order by ${order} limit 1)`;
      return updateOf(this.db, ic, {
        status: "processing",
        leaseExpiresAt: leaseEnd,
        attempts: sql`${ic.attempts} + 1`,
      })
        .where(
          sql`${ic.icId} = coalesce(${candidate(expiredIcLease(true), ic.leaseExpiresAt)}, ${candidate(sql`${ic.status} = 'pending'`, ic.icId)}) and (${ic.status} = 'pending' or ${expiredIcLease(true)})`,
        )
        .returning(rowColumns(ic))
        .prepare();
    });
    const [, claimed] = await this.settle(
      CompiledQuery.batch([
        { query: exhaust as CompiledQuery<unknown>, values: { experimentId: eid } },
        { query: claim as CompiledQuery<unknown>, values: { experimentId: eid, leaseMs: ms } },
      ]),
    );
    return (claim.decodeFirst(claimed!) as IcOperation | undefined) ?? null;
  }

  /**
   * Extends the lease of a `processing` operation to `leaseMs` (default
   * 60000) from now (the database's clock) and returns its new end. One
   * statement. LeaseLostError when it is no longer processing (its lease
   * ended and it was re-queued, or it was finished), nothing written.
   * @example const until = await db.icOperations.heartbeat(op.icId, { leaseMs: 30_000 });
   */
  async heartbeat(icId: number, opts?: { leaseMs?: number }): Promise<Date> {
    const id = v.id(icId, "icId");
    const ms = leaseMs(options(opts, "options", ["leaseMs"]).leaseMs);
    const stmt = this.compiled("heartbeat", () =>
      updateOf(this.db, ic, { leaseExpiresAt: leaseEnd })
        .where(and(eq(ic.icId, p("id")), eq(ic.status, "processing")))
        .returning({ leaseExpiresAt: ic.leaseExpiresAt })
        .prepare(),
    );
    const row = await this.settle(stmt.get({ id, leaseMs: ms }));
    if (row?.leaseExpiresAt) return row.leaseExpiresAt;
    const { status } = await this.refusal(id);
    throw new LeaseLostError("IC operation", id, status, "processing", {
      message: `IC operation ${id} is no longer processing (status "${status}": its lease ended and it was handed out again, or it was finished); nothing was written`,
    });
  }
}
