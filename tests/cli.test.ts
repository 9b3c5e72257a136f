/**
 * The `rf-db` CLI, run as it is used: a child process (`node --import tsx
 * src/cli/main.ts …`, ~0.6 s to start), on a real libSQL file in a temp dir
 * per test (`RF_DB_PATH`, so the embedded default never touches the real home
 * directory), with the demo's real worker processes. Data is set up and
 * checked with `RFDatabase` from the test process: the database is the
 * interface between the two, exactly as between the demo's processes.
 *
 * Exit codes checked here: 0 success (also `status` with no experiment),
 * 1 failure, 2 usage error, 130 interrupted.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MIGRATIONS, RFDatabase } from "../src/index";
import { actorTasks } from "../src/schema";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MAIN = join(ROOT, "src/cli/main.ts");
const SECRET = "SECRET123-token-that-must-never-be-printed";

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  done: Promise<Result>;
}

/** The environment of a CLI run: none of the developer's RF_DB_* settings, the database in `dir`. */
function cliEnv(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("RF_DB_")) env[k] = v;
  return { ...env, RF_DB_PATH: dir, ...extra };
}

function start(args: string[], dir: string, extra?: Record<string, string>): Running {
  const t0 = Date.now();
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], {
    cwd: ROOT,
    env: cliEnv(dir, extra),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const done = new Promise<Result>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

function rfdb(args: string[], dir: string, extra?: Record<string, string>): Promise<Result> {
  return start(args, dir, extra).done;
}

/** Failure contract: exactly one line on stderr, `rf-db: …`. */
function expectOneLineError(r: Result, pattern?: RegExp) {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.stderr).toMatch(/^rf-db: [^\n]+\n$/);
  if (pattern) expect(r.stderr).toMatch(pattern);
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Direct children of `pid` (Linux /proc), to find the demo's worker processes. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

const dirs: string[] = [];
const dbs: RFDatabase[] = [];
const children: ChildProcess[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "rf-db-cli-"));
  dirs.push(dir);
  return dir;
}
async function openDb(dir: string, migrate: boolean | "auto" = "auto"): Promise<RFDatabase> {
  const db = await RFDatabase.open({ url: `file:${join(dir, "rapidfire.db")}`, migrate });
  dbs.push(db);
  return db;
}

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const db of dbs.splice(0)) await db.close();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

beforeAll(async () => {
  // Warm tsx's transform cache so the first test's timings are like the others'.
  await rfdb(["--version"], tempDir());
});

describe("rf-db (general)", () => {
  it("has help for the program and each command, and a version", async () => {
    const dir = tempDir();
    const [top, demo, status, version, none] = await Promise.all([
      rfdb(["--help"], dir),
      rfdb(["demo", "--help"], dir),
      rfdb(["status", "--help"], dir),
      rfdb(["--version"], dir),
      rfdb([], dir),
    ]);
    expect(top.code).toBe(0);
    for (const cmd of ["migrate", "status", "demo"]) expect(top.stdout).toContain(cmd);
    expect(top.stdout).toMatch(/Exit codes/);
    expect(demo.code).toBe(0);
    for (const opt of ["--pipelines", "--shards", "--actors", "--work-ms", "--url"]) expect(demo.stdout).toContain(opt);
    expect(status.stdout).toMatch(/--experiment[\s\S]*--watch/);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(none.code).toBe(2);
    expectOneLineError(none, /missing command/);
  });

  it("rejects bad options and URLs with one line on stderr", async () => {
    const dir = tempDir();
    const cases: [string[], RegExp, number][] = [
      [["demo", "--shards", "0"], /--shards.*'0'.*integer from 1/, 2],
      [["demo", "--actors", "abc"], /--actors.*'abc'/, 2],
      [["demo", "--pipelines", "65"], /--pipelines.*from 1 to 64/, 2],
      [["demo", "--work-ms", "-5"], /--work-ms/, 2],
      [["demo", "--pipelines", "64", "--shards", "10000"], /at most 100000/, 2],
      [["status", "--experiment", "x1"], /--experiment/, 2],
      [["status", "--url", "ftp://example.com/db"], /unsupported database URL "ftp:\/\/example.com\/db"/, 1],
      [["migrate", "--url", "postgres://localhost/x"], /unsupported database URL/, 1],
      [["demo", "--url", "mysql://x"], /unsupported database URL/, 1],
      [["demo", "--url", ":memory:"], /share/, 2],
      [["migrate", "--bogus"], /unknown option '--bogus'/, 2],
      [["frobnicate"], /unknown command 'frobnicate'/, 2],
    ];
    const results = await Promise.all(cases.map(([args]) => rfdb(args, dir)));
    results.forEach((r, i) => {
      const [args, pattern, code] = cases[i]!;
      expect(r.code, args.join(" ")).toBe(code);
      expectOneLineError(r, pattern);
      expect(r.stdout, args.join(" ")).toBe("");
    });
    // None of it created a database.
    expect(existsSync(join(dir, "rapidfire.db"))).toBe(false);
  });

  it("never prints the auth token", async () => {
    const dir = tempDir();
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const runs = await Promise.all([
      rfdb(["migrate", "--url", url, "--auth-token", SECRET], dir),
      rfdb(["status", "--url", `libsql://127.0.0.1:${port}`, `--auth-token=${SECRET}`], dir),
      rfdb(["migrate", "--url", `ws://127.0.0.1:${port}`], dir, { RF_DB_AUTH_TOKEN: SECRET }),
      rfdb(["migrate", "--auth-token", SECRET, "--bogus"], dir),
      rfdb(["status", "--auth-token", SECRET, "--url", "ftp://nope"], dir),
      rfdb(["migrate", "--url", url, "--auth-token", SECRET], dir, { RF_DB_DEBUG: "1" }),
    ]);
    for (const r of runs) {
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).not.toContain(SECRET);
      expect(r.stdout + r.stderr).not.toContain("SECRET123");
      expect(r.stderr).toMatch(/^rf-db: /);
    }
    // Without RF_DB_DEBUG the failure is one line.
    for (const r of runs.slice(0, 5)) expectOneLineError(r);
    expect(runs[0]!.stderr).toMatch(/reach|connect|fetch|refused/i);
  });
});

describe("rf-db migrate", () => {
  it("applies the migrations to a fresh file, then says it is up to date", async () => {
    const dir = tempDir();
    const first = await rfdb(["migrate"], dir);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toBe("");
    expect(first.stdout).toContain(`file:${join(dir, "rapidfire.db")}`);
    for (const m of MIGRATIONS) expect(first.stdout).toContain(`applied ${m.tag}`);
    expect(first.stdout).toMatch(new RegExp(`${MIGRATIONS.length} migrations? applied`));

    const second = await rfdb(["migrate", "--url", `file:${join(dir, "rapidfire.db")}`], dir);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/already up to date/i);
    expect(second.stdout).toContain(`(latest migration: ${MIGRATIONS.at(-1)!.tag})`);
    expect(second.stdout).not.toContain("applied ");

    const db = await openDb(dir, false);
    expect((await db.schemaState()).state).toBe("current");
  });
});

describe("rf-db status", () => {
  it("says there is no experiment (exit 0), without creating a missing database file", async () => {
    const dir = tempDir();
    const missing = await rfdb(["status"], dir);
    expect(missing.code, missing.stderr).toBe(0);
    expect(missing.stdout).toMatch(/No experiments: .*does not exist yet/);
    expect(existsSync(join(dir, "rapidfire.db"))).toBe(false);

    await (await openDb(dir)).close();
    const [empty, watch] = await Promise.all([rfdb(["status"], dir), rfdb(["status", "--watch"], dir)]);
    for (const r of [empty, watch]) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^No experiments in file:/);
    }
  });

  it("fails with one line for an experiment that does not exist", async () => {
    const dir = tempDir();
    await openDb(dir);
    const r = await rfdb(["status", "--experiment", "999"], dir);
    expect(r.code).toBe(1);
    expectOneLineError(r, /experiment 999 not found/);
    expect(r.stdout).toBe("");
  });

  it("shows pipelines with bars, task counts and running tasks", async () => {
    const dir = tempDir();
    const db = await openDb(dir);
    const older = await db.experiments.create({
      experimentName: "older-run",
      numActors: 1,
      numShards: 2,
      status: "completed",
    });
    const eid = await db.experiments.create({ experimentName: "sweep-a", numActors: 3, numShards: 8 });
    const config = { modelConfig: { model: "m" }, samplingParams: { temperature: 0.5 }, pipelineType: "vllm" };
    const p1 = await db.pipelines.create({
      experimentId: eid,
      pipelineName: "llama-t0.2",
      status: "ongoing",
      ...config,
    });
    const p2 = await db.pipelines.create({
      experimentId: eid,
      pipelineName: "qwen-t0.9",
      status: "completed",
      ...config,
    });
    await db.pipelines.setProgress(p1, { currentShardId: 2, shardsCompleted: 2, totalSamplesProcessed: 777 });
    await db.pipelines.setProgress(p2, { currentShardId: 7, shardsCompleted: 8, totalSamplesProcessed: 3000 });
    for (let s = 0; s < 4; s++)
      await db.actorTasks.create({ experimentId: eid, pipelineId: p1, actorId: 0, shardId: s });
    const t1 = await db.actorTasks.claimNext(eid, 7);
    const t2 = await db.actorTasks.claimNext(eid, 8);
    const t3 = await db.actorTasks.claimNext(eid, 9);
    await db.actorTasks.complete(t3!.taskId);
    const finished = await db.experiments.create({
      experimentName: "newest-but-done",
      numActors: 1,
      status: "completed",
    });

    // Default: the running experiment, even though a newer finished one exists.
    const r = await rfdb(["status"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).not.toMatch(/\x1b/); // not a TTY: no control codes
    const out = r.stdout;
    expect(out).toMatch(new RegExp(`^Experiment ${eid} "sweep-a": running`));
    expect(out).toMatch(/2 pipelines · 8 shards each · 3 actors/);
    expect(out).toMatch(/Pipelines \(10\/16 shards, 62%\)/);
    const line = (name: string) => out.split("\n").find((l) => l.includes(name)) ?? "";
    expect(line("llama-t0.2")).toMatch(/ongoing\s+\[#{6}-{18}\]\s+25%\s+2\/8\s+777$/);
    expect(line("qwen-t0.9")).toMatch(/completed\s+\[#{24}\]\s+100%\s+8\/8\s+3000$/);
    expect(out).toContain("Tasks: 4 total: 1 scheduled, 2 in_progress, 1 completed, 0 failed");
    expect(out).toMatch(/Running tasks \(2\)/);
    for (const [t, actor] of [
      [t1!, 7],
      [t2!, 8],
    ] as const) {
      expect(out).toMatch(new RegExp(`^\\s+${t.taskId}\\s+${p1} llama-t0.2\\s+${t.shardId}\\s+${actor}\\s+\\S+`, "m"));
    }
    expect(out).toMatch(new RegExp(`^\\s+${finished}\\s+newest-but-done\\s+completed`, "m"));

    // --experiment picks another one.
    const o = await rfdb(["status", "--experiment", String(older)], dir);
    expect(o.code, o.stderr).toBe(0);
    expect(o.stdout).toMatch(new RegExp(`^Experiment ${older} "older-run": completed`));
    expect(o.stdout).toContain("Pipelines: none");
    expect(o.stdout).toContain("Running tasks: none");
  });

  it("marks a lost controller and expired leases; `rf-db reap` fails that experiment only, and says what it did", async () => {
    const dir = tempDir();
    const db = await openDb(dir);
    const config = { pipelineType: "vllm", modelConfig: {}, samplingParams: {}, status: "ongoing" as const };
    const other = await db.experiments.create({ experimentName: "alive", numActors: 1 });
    await db.experiments.heartbeat(other, { owner: "ctl-alive", leaseMs: 600_000 });
    const eid = await db.experiments.create({ experimentName: "orphaned", numActors: 2, numShards: 2 });
    const pid = await db.pipelines.create({ experimentId: eid, pipelineName: "p", ...config });
    for (const shardId of [0, 1])
      await db.actorTasks.create({ experimentId: eid, pipelineId: pid, actorId: 0, shardId });
    await db.actorTasks.claimNext(eid, 6, { leaseMs: 600_000 });
    await db.actorTasks.claimNext(eid, 5, { leaseMs: 1 }); // its actor "died": the lease ends at once
    await db.experiments.heartbeat(eid, { owner: "ctl-1", leaseMs: 1 }); // and so did its controller
    await new Promise((r) => setTimeout(r, 30));

    const st = await rfdb(["status", "--experiment", String(eid)], dir);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toMatch(
      /STALE: controller ctl-1 lost: no heartbeat since \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ; `rf-db reap`/,
    );
    expect(st.stdout).toMatch(/1 task lease EXPIRED/);
    expect(st.stdout).toMatch(/ENDED [\d.]+ m?s ago/); // the dead actor's row
    expect(st.stdout).toMatch(/ends in [\d.]+ (min|s)/); // the live one's
    const before = await db.experiments.get(eid);
    expect(before!.status).toBe("running"); // status never writes

    const reap = await rfdb(["reap"], dir);
    expect(reap.code, reap.stderr).toBe(0);
    expect(reap.stdout).toMatch(
      /reaped file:.*: 1 experiment failed \(controller lost\), 2 actor tasks and 0 IC operations recovered/,
    );
    expect((await db.experiments.get(eid))!).toMatchObject({ status: "failed" });
    expect((await db.experiments.get(eid))!.error).toMatch(/^controller lost: no heartbeat since /);
    expect((await db.experiments.get(other))!.status).toBe("running");
    const again = await rfdb(["reap"], dir);
    expect(again.stdout).toMatch(/^nothing to reap in file:/);
  });

  it("--watch follows a running experiment and exits 0 once it is no longer running", async () => {
    const dir = tempDir();
    const db = await openDb(dir);
    const eid = await db.experiments.create({ experimentName: "watched", numActors: 1, numShards: 4 });
    const pid = await db.pipelines.create({
      experimentId: eid,
      pipelineName: "only",
      pipelineType: "vllm",
      modelConfig: {},
      samplingParams: {},
    });
    const watch = start(["status", "--watch", "--interval", "100"], dir);
    children.push(watch.child);
    await until("the first progress line", async () => /experiment \d+ running: 0\/4 shards/.test(watch.stdout()));
    await db.pipelines.advanceProgress(pid, { shards: 2, samples: 10 });
    await until("a progress line per change", async () => /running: 2\/4 shards/.test(watch.stdout()));
    await db.pipelines.advanceProgress(pid, { shards: 2, samples: 10 });
    await db.experiments.setStatus(eid, "completed");
    const r = await watch.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/\x1b/);
    const progressLines = r.stdout.split("\n").filter((l) => /^\d\d:\d\d:\d\d experiment/.test(l));
    expect(progressLines.length).toBeGreaterThanOrEqual(2);
    expect(progressLines.length).toBeLessThan(6); // only when something changed
    expect(r.stdout).toMatch(new RegExp(`Experiment ${eid} "watched": completed[\\s\\S]*\\[#{24}\\] 100%\\s+4/4`));

    // On an experiment that has already finished it prints the view and exits at once.
    const again = await rfdb(["status", "--watch", "--experiment", String(eid)], dir);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`^Experiment ${eid} "watched": completed`));
    expect(again.ms).toBeLessThan(5000);
  });
});

/** The numbers of the demo's summary. */
function parseSummary(out: string) {
  const num = (re: RegExp) => Number(out.match(re)?.[1] ?? Number.NaN);
  const section = (from: string, to: string) => out.slice(out.indexOf(from), out.indexOf(to));
  const samples = [...section("samples processed", "tasks per actor").matchAll(/^ {4}(\d+) (\S+)\s+(\d+)$/gm)].map(
    (m) => ({
      pipelineId: Number(m[1]),
      name: m[2]!,
      samples: Number(m[3]),
    }),
  );
  const perActor = [...out.matchAll(/^ {4}actor (\d+)\s+(\d+)$/gm)].map((m) => ({
    actorId: Number(m[1]),
    tasks: Number(m[2]),
  }));
  return {
    experimentId: num(/^ {2}experiment\s+(\d+) "demo-[\d-]+": completed$/m),
    completed: num(/^ {2}tasks completed\s+(\d+)\/\d+$/m),
    total: num(/^ {2}tasks completed\s+\d+\/(\d+)$/m),
    throughput: num(/^ {2}throughput\s+([\d.]+) tasks\/s$/m),
    samplesTotal: num(/^ {4}total\s+(\d+)$/m),
    samples,
    perActor,
  };
}

describe("rf-db demo", () => {
  it("runs actor processes that complete every task, and its summary matches the database", async () => {
    const dir = tempDir();
    const r = await rfdb(["demo", "--pipelines", "2", "--shards", "4", "--actors", "2", "--work-ms", "20"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).not.toMatch(/\x1b/);
    expect(r.stdout).toContain(`database         file:${join(dir, "rapidfire.db")}`);
    expect(r.stdout).toMatch(/^progress: 8\/8 tasks completed/m);
    const s = parseSummary(r.stdout);
    expect(s.completed).toBe(8);
    expect(s.total).toBe(8);
    expect(s.throughput).toBeGreaterThan(0);

    const db = await openDb(dir);
    const experiment = await db.experiments.get(s.experimentId);
    expect(experiment).toMatchObject({ status: "completed", numShards: 4, numActors: 2 });
    expect(experiment!.experimentName).toMatch(/^demo-\d{8}-\d{6}$/);

    const pipelines = await db.pipelines.list(s.experimentId);
    expect(pipelines).toHaveLength(2);
    expect(new Set(pipelines.map((p) => JSON.stringify([p.modelConfig, p.samplingParams]))).size).toBe(2);
    for (const p of pipelines) {
      expect(p).toMatchObject({ status: "completed", shardsCompleted: 4 });
      expect(p.totalSamplesProcessed).toBeGreaterThan(0);
      expect(s.samples.find((x) => x.pipelineId === p.pipelineId)).toEqual({
        pipelineId: p.pipelineId,
        name: p.pipelineName,
        samples: p.totalSamplesProcessed,
      });
    }
    expect(s.samplesTotal).toBe(pipelines.reduce((sum, p) => sum + p.totalSamplesProcessed, 0));
    // One shared RAG context.
    expect(new Set(pipelines.map((p) => p.contextId)).size).toBe(1);
    expect((await db.contexts.get(pipelines[0]!.contextId!))?.status).toBe("ready");

    const tasks = await db.drizzle.select().from(actorTasks).where(eq(actorTasks.experimentId, s.experimentId));
    expect(tasks).toHaveLength(8);
    for (const t of tasks) {
      expect(t.status).toBe("completed");
      expect(t.startedAt).toBeInstanceOf(Date);
      expect(t.completedAt).toBeInstanceOf(Date);
    }
    // Every (pipeline, shard) exactly once.
    expect(new Set(tasks.map((t) => `${t.pipelineId}/${t.shardId}`)).size).toBe(8);
    // Claimed by more than one actor process; per-actor counts as summarised.
    const byActor = new Map<number, number>();
    for (const t of tasks) byActor.set(t.actorId, (byActor.get(t.actorId) ?? 0) + 1);
    expect(byActor.size).toBeGreaterThanOrEqual(2);
    expect([...byActor.keys()].every((a) => a >= 1 && a <= 2)).toBe(true);
    expect(s.perActor).toEqual([...byActor].sort((a, b) => a[0] - b[0]).map(([actorId, n]) => ({ actorId, tasks: n })));
    expect(await db.actorTasks.countByStatus(s.experimentId)).toEqual({
      scheduled: 0,
      in_progress: 0,
      completed: 8,
      failed: 0,
    });

    // And status agrees.
    const st = await rfdb(["status"], dir);
    expect(st.stdout).toMatch(new RegExp(`^Experiment ${s.experimentId} "demo-[\\d-]+": completed`));
    expect(st.stdout).toContain("Tasks: 8 total: 0 scheduled, 0 in_progress, 8 completed, 0 failed");
  });

  it("--chaos kills actors mid-task and starts others; every shard still completes exactly once", async () => {
    const dir = tempDir();
    const r = await rfdb(
      ["demo", "--chaos", "--pipelines", "2", "--shards", "24", "--actors", "3", "--work-ms", "300"],
      dir,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/chaos: an actor is SIGKILLed mid-task every 2-4 s/);
    const killed = Number(/chaos\s+(\d+) actors SIGKILLed mid-task/.exec(r.stdout)?.[1]);
    const retakenLine = Number(/re-taken tasks\s+(\d+)/.exec(r.stdout)?.[1]);
    expect(r.stdout).toMatch(/exactly once\s+every shard completed once, every pipeline counted 24 shards/);
    const s = parseSummary(r.stdout);
    const db = await openDb(dir);
    expect(await db.actorTasks.countByStatus(s.experimentId)).toEqual({
      scheduled: 0,
      in_progress: 0,
      completed: 48,
      failed: 0,
    });
    for (const p of await db.pipelines.list(s.experimentId)) expect(p.shardsCompleted).toBe(24);
    const tasks = await db.drizzle.select().from(actorTasks).where(eq(actorTasks.experimentId, s.experimentId));
    expect(new Set(tasks.map((t) => `${t.pipelineId}/${t.shardId}`)).size).toBe(48);
    expect(tasks.filter((t) => t.attempts > 1).length).toBe(retakenLine);
    expect(Number.isInteger(killed)).toBe(true);
  }, 120_000);

  it.runIf(process.platform === "linux")(
    "fails with one line when a worker dies, and leaves no worker or live task behind",
    async () => {
      const dir = tempDir();
      const demo = start(["demo", "--pipelines", "1", "--shards", "6", "--actors", "2", "--work-ms", "20000"], dir);
      children.push(demo.child);
      await until("the demo to start", async () => demo.stdout().includes("Demo experiment"));
      const db = await openDb(dir);
      const exp = await until("the experiment", () => db.experiments.getCurrent());
      await until("both actors working", async () => (await db.actorTasks.listRunning(exp.experimentId)).length === 2);
      const workers = childrenOf(demo.child.pid!);
      expect(workers).toHaveLength(2);
      process.kill(workers[0]!, "SIGKILL");

      const r = await demo.done;
      expect(r.code).toBe(1);
      expectOneLineError(r, /^rf-db: demo failed: actor [12] \(pid \d+\) was killed by SIGKILL\n$/);
      expect(workers.filter(alive)).toEqual([]);
      expect(await db.experiments.get(exp.experimentId)).toMatchObject({ status: "failed" });
      expect(await db.experiments.getError(exp.experimentId)).toMatch(/killed by SIGKILL/);
      const counts = await db.actorTasks.countByStatus(exp.experimentId);
      expect(counts.scheduled + counts.in_progress).toBe(0);
      expect(counts.failed).toBe(6);
      expect((await db.pipelines.list(exp.experimentId))[0]?.status).toBe("failed");
    },
  );

  it.runIf(process.platform === "linux")(
    "stops its workers on SIGINT, records the experiment as cancelled, exits 130",
    async () => {
      const dir = tempDir();
      const demo = start(["demo", "--pipelines", "2", "--shards", "3", "--actors", "2", "--work-ms", "20000"], dir);
      children.push(demo.child);
      await until("the demo to start", async () => demo.stdout().includes("Demo experiment"));
      const db = await openDb(dir);
      const exp = await until("the experiment", () => db.experiments.getCurrent());
      await until("both actors working", async () => (await db.actorTasks.listRunning(exp.experimentId)).length === 2);
      const workers = childrenOf(demo.child.pid!);
      expect(workers).toHaveLength(2);
      demo.child.kill("SIGINT");

      const r = await demo.done;
      expect(r.code).toBe(130);
      expectOneLineError(r, /interrupted \(SIGINT\)/);
      expect(r.ms).toBeLessThan(15_000);
      expect(workers.filter(alive)).toEqual([]);
      expect(await db.experiments.get(exp.experimentId)).toMatchObject({ status: "cancelled" });
      const pipelines = await db.pipelines.list(exp.experimentId);
      expect(pipelines.map((p) => p.status)).toEqual(["stopped", "stopped"]);
      const counts = await db.actorTasks.countByStatus(exp.experimentId);
      expect(counts).toMatchObject({ scheduled: 0, in_progress: 0, failed: 6 });
    },
  );
});
