/** Medians and per-call-type percentiles of several runs of one contender (in-process sections). */
import { median, quantile, Samples } from "./stats";
import type { Form, RunResult } from "./workload";

export interface CallStats {
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

export interface ContenderResult {
  id: string;
  kind: string;
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

export function callStats(pooled: Map<string, Samples>, runs: number): Record<string, CallStats> {
  const latency: Record<string, CallStats> = {};
  for (const [k, s] of pooled) {
    const v = s.values();
    let sum = 0;
    for (const x of v) sum += x;
    latency[k] = { n: v.length / runs, p50: quantile(v, 0.5), p99: quantile(v, 0.99), mean: sum / v.length };
  }
  return latency;
}

export function summarize(id: string, kind: string, form: Form, runs: RunResult[]): ContenderResult {
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
  const calls = runs[0]?.calls ?? 0;
  const tasks = runs[0]?.tasks ?? 1;
  return {
    id,
    kind,
    form,
    rounds: runs.length,
    tasksPerSec: median(tps),
    callsPerSec: median(cps),
    tasksPerSecRounds: tps.map(Math.round),
    callsPerTask: calls / tasks,
    calls,
    msPerCall: 1000 / median(cps),
    latency: callStats(pooled, runs.length),
  };
}
