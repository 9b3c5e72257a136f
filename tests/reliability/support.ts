/**
 * Shared helpers of the reliability suite (tests/reliability/*.test.ts):
 * sizes (small by default, heavy with RF_STRESS=1), worker processes
 * (`node --import tsx tests/reliability/workers/<name>.ts '<json args>'`),
 * an event-loop gap monitor, full table dumps, and one-line JSON summaries.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@libsql/client";
import { REPO_ROOT } from "../support/sqld";

export { REPO_ROOT };

/** `RF_STRESS=1` selects the heavy version of every scenario. */
export const HEAVY = process.env.RF_STRESS === "1";

/** `size(small, heavy)`: the number this run uses. */
export function size<T>(small: T, heavy: T): T {
  return HEAVY ? heavy : small;
}

export const WORKERS_DIR = join(REPO_ROOT, "tests", "reliability", "workers");

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// temp dirs

const tempDirs = new Set<string>();

/** A private temp directory, removed by `cleanupAll()` (and at process exit). */
export function tempDir(prefix = "rf-rel-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

// ---------------------------------------------------------------------------------------------
// worker processes

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Worker {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every JSON line the worker printed on stdout, parsed, in order. */
  readonly messages: Record<string, unknown>[];
  /** stdout lines that were not JSON, and all of stderr. */
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<WorkerExit>;
  readonly exitInfo: () => WorkerExit | undefined;
  /** Resolves with the first message (past or future) matching `pred`; rejects on exit or timeout. */
  waitFor(pred: (m: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): void;
}

const liveWorkers = new Set<ChildProcess>();
let hooked = false;

function installExitHook(): void {
  if (hooked) return;
  hooked = true;
  process.once("exit", () => {
    for (const c of liveWorkers) {
      try {
        c.kill("SIGKILL");
      } catch {
        // gone
      }
    }
    for (const d of tempDirs) {
      try {
        rmSync(d, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  });
}

/** Env for children: no RF_DB_* from the outside, so a worker only opens what it is told. */
function workerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith("RF_DB_") || k.startsWith("VITEST") || k === "NODE_OPTIONS") continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * Starts `tests/reliability/workers/<name>.ts` with `args` as its one JSON argument.
 * The worker prints one JSON object per stdout line (see workers/util.ts).
 */
export function startWorker(name: string, args: unknown, options: { env?: Record<string, string> } = {}): Worker {
  installExitHook();
  const file = join(WORKERS_DIR, `${name}.ts`);
  const child = spawn(process.execPath, ["--import", "tsx", file, JSON.stringify(args)], {
    cwd: REPO_ROOT,
    env: workerEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  liveWorkers.add(child);
  const messages: Record<string, unknown>[] = [];
  let out = "";
  let err = "";
  let partial = "";
  let exitInfo: WorkerExit | undefined;
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (!line.trim()) continue;
      try {
        const m = JSON.parse(line) as unknown;
        if (m && typeof m === "object" && !Array.isArray(m)) messages.push(m as Record<string, unknown>);
        else out += `${line}\n`;
      } catch {
        out += `${line}\n`;
      }
    }
    notify();
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    err += chunk;
    if (err.length > 200_000) err = err.slice(-100_000);
  });
  const exited = new Promise<WorkerExit>((resolve) => {
    child.once("close", (code, signal) => {
      exitInfo = { code, signal };
      liveWorkers.delete(child);
      notify();
      resolve(exitInfo);
    });
    child.once("error", (e) => {
      err += `[spawn error] ${e.message}\n`;
    });
  });
  const worker: Worker = {
    name,
    child,
    pid: child.pid!,
    messages,
    stdout: () => out,
    stderr: () => err,
    exited,
    exitInfo: () => exitInfo,
    waitFor(pred, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `worker ${name} (pid ${child.pid}): no matching message within ${timeoutMs} ms\nstderr:\n${err.slice(-4000)}`,
            ),
          );
        }, timeoutMs);
        const check = () => {
          const m = messages.find(pred);
          if (m) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(m);
          } else if (exitInfo) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(
              new Error(
                `worker ${name} (pid ${child.pid}) exited (${JSON.stringify(exitInfo)}) before the expected message\nstdout:\n${out.slice(-2000)}\nmessages: ${JSON.stringify(messages.slice(-5))}\nstderr:\n${err.slice(-4000)}`,
              ),
            );
          }
        };
        waiters.add(check);
        check();
      });
    },
    kill(signal = "SIGKILL") {
      if (!exitInfo) child.kill(signal);
    },
  };
  return worker;
}

/** Waits for the worker to exit and returns its last `{ type: "result" }` message; fails with its stderr otherwise. */
export async function resultOf(w: Worker, timeoutMs = 120_000): Promise<Record<string, unknown>> {
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([
    w.exited,
    new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (exit === "timeout") {
    w.kill();
    throw new Error(`worker ${w.name} did not finish within ${timeoutMs} ms; stderr:\n${w.stderr().slice(-4000)}`);
  }
  const result = [...w.messages].reverse().find((m) => m.type === "result");
  if (!result) {
    throw new Error(
      `worker ${w.name} exited ${JSON.stringify(exit)} without a result\nstdout:\n${w.stdout().slice(-2000)}\nstderr:\n${w.stderr().slice(-4000)}`,
    );
  }
  return result;
}

/** Kills every worker still running (SIGKILL) and removes temp dirs. For afterAll. */
export async function cleanupAll(): Promise<void> {
  const pending: Promise<unknown>[] = [];
  for (const c of liveWorkers) {
    pending.push(new Promise((r) => c.once("close", r)));
    try {
      c.kill("SIGKILL");
    } catch {
      // gone
    }
  }
  await Promise.race([Promise.all(pending), sleep(5_000)]);
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

/** Writes the "go" file children poll for, releasing them at (almost) the same instant. */
export function releaseBarrier(goFile: string): void {
  writeFileSync(goFile, String(Date.now()));
}

// ---------------------------------------------------------------------------------------------
// event loop

export interface LoopStats {
  maxGapMs: number;
  ticks: number;
  durationMs: number;
}

/**
 * The longest event-loop gap a test may accept: `baseMs` on a machine with a
 * core per runnable process, scaled by the 1-minute load average per core when
 * the machine is busier. A descheduled process shows gaps no code of ours can
 * prevent; a loop blocked by our own synchronous work still shows as a missing
 * tick rate (asserted separately) and in the printed report.
 */
export function loopGapBound(baseMs: number): number {
  const perCore = os.loadavg()[0]! / Math.max(1, os.availableParallelism());
  return Math.round(baseMs * Math.max(1, perCore));
}

/**
 * Measures how long the event loop stays blocked: a `setInterval(…, intervalMs)`
 * records the longest time between two consecutive ticks.
 */
export function monitorEventLoop(intervalMs = 5): { stop(): LoopStats } {
  const start = performance.now();
  let last = start;
  let maxGap = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      return { maxGapMs: Math.round(maxGap * 10) / 10, ticks, durationMs: Math.round(now - start) };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// tables

export const TABLES = ["experiments", "contexts", "pipelines", "actor_tasks", "interactive_control"] as const;
export type TableName = (typeof TABLES)[number];
export type Dump = Record<string, Record<string, unknown>[]>;

/** Every row of every table (and of `__drizzle_migrations`, `sqlite_sequence`), as plain objects, by primary key. */
export async function dumpAll(client: Client): Promise<Dump> {
  const out: Dump = {};
  for (const t of [...TABLES, "__drizzle_migrations", "sqlite_sequence"]) {
    const rs = await client.execute(`SELECT * FROM "${t}" ORDER BY 1`);
    out[t] = rs.rows.map((row) => {
      const o: Record<string, unknown> = {};
      rs.columns.forEach((c, i) => {
        o[c] = row[i];
      });
      return o;
    });
  }
  return out;
}

/** `SELECT count(*) … WHERE <where>` on the raw client. */
export async function countRows(client: Client, table: string, where = "1"): Promise<number> {
  const rs = await client.execute(`SELECT count(*) AS n FROM "${table}" WHERE ${where}`);
  return Number(rs.rows[0]![0]);
}

// ---------------------------------------------------------------------------------------------
// reporting

/**
 * Prints the scenario's one-line JSON summary (what RELIABILITY.md quotes), and
 * appends it to $RF_RELIABILITY_LOG when set.
 */
export function report(scenario: string, data: Record<string, unknown>): void {
  const line = JSON.stringify({ scenario, mode: HEAVY ? "heavy" : "small", ...data });
  console.log(`[reliability] ${line}`);
  const log = process.env.RF_RELIABILITY_LOG;
  if (log) appendFileSync(log, `${line}\n`);
}

/** A small deterministic PRNG (mulberry32), so a run can be replayed from its printed seed. */
export { prng } from "./workers/util";
