/**
 * Keyset paging for every list method: `{ limit, afterId }` reads the rows
 * after `afterId` in the list's own order (by id ascending, or descending for
 * the newest-first lists), through the same index the list always used
 * (`… AND id > ? ORDER BY id LIMIT ?`: a range, never an OFFSET).
 *
 * Without `limit` a list still returns every row, read internally in pages:
 * - remote: a page is one request, well below sqld's 10 MB response limit
 *   (which made a 35,000-row list fail outright); if a page of large rows
 *   still hits it (`RESPONSE_TOO_LARGE`), that page is read again in halves;
 * - local: a page is one short statement, and the local client lets the
 *   event loop turn between statements every 8 ms, so a 100,000-row list no
 *   longer blocks timers and I/O for the whole read.
 * The pages of one call are separate reads: a row written meanwhile may or
 * may not be in the result, and none is returned twice.
 */
import { gather, ValidationError } from "../errors";
import { MAX_SAFE_ID } from "../schema";
import * as v from "../validate";

/** `{ limit, afterId }` of a list method. */
export interface PageOptions {
  /** At most this many rows (a positive integer); every row when omitted. */
  limit?: number;
  /** Start after this id, in the list's order (the last id of the previous page). */
  afterId?: number;
}

/** Rows per statement when a list is read whole: local (event-loop turns) and remote (response size). */
export const PAGE_ROWS = { local: 1000, remote: 2000 } as const;

/** Checked page options; ValidationError for a bad value or an unknown key. */
export function pageOf(value: unknown, field = "page"): PageOptions {
  if (value === undefined) return {};
  const o = v.record(value, field);
  for (const k of Object.keys(o))
    if (k !== "limit" && k !== "afterId")
      throw new ValidationError(`${field}.${k} is not an option (known: limit, afterId)`, { field: k });
  const out: PageOptions = {};
  if (o.limit !== undefined) {
    out.limit = v.count(o.limit, "limit");
    if (out.limit < 1) throw new ValidationError("limit must be at least 1", { field: "limit" });
  }
  if (o.afterId !== undefined) out.afterId = v.id(o.afterId, "afterId");
  return out;
}

const tooLarge = (err: unknown) => gather(err).codes.includes("RESPONSE_TOO_LARGE");

/**
 * Reads `page` of a list in statements of at most `pageRows` rows.
 * `fetch(bound, n)` runs the list's statement for ids `>= bound` (ascending)
 * or `<= bound` (descending), at most `n` rows.
 */
export async function readPages<T>(
  page: PageOptions,
  pageRows: number,
  order: "asc" | "desc",
  idOf: (row: T) => number,
  fetch: (bound: number, n: number) => Promise<T[]>,
): Promise<T[]> {
  const asc = order === "asc";
  let bound = page.afterId === undefined ? (asc ? 0 : MAX_SAFE_ID) : page.afterId + (asc ? 1 : -1);
  let remaining = page.limit ?? Number.POSITIVE_INFINITY;
  let size = pageRows;
  let out: T[] = [];
  while (remaining > 0 && bound >= 0 && bound <= MAX_SAFE_ID) {
    const n = Math.min(remaining, size);
    let rows: T[];
    try {
      rows = await fetch(bound, n);
    } catch (err) {
      if (!tooLarge(err) || n === 1) throw err;
      size = Math.max(1, Math.floor(n / 2));
      continue;
    }
    out = out.length === 0 ? rows : out.concat(rows);
    if (rows.length < n) break;
    remaining -= rows.length;
    bound = idOf(rows[rows.length - 1]!) + (asc ? 1 : -1);
  }
  return out;
}
