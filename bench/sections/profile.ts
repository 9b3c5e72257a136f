/**
 * Where the time of one call goes, on a local WAL file.
 *
 * 1. Layers, by subtraction (each layer on its own copy of the same seeded
 *    file, interleaved batches, median per call):
 *      engine   — raw `libsql`, the package's exact SQL on a cached statement;
 *      driver   — our LocalClient.execute() with that SQL (statement cache,
 *                 argument binding, row objects, ResultSet, promise);
 *      package  — the repository call (validation, parameter filling, result
 *                 mapping, error guard);
 *    and for contrast the same SQL through `@libsql/client` (which prepares
 *    it on every call) and, for a read, the Drizzle query built per call
 *    instead of prepared once.
 * 2. A CPU profile (V8 inspector, in-process) of each repository call in a
 *    loop, self time attributed to modules: native libsql + its JS wrapper,
 *    our driver, drizzle-orm, the repositories/validation, GC, the rest
 *    (promise/async machinery, the loop itself).
 */
import { copyFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { createClient, type Client } from "@libsql/client";
import { eq } from "drizzle-orm";
import Database from "libsql";
import { RFDatabase } from "../../src/index";
import { actorTasks } from "../../src/schema";
import { captureStatements } from "../lib/capture";
import { FreshFiles } from "../lib/files";
import { median } from "../lib/stats";

const TASKS = 2000;

interface CallSpec {
  name: string;
  /** The repository call (i varies the arguments). */
  call: (db: RFDatabase, i: number) => Promise<unknown>;
  /** The same statement's arguments for call i (captured SQL, args rebuilt per i). */
  args: (i: number, captured: unknown[]) => unknown[];
  /** Optional: the Drizzle query built on every call (no prepare). */
  built?: (db: RFDatabase, i: number) => Promise<unknown>;
}

const at = (i: number) => new Date(1_700_000_000_000 + i);
const taskId = (i: number) => 1 + (i % TASKS);

const SPECS: CallSpec[] = [
  {
    name: "actorTasks.get(id)",
    call: (db, i) => db.actorTasks.get(taskId(i)),
    args: (i) => [taskId(i)],
    built: (db, i) => db.drizzle.select().from(actorTasks).where(eq(actorTasks.taskId, taskId(i))).get(),
  },
  {
    name: "actorTasks.listRunning(eid) (4 rows)",
    call: (db) => db.actorTasks.listRunning(1),
    args: (_i, a) => a,
  },
  {
    name: "pipelines.list(eid) (8 rows)",
    call: (db) => db.pipelines.list(1),
    args: (_i, a) => a,
  },
  {
    name: "actorTasks.setStartTime(id, t)",
    call: (db, i) => db.actorTasks.setStartTime(taskId(i), at(i)),
    args: (i, a) => a.map((v) => (typeof v === "number" && v > 1e12 ? at(i).getTime() : v === a[a.length - 1] ? taskId(i) : v)),
  },
  {
    name: "actorTasks.setStatus(id, s)",
    call: (db, i) => db.actorTasks.setStatus(taskId(i), i & 1 ? "completed" : "in_progress"),
    args: (i, a) => a.map((v) => (typeof v === "string" ? (i & 1 ? "completed" : "in_progress") : taskId(i))),
  },
];

async function seed(files: FreshFiles): Promise<string> {
  const path = await files.make();
  const db = await RFDatabase.open({ url: `file:${path}` });
  const eid = await db.experiments.create({ experimentName: "profile", numActors: 4, numShards: 250 });
  const pids: number[] = [];
  for (let p = 0; p < 8; p++) {
    pids.push(await db.pipelines.create({ experimentId: eid, pipelineName: `p${p}`, pipelineType: "vllm", modelConfig: { model: "m", dtype: "bf16" }, samplingParams: { temperature: 0.7 } }));
  }
  for (let i = 0; i < TASKS; i++) {
    await db.actorTasks.create({ experimentId: eid, pipelineId: pids[i % 8]!, actorId: i % 4, shardId: i >> 3, status: i < 4 ? "in_progress" : "completed" });
  }
  await db.close();
  const raw = new Database(path);
  raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  raw.close();
  return path;
}

export interface LayerRow {
  call: string;
  sql: string;
  /** µs per call, median of batches. */
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

const BUCKETS = ["engine: native libsql + binding", "driver: src/driver", "drizzle-orm", "package: repositories + validation", "GC", "other (async/promise machinery, loop)"] as const;

function bucketOf(url: string, fn: string): (typeof BUCKETS)[number] {
  if (fn === "(garbage collector)") return "GC";
  if (url.includes("node_modules/libsql/")) return "engine: native libsql + binding";
  if (url.includes("/src/driver/")) return "driver: src/driver";
  if (url.includes("node_modules/drizzle-orm/")) return "drizzle-orm";
  if (url.includes("/src/repositories/") || url.includes("/src/validate") || url.includes("/src/errors")) return "package: repositories + validation";
  return "other (async/promise machinery, loop)";
}

async function cpuProfile(fn: (i: number) => Promise<unknown>, iterations: number): Promise<{ shares: Record<string, number>; totalUs: number }> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 50 });
  await session.post("Profiler.start");
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) await fn(i);
  const totalUs = ((performance.now() - t0) * 1000) / iterations;
  const { profile } = await session.post("Profiler.stop");
  session.disconnect();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Native frames (no URL: the libsql binding's functions, V8 builtins) count for the nearest caller that has one.
  const owner = (id: number) => {
    let cur: number | undefined = id;
    while (cur !== undefined) {
      const n = byId.get(cur)!;
      if (n.callFrame.url) return n;
      cur = parent.get(cur);
    }
    return byId.get(id)!;
  };
  const time = new Map<string, number>();
  let total = 0;
  const deltas = profile.timeDeltas ?? [];
  (profile.samples ?? []).forEach((id, k) => {
    const n = byId.get(id)!;
    if (n.callFrame.functionName === "(idle)" || n.callFrame.functionName === "(program)") return;
    const b = n.callFrame.functionName === "(garbage collector)" ? "GC" : bucketOf(owner(id).callFrame.url, n.callFrame.functionName);
    const dt = deltas[k] ?? 0;
    time.set(b, (time.get(b) ?? 0) + dt);
    total += dt;
  });
  const shares: Record<string, number> = {};
  for (const b of BUCKETS) shares[b] = (time.get(b) ?? 0) / (total || 1);
  return { shares, totalUs };
}

export async function benchProfile(opts: { batches: number; perBatch: number; workDir?: string; log: (s: string) => void }): Promise<{ layers: LayerRow[]; profile: ProfileRow[]; buckets: readonly string[] }> {
  const files = new FreshFiles(opts.workDir);
  try {
    const seeded = await seed(files);
    const copy = () => {
      const p = files.dir + `/layer-${Math.random().toString(36).slice(2)}.db`;
      copyFileSync(seeded, p);
      return p;
    };
    const layers: LayerRow[] = [];
    const profile: ProfileRow[] = [];
    for (const spec of SPECS) {
      const pkg = await RFDatabase.open({ url: `file:${copy()}` });
      const drv = await RFDatabase.open({ url: `file:${copy()}` });
      const built = await RFDatabase.open({ url: `file:${copy()}` });
      // The SQL the package sends for this call.
      const cap = await captureStatements(pkg.client, () => spec.call(pkg, 0));
      if (cap.error) throw cap.error;
      if (cap.statements.length !== 1) throw new Error(`${spec.name}: expected one statement, got ${JSON.stringify(cap.statements)}`);
      const { sql, args: args0 } = cap.statements[0]!;
      const rawPath = copy();
      const raw = new Database(rawPath);
      raw.exec("PRAGMA synchronous = NORMAL");
      raw.exec("PRAGMA foreign_keys = ON");
      const stmt = raw.prepare(sql);
      const reader = stmt.reader;
      if (reader) stmt.raw(true);
      const lc: Client = createClient({ url: `file:${copy()}`, intMode: "number" });
      await lc.execute("PRAGMA synchronous = NORMAL");
      await lc.execute("PRAGMA foreign_keys = ON");
      const client = drv.client;
      const fns: Record<string, (i: number) => unknown> = {
        engine: (i) => (reader ? stmt.all(spec.args(i, args0)) : stmt.run(spec.args(i, args0))),
        driver: (i) => client.execute({ sql, args: spec.args(i, args0) as never }),
        package: (i) => spec.call(pkg, i),
        libsqlClient: (i) => lc.execute({ sql, args: spec.args(i, args0) as never }),
      };
      if (spec.built) fns.builtPerCall = (i) => spec.built!(built, i);
      const per: Record<string, number[]> = {};
      for (const k of Object.keys(fns)) per[k] = [];
      for (let b = 0; b < opts.batches + 2; b++) {
        for (const [k, fn] of Object.entries(fns)) {
          const n = k === "libsqlClient" ? Math.max(50, opts.perBatch >> 2) : opts.perBatch;
          const t0 = performance.now();
          for (let i = 0; i < n; i++) await fn(b * n + i);
          if (b >= 2) per[k]!.push(((performance.now() - t0) * 1000) / n);
        }
      }
      const m = (k: string) => (per[k] && per[k]!.length ? median(per[k]!) : NaN);
      layers.push({
        call: spec.name,
        sql,
        engine: m("engine"),
        driver: m("driver"),
        package: m("package"),
        libsqlClient: m("libsqlClient"),
        builtPerCall: spec.built ? m("builtPerCall") : null,
      });
      const p = await cpuProfile((i) => spec.call(pkg, i), opts.perBatch * opts.batches);
      profile.push({ call: spec.name, totalUs: p.totalUs, shares: p.shares });
      opts.log(
        `  ${spec.name.padEnd(40)} engine ${m("engine").toFixed(1)} µs, driver ${m("driver").toFixed(1)}, package ${m("package").toFixed(1)}, ` +
          `@libsql/client ${m("libsqlClient").toFixed(1)}${spec.built ? `, built per call ${m("builtPerCall").toFixed(1)}` : ""}`,
      );
      raw.close();
      lc.close();
      await pkg.close();
      await drv.close();
      await built.close();
    }
    return { layers, profile, buckets: BUCKETS };
  } finally {
    files.cleanup();
  }
}
