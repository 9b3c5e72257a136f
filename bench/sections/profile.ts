/**
 * Where the time of one call goes.
 *
 * 1. Layers, by subtraction. Each layer runs on its own copy of the same
 *    seeded WAL file, in interleaved batches, median CPU µs per call (wall
 *    time too, for reference):
 *      engine   — raw `libsql`: the package's exact SQL (the plan captured by
 *                 lib/plan.ts) on cached statements, a batch as BEGIN
 *                 IMMEDIATE … COMMIT;
 *      driver   — our LocalClient.execute()/batch() with that SQL (statement
 *                 cache, argument binding, row objects, ResultSet, promise);
 *      package  — the repository call (validation, argument slots, row
 *                 decoding, error guard);
 *    plus the same SQL through `@libsql/client` (which prepares it on every
 *    call) and, for a read, the Drizzle query built on every call instead of
 *    once. The copies live on tmpfs (/dev/shm) when there is one, so that
 *    disk latency (another tenant's fsyncs) does not drown the CPU
 *    differences between layers; the engine is also timed on the disk file,
 *    which is what a real call pays on top.
 * 2. A CPU profile (V8 inspector, in-process) of each repository call in a
 *    loop, self time attributed to modules: native libsql + its JS wrapper,
 *    our driver, drizzle-orm, the repositories/validation, GC, the rest
 *    (microtask/async machinery and the loop itself).
 */
import { copyFileSync, existsSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { createClient, type Client } from "@libsql/client";
import { eq } from "drizzle-orm";
import Database from "libsql";
import { RFDatabase } from "../../src/index";
import { pipelines } from "../../src/schema";
import { FreshFiles } from "../lib/files";
import { bindArgs, type Plan, type PlanKey } from "../lib/plan";
import { median } from "../lib/stats";

/** Tasks of the first experiment (4 in progress, the rest completed): setters and reads. */
const TASKS = 2000;
/** In-progress tasks (second experiment) and scheduled tasks (third): one per call of every layer. */
const RUNNING = 12_000;

type Inputs = Record<string, unknown>;

interface CallSpec {
  name: string;
  /** The plan entry whose statements the engine, driver and @libsql/client layers run. */
  key: PlanKey;
  /** The call's inputs for iteration i (names as in PLAN_INPUTS). */
  inputs: (i: number, ids: SeedIds) => Inputs;
  /** The repository call with those inputs. */
  call: (db: RFDatabase, x: Inputs) => Promise<unknown>;
  /** Optional: the same read with the Drizzle query built on every call (no prepare). */
  built?: (db: RFDatabase, x: Inputs) => Promise<unknown>;
  /** Calls per task in the fused and the API-for-API forms of the reference workload (8 pipelines: a list per 8 tasks). */
  perTask: { fused: number; api: number };
}

interface SeedIds {
  e1: number;
  e3: number;
  pids: number[];
  firstTask: number;
  firstRunning: number;
  firstScheduled: number;
}

const at = (i: number) => 1_700_000_000_000 + i;
const n = (x: unknown) => x as number;

export const SPECS: CallSpec[] = [
  {
    name: "actorTasks.create(in_progress, startedAt)",
    key: "createRunningTask",
    inputs: (i, s) => ({ eid: s.e1, pid: s.pids[i % 8], actor: i % 4, shard: i, t: at(i) }),
    call: (db, x) =>
      db.actorTasks.create({
        experimentId: n(x.eid),
        pipelineId: n(x.pid),
        actorId: n(x.actor),
        shardId: n(x.shard),
        status: "in_progress",
        startedAt: new Date(n(x.t)),
      }),
    perTask: { fused: 1, api: 0 },
  },
  {
    name: "actorTasks.listRunning(eid) (4 rows)",
    key: "listRunning",
    inputs: (_i, s) => ({ eid: s.e1 }),
    call: (db, x) => db.actorTasks.listRunning(n(x.eid)),
    perTask: { fused: 1, api: 1 },
  },
  {
    name: "actorTasks.completeWithProgress (batch of 3)",
    key: "completeWithProgress",
    inputs: (i, s) => ({ tid: s.firstRunning + (i % RUNNING), samples: 128, cur: 3, t: at(i) }),
    call: (db, x) =>
      db.actorTasks.completeWithProgress(
        n(x.tid),
        { samples: n(x.samples), currentShardId: n(x.cur) },
        new Date(n(x.t)),
      ),
    perTask: { fused: 1, api: 0 },
  },
  {
    name: "pipelines.list(eid) (8 rows)",
    key: "listPipelines",
    inputs: (_i, s) => ({ eid: s.e1 }),
    call: (db, x) => db.pipelines.list(n(x.eid)),
    perTask: { fused: 1 / 8, api: 1 / 8 },
  },
  {
    name: "actorTasks.create(scheduled)",
    key: "createTask",
    inputs: (i, s) => ({ eid: s.e1, pid: s.pids[i % 8], actor: i % 4, shard: i }),
    call: (db, x) =>
      db.actorTasks.create({
        experimentId: n(x.eid),
        pipelineId: n(x.pid),
        actorId: n(x.actor),
        shardId: n(x.shard),
      }),
    perTask: { fused: 0, api: 1 },
  },
  {
    name: "actorTasks.setStatus(id, in_progress)",
    key: "setTaskStatus:in_progress",
    inputs: (i, s) => ({ tid: s.firstScheduled + (i % RUNNING) }),
    call: (db, x) => db.actorTasks.setStatus(n(x.tid), "in_progress"),
    perTask: { fused: 0, api: 1 },
  },
  {
    name: "actorTasks.setStartTime(id, t)",
    key: "setTaskStartTime",
    inputs: (i, s) => ({ tid: s.firstTask + (i % TASKS), t: at(i) }),
    call: (db, x) => db.actorTasks.setStartTime(n(x.tid), new Date(n(x.t))),
    perTask: { fused: 0, api: 1 },
  },
  {
    name: "pipelines.setProgress(id, …)",
    key: "setPipelineProgress",
    inputs: (i, s) => ({ pid: s.pids[i % 8], cur: i, done: i + 1, samples: (i + 1) * 128 }),
    call: (db, x) =>
      db.pipelines.setProgress(n(x.pid), {
        currentShardId: n(x.cur),
        shardsCompleted: n(x.done),
        totalSamplesProcessed: n(x.samples),
      }),
    perTask: { fused: 0, api: 1 },
  },
  {
    name: "actorTasks.setEndTime(id, t, d)",
    key: "setTaskEndTime",
    inputs: (i, s) => ({ tid: s.firstTask + (i % TASKS), t: at(i), dur: 2.5 }),
    call: (db, x) => db.actorTasks.setEndTime(n(x.tid), new Date(n(x.t)), n(x.dur)),
    perTask: { fused: 0, api: 1 },
  },
  {
    name: "actorTasks.setStatus(id, completed)",
    key: "setTaskStatus:completed",
    inputs: (i, s) => ({ tid: s.firstRunning + (i % RUNNING) }),
    call: (db, x) => db.actorTasks.setStatus(n(x.tid), "completed"),
    perTask: { fused: 0, api: 1 },
  },
  {
    name: "pipelines.get(id)",
    key: "getPipeline",
    inputs: (i, s) => ({ pid: s.pids[i % 8] }),
    call: (db, x) => db.pipelines.get(n(x.pid)),
    built: (db, x) =>
      db.drizzle
        .select()
        .from(pipelines)
        .where(eq(pipelines.pipelineId, n(x.pid)))
        .get(),
    perTask: { fused: 0, api: 0 },
  },
  {
    name: "actorTasks.claimNext(eid, actor)",
    key: "claimNext",
    inputs: (i, s) => ({ eid: s.e3, actor: 1 + (i % 4), t: at(i) }),
    call: (db, x) => db.actorTasks.claimNext(n(x.eid), n(x.actor), new Date(n(x.t))),
    perTask: { fused: 0, api: 0 },
  },
];

async function seed(files: FreshFiles): Promise<{ path: string; ids: SeedIds }> {
  const path = await files.make();
  const db = await RFDatabase.open({ url: `file:${path}` });
  const pipeline = (experimentId: number, pipelineName: string) =>
    db.pipelines.create({
      experimentId,
      pipelineName,
      pipelineType: "vllm",
      modelConfig: { model: "llama-3-8b-instruct", dtype: "bfloat16", max_model_len: 8192 },
      samplingParams: { temperature: 0.7, top_p: 0.9, max_tokens: 512 },
    });
  const e1 = await db.experiments.create({ experimentName: "profile", numActors: 4, numShards: 250 });
  const pids: number[] = [];
  for (let p = 0; p < 8; p++) pids.push(await pipeline(e1, `p${p}`));
  const tasks = async (
    experimentId: number,
    pipelineId: number | null,
    count: number,
    status: "in_progress" | "completed" | "scheduled" | null,
  ) => {
    let first = 0;
    await db.transaction(async (tx) => {
      for (let i = 0; i < count; i++) {
        const id = await tx.actorTasks.create({
          experimentId,
          pipelineId: pipelineId ?? pids[i % 8]!,
          actorId: i % 4,
          shardId: i >> 3,
          status: status ?? (i < 4 ? "in_progress" : "completed"),
          ...(status === "scheduled" ? {} : { startedAt: new Date(at(0)) }),
        });
        if (i === 0) first = id;
      }
    });
    return first;
  };
  const firstTask = await tasks(e1, null, TASKS, null);
  // In-progress tasks in a second experiment (so that listRunning of the first one still returns its 4 rows),
  // scheduled ones in a third (claimNext takes the oldest; setStatus(in_progress) starts them).
  const e2 = await db.experiments.create({ experimentName: "profile-running", numActors: 4 });
  const firstRunning = await tasks(e2, await pipeline(e2, "p"), RUNNING, "in_progress");
  const e3 = await db.experiments.create({ experimentName: "profile-scheduled", numActors: 4 });
  const firstScheduled = await tasks(e3, await pipeline(e3, "p"), RUNNING, "scheduled");
  await db.close();
  const raw = new Database(path);
  raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  raw.close();
  return { path, ids: { e1, e3, pids, firstTask, firstRunning, firstScheduled } };
}

export interface LayerRow {
  call: string;
  key: PlanKey;
  perTask: { fused: number; api: number };
  sql: string;
  /** CPU µs per call (all threads of this process), median of interleaved batches. */
  engineDisk: number;
  engine: number;
  driver: number;
  package: number;
  libsqlClient: number;
  builtPerCall: number | null;
  /** The same by wall time (µs per call, median of batches). */
  wall: { engineDisk: number; engine: number; package: number };
}

export interface ProfileRow {
  call: string;
  totalUs: number;
  /** share of samples per bucket, 0..1 */
  shares: Record<string, number>;
}

const BUCKETS = [
  "engine: native libsql + binding",
  "driver: src/driver",
  "drizzle-orm",
  "package: repositories + validation",
  "GC",
  "other (async/microtask machinery, loop)",
] as const;

function bucketOf(url: string): (typeof BUCKETS)[number] {
  if (url.includes("node_modules/libsql/")) return "engine: native libsql + binding";
  if (url.includes("/src/driver/")) return "driver: src/driver";
  if (url.includes("node_modules/drizzle-orm/")) return "drizzle-orm";
  if (url.includes("/src/repositories/") || url.includes("/src/validate") || url.includes("/src/errors"))
    return "package: repositories + validation";
  return "other (async/microtask machinery, loop)";
}

async function cpuProfile(
  fn: (i: number) => Promise<unknown>,
  from: number,
  iterations: number,
): Promise<{ shares: Record<string, number>; totalUs: number }> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 50 });
  await session.post("Profiler.start");
  const t0 = performance.now();
  for (let i = from; i < from + iterations; i++) await fn(i);
  const totalUs = ((performance.now() - t0) * 1000) / iterations;
  const { profile } = await session.post("Profiler.stop");
  session.disconnect();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Native frames (the libsql binding's functions, V8 builtins) count for the nearest caller with a URL.
  const owner = (id: number) => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      if (n.callFrame.url) return n;
    }
    return byId.get(id)!;
  };
  const time = new Map<string, number>();
  let total = 0;
  const deltas = profile.timeDeltas ?? [];
  (profile.samples ?? []).forEach((id, k) => {
    const n = byId.get(id)!;
    const fn = n.callFrame.functionName;
    if (fn === "(idle)" || fn === "(program)") return;
    const url = owner(id).callFrame.url;
    // The profiler's own stop/serialisation is sampled too: not part of the call.
    if (url.startsWith("node:inspector")) return;
    const b = fn === "(garbage collector)" ? "GC" : bucketOf(url);
    const dt = deltas[k] ?? 0;
    time.set(b, (time.get(b) ?? 0) + dt);
    total += dt;
  });
  const shares: Record<string, number> = {};
  for (const b of BUCKETS) shares[b] = (time.get(b) ?? 0) / (total || 1);
  return { shares, totalUs };
}

/** Runs one plan entry's statements on a raw libsql connection, synchronously: a batch as BEGIN IMMEDIATE … COMMIT. */
function rawRunner(path: string, plan: Plan, key: PlanKey) {
  const raw = new Database(path);
  raw.exec("PRAGMA synchronous = NORMAL");
  raw.exec("PRAGMA foreign_keys = ON");
  const calls = plan.calls[key]!.clientCalls.map((cc) => ({
    batch: cc.batch,
    stmts: cc.statements.map((s) => {
      const st = raw.prepare(s.sql);
      if (s.reader) st.raw(true);
      return { st, s };
    }),
  }));
  const begin = raw.prepare("BEGIN IMMEDIATE");
  const commit = raw.prepare("COMMIT");
  return {
    run(x: Inputs) {
      for (const cc of calls) {
        if (cc.batch) begin.run([]);
        for (const { st, s } of cc.stmts) {
          const args = bindArgs(s.args, x);
          if (s.one) st.get(args);
          else if (s.reader) st.all(args);
          else st.run(args);
        }
        if (cc.batch) commit.run([]);
      }
    },
    close: () => raw.close(),
  };
}

export interface PerTask {
  form: "fused" | "api";
  /** µs per task summed over the profiled calls, weighted by calls per task. */
  engineDisk: number;
  engine: number;
  driver: number;
  package: number;
  libsqlClient: number;
}

export async function benchProfile(opts: {
  batches: number;
  perBatch: number;
  plan: Plan;
  workDir?: string;
  log: (s: string) => void;
}): Promise<{
  layers: LayerRow[];
  perTask: PerTask[];
  profile: ProfileRow[];
  buckets: readonly string[];
  tmpfs: boolean;
}> {
  const disk = new FreshFiles(opts.workDir);
  const tmpfs = existsSync("/dev/shm") ? new FreshFiles("/dev/shm") : disk;
  try {
    const { path: seeded, ids } = await seed(disk);
    let k = 0;
    const copy = (where: FreshFiles) => {
      const p = `${where.dir}/layer-${k++}.db`;
      copyFileSync(seeded, p);
      return p;
    };
    const layers: LayerRow[] = [];
    const profile: ProfileRow[] = [];
    const calls = opts.batches * opts.perBatch;
    if ((opts.batches + 2) * opts.perBatch + calls + 1 > RUNNING)
      throw new Error("profile: not enough seeded in-progress tasks for this many calls");
    for (const spec of SPECS) {
      const entry = opts.plan.calls[spec.key]!;
      const isBatch = entry.clientCalls.length === 1 && entry.clientCalls[0]!.batch;
      const pkg = await RFDatabase.open({ url: `file:${copy(tmpfs)}` });
      const drv = await RFDatabase.open({ url: `file:${copy(tmpfs)}` });
      const built = spec.built ? await RFDatabase.open({ url: `file:${copy(tmpfs)}` }) : null;
      const engine = rawRunner(copy(tmpfs), opts.plan, spec.key);
      const engineDisk = rawRunner(copy(disk), opts.plan, spec.key);
      const lc: Client = createClient({ url: `file:${copy(tmpfs)}`, intMode: "number" });
      await lc.execute("PRAGMA synchronous = NORMAL");
      await lc.execute("PRAGMA foreign_keys = ON");
      const client = drv.client;
      const stmtsOf = (x: Inputs) =>
        entry.clientCalls.map((cc) => cc.statements.map((s) => ({ sql: s.sql, args: bindArgs(s.args, x) as never })));
      const viaClient = async (c: Client, x: Inputs) => {
        for (const list of stmtsOf(x)) await (isBatch ? c.batch(list, "write") : c.execute(list[0]!));
      };
      const inputs = (i: number) => spec.inputs(i, ids);
      const fns: Record<string, (i: number) => unknown> = {
        engineDisk: (i) => engineDisk.run(inputs(i)),
        engine: (i) => engine.run(inputs(i)),
        driver: (i) => viaClient(client, inputs(i)),
        package: (i) => spec.call(pkg, inputs(i)),
        libsqlClient: (i) => viaClient(lc, inputs(i)),
      };
      if (spec.built && built) fns.builtPerCall = (i) => spec.built!(built, inputs(i));
      // CPU time per call (process.cpuUsage, all threads) is what the layers are compared on: on a machine
      // shared with other tenants, wall time also counts the time this process waited for a core.
      const per: Record<string, number[]> = {};
      const perWall: Record<string, number[]> = {};
      for (const key of Object.keys(fns)) {
        per[key] = [];
        perWall[key] = [];
      }
      // Iteration numbers are unique per layer (i) so every call of a layer gets its own task where that matters.
      const next: Record<string, number> = {};
      for (let b = 0; b < opts.batches + 2; b++) {
        for (const [key, fn] of Object.entries(fns)) {
          const count = key === "libsqlClient" ? Math.max(50, opts.perBatch >> 2) : opts.perBatch;
          let i = next[key] ?? 0;
          const t0 = performance.now();
          const c0 = process.cpuUsage();
          for (let j = 0; j < count; j++) await fn(i++);
          const cpu = process.cpuUsage(c0);
          next[key] = i;
          if (b >= 2) {
            per[key]!.push((cpu.user + cpu.system) / count);
            perWall[key]!.push(((performance.now() - t0) * 1000) / count);
          }
        }
      }
      const m = (key: string) => (per[key]?.length ? median(per[key]!) : Number.NaN);
      const w = (key: string) => (perWall[key]?.length ? median(perWall[key]!) : Number.NaN);
      layers.push({
        call: spec.name,
        key: spec.key,
        perTask: spec.perTask,
        sql: entry.clientCalls.flatMap((c) => c.statements.map((s) => s.sql)).join(";\n"),
        engineDisk: m("engineDisk"),
        engine: m("engine"),
        driver: m("driver"),
        package: m("package"),
        libsqlClient: m("libsqlClient"),
        builtPerCall: spec.built ? m("builtPerCall") : null,
        wall: { engineDisk: w("engineDisk"), engine: w("engine"), package: w("package") },
      });
      const p = await cpuProfile((i) => spec.call(pkg, inputs(i)), next.package ?? 0, calls);
      profile.push({ call: spec.name, totalUs: p.totalUs, shares: p.shares });
      opts.log(
        `  ${spec.name.padEnd(44)} engine ${m("engine").toFixed(1)} µs (disk ${m("engineDisk").toFixed(1)}), driver ${m("driver").toFixed(1)}, package ${m("package").toFixed(1)} (${(m("package") / m("engine")).toFixed(2)}×), ` +
          `@libsql/client ${m("libsqlClient").toFixed(1)}${spec.built ? `, built per call ${m("builtPerCall").toFixed(1)}` : ""}`,
      );
      engine.close();
      engineDisk.close();
      lc.close();
      await pkg.close();
      await drv.close();
      await built?.close();
    }
    const perTask: PerTask[] = (["fused", "api"] as const).map((form) => {
      const sum = (f: (l: LayerRow) => number) => layers.reduce((acc, l) => acc + l.perTask[form] * f(l), 0);
      return {
        form,
        engineDisk: sum((l) => l.engineDisk),
        engine: sum((l) => l.engine),
        driver: sum((l) => l.driver),
        package: sum((l) => l.package),
        libsqlClient: sum((l) => l.libsqlClient),
      };
    });
    return { layers, perTask, profile, buckets: BUCKETS, tmpfs: tmpfs !== disk };
  } finally {
    disk.cleanup();
    if (tmpfs !== disk) tmpfs.cleanup();
  }
}
