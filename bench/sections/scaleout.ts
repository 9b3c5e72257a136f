/**
 * Scale-out: N actor processes (fresh Node processes, bench/child "actor"
 * mode, the package's bundle) against one sqld on loopback, all started
 * together (each opens its connection, says "ready", and waits for "go"),
 * each claiming the experiment's oldest scheduled task and completing it with
 * its pipeline's progress until none is left:
 *
 *   claimNext(experimentId, actorId [, { leaseMs }]) → completeWithProgress(taskId, …)
 *
 * (`{ leaseMs }` is passed once the package has leases — detected by
 * `actorTasks.heartbeat` — and the result records which it was.)
 *
 * Reported per N: tasks/s (all tasks / wall time from "go" to the last
 * process done), p50/p99 per call over every process, and what the database
 * says afterwards: lost tasks (not completed), double completions (pipeline
 * shard counters beyond the completed tasks, or a task id reported done by two
 * processes), and the errors the processes saw.
 */
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { RFDatabase } from "../../src/index";
import { startSqld } from "../../tests/support/sqld";
import type { Built } from "../lib/build";
import { quantile } from "../lib/stats";

export interface ScaleOutRow {
  processes: number;
  tasks: number;
  /** Tasks completed in the database ÷ wall time (all tasks, unless the run stalled). */
  tasksPerSec: number;
  wallMs: number;
  /** The actors were killed at STALL_DEADLINE_MS (sqld no longer completing writes). */
  stalled?: boolean;
  leases: boolean;
  /** Per call type, over every process: p50 / p99 ms and count. */
  latency: Record<string, { n: number; p50: number; p99: number }>;
  lost: number;
  /** The lost tasks by status afterwards: still scheduled (never claimed), or in_progress under a lease no live actor holds. */
  lostBy?: { scheduled: number; inProgress: number; failed: number };
  doubleCompleted: number;
  errors: number;
  errorSamples: string[];
  /** Tasks completed by each process (min … max): how evenly the work spread. */
  perProcess: { min: number; max: number };
  /** CPU time per task (µs) of sqld and of all actor processes together, and how many cores each kept busy on average. */
  cpu: { sqldUsPerTask: number | null; actorsUsPerTask: number; sqldCores: number | null; actorsCores: number };
}

/** How long one N may run before its actors are killed and the row is marked stalled. */
const STALL_DEADLINE_MS = 120_000;

/** CPU time (user + system) of a process so far, ms, from /proc (Linux); null elsewhere. */
function procCpuMs(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return null;
  }
}
const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface ActorOut {
  ms: number;
  cpuMs: number;
  done: number[];
  errors: string[];
  latency: Record<string, number[]>;
}

function startActor(built: Built, url: string, eid: number, actor: number) {
  const child = spawn(
    process.execPath,
    [built.child, "actor", "--pkg", built.pkg, "--url", url, "--eid", String(eid), "--actor", String(actor)],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  const lines: string[] = [];
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  let onReady: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  createInterface({ input: child.stdout }).on("line", (l) => {
    if (l === "ready") onReady();
    else if (l.trim()) lines.push(l);
  });
  const done = new Promise<ActorOut>((resolve, reject) => {
    child.on("close", (code) => {
      if (code !== 0)
        reject(new Error(`actor ${actor} exited with ${code}: ${stderr.trim().split("\n").slice(-8).join("\n")}`));
      else resolve(JSON.parse(lines.at(-1) ?? "null") as ActorOut);
    });
    child.on("error", reject);
  });
  // A child that dies before "ready" must not leave the section waiting.
  const readyOrDead = Promise.race([
    ready,
    done.then(() => Promise.reject(new Error(`actor ${actor} ended before ready`))),
  ]);
  return { child, ready: readyOrDead, done, go: () => child.stdin.end("go\n") };
}

export async function benchScaleOut(opts: {
  built: Built;
  processes: number[];
  tasks: number;
  pipelines: number;
  log: (s: string) => void;
  /**
   * A reader beside the actors (replica.ts: dashboard reads on an embedded replica). Set up once the
   * actors are ready, before the clock starts (so opening it is not in the actors' wall time); the
   * function it returns runs from "go" until `done()`.
   */
  reader?: (o: { url: string; experimentId: number }) => Promise<(done: () => boolean) => Promise<void>>;
}): Promise<ScaleOutRow[]> {
  const rows: ScaleOutRow[] = [];
  for (const n of opts.processes) {
    const server = await startSqld({ idleShutdownSeconds: 120 });
    try {
      const db = await RFDatabase.open({ url: server.url, migrate: true });
      const leases = typeof (db.actorTasks as unknown as Record<string, unknown>).heartbeat === "function";
      const shards = Math.ceil(opts.tasks / opts.pipelines);
      const eid = await db.experiments.create({ experimentName: `scale-out-${n}`, numActors: n, numShards: shards });
      const pids: number[] = [];
      for (let p = 0; p < opts.pipelines; p++)
        pids.push(
          await db.pipelines.create({
            experimentId: eid,
            pipelineName: `p${p}`,
            pipelineType: "vllm",
            modelConfig: {},
            samplingParams: {},
            status: "ongoing",
          }),
        );
      // The scheduled tasks in one statement (shard-major, as a controller schedules them). The pipeline
      // count is written into the SQL: a bound JS number travels as a REAL over Hrana, and k / 8.0 is no shard id.
      const P = Math.trunc(opts.pipelines);
      await db.client.execute({
        sql: `WITH RECURSIVE i(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM i WHERE k < ?),
              p(pid, n) AS (SELECT pipeline_id, row_number() OVER (ORDER BY pipeline_id) - 1 FROM pipelines WHERE experiment_id = ?)
              INSERT INTO actor_tasks (experiment_id, pipeline_id, actor_id, shard_id, status)
              SELECT ?, p.pid, 0, i.k / ${P}, 'scheduled' FROM i JOIN p ON p.n = i.k % ${P} ORDER BY i.k`,
        args: [opts.tasks - 1, eid, eid],
      });
      const actors = Array.from({ length: n }, (_, i) => startActor(opts.built, server.url, eid, i + 1));
      let read: ((done: () => boolean) => Promise<void>) | undefined;
      try {
        await Promise.all(actors.map((a) => a.ready));
        read = await opts.reader?.({ url: server.url, experimentId: eid });
      } catch (e) {
        for (const a of actors) a.child.kill("SIGKILL");
        throw e;
      }
      const sqld0 = procCpuMs(server.pid);
      const t0 = performance.now();
      for (const a of actors) a.go();
      let finished = false;
      // A watchdog: sqld can stop answering writes for good (BENCHMARKS.md, scale-out); the actors would then
      // retry until their error budget is spent (minutes). Past the deadline they are killed and the row says so.
      let stalled = false;
      const deadline = setTimeout(() => {
        stalled = true;
        for (const a of actors) a.child.kill("SIGKILL");
      }, STALL_DEADLINE_MS);
      const killed: ActorOut = { ms: 0, cpuMs: 0, done: [], errors: ["killed at the stall deadline"], latency: {} };
      const all = Promise.all(
        actors.map((a) => a.done.catch((e: unknown) => (stalled ? killed : Promise.reject(e)))),
      ).finally(() => {
        clearTimeout(deadline);
        finished = true;
      });
      // A failing reader must not stop the actors half-way (nor go unhandled): its error is thrown after them.
      const reading = read?.(() => finished).then(
        () => null,
        (e: unknown) => e,
      );
      const outs = await all;
      const wallMs = performance.now() - t0;
      const readError = await reading;
      if (readError) throw readError;
      const sqld1 = procCpuMs(server.pid);
      const sqldMs = sqld0 === null || sqld1 === null ? null : sqld1 - sqld0;
      const actorsMs = outs.reduce((a, o) => a + o.cpuMs, 0);
      // What the database says.
      const counts = await db.actorTasks.countByStatus(eid);
      const shardsCounted = (await db.pipelines.list(eid)).reduce((a, p) => a + p.shardsCompleted, 0);
      await db.close();
      const seen = new Set<number>();
      let dupReported = 0;
      for (const o of outs)
        for (const id of o.done) {
          if (seen.has(id)) dupReported++;
          seen.add(id);
        }
      const latency: ScaleOutRow["latency"] = {};
      for (const k of ["claimNext", "completeWithProgress", "completeAndClaimNext"]) {
        const xs = outs.flatMap((o) => o.latency[k] ?? []);
        if (xs.length > 0) latency[k] = { n: xs.length, p50: quantile(xs, 0.5), p99: quantile(xs, 0.99) };
      }
      const errors = outs.flatMap((o) => o.errors);
      const perProc = outs.map((o) => o.done.length);
      const row: ScaleOutRow = {
        processes: n,
        tasks: opts.tasks,
        tasksPerSec: (stalled ? counts.completed : opts.tasks) / (wallMs / 1000),
        wallMs,
        stalled,
        leases,
        latency,
        lost: opts.tasks - counts.completed,
        lostBy: { scheduled: counts.scheduled, inProgress: counts.in_progress, failed: counts.failed },
        doubleCompleted: Math.max(0, shardsCounted - counts.completed) + dupReported,
        errors: errors.length,
        errorSamples: [...new Set(errors)].slice(0, 3),
        perProcess: { min: Math.min(...perProc), max: Math.max(...perProc) },
        cpu: {
          sqldUsPerTask: sqldMs === null ? null : (sqldMs * 1000) / opts.tasks,
          actorsUsPerTask: (actorsMs * 1000) / opts.tasks,
          sqldCores: sqldMs === null ? null : sqldMs / wallMs,
          actorsCores: actorsMs / wallMs,
        },
      };
      rows.push(row);
      opts.log(
        `  ${String(n).padStart(2)} processes: ${Math.round(row.tasksPerSec)} tasks/s, ` +
          Object.entries(latency)
            .map(([k, v]) => `${k} p50/p99 ${v.p50.toFixed(1)}/${v.p99.toFixed(1)} ms`)
            .join(", ") +
          `${stalled ? ` — STALLED: actors killed after ${STALL_DEADLINE_MS / 1000} s` : ""}; lost ${row.lost}${row.lost ? ` (${counts.scheduled} scheduled, ${counts.in_progress} in_progress, ${counts.failed} failed)` : ""}, double ${row.doubleCompleted}, errors ${row.errors}; ` +
          `CPU: sqld ${row.cpu.sqldCores?.toFixed(2) ?? "?"} cores, actors ${row.cpu.actorsCores.toFixed(2)} cores`,
      );
    } finally {
      await server.stop();
    }
  }
  return rows;
}
