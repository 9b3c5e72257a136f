/**
 * Leases, shared by actor tasks, IC operations and experiments: the SQL of a
 * lease's expiry and of the message a row gets when its lease ran out too
 * often, and the checking of lease arguments.
 *
 * THE LEASE POLICY. A claim is a lease: the holder (`lease_owner`, an actor
 * id; an experiment's controller name) and its end (`lease_expires_at`),
 * both written by the database from ITS clock (`DB_NOW_MS`) — writers sit on
 * hosts whose clocks disagree, so a caller's clock never decides who holds
 * what. The claim statement itself re-takes a row whose lease ended (no
 * daemon needed); `db.reapStale()` does the same for everything at once. A
 * lease that ended still belongs to its holder until someone re-takes it:
 * the holder's heartbeat or completion in between succeeds. A row claimed
 * `maxAttempts` times whose lease ends again is failed, with an error naming
 * the expiry, instead of being handed out once more. A `null` end means no
 * expiry (rows started without a lease, e.g. by `actorTasks.start`).
 */
import { type SQL, sql } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { ValidationError } from "../errors";
import { DB_NOW_MS } from "../schema";
import * as v from "../validate";

/** The lease a claim or heartbeat grants when `leaseMs` is not given: 60 s. */
export const DEFAULT_LEASE_MS = 60_000;
/** The longest lease accepted: 2^31 − 1 ms (~24.8 days), far beyond any heartbeat interval. */
export const MAX_LEASE_MS = 2_147_483_647;

/** `DB_NOW_MS + :leaseMs`: the end of a lease granted now (the database's clock). */
export const leaseEnd: SQL = sql`(${DB_NOW_MS} + ${sql.placeholder("leaseMs")})`;

/** `<expires> <= now` (database clock): the lease ended (a null end never does). */
export const ended = (expires: SQLiteColumn): SQL => sql`${expires} <= ${DB_NOW_MS}`;

/** The columns of leased work (actor tasks, IC operations). */
interface LeasedColumns {
  status: SQLiteColumn;
  leaseExpiresAt: SQLiteColumn;
  attempts: SQLiteColumn;
  maxAttempts: SQLiteColumn;
}

/**
 * Leased work whose lease ended (database clock): in status `held`, with
 * attempts left (re-taken by the next claim) or none (failed instead).
 */
export const expiredLeaseOf = (t: LeasedColumns, held: string, attemptsLeft: boolean): SQL =>
  sql`${t.status} = ${sql.raw(`'${held}'`)} and ${ended(t.leaseExpiresAt)} and ${t.attempts} ${sql.raw(attemptsLeft ? "<" : ">=")} ${t.maxAttempts}`;

/** Epoch ms → `2026-01-02T03:04:05.678Z` in SQL (the format of `Date.toISOString`). */
export const isoTime = (ms: SQLiteColumn | SQL): SQL =>
  sql`strftime('%Y-%m-%dT%H:%M:%fZ', ${ms} / 1000.0, 'unixepoch')`;

/**
 * The error a row gets when its lease ended after its last allowed attempt:
 * `lease expired after 3 of 3 attempts (last holder actor 4, lease ended 2026-…Z)`.
 */
export function expiryMessage(
  attempts: SQLiteColumn,
  maxAttempts: SQLiteColumn,
  expires: SQLiteColumn,
  holder?: SQLiteColumn,
): SQL {
  const who = holder ? sql`'last holder actor ' || coalesce(${holder}, '?') || ', '` : sql`''`;
  return sql`'lease expired after ' || ${attempts} || ' of ' || ${maxAttempts} || ' attempts (' || ${who} || 'lease ended ' || ${isoTime(expires)} || ')'`;
}

/** A lease length in ms: an integer from 1 to MAX_LEASE_MS. */
export function leaseMs(value: unknown, field = "leaseMs"): number {
  if (value === undefined) return DEFAULT_LEASE_MS;
  const ms = v.count(value, field);
  if (ms < 1 || ms > MAX_LEASE_MS)
    throw new ValidationError(`${field} must be between 1 and ${MAX_LEASE_MS} ms, got ${ms}`, { field });
  return ms;
}

/** An options object holding only `allowed` keys (an unknown key is refused, never ignored). */
export function options(value: unknown, name: string, allowed: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {};
  const o = v.record(value, name);
  for (const key of Object.keys(o))
    if (!allowed.includes(key))
      throw new ValidationError(`${name} has no option "${key}" (allowed: ${allowed.join(", ")})`, { field: key });
  return o;
}

/** A trailing `{ actorId }` argument: the caller claims to hold the lease. */
export interface HolderOptions {
  /** The actor that claimed the task: the call is refused with LeaseLostError unless it still holds the lease. */
  actorId: number;
}

const isOptions = (x: unknown) =>
  typeof x === "object" && x !== null && !(x instanceof Date) && !Array.isArray(x) && typeof x !== "string";

/**
 * Splits `(time?, { actorId }?)` — the options are the last argument, so
 * `(id, { actorId })` and `(id, time, { actorId })` both work — and checks
 * them. `actorId` is `undefined` when no options were given.
 */
export function timeAndHolder(
  a: Date | string | HolderOptions | undefined,
  b: HolderOptions | undefined,
): { time: Date; actorId: number | undefined } {
  const [t, o] = b === undefined && isOptions(a) ? [undefined, a] : [a, b];
  const time = v.optionalTime(t, "time");
  if (o === undefined) return { time, actorId: undefined };
  const opts = options(o, "options", ["actorId"]);
  if (opts.actorId === undefined)
    throw new ValidationError("options.actorId is required when options are given", { field: "actorId" });
  return { time, actorId: v.id(opts.actorId, "actorId") };
}
