/**
 * The reference workload in fresh processes — the package against the
 * Python module it replaces, at two sizes, in the same run.
 *
 * Contenders (each run is a new process on a new copy of its migrated file,
 * WAL + synchronous=NORMAL on every connection, read back and recorded):
 *
 * - the package, fused form and API-for-API form (bench/child, importing
 *   the package's bundle);
 * - raw `libsql` with cached statements running the package's own SQL (the
 *   plan), both forms: the engine's floor for exactly these statements;
 * - the Python module (rapidfireai/evals/db @6158eec) through its own API
 *   (API for API; it has no fused form);
 * - CPython `sqlite3` running the package's SQL (no module code): the
 *   binding's floor, to tell the engine/binding cost from the code on top.
 *
 * Rounds alternate the contenders (the order rotates every round), so drift on
 * this shared machine hits all alike; each figure is the median over rounds
 * and each ratio the median of the per-round ratios. Run 1 of each process is
 * the fresh-process figure; with `repeat` > 1 the same process runs the
 * workload again on the same connection ("warm": JIT compiled, statements
 * prepared, page cache hot). After every process the database is checked:
 * every task completed, every pipeline's shard count advanced once per task.
 */
import { mkdirSync, rmSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import type { PythonAnchor } from "../lib/anchor";
import type { Built } from "../lib/build";
import type { FreshFiles } from "../lib/files";
import { runProcess } from "../lib/spawn";
import { median, quantile } from "../lib/stats";
import { expectedCalls, shapeLabel, type Form, type Shape } from "../lib/workload";

export type FreshKind = "package" | "raw-libsql" | "python-module" | "py-sqlite3";

export const FRESH_LABEL: Record<FreshKind, string> = {
  package: "rf-inferno-db (this package)",
  "raw-libsql": "raw libsql, cached statements, the package's SQL",
  "python-module": "Python module (rapidfireai evals db @6158eec), its own API",
  "py-sqlite3": "CPython sqlite3, the package's SQL (no module code)",
};

interface ChildOut {
  bootMs?: number;
  importMs: number;
  openMs: number;
  firstCallMs: number;
  firstCallAtMs?: number;
  pragmas: { journal_mode: unknown; synchronous: unknown };
  engine: string;
  processCpuMs: number;
  runs: { ms: number; cpuMs: number; calls: number; tasks: number; latency: Record<string, number[]> }[];
}

export interface FreshRound {
  tasksPerSec: number;
  /** CPU time of the workload (run 1; all threads of the process) per task, µs: less sensitive than wall time to other tenants' load. */
  cpuUsPerTask: number;
  /** CPU time of the whole process until it printed its result, ms. */
  processCpuMs: number;
  /** Later runs in the same process (repeat > 1). */
  warmTasksPerSec: number[];
  wallMs: number;
  importMs: number;
  openMs: number;
  firstCallMs: number;
  /** Process start → first call returned (Node only: performance.now() counts from process start). */
  firstCallAtMs: number | null;
  bootMs: number | null;
  load1: number;
}

export interface CallStats {
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

export interface FreshContenderResult {
  id: string;
  kind: FreshKind;
  form: Form;
  calls: number;
  tasks: number;
  rounds: FreshRound[];
  /** Medians over rounds. */
  tasksPerSec: number;
  warmTasksPerSec: number | null;
  wallMs: number;
  importMs: number;
  openMs: number;
  firstCallMs: number;
  firstCallAtMs: number | null;
  /** Median of per-round (this ÷ Python module) tasks/s, and its range. */
  vsModule: { median: number; min: number; max: number } | null;
  cpuUsPerTask: number;
  processCpuMs: number;
  /** The same by CPU time: median of per-round (module CPU per task ÷ this one's). */
  cpuVsModule: { median: number; min: number; max: number } | null;
  /** By CPU time: median of per-round (this CPU per task ÷ raw libsql's), same form. */
  cpuOverEngine: number | null;
  /** Median of per-round (Python module whole-process wall ÷ this one's). */
  wallVsModule: number | null;
  /** Median of per-round (raw libsql ÷ this) tasks/s in the same form: the cost over the engine. */
  overEngine: number | null;
  pragmas: { journal_mode: string; synchronous: string };
  engine: string;
  /** Run 1 of every round, pooled. */
  latency: Record<string, CallStats>;
  /** The first call of each type in a fresh process (median over rounds, ms): first-use costs. */
  firstOfType: Record<string, number>;
  /** Run 1's workload time minus the last run's (repeat > 1), ms, median over rounds: what being fresh costs. */
  freshExtraMs: number | null;
}

export interface FreshShapeResult {
  shape: Shape;
  repeat: number;
  rounds: number;
  contenders: FreshContenderResult[];
}

export interface FreshSetup {
  built: Built;
  planPath: string;
  /** The package's migrated empty file, copied for every Node / sqlite3 run. */
  template: string;
  anchor: PythonAnchor | null;
  files: FreshFiles;
}

const SYNC = ["OFF", "NORMAL", "FULL", "EXTRA"];

/** The Python module's own empty database (its schema, built by the module), to copy for every run. */
export async function moduleTemplate(anchor: PythonAnchor, dir: string): Promise<string> {
  const d = join(dir, "module-template");
  mkdirSync(d, { recursive: true });
  await runProcess("python3", [join(import.meta.dirname, "../python/workload.py"), "init", "--db-dir", d], {
    env: { ...process.env, PYTHONPATH: anchor.pythonPath },
  });
  const raw = new Database(join(d, "rapidfire.db"));
  raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  raw.close();
  return join(d, "rapidfire.db");
}

function verify(path: string, tasks: number): void {
  const raw = new Database(path, { readonly: true });
  try {
    const done = (
      raw.prepare("SELECT count(*) FROM actor_tasks WHERE status = 'completed'").raw(true).get([]) as number[]
    )[0];
    const all = (raw.prepare("SELECT count(*) FROM actor_tasks").raw(true).get([]) as number[])[0];
    const shards = (raw.prepare("SELECT sum(shards_completed) FROM pipelines").raw(true).get([]) as number[])[0];
    if (done !== tasks || all !== tasks || shards !== tasks)
      throw new Error(`${path}: ${done} of ${all} tasks completed, ${shards} shards counted; expected ${tasks}`);
  } finally {
    raw.close();
  }
}

export async function benchFresh(opts: {
  setup: FreshSetup;
  shape: Shape;
  rounds: number;
  repeat: number;
  kinds: FreshKind[];
  moduleTemplate: string | null;
  /** Run a round 0 first and discard it (file cache, lazily loaded code); not needed after another shape ran. */
  warmup: boolean;
  log: (s: string) => void;
}): Promise<FreshShapeResult> {
  const { setup, shape } = opts;
  const contenders: { id: string; kind: FreshKind; form: Form }[] = [];
  for (const kind of opts.kinds) {
    if ((kind === "python-module" || kind === "py-sqlite3") && !setup.anchor) continue;
    for (const form of ["fused", "api"] as Form[]) {
      if (kind === "python-module" && form === "fused") continue; // the module has only its API
      contenders.push({ id: `${kind}/${form}`, kind, form });
    }
  }
  const shapeArg = `${shape.pipelines},${shape.shards},${shape.actors}`;
  const script = join(import.meta.dirname, "../python/workload.py");
  const per = new Map<string, { round: FreshRound; out: ChildOut }[]>();
  for (let round = opts.warmup ? 0 : 1; round <= opts.rounds; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
    const line: string[] = [];
    for (const c of order) {
      const path = join(setup.files.dir, `fresh-${c.kind}-${c.form}-${round}.db`);
      const moduleDir = join(setup.files.dir, `module-${round}`);
      let cmd: string;
      let args: string[];
      let env = process.env;
      if (c.kind === "package" || c.kind === "raw-libsql") {
        cmd = process.execPath;
        args = [setup.built.child, "local", "--kind", c.kind, "--form", c.form, "--shape", shapeArg];
        args.push("--db", path, "--template", setup.template, "--repeat", String(opts.repeat));
        args.push("--pkg", setup.built.pkg, "--plan", setup.planPath);
      } else if (c.kind === "py-sqlite3") {
        cmd = "python3";
        args = [script, "sqlite3", "--db", path, "--template", setup.template, "--shape", shapeArg];
        args.push("--form", c.form, "--plan", setup.planPath, "--repeat", String(opts.repeat));
      } else {
        cmd = "python3";
        args = [script, "module", "--db-dir", moduleDir, "--template", opts.moduleTemplate!, "--shape", shapeArg];
        args.push("--repeat", String(opts.repeat));
        env = { ...process.env, PYTHONPATH: setup.anchor!.pythonPath };
      }
      const load1 = loadavg()[0]!;
      const { wallMs, out } = await runProcess<ChildOut>(cmd, args, { env });
      const dbPath = c.kind === "python-module" ? join(moduleDir, "rapidfire.db") : path;
      try {
        const run1 = out.runs[0]!;
        if (run1.calls !== expectedCalls(c.form, shape))
          throw new Error(`${c.id}: ${run1.calls} calls, expected ${expectedCalls(c.form, shape)}`);
        verify(dbPath, run1.tasks * out.runs.length);
        const tps = (r: { tasks: number; ms: number }) => r.tasks / (r.ms / 1000);
        const rr: FreshRound = {
          tasksPerSec: tps(run1),
          cpuUsPerTask: (run1.cpuMs * 1000) / run1.tasks,
          processCpuMs: out.processCpuMs,
          warmTasksPerSec: out.runs.slice(1).map(tps),
          wallMs,
          importMs: out.importMs,
          openMs: out.openMs,
          firstCallMs: out.firstCallMs,
          firstCallAtMs: out.firstCallAtMs ?? null,
          bootMs: out.bootMs ?? null,
          load1,
        };
        if (round > 0) {
          if (!per.has(c.id)) per.set(c.id, []);
          per.get(c.id)!.push({ round: rr, out });
        }
        line.push(`${c.id} ${Math.round(rr.tasksPerSec)}`);
      } finally {
        for (const sfx of ["", "-wal", "-shm"]) rmSync(path + sfx, { force: true });
        rmSync(moduleDir, { recursive: true, force: true });
      }
    }
    opts.log(
      `  ${shapeLabel(shape)} round ${round === 0 ? "0 (warm-up, discarded)" : round} (load ${loadavg()[0]!.toFixed(1)}): ${line.join(", ")} tasks/s`,
    );
  }

  const moduleRounds = per.get("python-module/api")?.map((x) => x.round);
  const results: FreshContenderResult[] = contenders.map((c) => {
    const rs = per.get(c.id) ?? [];
    const rounds = rs.map((x) => x.round);
    const m = (f: (r: FreshRound) => number | null) => {
      const xs = rounds.map(f).filter((x): x is number => x !== null && Number.isFinite(x));
      return xs.length ? median(xs) : null;
    };
    const pairs = (f: (mine: FreshRound, other: FreshRound) => number, others?: FreshRound[]) => {
      if (!others || others.length !== rounds.length) return null;
      const xs = rounds.map((r, i) => f(r, others[i]!));
      return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
    };
    const engine = per.get(`raw-libsql/${c.form}`)?.map((x) => x.round);
    const latency: Record<string, CallStats> = {};
    const pooled = new Map<string, number[]>();
    for (const x of rs)
      for (const [k, v] of Object.entries(x.out.runs[0]!.latency)) pooled.set(k, [...(pooled.get(k) ?? []), ...v]);
    for (const [k, v] of pooled) {
      let sum = 0;
      for (const y of v) sum += y;
      latency[k] = {
        n: v.length / Math.max(1, rs.length),
        p50: quantile(v, 0.5),
        p99: quantile(v, 0.99),
        mean: sum / v.length,
      };
    }
    const first = rs[0]?.out;
    const warm = rounds.flatMap((r) => r.warmTasksPerSec.slice(-1));
    const firstOfType: Record<string, number> = {};
    for (const k of pooled.keys()) {
      const xs = rs.map((x) => x.out.runs[0]!.latency[k]?.[0]).filter((v): v is number => v !== undefined);
      if (xs.length) firstOfType[k] = median(xs);
    }
    const extra = rs.filter((x) => x.out.runs.length > 1).map((x) => x.out.runs[0]!.ms - x.out.runs.at(-1)!.ms);
    return {
      id: c.id,
      kind: c.kind,
      form: c.form,
      calls: first?.runs[0]?.calls ?? 0,
      tasks: first?.runs[0]?.tasks ?? 0,
      rounds,
      tasksPerSec: m((r) => r.tasksPerSec) ?? Number.NaN,
      warmTasksPerSec: warm.length ? median(warm) : null,
      wallMs: m((r) => r.wallMs) ?? Number.NaN,
      importMs: m((r) => r.importMs) ?? Number.NaN,
      openMs: m((r) => r.openMs) ?? Number.NaN,
      firstCallMs: m((r) => r.firstCallMs) ?? Number.NaN,
      firstCallAtMs: m((r) => r.firstCallAtMs),
      vsModule: pairs((a, b) => a.tasksPerSec / b.tasksPerSec, moduleRounds),
      cpuUsPerTask: m((r) => r.cpuUsPerTask) ?? Number.NaN,
      processCpuMs: m((r) => r.processCpuMs) ?? Number.NaN,
      cpuVsModule: pairs((a, b) => b.cpuUsPerTask / a.cpuUsPerTask, moduleRounds),
      cpuOverEngine:
        c.kind === "raw-libsql" ? null : (pairs((a, b) => a.cpuUsPerTask / b.cpuUsPerTask, engine)?.median ?? null),
      wallVsModule: pairs((a, b) => b.wallMs / a.wallMs, moduleRounds)?.median ?? null,
      overEngine:
        c.kind === "raw-libsql" ? null : (pairs((a, b) => b.tasksPerSec / a.tasksPerSec, engine)?.median ?? null),
      pragmas: {
        journal_mode: String(first?.pragmas.journal_mode ?? "?"),
        synchronous: SYNC[Number(first?.pragmas.synchronous)] ?? String(first?.pragmas.synchronous ?? "?"),
      },
      engine: first?.engine ?? "?",
      latency,
      firstOfType,
      freshExtraMs: extra.length ? median(extra) : null,
    };
  });
  return { shape, repeat: opts.repeat, rounds: opts.rounds, contenders: results };
}
