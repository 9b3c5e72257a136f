/**
 * What bench/run.ts runs in fresh Node processes (bundled to
 * bench/.work/child.mjs by bench/lib/build.ts; the package itself is imported
 * from its own bundle, as a user's `import "rf-inferno-db"` would).
 *
 *   node child.mjs local   --kind package|raw-libsql --form api|fused --shape P,S,A --db FILE
 *                          [--template FILE] [--repeat R] --pkg PKG.js | --plan PLAN.json
 *   node child.mjs actor   --pkg PKG.js --url URL --eid N --actor A [--lease-ms N]
 *   node child.mjs imports --pkg PKG.js
 *
 * local    one fresh-process run of the reference workload (run 1 is the fresh
 *          process; later runs on the same connection show a warm one).
 * actor    one actor process of the scale-out section: opens the database,
 *          prints "ready", waits for "go" on stdin, then claims and completes
 *          tasks until none is left.
 * imports  what importing the package costs, dependency by dependency.
 *
 * The last line of stdout is one JSON object (timings in ms).
 */
import { copyFileSync, readFileSync, rmSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { createInterface } from "node:readline";
import type { RFDatabase as RFDatabaseT } from "../../src/index";
import { packageTarget } from "../impl/package";
import { libsqlCaller, replayTarget } from "../impl/replay";
import type { Plan } from "../lib/plan";
import { runWorkload, type Form, type Shape } from "../lib/workload";

const BOOT_MS = performance.now(); // process start → this module running
const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const need = (name: string): string => {
  const v = opt(name);
  if (v === undefined) throw new Error(`missing --${name}`);
  return v;
};
const out = (o: unknown) => process.stdout.write(`\n${JSON.stringify(o)}\n`);
const round4 = (xs: ArrayLike<number>) => Array.from(xs, (x) => Math.round(x * 1e4) / 1e4);

type PackageModule = { RFDatabase: typeof RFDatabaseT };
const importPackage = async (): Promise<PackageModule> =>
  (await import(pathToFileURL(need("pkg")).href)) as PackageModule;

async function local(): Promise<void> {
  const kind = need("kind");
  const form = need("form") as Form;
  const [pipelines, shards, actors] = need("shape").split(",").map(Number) as [number, number, number];
  const shape: Shape = { pipelines, shards, actors };
  const repeat = Number(opt("repeat") ?? 1);
  const path = need("db");
  const template = opt("template");
  if (template) {
    // A fresh database: no WAL or shared-memory file of an earlier run may survive next to the copy.
    for (const sfx of ["-wal", "-shm"]) rmSync(path + sfx, { force: true });
    copyFileSync(template, path);
  }

  let t0 = performance.now();
  let target: ReturnType<typeof packageTarget>;
  let pragma: (p: string) => Promise<unknown>;
  let importMs: number;
  let openMs: number;
  let engine: string;
  if (kind === "package") {
    const { RFDatabase } = await importPackage();
    importMs = performance.now() - t0;
    t0 = performance.now();
    // The file is migrated already (a copy of the template): "auto" only checks, as a user's open does.
    const db = await RFDatabase.open({ url: `file:${path}` });
    openMs = performance.now() - t0;
    target = packageTarget(db);
    pragma = async (p) => (await db.client.execute(`PRAGMA ${p}`)).rows[0]?.[0];
    engine = "rf-inferno-db (bundle)";
  } else if (kind === "raw-libsql") {
    const plan = JSON.parse(readFileSync(need("plan"), "utf8")) as Plan;
    const { default: Database } = await import("libsql");
    importMs = performance.now() - t0;
    t0 = performance.now();
    const db = new Database(path);
    // The package's connection settings.
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("PRAGMA busy_timeout = 5000");
    const call = libsqlCaller(db, plan);
    openMs = performance.now() - t0;
    target = replayTarget("raw libsql", plan, call, () => void db.close());
    pragma = async (p) => (db.prepare(`PRAGMA ${p}`).raw(true).get([]) as unknown[])[0];
    engine = "libsql (raw, cached statements)";
  } else throw new Error(`unknown kind ${kind}`);
  const pragmas = { journal_mode: await pragma("journal_mode"), synchronous: await pragma("synchronous") };
  const runs = [];
  let firstCallMs: number | undefined;
  let firstCallAtMs: number | undefined;
  const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
  for (let r = 0; r < repeat; r++) {
    const cpu0 = process.cpuUsage();
    const res = await runWorkload(target, form, shape);
    const cpu = cpuMs(process.cpuUsage(cpu0));
    if (firstCallMs === undefined) {
      firstCallMs = res.firstCallMs;
      firstCallAtMs = res.firstCallAtMs;
    }
    const latency: Record<string, number[]> = {};
    for (const [k, s] of res.latency) latency[k] = round4(s.values());
    runs.push({ ms: res.ms, cpuMs: cpu, calls: res.calls, tasks: res.tasks, latency });
  }
  await target.close();
  out({
    bootMs: BOOT_MS,
    importMs,
    openMs,
    firstCallMs,
    firstCallAtMs,
    sinceStartMs: performance.now(),
    /** CPU time of the whole process so far (all threads), ms. */
    processCpuMs: cpuMs(process.cpuUsage()),
    pragmas,
    engine,
    runs,
  });
}

async function actor(): Promise<void> {
  const { RFDatabase } = await importPackage();
  const db = await RFDatabase.open({ url: need("url"), migrate: false });
  const eid = Number(need("eid"));
  const actorId = Number(need("actor"));
  const loop = packageTarget(db, "rf-inferno-db", Number(opt("lease-ms") ?? 60_000));
  // Warm the connection (one request) before the start line, then wait for it.
  await db.experiments.get(eid);
  process.stdout.write("ready\n");
  const rl = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => rl.once("line", () => resolve()));
  rl.close();
  const claim: number[] = [];
  const complete: number[] = [];
  const handoff: number[] = [];
  const done: number[] = [];
  const errors: string[] = [];
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  if (loop.completeAndClaimNext) {
    // The package's hand-off: claim once, then complete-and-claim-next, one request per task.
    let t = performance.now();
    let task: Awaited<ReturnType<typeof loop.claimNext>> = null;
    // Claims until it gets an answer, as a real actor would: a failed call (e.g. a timeout while sqld
    // is stalled) must not end the actor while tasks are left. At most 20 errors per process.
    const claimAgain = async () => {
      for (;;) {
        try {
          return await loop.claimNext(eid, actorId);
        } catch (e) {
          errors.push(`claimNext: ${(e as Error).message}`);
          if (errors.length > 20) return null;
        }
      }
    };
    task = await claimAgain();
    claim.push(performance.now() - t);
    while (task && errors.length <= 20) {
      const cur = task;
      t = performance.now();
      try {
        task = await loop.completeAndClaimNext(cur.taskId, cur.shardId, actorId);
        handoff.push(performance.now() - t);
        done.push(cur.taskId);
      } catch (e) {
        // The task in hand stays leased (completed or not: the answer was lost) and is handed out
        // again when its lease ends; this actor goes on with a new claim.
        errors.push(`completeAndClaimNext(${cur.taskId}): ${(e as Error).message}`);
        task = errors.length > 20 ? null : await claimAgain();
      }
    }
  }
  for (; !loop.completeAndClaimNext; ) {
    let t = performance.now();
    let task: Awaited<ReturnType<typeof loop.claimNext>>;
    try {
      task = await loop.claimNext(eid, actorId);
    } catch (e) {
      errors.push(`claimNext: ${(e as Error).message}`);
      if (errors.length > 20) break;
      continue;
    }
    claim.push(performance.now() - t);
    if (!task) break;
    t = performance.now();
    try {
      await loop.completeClaimed(task.taskId, task.shardId);
      complete.push(performance.now() - t);
      done.push(task.taskId);
    } catch (e) {
      errors.push(`completeWithProgress(${task.taskId}): ${(e as Error).message}`);
    }
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await db.close();
  out({
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    done,
    errors,
    latency: {
      claimNext: round4(claim),
      completeWithProgress: round4(complete),
      completeAndClaimNext: round4(handoff),
    },
  });
}

async function imports(): Promise<void> {
  // Each step imports one more layer; the time is what that layer adds (modules are cached).
  const steps: [string, () => Promise<unknown>][] = [
    ["libsql (native binding)", () => import("libsql")],
    ["@libsql/client", () => import("@libsql/client")],
    ["drizzle-orm", () => import("drizzle-orm")],
    ["drizzle-orm/libsql", () => import("drizzle-orm/libsql")],
    ["rf-inferno-db (rest of the package)", () => importPackage()],
  ];
  const ms: Record<string, number> = {};
  for (const [name, fn] of steps) {
    const t0 = performance.now();
    await fn();
    ms[name] = performance.now() - t0;
  }
  out({ bootMs: BOOT_MS, steps: ms });
}

const modes: Record<string, () => Promise<void>> = { local, actor, imports };
const mode = modes[argv[0] ?? ""];
if (!mode) {
  console.error(`unknown mode ${argv[0]} (local | actor | imports)`);
  process.exit(2);
}
mode().catch((e) => {
  console.error(e);
  process.exit(1);
});
