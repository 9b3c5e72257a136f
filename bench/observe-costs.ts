/**
 * What the `logger` option and OpenTelemetry spans cost on the hot path,
 * recorded in BENCHMARKS.md ("Logging and tracing").
 *
 *   npx tsx bench/observe-costs.ts [--calls=2000] [--rounds=9]
 *
 * Four databases of each kind (`:memory:` and a WAL file), opened in this order:
 *
 * - plain:   no logger; `@opentelemetry/api` is installed but no SDK is
 *            registered — the client is not wrapped, exactly as when the API
 *            is absent (the same object runs);
 * - logger:  a no-op `logger`;
 * - counter: a `logger` that counts rows (what a metrics hook does);
 * - otel:    opened after a tracer provider was registered (a minimal one
 *            that creates span objects and drops them: the wrapper's and the
 *            API's cost, without any SDK's own).
 *
 * Per call: `experiments.get(id)` (a read) and `experiments.setError(id, …)`
 * (a write). Variants interleaved per round; median CPU µs per call (user +
 * system of this process: robust on a shared machine); ratio to plain.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { trace } from "@opentelemetry/api";
import { RFDatabase } from "../src/index";

const arg = (name: string, dflt: number) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split("=")[1]) : dflt;
};
const CALLS = arg("calls", 2000);
const ROUNDS = arg("rounds", 9);

const dir = mkdtempSync(join(tmpdir(), "observe-costs-"));
let rowsSeen = 0;

/** Spans that are objects and do nothing: what is measured is the wrapper and the API. */
const nullProvider = {
  getTracer: () => ({
    startSpan: () => ({
      setAttribute() {
        return this;
      },
      recordException() {},
      setStatus() {
        return this;
      },
      end() {},
    }),
  }),
};

type Variant = "plain" | "logger" | "counter" | "otel";
const VARIANTS: Variant[] = ["plain", "logger", "counter", "otel"];

async function open(kind: "memory" | "file", variant: Variant): Promise<RFDatabase> {
  const url = kind === "memory" ? ":memory:" : `file:${join(dir, `${variant}.db`)}`;
  if (variant === "logger") return RFDatabase.open({ url, logger: () => {} });
  if (variant === "counter")
    return RFDatabase.open({
      url,
      logger: (e) => {
        rowsSeen += e.rows;
      },
    });
  return RFDatabase.open({ url });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main() {
  for (const kind of ["memory", "file"] as const) {
    const dbs = new Map<Variant, RFDatabase>();
    for (const v of VARIANTS) {
      if (v === "otel") trace.setGlobalTracerProvider(nullProvider as never);
      dbs.set(v, await open(kind, v));
    }
    trace.disable();
    const ids = new Map<Variant, number>();
    for (const [v, db] of dbs) ids.set(v, await db.experiments.create({ experimentName: `bench-${v}`, numActors: 1 }));
    const ops = {
      "experiments.get": (db: RFDatabase, id: number) => db.experiments.get(id),
      "experiments.setError": (db: RFDatabase, id: number) => db.experiments.setError(id, "boom"),
    };
    for (const [name, op] of Object.entries(ops)) {
      const times = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
      for (let r = 0; r < ROUNDS + 1; r++) {
        for (const v of r % 2 ? [...VARIANTS].reverse() : VARIANTS) {
          const db = dbs.get(v)!;
          const id = ids.get(v)!;
          // CPU time of this process, not wall time: the machine is shared, and another tenant's
          // work would otherwise land on whichever variant was running.
          const c0 = process.cpuUsage();
          for (let i = 0; i < CALLS; i++) await op(db, id);
          const c = process.cpuUsage(c0);
          const us = (c.user + c.system) / CALLS;
          if (r > 0) times.get(v)!.push(us); // round 0 warms up
        }
      }
      const base = median(times.get("plain")!);
      const cells = VARIANTS.map((v) => {
        const m = median(times.get(v)!);
        return `${v} ${m.toFixed(2)} µs (×${(m / base).toFixed(2)})`;
      });
      console.log(`${kind.padEnd(6)} ${name.padEnd(22)} ${cells.join("  ")}`);
    }
    for (const db of dbs.values()) await db.close();
  }
  rmSync(dir, { recursive: true, force: true });
  if (rowsSeen < 0) console.log(rowsSeen);
}

await main();
