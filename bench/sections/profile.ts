/**
 * Where the time of one call goes.
 *
 * 1. Layers, by subtraction. Each layer runs on its own copy of the same
 *    seeded WAL file, in interleaved batches, median µs per call:
 *      engine   — raw `libsql`: the package's exact SQL (captured from the
 *                 call) on cached statements, a batch as BEGIN IMMEDIATE …
 *                 COMMIT;
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
import { actorTasks } from "../../src/schema";
import { captureStatements, type Captured } from "../lib/capture";
import { FreshFiles } from "../lib/files";
import { median } from "../lib/stats";

const TASKS = 2000;
/** In-progress tasks for completeWithProgress, one per call of every layer. */
const RUNNING_FROM = TASKS + 1;
const RUNNING = 12_000;

interface CallSpec {
  name: string;
  /** The repository call for iteration i. */
  call: (db: RFDatabase, i: number) => Promise<unknown>;
  /** Arguments of the captured statement k for iteration i (captured: the arguments of iteration 0). */
  args: (i: number, captured: unknown[], k: number) => unknown[];
  /** Optional: the same read with the Drizzle query built on every call (no prepare). */
  built?: (db: RFDatabase, i: number) => Promise<unknown>;
}

const at = (i: number) => 1_700_000_000_000 + i;
const taskId = (i: number) => 1 + (i % TASKS);
const runningId = (i: number) => RUNNING_FROM + (i % RUNNING);
/** The status the setStatus spec moves task `1 + i % 4` to in call i (and, at i + 4, back). */
const toggled = (i: number) => ((i >> 2) & 1 ? "in_progress" : "scheduled");
const swap = (a: unknown[], from: unknown, to: unknown) => a.map((v) => (v === from ? to : v));

const SPECS: CallSpec[] = [
  {
    name: "actorTasks.get(id)",
    call: (db, i) => db.actorTasks.get(taskId(i)),
    args: (i, a) => [taskId(i), ...a.slice(1)], // (id, LIMIT 1)
    built: (db, i) =>
      db.drizzle
        .select()
        .from(actorTasks)
        .where(eq(actorTasks.taskId, taskId(i)))
        .get(),
  },
  { name: "actorTasks.listRunning(eid) (4 rows)", call: (db) => db.actorTasks.listRunning(1), args: (_i, a) => a },
  { name: "pipelines.list(eid) (8 rows)", call: (db) => db.pipelines.list(1), args: (_i, a) => a },
  {
    name: "actorTasks.setStartTime(id, t)",
    call: (db, i) => db.actorTasks.setStartTime(taskId(i), new Date(at(i))),
    args: (i) => [at(i), taskId(i)],
  },
  {
    // in_progress ↔ scheduled on the 4 running tasks, each one way then back per round of 4 calls: the
    // one cycle ACTOR_TASK_TRANSITIONS allows (a completed task can no longer be set back).
    name: "actorTasks.setStatus(id, s)",
    call: (db, i) => db.actorTasks.setStatus(1 + (i % 4), toggled(i)),
    args: (i) => [toggled(i), 1 + (i % 4), toggled(i + 4)],
  },
  {
    name: "actorTasks.create(in_progress, startedAt)",
    call: (db, i) =>
      db.actorTasks.create({
        experimentId: 1,
        pipelineId: 1 + (i % 8),
        actorId: i % 4,
        shardId: i,
        status: "in_progress",
        startedAt: new Date(at(i)),
      }),
    args: (i, a) => a.map((v, k) => (k === 1 ? 1 + (i % 8) : k === 2 ? i % 4 : k === 3 ? i : k === 5 ? at(i) : v)),
  },
  {
    name: "actorTasks.completeWithProgress (batch of 2)",
    call: (db, i) =>
      db.actorTasks.completeWithProgress(runningId(i), { samples: 128, currentShardId: 3 }, new Date(at(i))),
    // the task id and the completion time are the only arguments that change
    args: (i, a) => swap(swap(a, RUNNING_FROM, runningId(i)), at(0), at(i)),
  },
];

async function seed(files: FreshFiles): Promise<string> {
  const path = await files.make();
  const db = await RFDatabase.open({ url: `file:${path}` });
  const eid = await db.experiments.create({ experimentName: "profile", numActors: 4, numShards: 250 });
  const pids: number[] = [];
  for (let p = 0; p < 8; p++) {
    pids.push(
      await db.pipelines.create({
        experimentId: eid,
        pipelineName: `p${p}`,
        pipelineType: "vllm",
        modelConfig: { model: "m", dtype: "bf16" },
        samplingParams: { temperature: 0.7 },
      }),
    );
  }
  await db.transaction(async (tx) => {
    for (let i = 0; i < TASKS; i++) {
      await tx.actorTasks.create({
        experimentId: eid,
        pipelineId: pids[i % 8]!,
        actorId: i % 4,
        shardId: i >> 3,
        status: i < 4 ? "in_progress" : "completed",
      });
    }
  });
  // Tasks for completeWithProgress, one per call: in progress, in a second experiment (so that
  // listRunning of the first one still returns its 4 rows).
  const e2 = await db.experiments.create({ experimentName: "profile-running", numActors: 4 });
  const p2 = await db.pipelines.create({
    experimentId: e2,
    pipelineName: "p",
    pipelineType: "vllm",
    modelConfig: {},
    samplingParams: {},
  });
  await db.transaction(async (tx) => {
    for (let i = 0; i < RUNNING; i++) {
      await tx.actorTasks.create({
        experimentId: e2,
        pipelineId: p2,
        actorId: 0,
        shardId: i,
        status: "in_progress",
        startedAt: new Date(at(0)),
      });
    }
  });
  await db.close();
  const raw = new Database(path);
  raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  raw.close();
  return path;
}

export interface LayerRow {
  call: string;
  sql: string;
  /** µs per call, median of interleaved batches. */
  engineDisk: number;
  engine: number;
  driver: number;
  package: number;
  libsqlClient: number;
  builtPerCall: number | null;
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

/** Runs captured statements on a raw libsql connection: one statement, or a batch as BEGIN IMMEDIATE … COMMIT. */
function rawRunner(path: string, statements: Captured[]) {
  const raw = new Database(path);
  raw.exec("PRAGMA synchronous = NORMAL");
  raw.exec("PRAGMA foreign_keys = ON");
  const stmts = statements.map((s) => {
    const st = raw.prepare(s.sql);
    const reader = st.reader;
    if (reader) st.raw(true);
    // `… LIMIT ?` bound to 1 (get by id): one row, so the cheaper get() — what the driver does too.
    const one = reader && /limit \?$/i.test(s.sql.trim()) && s.args[s.args.length - 1] === 1;
    return { st, reader, one };
  });
  const begin = raw.prepare("BEGIN IMMEDIATE");
  const commit = raw.prepare("COMMIT");
  const batch = statements[0]!.batch;
  return {
    run(argsOf: (k: number) => unknown[]) {
      if (batch) begin.run([]);
      for (let k = 0; k < stmts.length; k++) {
        const { st, reader, one } = stmts[k]!;
        if (one) st.get(argsOf(k));
        else if (reader) st.all(argsOf(k));
        else st.run(argsOf(k));
      }
      if (batch) commit.run([]);
    },
    close: () => raw.close(),
  };
}

export async function benchProfile(opts: {
  batches: number;
  perBatch: number;
  workDir?: string;
  log: (s: string) => void;
}): Promise<{
  layers: LayerRow[];
  profile: ProfileRow[];
  buckets: readonly string[];
  tmpfs: boolean;
}> {
  const disk = new FreshFiles(opts.workDir);
  const tmpfs = existsSync("/dev/shm") ? new FreshFiles("/dev/shm") : disk;
  try {
    const seeded = await seed(disk);
    let n = 0;
    const copy = (where: FreshFiles) => {
      const p = `${where.dir}/layer-${n++}.db`;
      copyFileSync(seeded, p);
      return p;
    };
    const layers: LayerRow[] = [];
    const profile: ProfileRow[] = [];
    const calls = opts.batches * opts.perBatch;
    if ((opts.batches + 2) * opts.perBatch + calls + 1 > RUNNING)
      throw new Error("profile: not enough seeded in-progress tasks for this many calls");
    for (const spec of SPECS) {
      const pkg = await RFDatabase.open({ url: `file:${copy(tmpfs)}` });
      const drv = await RFDatabase.open({ url: `file:${copy(tmpfs)}` });
      const built = await RFDatabase.open({ url: `file:${copy(tmpfs)}` });
      // The SQL the package sends for this call (iteration 0, on a throwaway copy).
      const probe = await RFDatabase.open({ url: `file:${copy(tmpfs)}` });
      const cap = await captureStatements(probe.client, () => spec.call(probe, 0));
      await probe.close();
      if (cap.error) throw cap.error;
      if (cap.calls !== 1) throw new Error(`${spec.name}: expected one client call, got ${cap.calls}`);
      const statements = cap.statements;
      const isBatch = statements[0]!.batch;
      const engine = rawRunner(copy(tmpfs), statements);
      const engineDisk = rawRunner(copy(disk), statements);
      const lc: Client = createClient({ url: `file:${copy(tmpfs)}`, intMode: "number" });
      await lc.execute("PRAGMA synchronous = NORMAL");
      await lc.execute("PRAGMA foreign_keys = ON");
      const client = drv.client;
      const argsFor = (i: number) => (k: number) => spec.args(i, statements[k]!.args, k);
      const toStmts = (i: number) => statements.map((s, k) => ({ sql: s.sql, args: spec.args(i, s.args, k) as never }));
      const fns: Record<string, (i: number) => unknown> = {
        engineDisk: (i) => engineDisk.run(argsFor(i)),
        engine: (i) => engine.run(argsFor(i)),
        driver: (i) => (isBatch ? client.batch(toStmts(i), "write") : client.execute(toStmts(i)[0]!)),
        package: (i) => spec.call(pkg, i),
        libsqlClient: (i) => (isBatch ? lc.batch(toStmts(i), "write") : lc.execute(toStmts(i)[0]!)),
      };
      if (spec.built) fns.builtPerCall = (i) => spec.built!(built, i);
      const per: Record<string, number[]> = {};
      for (const k of Object.keys(fns)) per[k] = [];
      // Iteration numbers are unique per layer (i) so every call of a layer gets its own task where that matters.
      const next: Record<string, number> = {};
      for (let b = 0; b < opts.batches + 2; b++) {
        for (const [k, fn] of Object.entries(fns)) {
          const count = k === "libsqlClient" ? Math.max(50, opts.perBatch >> 2) : opts.perBatch;
          let i = next[k] ?? 1;
          const t0 = performance.now();
          for (let j = 0; j < count; j++) await fn(i++);
          next[k] = i;
          if (b >= 2) per[k]!.push(((performance.now() - t0) * 1000) / count);
        }
      }
      const m = (k: string) => (per[k] && per[k]!.length ? median(per[k]!) : NaN);
      layers.push({
        call: spec.name,
        sql: statements.map((s) => s.sql).join(";\n"),
        engineDisk: m("engineDisk"),
        engine: m("engine"),
        driver: m("driver"),
        package: m("package"),
        libsqlClient: m("libsqlClient"),
        builtPerCall: spec.built ? m("builtPerCall") : null,
      });
      const p = await cpuProfile((i) => spec.call(pkg, i), next.package ?? 1, calls);
      profile.push({ call: spec.name, totalUs: p.totalUs, shares: p.shares });
      opts.log(
        `  ${spec.name.padEnd(44)} engine ${m("engine").toFixed(1)} µs (disk ${m("engineDisk").toFixed(1)}), driver ${m("driver").toFixed(1)}, package ${m("package").toFixed(1)}, ` +
          `@libsql/client ${m("libsqlClient").toFixed(1)}${spec.built ? `, built per call ${m("builtPerCall").toFixed(1)}` : ""}`,
      );
      engine.close();
      engineDisk.close();
      lc.close();
      await pkg.close();
      await drv.close();
      await built.close();
    }
    return { layers, profile, buckets: BUCKETS, tmpfs: tmpfs !== disk };
  } finally {
    disk.cleanup();
    if (tmpfs !== disk) tmpfs.cleanup();
  }
}
