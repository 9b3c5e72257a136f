/**
 * The times RapidFire's Python module wrote, as this package's times (epoch
 * milliseconds, UTC). It wrote three kinds, in one database:
 *
 * - `CURRENT_TIMESTAMP` defaults (`created_at` of experiments and pipelines):
 *   `"2026-11-30 12:38:09"` — SQLite's clock, always UTC;
 * - `datetime.now().isoformat()` (task and context start/end times):
 *   `"2025-06-01T09:00:00"` or `"…T12:38:11.643079"` — the local time of the
 *   machine that ran Python, without a zone. Read as this machine's local time
 *   by default (`naiveTimes: "local"`, as JavaScript's own `new Date(text)`
 *   does), or as UTC with `naiveTimes: "utc"`; a zone, when present, is used;
 * - `time.time()` (IC operations' `created_at`/`processed_at`): Unix seconds as a
 *   REAL, `1796042291.6226`.
 *
 * Sub-millisecond digits are rounded to the millisecond (the package's resolution).
 */

/** How times written without a zone by Python's `datetime.now().isoformat()` are read. */
export type NaiveTimes = "local" | "utc";

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:([T ])(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * A legacy time value → epoch ms; `null` for NULL or an empty string;
 * `undefined` when it cannot be read (the caller names the row).
 * @example legacyTime("2026-11-30 12:38:09", "local") // Date.UTC(2026, 10, 30, 12, 38, 9)
 * @example legacyTime(1796042291.6226, "local")       // 1796042291623
 */
export function legacyTime(value: unknown, naive: NaiveTimes): number | null | undefined {
  if (value === null || value === undefined) return null;
  if (typeof value === "number" || typeof value === "bigint") return fromSeconds(Number(value));
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  if (text === "") return null;
  if (NUMBER.test(text)) return fromSeconds(Number(text));
  const m = ISO.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, sep, h = "0", mi = "0", s = "0", frac = "", zone] = m;
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)] as const;
  if (!validParts(parts)) return undefined;
  const fracMs = frac ? Math.round(Number(`0.${frac}`) * 1000) : 0;
  let ms: number;
  if (zone) ms = Date.UTC(...parts) - offsetMinutes(zone) * 60_000;
  // A space between date and time is SQLite's own format (CURRENT_TIMESTAMP, datetime()): UTC.
  else if (sep === " " || naive === "utc" || sep === undefined) ms = Date.UTC(...parts);
  else ms = new Date(...parts).getTime();
  return Number.isFinite(ms) ? ms + fracMs : undefined;
}

function fromSeconds(seconds: number): number | undefined {
  const ms = Math.round(seconds * 1000);
  // Date's own range (±8.64e15 ms); anything outside is not a time.
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? ms : undefined;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Rejects 2024-02-30, 25:00 … (Date would roll them over silently). */
function validParts([y, mo, d, h, mi, s]: readonly [number, number, number, number, number, number]): boolean {
  if (mo < 0 || mo > 11 || d < 1 || h > 23 || mi > 59 || s > 59) return false;
  const leap = mo === 1 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  return d <= DAYS[mo]! + (leap ? 1 : 0);
}

/** `Z` → 0, `+02:00`/`+0200`/`+02` → 120, `-05:30` → -330. */
function offsetMinutes(zone: string): number {
  if (zone.toUpperCase() === "Z") return 0;
  const sign = zone.startsWith("-") ? -1 : 1;
  const digits = zone.slice(1).replace(":", "");
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0"));
}
