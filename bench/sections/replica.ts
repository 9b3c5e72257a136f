/**
 * Dashboard reads from an embedded replica while a primary takes writes
 * (section `replica`). N actor processes claim and complete tasks on one
 * sqld, exactly as in scaleout.ts; meanwhile this process keeps an embedded
 * replica of that sqld (`{ url: "file:…", syncUrl }`) and, until the actors
 * are done, repeatedly: pulls (`db.sync()`), then runs each dashboard read —
 * `countByStatus`, the status summary `rf-db status` reads (get +
 * pipelines.list + countByStatus + listRunning, issued together) and
 * `db.snapshot` — on the replica, then the same read on the primary over HTTP,
 * then waits POLL_MS. The replica is opened and pulled once before the actors
 * start, so its first full pull is not in their wall time.
 *
 * A read that fails on one side is recorded with its error (once) and not
 * tried again on that side: the table then says it does not work there.
 *
 * Reported: p50/p99 of each read on the replica and on the primary, of the
 * pull, how far the replica was behind right after a pull (completed tasks
 * it did not show yet, compared with the primary read just after), and the
 * actors' tasks/s with the reader running and in the same setup run just
 * before without it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RFDatabase } from "../../src/index";
import type { Built } from "../lib/build";
import { quantile } from "../lib/stats";
import { benchScaleOut } from "./scaleout";

/** Pause between dashboard refreshes. */
const POLL_MS = 50;

export interface ReplicaResult {
  processes: number;
  tasks: number;
  /** The actors' throughput with the reader running, and in a run just before without it (same N, same tasks). */
  tasksPerSec: number;
  tasksPerSecAlone: number;
  lost: number;
  doubleCompleted: number;
  rounds: number;
  pollMs: number;
  /** "replica: read" / "primary over HTTP: read" → { n, p50, p99 } ms */
  calls: Record<string, { n: number; p50: number; p99: number }>;
  /** Reads that failed (same keys as `calls`) → the error's name and message; not tried again after. */
  failed: Record<string, string>;
  /** Completed tasks the replica did not show yet right after a pull: median and max. */
  lagTasks: { p50: number; max: number };
}

/** The dashboard's reads, as a page refresh issues them. */
const READS: [string, (db: RFDatabase, experimentId: number) => Promise<unknown>][] = [
  ["countByStatus", (db, id) => db.actorTasks.countByStatus(id)],
  [
    "status summary (4 reads together)",
    (db, id) =>
      Promise.all([
        db.experiments.get(id),
        db.pipelines.list(id),
        db.actorTasks.countByStatus(id),
        db.actorTasks.listRunning(id),
      ]),
  ],
  ["db.snapshot", (db, id) => db.snapshot(id)],
];

export async function benchReplicaReads(opts: {
  built: Built;
  processes: number;
  tasks: number;
  pipelines: number;
  log: (s: string) => void;
}): Promise<ReplicaResult | null> {
  const dir = mkdtempSync(join(tmpdir(), "rf-bench-replica-"));
  const samples: Record<string, number[]> = {};
  const failed: Record<string, string> = {};
  const lag: number[] = [];
  /** Times fn under key k; a failure is recorded and the key skipped from then on (undefined). */
  const time = async <T>(k: string, fn: () => Promise<T>): Promise<T | undefined> => {
    if (k in failed) return undefined;
    const t0 = performance.now();
    try {
      const v = await fn();
      (samples[k] ??= []).push(performance.now() - t0);
      return v;
    } catch (e) {
      const err = e as Error;
      failed[k] = `${err.name}: ${err.message}`;
      opts.log(`  ${k} failed: ${failed[k]}`);
      return undefined;
    }
  };
  let rounds = 0;
  try {
    // The same run without the reader first: the ratio says what the reads cost the writers.
    opts.log("  without the reader:");
    const [alone] = await benchScaleOut({ ...opts, processes: [opts.processes] });
    opts.log("  with the reader:");
    const [row] = await benchScaleOut({
      ...opts,
      processes: [opts.processes],
      // Opened (and pulled once) while the actors wait for "go"; reads from "go" until they are all done.
      reader: async ({ url, experimentId }) => {
        const replica = await RFDatabase.open({ url: `file:${join(dir, "replica.db")}`, syncUrl: url, migrate: false });
        const primary = await RFDatabase.open({ url, migrate: false });
        try {
          await replica.sync();
        } catch (e) {
          await replica.close();
          await primary.close();
          throw e;
        }
        return async (done) => {
          try {
            while (!done()) {
              await time("replica: db.sync() (pull)", () => replica.sync());
              for (const [name, read] of READS) {
                const local = await time(`replica: ${name}`, () => read(replica, experimentId));
                const remote = await time(`primary over HTTP: ${name}`, () => read(primary, experimentId));
                if (name === "countByStatus" && local && remote) {
                  const [l, r] = [local, remote] as { completed: number }[];
                  lag.push(Math.max(0, r!.completed - l!.completed));
                }
              }
              rounds++;
              // A dashboard polls; it does not spin.
              await new Promise((r) => setTimeout(r, POLL_MS));
            }
          } finally {
            await replica.close();
            await primary.close();
          }
        };
      },
    });
    if (!row || !alone) return null;
    const calls: ReplicaResult["calls"] = {};
    for (const [k, xs] of Object.entries(samples))
      calls[k] = { n: xs.length, p50: quantile(xs, 0.5), p99: quantile(xs, 0.99) };
    return {
      processes: opts.processes,
      tasks: opts.tasks,
      tasksPerSec: row.tasksPerSec,
      tasksPerSecAlone: alone.tasksPerSec,
      lost: row.lost,
      doubleCompleted: row.doubleCompleted,
      rounds,
      pollMs: POLL_MS,
      calls,
      failed,
      lagTasks: { p50: lag.length ? quantile(lag, 0.5) : 0, max: lag.length ? Math.max(...lag) : 0 },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
