/**
 * The reference workload on a local WAL file: every contender, both forms,
 * several interleaved rounds (a fresh copy of the same migrated file each
 * run), median reported. Round 0 is a warm-up and is discarded.
 */
import { contender, type Contender, type Kind } from "../lib/contenders";
import { FreshFiles } from "../lib/files";
import { median, quantile, Samples } from "../lib/stats";
import { REFERENCE_SHAPE, expectedCalls, type Form, type Shape } from "../lib/workload";

export interface CallStats {
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

export interface ContenderResult {
  id: string;
  kind: Kind;
  form: Form;
  rounds: number;
  tasksPerSec: number;
  callsPerSec: number;
  /** Every measured round's tasks/s, for the record. */
  tasksPerSecRounds: number[];
  callsPerTask: number;
  calls: number;
  /** Mean time per call (ms) = 1 / calls/s. */
  msPerCall: number;
  latency: Record<string, CallStats>;
}

export function summarize(
  c: Contender,
  runs: { ms: number; calls: number; tasks: number; latency: Map<string, Samples> }[],
): ContenderResult {
  const tps = runs.map((r) => r.tasks / (r.ms / 1000));
  const cps = runs.map((r) => r.calls / (r.ms / 1000));
  const pooled = new Map<string, Samples>();
  for (const r of runs) {
    for (const [k, s] of r.latency) {
      let p = pooled.get(k);
      if (!p) pooled.set(k, (p = new Samples()));
      p.append(s);
    }
  }
  const latency: Record<string, CallStats> = {};
  for (const [k, s] of pooled) {
    const v = s.values();
    let sum = 0;
    for (const x of v) sum += x;
    latency[k] = { n: v.length / runs.length, p50: quantile(v, 0.5), p99: quantile(v, 0.99), mean: sum / v.length };
  }
  const calls = runs[0]?.calls ?? 0;
  const tasks = runs[0]?.tasks ?? 1;
  return {
    id: c.id,
    kind: c.kind,
    form: c.form,
    rounds: runs.length,
    tasksPerSec: median(tps),
    callsPerSec: median(cps),
    tasksPerSecRounds: tps.map(Math.round),
    callsPerTask: calls / tasks,
    calls,
    msPerCall: 1000 / median(cps),
    latency,
  };
}

export async function benchLocal(opts: {
  rounds: number;
  kinds: Kind[];
  shape?: Shape;
  workDir?: string;
  log: (s: string) => void;
}): Promise<ContenderResult[]> {
  const shape = opts.shape ?? REFERENCE_SHAPE;
  const files = new FreshFiles(opts.workDir);
  const contenders: Contender[] = [];
  for (const kind of opts.kinds) for (const form of ["api", "fused"] as Form[]) contenders.push(contender(kind, form));
  const runs = new Map<string, Awaited<ReturnType<Contender["run"]>>[]>();
  try {
    for (let round = 0; round <= opts.rounds; round++) {
      // Rotate the order so drift (page cache, thermal, neighbours) hits everyone alike.
      const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
      const line: string[] = [];
      for (const c of order) {
        const path = await files.make();
        try {
          const r = await c.run(path, shape);
          if (r.calls !== expectedCalls(c.form, shape))
            throw new Error(`${c.id}: ${r.calls} calls, expected ${expectedCalls(c.form, shape)}`);
          if (round > 0) {
            if (!runs.has(c.id)) runs.set(c.id, []);
            runs.get(c.id)!.push(r);
          }
          line.push(`${c.id} ${Math.round(r.tasks / (r.ms / 1000))}`);
        } finally {
          files.remove(path);
        }
      }
      opts.log(`  local round ${round === 0 ? "0 (warm-up)" : round}: ${line.join(", ")} tasks/s`);
    }
  } finally {
    files.cleanup();
  }
  return contenders.map((c) => summarize(c, runs.get(c.id) ?? []));
}
