/**
 * The workload on sqld over loopback HTTP (Hrana, @libsql/client), and what
 * it costs in requests:
 *
 * 1. timing: package and raw @libsql/client, both forms, a fresh sqld
 *    (fresh database) per run, several rounds, median;
 * 2. requests per task and per call, counted by tests/support/proxy.ts
 *    between the client and sqld (reference shape);
 * 3. round trips as the bound: the proxy adds `delayMs` (5 ms) to every
 *    request, and tasks/s is compared with 1000 / (requests/task × RTT).
 */
import { RFDatabase } from "../../src/index";
import { startProxy } from "../../tests/support/proxy";
import { startSqld, type SqldServer } from "../../tests/support/sqld";
import { contender, type Contender, type Kind } from "../lib/contenders";
import { expectedCalls, REFERENCE_SHAPE, type Form, type Shape } from "../lib/workload";
import { summarize, type ContenderResult } from "./local";

async function freshServer(): Promise<SqldServer> {
  const server = await startSqld({ idleShutdownSeconds: 60 });
  // Deploy-style migration, then the contenders connect without touching the schema.
  const db = await RFDatabase.open({ url: server.url, migrate: true });
  await db.close();
  return server;
}

export async function benchRemoteTiming(opts: {
  rounds: number;
  kinds: Kind[];
  shape?: Shape;
  log: (s: string) => void;
}): Promise<ContenderResult[]> {
  const shape = opts.shape ?? REFERENCE_SHAPE;
  const contenders: Contender[] = [];
  for (const kind of opts.kinds)
    for (const form of ["api", "fused"] as Form[]) contenders.push(contender(kind, form, true));
  const runs = new Map<string, Awaited<ReturnType<Contender["run"]>>[]>();
  for (let round = 0; round <= opts.rounds; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
    const line: string[] = [];
    for (const c of order) {
      const server = await freshServer();
      try {
        // The warm-up round runs a smaller shape: it only has to warm the JIT and the HTTP agent.
        const s = round === 0 ? { ...shape, shards: Math.max(1, shape.shards >> 3) } : shape;
        const r = await c.run(server.url, s);
        if (r.calls !== expectedCalls(c.form, s))
          throw new Error(`${c.id}: ${r.calls} calls, expected ${expectedCalls(c.form, s)}`);
        if (round > 0) {
          if (!runs.has(c.id)) runs.set(c.id, []);
          runs.get(c.id)!.push(r);
        }
        line.push(`${c.id} ${Math.round(r.tasks / (r.ms / 1000))}`);
      } finally {
        await server.stop();
      }
    }
    opts.log(`  sqld round ${round === 0 ? "0 (warm-up)" : round}: ${line.join(", ")} tasks/s`);
  }
  return contenders.map((c) => summarize(c, runs.get(c.id) ?? []));
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
  /** Median round trip of one request through the delaying proxy (a repository read), ms. */
  rttMs: number;
  /** 1000 / (requests per task × rtt): what round trips alone allow. */
  boundTasksPerSec: number;
}

/** Runs each form of `kinds` once through a counting (and optionally delaying) proxy. */
export async function benchRequests(opts: {
  delayMs: number;
  shape: Shape;
  kinds: Kind[];
  log: (s: string) => void;
}): Promise<RequestCount[]> {
  const out: RequestCount[] = [];
  for (const kind of opts.kinds) {
    for (const form of ["api", "fused"] as Form[]) {
      const server = await freshServer();
      const proxy = await startProxy({ target: server.url, delayMs: opts.delayMs });
      try {
        const c = contender(kind, form, true);
        // Round-trip time through the proxy: a cheap one-request call, median of 41.
        const probe = await RFDatabase.open({ url: proxy.url, migrate: false });
        const rtts: number[] = [];
        for (let i = 0; i < 41; i++) {
          const t0 = performance.now();
          await probe.experiments.getCurrent();
          rtts.push(performance.now() - t0);
        }
        await probe.close();
        rtts.sort((a, b) => a - b);
        const rttMs = rtts[20]!;
        // Count only the timed workload's requests (not the connection's warm-up).
        const r = await c.run(proxy.url, opts.shape, () => proxy.reset());
        await new Promise((res) => setTimeout(res, 20));
        const requests = proxy.requests;
        const tasksPerSec = r.tasks / (r.ms / 1000);
        const perTask = requests / r.tasks;
        out.push({
          id: c.id,
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
          `  requests (${opts.delayMs} ms delay) ${c.id}: ${requests} requests for ${r.calls} calls, ${perTask.toFixed(2)}/task, ` +
            `${Math.round(tasksPerSec)} tasks/s (rtt ${rttMs.toFixed(2)} ms → bound ${Math.round(1000 / (perTask * rttMs))})`,
        );
      } finally {
        await proxy.stop();
        await server.stop();
      }
    }
  }
  return out;
}
