/**
 * Lease worker (tests/reliability/leases.test.ts and chaos.test.ts), one
 * process per role; prints one JSON line per event:
 *
 * - `hold`: claims a task with `leaseMs` and holds it without a heartbeat
 *   (until it is SIGKILLed) — `{ type: "claimed", taskId, attempts }`;
 * - `take`: polls `claimNext` until it gets a task (a re-taken one after the
 *   holder died), prints `claimed`, and with `finish` completes it as its holder;
 * - `complete`: `complete(taskId, { actorId })` once — `{ type: "result", error }`;
 * - `ic-hold` / `ic-take`: the same for IC operations (`ic-take` completes it);
 * - `controller`: heartbeats its experiment every `everyMs` — `{ type: "beat", at }`;
 * - `actor`: the chaos actor — claims, works, heartbeats, completes with
 *   progress as the holder, until no task of the experiment is unfinished;
 *   every acknowledged completion goes to `ackFile` (survives SIGKILL); with
 *   `goFile` it starts as a spare and claims nothing until the file exists.
 */
import { LeaseLostError, RFDatabase } from "../../../src/index";
import { AckLog, args, emit, fatal, prng, sleep, waitForGo } from "./util";

interface Args {
  mode: "hold" | "take" | "complete" | "ic-hold" | "ic-take" | "controller" | "actor";
  url: string;
  experimentId: number;
  actorId: number;
  leaseMs: number;
  taskId?: number;
  finish?: boolean;
  everyMs?: number;
  owner?: string;
  ackFile?: string;
  goFile?: string;
  workMs?: [number, number];
  seed?: number;
}

const a = args<Args>();
let db: RFDatabase;
try {
  db = await RFDatabase.open({ url: a.url, migrate: false });
} catch (err) {
  fatal(err);
}
emit({ type: "ready", pid: process.pid });

const forever = () => new Promise<never>(() => setInterval(() => {}, 60_000));

/** What a shard "produces": deterministic, so the parent can compute the expected sums. */
const samplesOf = (shardId: number) => 100 + shardId;

try {
  switch (a.mode) {
    case "hold": {
      const t = await db.actorTasks.claimNext(a.experimentId, a.actorId, { leaseMs: a.leaseMs });
      emit({ type: "claimed", taskId: t?.taskId ?? null, attempts: t?.attempts ?? null });
      await forever();
      break;
    }
    case "take": {
      for (;;) {
        const t = await db.actorTasks.claimNext(a.experimentId, a.actorId, { leaseMs: a.leaseMs });
        if (t) {
          emit({ type: "claimed", taskId: t.taskId, attempts: t.attempts, leaseOwner: t.leaseOwner });
          if (a.finish) await db.actorTasks.completeWithProgress(t.taskId, { samples: 1 }, { actorId: a.actorId });
          emit({ type: "result", taskId: t.taskId });
          break;
        }
        await sleep(50);
      }
      break;
    }
    case "complete": {
      const error = await db.actorTasks.complete(a.taskId!, { actorId: a.actorId }).then(
        () => null,
        (err: unknown) => ({ name: (err as Error).name, lease: err instanceof LeaseLostError, message: String(err) }),
      );
      emit({ type: "result", error });
      break;
    }
    case "ic-hold": {
      const op = await db.icOperations.claimNext({ leaseMs: a.leaseMs, experimentId: a.experimentId });
      emit({ type: "claimed", icId: op?.icId ?? null, attempts: op?.attempts ?? null });
      await forever();
      break;
    }
    case "ic-take": {
      for (;;) {
        const op = await db.icOperations.claimNext({ leaseMs: a.leaseMs, experimentId: a.experimentId });
        if (op) {
          emit({ type: "claimed", icId: op.icId, attempts: op.attempts });
          await db.icOperations.setStatus(op.icId, "completed");
          emit({ type: "result", icId: op.icId });
          break;
        }
        await sleep(50);
      }
      break;
    }
    case "controller": {
      const owner = a.owner ?? `controller-${process.pid}`;
      for (;;) {
        const ok = await db.experiments.heartbeat(a.experimentId, { owner, leaseMs: a.leaseMs });
        const row = await db.experiments.get(a.experimentId);
        emit({ type: "beat", ok, at: row?.heartbeatAt?.toISOString() ?? null });
        await sleep(a.everyMs ?? 200);
      }
    }
    case "actor": {
      const log = new AckLog(a.ackFile!);
      const rand = prng(a.seed ?? a.actorId);
      const [lo, hi] = a.workMs ?? [5, 30];
      let completed = 0;
      let lost = 0;
      // A spare: started ahead, released (go file) the moment another actor is killed.
      if (a.goFile) await waitForGo(a.goFile, 600_000);
      emit({ type: "go" });
      for (;;) {
        const t = await db.actorTasks.claimNext(a.experimentId, a.actorId, { leaseMs: a.leaseMs });
        if (!t) {
          const c = await db.actorTasks.countByStatus(a.experimentId);
          if (c.scheduled + c.in_progress === 0) break;
          await sleep(50); // held by someone (maybe dead): its lease will end
          continue;
        }
        log.append({ op: "claimed", taskId: t.taskId, attempts: t.attempts });
        // Work, heartbeating every third of the lease.
        const work = lo + rand() * (hi - lo);
        const until = Date.now() + work;
        try {
          while (Date.now() < until) {
            await sleep(Math.min(until - Date.now(), a.leaseMs / 3));
            if (Date.now() < until) await db.actorTasks.heartbeat(t.taskId, a.actorId, { leaseMs: a.leaseMs });
          }
          await db.actorTasks.completeWithProgress(
            t.taskId,
            { samples: samplesOf(t.shardId), currentShardId: t.shardId },
            { actorId: a.actorId },
          );
          log.append({ op: "completed", taskId: t.taskId });
          completed++;
        } catch (err) {
          if (!(err instanceof LeaseLostError)) throw err;
          log.append({ op: "lost", taskId: t.taskId });
          lost++;
        }
      }
      emit({ type: "result", completed, lost });
      break;
    }
  }
  await db.close();
} catch (err) {
  fatal(err);
}
