/**
 * One actor of `rf-db demo`, run as its own process (forked by the demo
 * command) so that several processes really do write the same database at
 * once — the situation the package's WAL mode, busy timeout, atomic
 * `claimNext` and `advanceProgress` exist for.
 *
 * It opens the database named by `RF_DB_URL` / `RF_DB_AUTH_TOKEN` (the parent
 * sets them, so a token never appears in a process list), then loops the
 * atomic path: claim a task with a lease (`claimNext`: the oldest scheduled
 * one, or one whose holder died and whose lease ended), "work" for a while
 * while heartbeating the lease, then complete it and add its shard and
 * samples to the pipeline in one batch, as the lease holder
 * (`completeWithProgress(…, { actorId })`). Killed at any moment, it leaves
 * nothing half done: its task is re-taken by another actor once the lease
 * ends. It exits 0 when no task of the experiment is unfinished. Progress
 * is never sent to the parent: the parent reads it from the database, which
 * is the point of the demo.
 *
 * Arguments: `--experiment <id> --actor <id> --work-ms <ms> --lease-ms <ms>`.
 * It claims nothing before the parent's "start" message (see `startSignal`).
 * On failure it prints one line to stderr (the parent relays it) and exits 1.
 */
import { LeaseLostError, RFDatabase } from "../index";
import { RFDatabaseError } from "../errors";

function argument(name: string): number {
  const i = process.argv.indexOf(`--${name}`);
  const raw = i >= 0 ? process.argv[i + 1] : undefined;
  const value = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw new Error(`missing or invalid --${name}`);
  return value;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Simulated work time: uniform in [0.5, 1.5] × workMs. */
const workTime = (workMs: number) => Math.round(workMs * (0.5 + Math.random()));

/** Samples a shard "produced": 256–1023, so totals differ between pipelines and runs. */
const sampleCount = () => 256 + Math.floor(Math.random() * 768);

/**
 * Reports "ready" to the parent and waits for its "start", so that every
 * actor begins claiming at the same moment: process start-up (a few hundred
 * ms) would otherwise let the first actor take a small experiment alone, and
 * the measured throughput would include start-up. This is the only IPC; all
 * progress goes through the database.
 */
function startSignal(): Promise<void> {
  if (!process.send) return Promise.resolve(); // started by hand, not by the demo
  return new Promise((resolve) => {
    const onMessage = (message: unknown) => {
      if ((message as { type?: unknown } | null)?.type !== "start") return;
      process.off("message", onMessage);
      resolve();
    };
    process.on("message", onMessage);
    process.send!({ type: "ready" });
  });
}

async function run(): Promise<void> {
  const experimentId = argument("experiment");
  const actorId = argument("actor");
  const workMs = argument("work-ms");
  const leaseMs = argument("lease-ms");

  // The parent created and migrated the database; a worker must not race it on the schema.
  const db = await RFDatabase.open({ migrate: false });
  try {
    await startSignal();
    for (;;) {
      const task = await db.actorTasks.claimNext(experimentId, actorId, { leaseMs });
      if (!task) {
        // Nothing ready: done, unless a task is still held — maybe by an actor that died, whose
        // lease will end and whose task the next claim then takes over.
        const c = await db.actorTasks.countByStatus(experimentId);
        if (c.scheduled + c.in_progress === 0) break;
        await sleep(Math.min(250, leaseMs / 4));
        continue;
      }
      try {
        // Work, renewing the lease every third of it (a shard longer than the lease stays ours).
        const until = Date.now() + workTime(workMs);
        while (Date.now() < until) {
          await sleep(Math.min(until - Date.now(), leaseMs / 3));
          if (Date.now() < until) await db.actorTasks.heartbeat(task.taskId, actorId, { leaseMs });
        }
        await db.actorTasks.completeWithProgress(
          task.taskId,
          { samples: sampleCount(), currentShardId: task.shardId },
          { actorId },
        );
      } catch (err) {
        // Stalled past the lease and the task went to another actor: its work counts, not ours.
        if (!(err instanceof LeaseLostError)) throw err;
      }
    }
  } finally {
    await db.close();
  }
}

// Ctrl-C in a terminal reaches the whole process group; the parent decides
// what happens (it stops the workers with SIGTERM and records the outcome),
// so an actor ignores SIGINT rather than dying mid-task on its own.
process.on("SIGINT", () => {});
// If the parent dies without stopping us (SIGKILL, crash), the IPC channel
// closes: stop too, rather than live on as an orphan.
process.on("disconnect", () => process.exit(1));

run().then(
  () => process.exit(0),
  (err: unknown) => {
    const message = err instanceof RFDatabaseError || err instanceof Error ? err.message : String(err);
    process.stderr.write(`${message.replace(/\s*\n\s*/g, " ")}\n`);
    if (process.env.RF_DB_DEBUG === "1" && err instanceof Error && err.stack) {
      process.stderr.write(`${err.stack}\n`);
    }
    process.exit(1);
  },
);
