/** Every time format the Python module wrote, as epoch milliseconds (src/legacy/time.ts). */
import { describe, expect, it } from "vitest";
import { legacyTime } from "../../src/legacy/time";

describe("legacyTime", () => {
  it("CURRENT_TIMESTAMP text is UTC whatever naiveTimes says", () => {
    for (const naive of ["local", "utc"] as const) {
      expect(legacyTime("2026-11-30 12:38:09", naive)).toBe(Date.UTC(2026, 10, 30, 12, 38, 9));
    }
  });

  it("isoformat() without a zone: local or UTC as asked; microseconds rounded to the millisecond", () => {
    expect(legacyTime("2026-11-18T12:38:11.643079", "utc")).toBe(Date.UTC(2026, 10, 18, 12, 38, 11, 643));
    expect(legacyTime("2026-11-18T12:38:11.643079", "local")).toBe(new Date(2026, 10, 18, 12, 38, 11, 643).getTime());
    expect(legacyTime("2025-06-01T09:00:00", "local")).toBe(new Date("2025-06-01T09:00:00").getTime());
    expect(legacyTime("2025-06-01T09:00:59.9996", "utc")).toBe(Date.UTC(2025, 5, 1, 9, 1, 0, 0));
  });

  it("a zone, when written, wins", () => {
    expect(legacyTime("2025-06-01T09:00:00+02:00", "local")).toBe(Date.UTC(2025, 5, 1, 7));
    expect(legacyTime("2025-06-01T09:00:00Z", "local")).toBe(Date.UTC(2025, 5, 1, 9));
    expect(legacyTime("2025-06-01T09:00:00-0530", "utc")).toBe(Date.UTC(2025, 5, 1, 14, 30));
  });

  it("time.time() seconds, as REAL or as text", () => {
    expect(legacyTime(1795012691.6430793, "local")).toBe(1795012691643);
    expect(legacyTime("1796042291.6226", "local")).toBe(1796042291623);
    expect(legacyTime(0, "utc")).toBe(0);
  });

  it("NULL and '' are no time; anything else unreadable is undefined (the import names the row)", () => {
    expect(legacyTime(null, "utc")).toBeNull();
    expect(legacyTime("", "utc")).toBeNull();
    for (const bad of [
      "2024-02-30 10:00:00",
      "2025-06-01T25:00:00",
      "yesterday",
      "2025-13-01",
      Number.NaN,
      {},
      1e300,
    ]) {
      expect(legacyTime(bad, "utc"), String(bad)).toBeUndefined();
    }
  });
});
