/**
 * `npm run bench` — the benchmark suite (see BENCHMARKS.md for what it shows).
 *
 *   npx tsx bench/run.ts [--quick] [--only=local,remote,requests,scale,profile]
 *                        [--rounds=N] [--remote-rounds=N] [--kinds=package,package-cold,raw-client,raw-libsql,python,package+ckpt,raw-libsql+ckpt] [--no-ckpt]
 *                        [--no-write]
 *
 * Sections:
 *   local     the reference workload on a local WAL file: the package, raw
 *             @libsql/client (hand-written SQL), raw libsql (cached
 *             statements) and Python sqlite3 (same SQL), API-for-API and
 *             fused forms, interleaved rounds, medians;
 *   remote    the same on sqld over loopback (package and raw client);
 *   requests  HTTP requests per task/call (counting proxy), and tasks/s with
 *             5 ms added to every request;
 *   scale     dashboard reads at 1M tasks (cached file under bench/.work/);
 *   profile   where one call's time goes (layers + CPU profile).
 *
 * Writes bench/results.json, bench/results.svg and the generated part of
 * BENCHMARKS.md (between the bench:begin/bench:end markers). Timings are
 * never asserted; the numbers are what this machine did in this run.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import type { Kind } from "./lib/contenders";
import { machine } from "./lib/machine";
import { evaluateTargets, renderChart, renderMarkdown, type Results } from "./lib/report";
import { benchLocal } from "./sections/local";
import { benchProfile } from "./sections/profile";
import { benchRemoteTiming, benchRequests } from "./sections/remote";
import { benchScale } from "./sections/scale";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const ROOT = join(HERE, "..");
const WORK = join(HERE, ".work");

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const quick = flag("quick");
const only = new Set((opt("only") ?? "local,remote,requests,scale,profile").split(","));
const rounds = Number(opt("rounds") ?? (quick ? 3 : 9));
const remoteRounds = Number(opt("remote-rounds") ?? (quick ? 1 : 3));
const write = !flag("no-write");

const log = (s: string) => console.error(s);
const REMOTE_SHAPE = { pipelines: 8, shards: 16, actors: 4 };

async function main(): Promise<void> {
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const load0 = loadavg();
  const m = machine();
  let kinds: Kind[] = ["package", "package-cold", "raw-client", "raw-libsql"];
  if (m.python) kinds.push("python");
  // The checkpoint experiment (see lib/contenders.ts): what the engine's WAL checkpoints cost.
  if (!flag("no-ckpt")) kinds.push("package+ckpt", "raw-libsql+ckpt");
  if (opt("kinds")) kinds = kinds.filter((k) => opt("kinds")!.split(",").includes(k));
  log(`rf-inferno-db bench: ${m.nproc} × ${m.cpu}, Node ${m.node}, load ${load0.map((x) => x.toFixed(2)).join(" ")}`);

  const r: Omit<Results, "targets"> = {
    version: 1,
    startedAt,
    durationS: 0,
    command: `npx tsx bench/run.ts${argv.length ? ` ${argv.join(" ")}` : ""}`,
    machine: m,
    loadavg: { start: load0, end: [] },
    options: { rounds, remoteRounds, quick, only: [...only], remoteShape: REMOTE_SHAPE },
    pythonModule: {
      callsPerSec: [44_000, 57_000],
      tasksPerSec: [6_200, 7_950],
      calls: 3_682,
      listRunningFullScanMs: 39,
    },
    local: [],
    remote: [],
    requests: [],
    delayed: [],
    scale: null,
    profile: null,
  };

  if (only.has("local")) {
    log(`\n[local] reference workload on a WAL file, ${rounds} rounds + warm-up`);
    r.local = await benchLocal({ rounds, kinds, workDir: WORK, log });
  }
  if (only.has("remote")) {
    // Every call is an HTTP round trip (~0.3–3 ms here depending on load), so the timed runs use
    // 8 pipelines × 16 shards (128 tasks, same per-task call mix); the request count below runs
    // the full reference shape.
    log(`\n[remote] workload (8 × 16) on sqld over loopback, ${remoteRounds} rounds + warm-up`);
    r.remote = await benchRemoteTiming({
      rounds: remoteRounds,
      kinds: ["package", "raw-client"],
      shape: REMOTE_SHAPE,
      log,
    });
  }
  if (only.has("requests")) {
    log(`\n[requests] counted through the proxy`);
    r.requests = await benchRequests({
      delayMs: 0,
      shape: { pipelines: 8, shards: 64, actors: 4 },
      kinds: ["package"],
      log,
    });
    r.delayed = await benchRequests({
      delayMs: 5,
      shape: { pipelines: 8, shards: 8, actors: 4 },
      kinds: ["package"],
      log,
    });
  }
  if (only.has("scale")) {
    log(`\n[scale] dashboard reads at 1M tasks`);
    r.scale = await benchScale({ workDir: WORK, n: quick ? 200 : 1000, log });
    for (const q of r.scale.queries)
      log(
        `  ${q.name.padEnd(66)} p50 ${(q.p50 * 1000).toFixed(0).padStart(6)} µs  p99 ${(q.p99 * 1000).toFixed(0).padStart(6)} µs  (${q.rows} rows)`,
      );
  }
  if (only.has("profile")) {
    log(`\n[profile] one call, layer by layer`);
    r.profile = await benchProfile({ batches: quick ? 5 : 9, perBatch: 400, workDir: WORK, log });
  }
  r.loadavg.end = loadavg();
  r.durationS = (performance.now() - t0) / 1000;
  const results: Results = { ...r, targets: evaluateTargets(r) };

  const md = renderMarkdown(results);
  console.log(md);
  if (write) {
    writeFileSync(join(HERE, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(HERE, "results.svg"), renderChart(results));
    const bm = join(ROOT, "BENCHMARKS.md");
    const begin = "<!-- bench:begin (generated by bench/run.ts; edits here are overwritten) -->";
    const end = "<!-- bench:end -->";
    let doc = existsSync(bm) ? readFileSync(bm, "utf8") : `# Benchmarks\n\n${begin}\n${end}\n`;
    const a = doc.indexOf(begin);
    const b = doc.indexOf(end);
    if (a < 0 || b < a) doc += `\n${begin}\n${end}\n`;
    const a2 = doc.indexOf(begin);
    const b2 = doc.indexOf(end);
    doc = `${doc.slice(0, a2 + begin.length)}\n${md}\n${doc.slice(b2)}`;
    writeFileSync(bm, doc);
    log(`\nwrote bench/results.json, bench/results.svg, BENCHMARKS.md (${results.durationS.toFixed(0)} s)`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
