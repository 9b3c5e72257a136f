/**
 * What a fresh process pays before its first task: importing the package,
 * layer by layer (each step imports one more dependency; modules already
 * loaded are free, so a step's time is what that layer adds), in fresh Node
 * processes, median over rounds. Opening the database and the first call are
 * measured by the fresh-process runs (sections/fresh.ts).
 */
import type { Built } from "../lib/build";
import { runProcess } from "../lib/spawn";
import { median } from "../lib/stats";

export interface ImportResult {
  rounds: number;
  /** Step → median ms. */
  steps: Record<string, number>;
  /** Median total of the steps (= importing the package in a fresh process). */
  totalMs: number;
  /** Process start → the bench's child module running (Node's own start-up plus loading child.mjs). */
  bootMs: number;
  /** Whole process (spawn → exit), median. */
  wallMs: number;
}

export async function benchImports(opts: {
  built: Built;
  rounds: number;
  log: (s: string) => void;
}): Promise<ImportResult> {
  const per = new Map<string, number[]>();
  const totals: number[] = [];
  const boots: number[] = [];
  const walls: number[] = [];
  for (let r = 0; r <= opts.rounds; r++) {
    const { wallMs, out } = await runProcess<{ bootMs: number; steps: Record<string, number> }>(process.execPath, [
      opts.built.child,
      "imports",
      "--pkg",
      opts.built.pkg,
    ]);
    if (r === 0) continue; // the first one also warms the OS file cache
    let total = 0;
    for (const [k, v] of Object.entries(out.steps)) {
      per.set(k, [...(per.get(k) ?? []), v]);
      total += v;
    }
    totals.push(total);
    boots.push(out.bootMs);
    walls.push(wallMs);
  }
  const steps = Object.fromEntries([...per].map(([k, v]) => [k, median(v)]));
  const res = { rounds: opts.rounds, steps, totalMs: median(totals), bootMs: median(boots), wallMs: median(walls) };
  opts.log(
    `  import ${res.totalMs.toFixed(0)} ms: ${Object.entries(steps)
      .map(([k, v]) => `${k} ${v.toFixed(0)}`)
      .join(", ")} (node boot ${res.bootMs.toFixed(0)} ms)`,
  );
  return res;
}
