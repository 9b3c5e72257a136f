/**
 * What the change log (src/schema/change-log.ts, its triggers) costs on the
 * fused hot path — `actorTasks.create` of a running task, `listRunning`,
 * `completeWithProgress` — in the same run, as a ratio:
 *
 * - fresh processes (bench/child, the package's bundle), alternated round by
 *   round on two copies of the migrated template: as migrated ("with the
 *   log"), and with the change-log triggers dropped ("without"; everything
 *   else — tables, columns, the other triggers — identical). Per round:
 *   with ÷ without, tasks/s (wall) and CPU per task; medians and ranges;
 * - without the noise of a shared machine: WAL pages written per task (each
 *   commit appends the pages it changed; checkpoints off while counting).
 */
import { copyFileSync, rmSync, statSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { RFDatabase } from "../../src/index";
import { changeTriggerNames } from "../../src/schema/change-triggers";
import type { FreshSetup } from "./fresh";
import { runProcess } from "../lib/spawn";
import { median } from "../lib/stats";
import { shapeLabel, type Shape } from "../lib/workload";

interface ChildRun {
  runs: { ms: number; cpuMs: number; tasks: number }[];
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface ChangeLogResult {
  shape: Shape;
  rounds: number;
  withLog: { tasksPerSec: number[]; cpuUsPerTask: number[] };
  withoutLog: { tasksPerSec: number[]; cpuUsPerTask: number[] };
  /** Per round: with ÷ without tasks/s (1 = no cost; 0.9 = 10% fewer tasks per second). */
  throughputRatio: Spread;
  /** Per round: without ÷ with CPU per task (the same sense: below 1 is a cost). */
  cpuRatio: Spread;
  /** WAL pages (frames) per fused task, in-process, checkpoints off. */
  walPagesPerTask: { withLog: number; withoutLog: number };
}

const spread = (xs: number[]): Spread => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

/** A copy of the migrated template without the change-log triggers. */
function templateWithoutLog(template: string, dir: string): string {
  const out = join(dir, "template-no-change-log.db");
  copyFileSync(template, out);
  const raw = new Database(out);
  for (const name of changeTriggerNames()) raw.exec(`DROP TRIGGER IF EXISTS "${name}"`);
  raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  raw.close();
  return out;
}

/** WAL frames per fused task on a copy of `template` (checkpoints off, so the WAL holds every commit's pages). */
async function walPagesPerTask(template: string, path: string, tasks: number): Promise<number> {
  for (const sfx of ["", "-wal", "-shm"]) rmSync(path + sfx, { force: true });
  copyFileSync(template, path);
  const db = await RFDatabase.open({ url: `file:${path}` });
  try {
    await db.client.execute("PRAGMA wal_autocheckpoint = 0");
    const eid = await db.experiments.create({ experimentName: "wal", numActors: 4, numShards: tasks });
    const pids: number[] = [];
    for (let p = 0; p < 8; p++)
      pids.push(
        await db.pipelines.create({
          experimentId: eid,
          pipelineName: `p${p}`,
          pipelineType: "vllm",
          status: "ongoing",
        }),
      );
    const before = statSync(`${path}-wal`).size;
    for (let i = 0; i < tasks; i++) {
      const pipelineId = pids[i % 8]!;
      const id = await db.actorTasks.create({
        experimentId: eid,
        pipelineId,
        actorId: i % 4,
        shardId: i,
        status: "in_progress",
        startedAt: new Date(),
      });
      await db.actorTasks.listRunning(eid);
      await db.actorTasks.completeWithProgress(id, { samples: 128, currentShardId: i });
    }
    const pageSize = Number((await db.client.execute("PRAGMA page_size")).rows[0]![0]);
    return (statSync(`${path}-wal`).size - before) / (pageSize + 24) / tasks;
  } finally {
    await db.close();
    for (const sfx of ["", "-wal", "-shm"]) rmSync(path + sfx, { force: true });
  }
}

export async function benchChangeLog(opts: {
  setup: Pick<FreshSetup, "built" | "planPath" | "template" | "files">;
  shape: Shape;
  rounds: number;
  log: (s: string) => void;
}): Promise<ChangeLogResult> {
  const { setup, shape } = opts;
  const without = templateWithoutLog(setup.template, setup.files.dir);
  const kinds = [
    { id: "with", template: setup.template },
    { id: "without", template: without },
  ] as const;
  const res = {
    with: { tasksPerSec: [] as number[], cpuUsPerTask: [] as number[] },
    without: { tasksPerSec: [] as number[], cpuUsPerTask: [] as number[] },
  };
  const shapeArg = `${shape.pipelines},${shape.shards},${shape.actors}`;
  // Round 0 warms the file cache and is discarded; the order alternates every round.
  for (let round = 0; round <= opts.rounds; round++) {
    const order = round % 2 ? [...kinds].reverse() : kinds;
    const line: string[] = [];
    for (const k of order) {
      const path = join(setup.files.dir, `changelog-${k.id}-${round}.db`);
      const args = [setup.built.child, "local", "--kind", "package", "--form", "fused", "--shape", shapeArg];
      args.push("--db", path, "--template", k.template, "--repeat", "1", "--pkg", setup.built.pkg);
      args.push("--plan", setup.planPath);
      try {
        const { out } = await runProcess<ChildRun>(process.execPath, args);
        const run = out.runs[0]!;
        const tps = run.tasks / (run.ms / 1000);
        if (round > 0) {
          res[k.id].tasksPerSec.push(tps);
          res[k.id].cpuUsPerTask.push((run.cpuMs * 1000) / run.tasks);
        }
        line.push(`${k.id} ${Math.round(tps)}`);
      } finally {
        for (const sfx of ["", "-wal", "-shm"]) rmSync(path + sfx, { force: true });
      }
    }
    opts.log(
      `  ${shapeLabel(shape)} round ${round === 0 ? "0 (warm-up, discarded)" : round} (load ${loadavg()[0]!.toFixed(1)}): ${line.join(", ")} tasks/s`,
    );
  }
  const tps = res.with.tasksPerSec.map((w, i) => w / res.without.tasksPerSec[i]!);
  const cpu = res.with.cpuUsPerTask.map((w, i) => res.without.cpuUsPerTask[i]! / w);
  const walWith = await walPagesPerTask(setup.template, join(setup.files.dir, "wal-with.db"), 500);
  const walWithout = await walPagesPerTask(without, join(setup.files.dir, "wal-without.db"), 500);
  rmSync(without, { force: true });
  return {
    shape,
    rounds: opts.rounds,
    withLog: res.with,
    withoutLog: res.without,
    throughputRatio: spread(tps),
    cpuRatio: spread(cpu),
    walPagesPerTask: { withLog: walWith, withoutLog: walWithout },
  };
}

/** The section's markdown. */
export function renderChangeLog(c: ChangeLogResult): string[] {
  const r = (s: Spread) => `**${s.median.toFixed(3)}** (rounds ${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
  const m = (xs: number[]) => median(xs);
  return [
    `### The change log on the fused hot path (${shapeLabel(c.shape)}, fresh processes, ${c.rounds} alternated rounds)`,
    "",
    "| | with the change log | without (its triggers dropped) | with ÷ without |",
    "| --- | ---: | ---: | ---: |",
    `| tasks/s (median) | ${Math.round(m(c.withLog.tasksPerSec))} | ${Math.round(m(c.withoutLog.tasksPerSec))} | ${r(c.throughputRatio)} |`,
    `| CPU µs per task (median) | ${m(c.withLog.cpuUsPerTask).toFixed(0)} | ${m(c.withoutLog.cpuUsPerTask).toFixed(0)} | ${r(c.cpuRatio)} (without ÷ with) |`,
    `| WAL pages per task (in-process, checkpoints off) | ${c.walPagesPerTask.withLog.toFixed(2)} | ${c.walPagesPerTask.withoutLog.toFixed(2)} | +${(c.walPagesPerTask.withLog - c.walPagesPerTask.withoutLog).toFixed(2)} |`,
    "",
  ];
}
