/**
 * The workload against sqld (a real libSQL server, tests/support/sqld.ts),
 * where every client call is an HTTP round trip:
 *
 * 1. timing on loopback: the reference workload (smaller shape), the package
 *    vs raw `@libsql/client` replaying the package's SQL, a fresh sqld per
 *    run, rounds alternated, medians;
 * 2. requests per task and per call, counted by the proxy of
 *    tests/support/proxy.ts (package, reference shape);
 * 3. concurrent actors over a slow link: the proxy adds 20 ms to every
 *    request (a nearby cloud region), and 4 actors share one connection in
 *    one process — the actor loop (claimNext + completeWithProgress) and the
 *    fused lifecycle (create running, poll running tasks, complete with
 *    progress) — package vs raw `@libsql/client` doing the same calls:
 *    tasks/s, requests per task, and the bound round trips set,
 *    actors × 1000 / (requests per task × round trip ms).
 */
import { createClient } from "@libsql/client";
import { RFDatabase } from "../../src/index";
import { startProxy } from "../../tests/support/proxy";
import { startSqld, type SqldServer } from "../../tests/support/sqld";
import { packageTarget } from "../impl/package";
import { clientCaller, replayTarget } from "../impl/replay";
import type { Plan } from "../lib/plan";
import { median, Samples } from "../lib/stats";
import { callStats, summarize, type CallStats, type ContenderResult } from "../lib/summary";
import {
  expectedCalls,
  runWorkload,
  SAMPLES_PER_SHARD,
  type ActorLoop,
  type Form,
  type RunResult,
  type Shape,
  type Target,
} from "../lib/workload";

export type RemoteKind = "package" | "raw-client";
export const REMOTE_LABEL: Record<RemoteKind, string> = {
  package: "rf-inferno-db (this package)",
  "raw-client": "raw @libsql/client, the package's SQL",
};
const WARMUP_SHAPE: Shape = { pipelines: 1, shards: 2, actors: 1 };

async function freshServer(): Promise<SqldServer> {
  const server = await startSqld({ idleShutdownSeconds: 60 });
  // Deploy-style migration, then the contenders connect without touching the schema.
  const db = await RFDatabase.open({ url: server.url, migrate: true });
  await db.close();
  return server;
}

async function openRemote(kind: RemoteKind, url: string, plan: Plan): Promise<Target & ActorLoop> {
  if (kind === "package") return packageTarget(await RFDatabase.open({ url, migrate: false }));
  const c = createClient({ url, intMode: "number" });
  return replayTarget(REMOTE_LABEL[kind], plan, clientCaller(c, plan), () => c.close());
}

export async function benchRemoteTiming(opts: {
  rounds: number;
  shape: Shape;
  plan: Plan;
  log: (s: string) => void;
}): Promise<ContenderResult[]> {
  const contenders: { id: string; kind: RemoteKind; form: Form }[] = [];
  for (const kind of ["package", "raw-client"] as RemoteKind[])
    for (const form of ["fused", "api"] as Form[]) contenders.push({ id: `${kind}/${form}`, kind, form });
  const runs = new Map<string, RunResult[]>();
  for (let round = 0; round <= opts.rounds; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
    const line: string[] = [];
    for (const c of order) {
      const server = await freshServer();
      try {
        // The warm-up round runs a smaller shape: it only has to warm the JIT and the HTTP agent.
        const s = round === 0 ? { ...opts.shape, shards: Math.max(1, opts.shape.shards >> 3) } : opts.shape;
        const target = await openRemote(c.kind, server.url, opts.plan);
        let r: RunResult;
        try {
          await runWorkload(target, c.form, WARMUP_SHAPE);
          r = await runWorkload(target, c.form, s);
        } finally {
          await target.close();
        }
        if (r.calls !== expectedCalls(c.form, s))
          throw new Error(`${c.id}: ${r.calls} calls, expected ${expectedCalls(c.form, s)}`);
        if (round > 0) runs.set(c.id, [...(runs.get(c.id) ?? []), r]);
        line.push(`${c.id} ${Math.round(r.tasks / (r.ms / 1000))}`);
      } finally {
        await server.stop();
      }
    }
    opts.log(`  sqld round ${round === 0 ? "0 (warm-up)" : round}: ${line.join(", ")} tasks/s`);
  }
  return contenders.map((c) => summarize(c.id, c.kind, c.form, runs.get(c.id) ?? []));
}

export interface RequestCount {
  id: string;
  form: Form;
  delayMs: number;
  shape: Shape;
  tasks: number;
  calls: number;
  requests: number;
  requestsPerTask: number;
  requestsPerCall: number;
  tasksPerSec: number;
  /** Median round trip of one request through the proxy (a repository read), ms. */
  rttMs: number;
  /** 1000 / (requests per task × rtt): what round trips alone allow one sequential actor. */
  boundTasksPerSec: number;
}

async function probeRtt(url: string): Promise<number> {
  const probe = await RFDatabase.open({ url, migrate: false });
  const rtts: number[] = [];
  try {
    for (let i = 0; i < 21; i++) {
      const t0 = performance.now();
      await probe.experiments.getCurrent();
      rtts.push(performance.now() - t0);
    }
  } finally {
    await probe.close();
  }
  return median(rtts.slice(1));
}

/** The package's requests per task and call, counted through the proxy (one run per form). */
export async function benchRequests(opts: {
  delayMs: number;
  shape: Shape;
  log: (s: string) => void;
}): Promise<RequestCount[]> {
  const out: RequestCount[] = [];
  for (const form of ["fused", "api"] as Form[]) {
    const server = await freshServer();
    const proxy = await startProxy({ target: server.url, delayMs: opts.delayMs });
    try {
      const rttMs = await probeRtt(proxy.url);
      const target = packageTarget(await RFDatabase.open({ url: proxy.url, migrate: false }));
      let r: RunResult;
      try {
        await runWorkload(target, form, WARMUP_SHAPE);
        proxy.reset(); // count the timed workload only
        r = await runWorkload(target, form, opts.shape);
      } finally {
        await target.close();
      }
      await new Promise((res) => setTimeout(res, 20));
      const requests = proxy.requests;
      const perTask = requests / r.tasks;
      const tasksPerSec = r.tasks / (r.ms / 1000);
      out.push({
        id: `package/${form}`,
        form,
        delayMs: opts.delayMs,
        shape: opts.shape,
        tasks: r.tasks,
        calls: r.calls,
        requests,
        requestsPerTask: perTask,
        requestsPerCall: requests / r.calls,
        tasksPerSec,
        rttMs,
        boundTasksPerSec: 1000 / (perTask * rttMs),
      });
      opts.log(
        `  requests (${opts.delayMs} ms added) package/${form}: ${requests} requests for ${r.calls} calls, ${perTask.toFixed(2)}/task, ` +
          `${Math.round(tasksPerSec)} tasks/s (rtt ${rttMs.toFixed(2)} ms → bound ${Math.round(1000 / (perTask * rttMs))})`,
      );
    } finally {
      await proxy.stop();
      await server.stop();
    }
  }
  return out;
}

export type ConcurrentWorkload = "actor-loop" | "fused-lifecycle";

export interface ConcurrentResult {
  workload: ConcurrentWorkload;
  kind: RemoteKind;
  id: string;
  actors: number;
  delayMs: number;
  tasks: number;
  rounds: number;
  tasksPerSec: number;
  tasksPerSecRounds: number[];
  requestsPerTask: number;
  /** Calls an actor waits for, one after the other, per task (a call is at least one round trip). */
  roundTripsPerTask?: number;
  rttMs: number;
  /** actors × 1000 / (round trips per task × rtt): each actor needs its round trips in turn. */
  boundTasksPerSec: number;
  /** Median over rounds of (this ÷ raw @libsql/client) tasks/s, same workload. */
  vsRawClient: number | null;
  latency: Record<string, CallStats>;
}

/**
 * 4 actors in one process over one connection, through a proxy adding
 * `delayMs` per request: the actor loop and the fused lifecycle, package vs
 * raw @libsql/client, a fresh sqld per run, rounds alternated.
 */
export async function benchConcurrent(opts: {
  delayMs: number;
  actors: number;
  pipelines: number;
  shards: number;
  rounds: number;
  plan: Plan;
  log: (s: string) => void;
}): Promise<ConcurrentResult[]> {
  const combos: { workload: ConcurrentWorkload; kind: RemoteKind }[] = [];
  for (const workload of ["actor-loop", "fused-lifecycle"] as ConcurrentWorkload[])
    for (const kind of ["package", "raw-client"] as RemoteKind[]) combos.push({ workload, kind });
  const tasks = opts.pipelines * opts.shards;
  const per = new Map<string, { tps: number; requests: number; rtt: number; latency: Map<string, Samples> }[]>();
  for (let round = 0; round <= opts.rounds; round++) {
    const order = combos.map((_, i) => combos[(i + round) % combos.length]!);
    const line: string[] = [];
    for (const c of order) {
      const id = `${c.workload}/${c.kind}`;
      const server = await freshServer();
      const proxy = await startProxy({ target: server.url, delayMs: opts.delayMs });
      try {
        // Setup straight to sqld (not through the slow link): the experiment, its pipelines, the scheduled tasks.
        const direct = await RFDatabase.open({ url: server.url, migrate: false });
        const eid = await direct.experiments.create({
          experimentName: id,
          numActors: opts.actors,
          numShards: opts.shards,
        });
        const pids: number[] = [];
        for (let p = 0; p < opts.pipelines; p++)
          pids.push(
            await direct.pipelines.create({
              experimentId: eid,
              pipelineName: `p${p}`,
              pipelineType: "vllm",
              modelConfig: {},
              samplingParams: {},
              status: "ongoing",
            }),
          );
        if (c.workload === "actor-loop")
          for (let s = 0; s < opts.shards; s++)
            for (const pid of pids)
              await direct.actorTasks.create({ experimentId: eid, pipelineId: pid, actorId: 0, shardId: s });
        const rtt = round > 0 ? await probeRtt(proxy.url) : Number.NaN;
        const target = await openRemote(c.kind, proxy.url, opts.plan);
        const latency = new Map<string, Samples>();
        const timed = async <T>(type: string, fn: () => Promise<T>): Promise<T> => {
          const t0 = performance.now();
          const v = await fn();
          let s = latency.get(type);
          if (!s) latency.set(type, (s = new Samples()));
          s.push(performance.now() - t0);
          return v;
        };
        let ms: number;
        try {
          await target.listRunning(eid); // open the connection (HTTP agent) before timing
          proxy.reset();
          const t0 = performance.now();
          const actors = Array.from({ length: opts.actors }, async (_, a) => {
            const actorId = a + 1;
            if (c.workload === "actor-loop") {
              let t = await timed("claimNext", () => target.claimNext(eid, actorId));
              while (t) {
                const cur = t;
                if (target.completeAndClaimNext) {
                  // The package: complete + claim the next as one atomic batch, one request.
                  t = await timed("completeAndClaimNext", () =>
                    target.completeAndClaimNext!(cur.taskId, cur.shardId, actorId),
                  );
                } else {
                  await timed("completeWithProgress", () => target.completeClaimed(cur.taskId, cur.shardId));
                  t = await timed("claimNext", () => target.claimNext(eid, actorId));
                }
              }
              return;
            }
            if (c.kind === "package") {
              // The package: the previous task's completion, the next task's creation and the poll are
              // issued together — one request, run in this order (pipeline.ts). Raw @libsql/client sends
              // each call as its own request, with no order between concurrent ones, so it runs them in turn.
              let prev: { id: number; shard: number } | undefined;
              for (let s = 0; s < opts.shards; s++)
                for (let p = a; p < opts.pipelines; p += opts.actors) {
                  const done = prev;
                  const [, tid] = await timed("complete previous + create + listRunning (issued together)", () =>
                    Promise.all([
                      done && target.completeWithProgress(done.id, SAMPLES_PER_SHARD, done.shard, new Date()),
                      target.createRunningTask(eid, pids[p]!, actorId, s, new Date()),
                      target.listRunning(eid),
                    ]),
                  );
                  prev = { id: tid, shard: s };
                }
              const last = prev;
              if (last)
                await timed("completeWithProgress", () =>
                  target.completeWithProgress(last.id, SAMPLES_PER_SHARD, last.shard, new Date()),
                );
              return;
            }
            for (let s = 0; s < opts.shards; s++)
              for (let p = a; p < opts.pipelines; p += opts.actors) {
                const tid = await timed("create(in_progress)", () =>
                  target.createRunningTask(eid, pids[p]!, actorId, s, new Date()),
                );
                await timed("listRunning", () => target.listRunning(eid));
                await timed("completeWithProgress", () =>
                  target.completeWithProgress(tid, SAMPLES_PER_SHARD, s, new Date()),
                );
              }
          });
          await Promise.all(actors);
          ms = performance.now() - t0;
        } finally {
          await target.close();
        }
        await new Promise((res) => setTimeout(res, 20));
        const requests = proxy.requests;
        // Check the outcome on the server: every task completed once, every completion counted once.
        const check = await direct.actorTasks.countByStatus(eid);
        const progress = (await direct.pipelines.list(eid)).reduce((a, p) => a + p.shardsCompleted, 0);
        await direct.close();
        if (check.completed !== tasks || progress !== tasks)
          throw new Error(`${id}: ${check.completed} tasks completed, ${progress} shards counted; expected ${tasks}`);
        const tps = tasks / (ms / 1000);
        if (round > 0) per.set(id, [...(per.get(id) ?? []), { tps, requests, rtt, latency }]);
        line.push(`${id} ${tps.toFixed(1)} (${(requests / tasks).toFixed(2)} req/task)`);
      } finally {
        await proxy.stop();
        await server.stop();
      }
    }
    opts.log(
      `  ${opts.delayMs} ms link, ${opts.actors} actors, round ${round === 0 ? "0 (warm-up)" : round}: ${line.join(", ")} tasks/s`,
    );
  }
  return combos.map((c) => {
    const id = `${c.workload}/${c.kind}`;
    const rs = per.get(id) ?? [];
    const raw = per.get(`${c.workload}/raw-client`) ?? [];
    const pooled = new Map<string, Samples>();
    for (const r of rs)
      for (const [k, s] of r.latency) {
        if (!pooled.has(k)) pooled.set(k, new Samples());
        pooled.get(k)!.append(s);
      }
    const requestsPerTask = median(rs.map((r) => r.requests / tasks));
    // Sequential calls per task per actor: every timed call was awaited before the actor's next one.
    const roundTripsPerTask = median(rs.map((r) => [...r.latency.values()].reduce((a, x) => a + x.length, 0) / tasks));
    const rttMs = median(rs.map((r) => r.rtt));
    return {
      workload: c.workload,
      kind: c.kind,
      id,
      actors: opts.actors,
      delayMs: opts.delayMs,
      tasks,
      rounds: rs.length,
      tasksPerSec: median(rs.map((r) => r.tps)),
      tasksPerSecRounds: rs.map((r) => Math.round(r.tps * 10) / 10),
      requestsPerTask,
      roundTripsPerTask,
      rttMs,
      boundTasksPerSec: (opts.actors * 1000) / (roundTripsPerTask * rttMs),
      vsRawClient: raw.length === rs.length && rs.length ? median(rs.map((r, i) => r.tps / raw[i]!.tps)) : null,
      latency: callStats(pooled, Math.max(1, rs.length)),
    };
  });
}
