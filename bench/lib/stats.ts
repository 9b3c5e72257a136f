/** Small statistics helpers for the benchmark (no dependencies). */

/** The q-quantile (0..1) of `xs` by nearest rank on a sorted copy; NaN for an empty list. */
export function quantile(xs: ArrayLike<number>, q: number): number {
  const n = xs.length;
  if (n === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  const i = Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));
  return s[i]!;
}

/** The median; the mean of the two middle values for an even count. */
export function median(xs: ArrayLike<number>): number {
  const n = xs.length;
  if (n === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

/** Growable Float64 sample buffer (latencies in ms). */
export class Samples {
  #buf = new Float64Array(1024);
  #n = 0;
  push(v: number): void {
    if (this.#n === this.#buf.length) {
      const b = new Float64Array(this.#buf.length * 2);
      b.set(this.#buf);
      this.#buf = b;
    }
    this.#buf[this.#n++] = v;
  }
  get length(): number {
    return this.#n;
  }
  values(): Float64Array {
    return this.#buf.subarray(0, this.#n);
  }
  append(other: Samples): void {
    for (const v of other.values()) this.push(v);
  }
}

export function fmtInt(v: number | undefined | null): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return "-";
  return Math.round(v).toLocaleString("en-US");
}

/** Microseconds with 1 decimal (input in ms). */
export function fmtUs(ms: number | undefined | null): string {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return "-";
  const us = ms * 1000;
  return us >= 1000 ? Math.round(us).toLocaleString("en-US") : us.toFixed(1);
}

export function fmtMs(ms: number | undefined | null, digits = 3): string {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return "-";
  return ms.toFixed(digits);
}

export function fmtRatio(v: number | undefined | null): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return "-";
  return `${v.toFixed(2)}×`;
}
