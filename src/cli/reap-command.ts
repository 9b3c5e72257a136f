/**
 * `rf-db reap`: recovers what dead processes left behind (`db.reapStale()`),
 * in one transaction: running experiments whose controller stopped
 * heartbeating are failed with their unfinished work, and tasks and IC
 * operations whose lease ended are handed out again (or failed after their
 * last attempt). Live work is untouched, so it is safe to run at any time —
 * from cron, a supervisor, or by hand after a crash.
 */
import { openDatabase, resolveTarget, type ConnectionOptions } from "./common";

export interface ReapCommandOptions extends ConnectionOptions {}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Runs `db.reapStale()` and prints what it changed. */
export async function runReap(opts: ReapCommandOptions, print: (line: string) => void = console.log): Promise<void> {
  const db = await openDatabase(resolveTarget(opts));
  try {
    const { experiments, actorTasks, icOperations } = await db.reapStale();
    if (experiments + actorTasks + icOperations === 0) {
      print(`nothing to reap in ${db.url}: no ended lease, no lost controller`);
      return;
    }
    print(
      `reaped ${db.url}: ${plural(experiments, "experiment")} failed (controller lost), ` +
        `${plural(actorTasks, "actor task")} and ${plural(icOperations, "IC operation")} recovered`,
    );
  } finally {
    await db.close();
  }
}
