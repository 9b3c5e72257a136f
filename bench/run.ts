/**
 * `npm run bench` — the benchmark suite; BENCHMARKS.md says what it shows.
 *
 *   npx tsx bench/run.ts [--quick] [--only=SECTIONS] [--rounds=N] [--long-rounds=N] [--remote-rounds=N]
 *                        [--scaleout=1,2,4,8,16] [--scaleout-tasks=N] [--replica-processes=N] [--replica-tasks=N]
 *                        [--dashboards=10k,100k,1M,10M]
 *                        [--no-write | --write]
 *   npx tsx bench/run.ts --render[=bench/results.json]   re-render a recorded run's tables (same numbers)
 *
 * Sections (--only takes a comma-separated subset; default all):
 *   fresh       the reference workload in fresh processes at 8 × 64 and 8 × 512:
 *               the package (fused and API-for-API forms), raw libsql running
 *               the package's SQL, CPython sqlite3 running the package's SQL,
 *               and the Python module itself through its own API; ratios to
 *               the module from the same rounds;
 *   imports     what importing the package costs, layer by layer;
 *   profile     one call at a time: engine, driver, package (µs and ratio),
 *               summed per task, and a CPU profile per call;
 *   sqld        the workload against sqld on loopback: package vs raw
 *               @libsql/client on the same SQL;
 *   requests    HTTP requests per call and per task (counting proxy);
 *   concurrent  4 actors in one process through a proxy adding 20 ms per
 *               request: package vs raw @libsql/client;
 *   scaleout    1 … 16 actor processes against one sqld: tasks/s, p99 per
 *               call, lost and double-completed tasks;
 *   replica     4 actor processes writing to one sqld while this process
 *               reads the dashboard (countByStatus, snapshot) from an embedded
 *               replica it pulls, and the same reads from the primary: p50/p99
 *               of each, the pull, and how far behind the replica was;
 *   changelog   the change log's cost on the fused hot path: fresh processes on
 *               the migrated template and on a copy without its triggers,
 *               alternated; with ÷ without (tasks/s, CPU per task), WAL pages;
 *   dashboards  countByStatus and the status summary at 10k … 1M tasks per
 *               experiment (--dashboards=…,10M to add 10M: ~1 GB, ~1 min).
 *
 * A full run (no --quick, no --only) writes bench/results.json (everything,
 * every round), bench/results.svg and the generated part of BENCHMARKS.md
 * (between the bench:begin/bench:end markers); a partial one prints the
 * markdown and leaves its JSON in bench/.work/results-partial.json (--write /
 * --no-write override). Timings are never asserted; the numbers are what this machine did
 * in this run.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { layOutAnchor, type PythonAnchor } from "./lib/anchor";
import { buildChildren } from "./lib/build";
import { FreshFiles } from "./lib/files";
import { machine } from "./lib/machine";
import { makePlan } from "./lib/make-plan";
import { evaluateGoals, renderChart, renderMarkdown, type Results } from "./lib/report";
import { LONG_SHAPE, REFERENCE_SHAPE } from "./lib/workload";
import { benchImports } from "./sections/coldstart";
import { benchChangeLog } from "./sections/changelog";
import { benchDashboards } from "./sections/dashboards";
import { benchFresh, moduleTemplate, type FreshKind } from "./sections/fresh";
import { benchProfile } from "./sections/profile";
import { benchConcurrent, benchRemoteTiming, benchRequests } from "./sections/remote";
import { benchReplicaReads } from "./sections/replica";
import { benchScaleOut } from "./sections/scaleout";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const ROOT = join(HERE, "..");
const WORK = join(HERE, ".work");

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const quick = flag("quick");
const ALL = [
  "fresh",
  "imports",
  "profile",
  "sqld",
  "requests",
  "concurrent",
  "scaleout",
  "replica",
  "changelog",
  "dashboards",
];
const only = new Set((opt("only") ?? ALL.join(",")).split(","));
for (const s of only) if (!ALL.includes(s)) throw new Error(`unknown section ${s} (${ALL.join(", ")})`);
const rounds = Number(opt("rounds") ?? (quick ? 3 : 9));
const longRounds = Number(opt("long-rounds") ?? (quick ? 1 : 5));
const remoteRounds = Number(opt("remote-rounds") ?? (quick ? 1 : 2));
const scaleOut = (opt("scaleout") ?? (quick ? "1,16" : "1,2,4,8,16")).split(",").map(Number);
const scaleOutTasks = Number(opt("scaleout-tasks") ?? (quick ? 120 : 400));
const replicaProcesses = Number(opt("replica-processes") ?? 4);
const replicaTasks = Number(opt("replica-tasks") ?? (quick ? 200 : 1000));
const size = (s: string) => Number(s.replace(/k$/i, "e3").replace(/m$/i, "e6"));
const dashboardSizes = (opt("dashboards") ?? "10k,100k,1M").split(",").map(size);
// Only a full run (every section, full rounds) replaces the record in BENCHMARKS.md / bench/results.*;
// a partial one prints its markdown and keeps its JSON under bench/.work/. --write forces, --no-write never.
const write = flag("write") || (!flag("no-write") && !quick && !opt("only"));

const log = (s: string) => console.error(s);
const SQLD_SHAPE = { pipelines: 8, shards: 16, actors: 4 };
const CONCURRENT = { delayMs: 20, actors: 4, pipelines: 8, shards: quick ? 4 : 8 };

async function main(): Promise<void> {
  const render = flag("render") ? "" : opt("render");
  if (render !== undefined) {
    // Re-render a recorded run (e.g. after a change to the report's layout): same numbers, new tables.
    const r = JSON.parse(readFileSync(render || join(HERE, "results.json"), "utf8")) as Results;
    publish({ ...r, goals: evaluateGoals(r) }, !flag("no-write"));
    return;
  }
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const load0 = loadavg();
  const m = machine(WORK);
  log(`rf-inferno-db bench: ${m.nproc} × ${m.cpu}, Node ${m.node}, load ${load0.map((x) => x.toFixed(2)).join(" ")}`);
  const sectionLoad: Record<string, number[]> = {};
  const section = async <T>(name: string, title: string, fn: () => Promise<T>): Promise<T | null> => {
    if (!only.has(name)) return null;
    const l = loadavg();
    sectionLoad[name] = l;
    const s0 = performance.now();
    log(`\n[${name}] ${title} (load ${l.map((x) => x.toFixed(2)).join(" ")})`);
    const r = await fn();
    log(`  (${((performance.now() - s0) / 1000).toFixed(0)} s)`);
    return r;
  };

  const files = new FreshFiles(WORK);
  let anchor: PythonAnchor | null = null;
  let anchorSkipped: string | null = null;
  try {
    const built = await buildChildren(ROOT, WORK);
    const plan = await makePlan(files);
    const planPath = join(files.dir, "plan.json");
    writeFileSync(planPath, JSON.stringify(plan));
    const template = await files.make();
    const a = layOutAnchor(ROOT);
    if ("skipped" in a) {
      anchorSkipped = a.skipped;
      log(`Python contenders skipped: ${a.skipped}`);
    } else anchor = a;
    const mt = anchor ? await moduleTemplate(anchor, files.dir) : null;
    const setup = { built, planPath, template, anchor, files };
    const kinds: FreshKind[] = ["package", "raw-libsql", "python-module", "py-sqlite3"];

    const r: Omit<Results, "goals"> = {
      version: 2,
      startedAt,
      commit: gitCommit(),
      durationS: 0,
      command: `npx tsx bench/run.ts${argv.length ? ` ${argv.join(" ")}` : ""}`,
      machine: m,
      loadavg: { start: load0, end: [], sections: sectionLoad },
      options: {
        quick,
        only: [...only],
        rounds,
        longRounds,
        remoteRounds,
        scaleOut,
        scaleOutTasks,
        replicaProcesses,
        replicaTasks,
        dashboardSizes,
      },
      anchor: anchor ? { source: anchor.source, python: anchor.python } : { skipped: anchorSkipped ?? "?" },
      plan,
      fresh: [],
      imports: null,
      profile: null,
      sqld: [],
      requests: [],
      concurrent: [],
      scaleOut: [],
      replica: null,
      changeLog: null,
      dashboards: null,
    };

    const short = await section(
      "fresh",
      `${REFERENCE_SHAPE.pipelines} × ${REFERENCE_SHAPE.shards} in fresh processes, ${rounds} rounds + warm-up`,
      () =>
        benchFresh({ setup, shape: REFERENCE_SHAPE, rounds, repeat: 3, kinds, moduleTemplate: mt, warmup: true, log }),
    );
    if (short) r.fresh.push(short);
    const long = await section(
      "fresh",
      `${LONG_SHAPE.pipelines} × ${LONG_SHAPE.shards} in fresh processes, ${longRounds} rounds`,
      () =>
        benchFresh({
          setup,
          shape: LONG_SHAPE,
          rounds: longRounds,
          repeat: 1,
          kinds,
          moduleTemplate: mt,
          warmup: !short,
          log,
        }),
    );
    if (long) r.fresh.push(long);
    r.imports = await section("imports", "importing the package in fresh processes", () =>
      benchImports({ built, rounds: quick ? 5 : 11, log }),
    );
    r.profile = await section("profile", "one call, layer by layer", () =>
      benchProfile({ batches: quick ? 5 : 9, perBatch: quick ? 200 : 300, plan, workDir: WORK, log }),
    );
    r.sqld =
      (await section("sqld", `workload (8 × 16) on sqld over loopback, ${remoteRounds} rounds + warm-up`, () =>
        benchRemoteTiming({ rounds: remoteRounds, shape: SQLD_SHAPE, plan, log }),
      )) ?? [];
    r.requests =
      (await section("requests", "HTTP requests per task, counted by the proxy", () =>
        benchRequests({ delayMs: 0, shape: quick ? SQLD_SHAPE : REFERENCE_SHAPE, log }),
      )) ?? [];
    r.concurrent =
      (await section(
        "concurrent",
        `${CONCURRENT.actors} actors in one process, ${CONCURRENT.delayMs} ms added per request`,
        () => benchConcurrent({ ...CONCURRENT, rounds: remoteRounds, plan, log }),
      )) ?? [];
    r.scaleOut =
      (await section(
        "scaleout",
        `${scaleOut.join(", ")} actor processes against one sqld, ${scaleOutTasks} tasks`,
        () => benchScaleOut({ built, processes: scaleOut, tasks: scaleOutTasks, pipelines: 8, log }),
      )) ?? [];
    r.replica = await section(
      "replica",
      `dashboard reads from an embedded replica while ${replicaProcesses} actor processes write ${replicaTasks} tasks to the primary`,
      () => benchReplicaReads({ built, processes: replicaProcesses, tasks: replicaTasks, pipelines: 8, log }),
    );
    r.changeLog = await section(
      "changelog",
      "the change log on the fused hot path, with and without its triggers",
      () =>
        benchChangeLog({ setup, shape: LONG_SHAPE, rounds: Number(opt("changelog-rounds") ?? (quick ? 3 : 9)), log }),
    );
    r.dashboards = await section(
      "dashboards",
      `countByStatus and the status summary at ${dashboardSizes.join(", ")} tasks`,
      () => benchDashboards({ workDir: WORK, sizes: dashboardSizes, plan, budgetMs: quick ? 300 : 1000, log }),
    );

    r.loadavg.end = loadavg();
    r.durationS = (performance.now() - t0) / 1000;
    const results: Results = { ...r, goals: evaluateGoals(r) };
    publish(results, write);
  } finally {
    files.cleanup();
    anchor?.remove();
  }
}

/** The commit measured (short hash; "+changes" when src/ differs from it). */
function gitCommit(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "drizzle"], {
      cwd: ROOT,
      encoding: "utf8",
    }).trim();
    return dirty ? `${head}+changes` : head;
  } catch {
    return "?";
  }
}

/** Prints the markdown; a full run also writes bench/results.{json,svg} and the block in BENCHMARKS.md. */
function publish(results: Results, write: boolean): void {
  const md = renderMarkdown(results);
  console.log(md);
  if (write) {
    writeFileSync(join(HERE, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(HERE, "results.svg"), renderChart(results));
    const bm = join(ROOT, "BENCHMARKS.md");
    const begin = "<!-- bench:begin (generated by bench/run.ts; edits here are overwritten) -->";
    const end = "<!-- bench:end -->";
    let doc = existsSync(bm) ? readFileSync(bm, "utf8") : `# Benchmarks\n\n${begin}\n${end}\n`;
    if (doc.indexOf(begin) < 0 || doc.indexOf(end) < doc.indexOf(begin)) doc += `\n${begin}\n${end}\n`;
    const a = doc.indexOf(begin);
    const b = doc.indexOf(end);
    doc = `${doc.slice(0, a + begin.length)}\n${md}\n${doc.slice(b)}`;
    writeFileSync(bm, doc);
    // The repository's formatter owns the layout of its markdown tables (npm run lint checks it).
    try {
      execFileSync(join(ROOT, "node_modules/.bin/biome"), ["format", "--write", bm], { stdio: "ignore" });
    } catch {
      log("(biome could not format BENCHMARKS.md: run npm run format)");
    }
    log(`\nwrote bench/results.json, bench/results.svg, BENCHMARKS.md (${results.durationS.toFixed(0)} s)`);
  } else {
    writeFileSync(join(WORK, "results-partial.json"), `${JSON.stringify(results, null, 2)}\n`);
    log(
      `\n(${results.durationS.toFixed(0)} s; a partial run: BENCHMARKS.md untouched, results in bench/.work/results-partial.json)`,
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
