/** Turns the results into the markdown of BENCHMARKS.md's generated block, and the SVG chart. */
import type { ImportResult } from "../sections/coldstart";
import { type ChangeLogResult, renderChangeLog } from "../sections/changelog";
import type { DashboardResult } from "../sections/dashboards";
import type { ReplicaResult } from "../sections/replica";
import { FRESH_LABEL, type FreshContenderResult, type FreshShapeResult } from "../sections/fresh";
import type { LayerRow, PerTask, ProfileRow } from "../sections/profile";
import { REMOTE_LABEL, type ConcurrentResult, type RequestCount, type RemoteKind } from "../sections/remote";
import type { ScaleOutRow } from "../sections/scaleout";
import type { Machine } from "./machine";
import type { Plan } from "./plan";
import { fmtInt, fmtRatio, fmtUs } from "./stats";
import type { ContenderResult } from "./summary";
import { renderSvg, type Panel } from "./svg";
import { shapeLabel } from "./workload";

export interface Results {
  version: 2;
  startedAt: string;
  /** The commit measured (older records have none). */
  commit?: string;
  durationS: number;
  command: string;
  machine: Machine;
  loadavg: { start: number[]; end: number[]; sections: Record<string, number[]> };
  options: Record<string, unknown>;
  anchor: { source: string; python: string } | { skipped: string };
  plan: Plan;
  fresh: FreshShapeResult[];
  imports: ImportResult | null;
  profile: {
    layers: LayerRow[];
    perTask: PerTask[];
    profile: ProfileRow[];
    buckets: readonly string[];
    tmpfs: boolean;
  } | null;
  sqld: ContenderResult[];
  requests: RequestCount[];
  concurrent: ConcurrentResult[];
  scaleOut: ScaleOutRow[];
  /** Dashboard reads from an embedded replica during a scale-out run (absent in older records). */
  replica?: ReplicaResult | null;
  /** Older records have none. */
  changeLog?: ChangeLogResult | null;
  dashboards: DashboardResult | null;
  goals: Goal[];
}

export interface Goal {
  name: string;
  goal: string;
  measured: string;
  met: boolean | null;
}

const fresh = (r: Pick<Results, "fresh">, shards: number, id: string) =>
  r.fresh.find((s) => s.shape.shards === shards)?.contenders.find((c) => c.id === id);
const range = (v: FreshContenderResult["vsModule"]) =>
  v ? `${fmtRatio(v.median)} (rounds ${v.min.toFixed(2)}–${v.max.toFixed(2)})` : "-";

export function evaluateGoals(r: Omit<Results, "goals">): Goal[] {
  const g: Goal[] = [];
  for (const [shards, best, api] of [
    [64, 1.0, null],
    [512, 2.0, 1.5],
  ] as const) {
    const pf = fresh(r, shards, "package/fused");
    const pa = fresh(r, shards, "package/api");
    const cpu = (c: FreshContenderResult) => (c.cpuVsModule ? `; by CPU time ${fmtRatio(c.cpuVsModule.median)}` : "");
    if (pf?.vsModule)
      g.push({
        name: `8 × ${shards}, fresh process, best form (fused) ÷ Python module, tasks/s`,
        goal: `≥ ${best.toFixed(1)}×`,
        measured: range(pf.vsModule) + cpu(pf),
        met: pf.vsModule.median >= best,
      });
    if (pa?.vsModule)
      g.push({
        name: `8 × ${shards}, fresh process, API-for-API form ÷ Python module, tasks/s`,
        goal: api === null ? "(reported)" : `≥ ${api.toFixed(1)}×`,
        measured: range(pa.vsModule) + cpu(pa),
        met: api === null ? null : pa.vsModule.median >= api,
      });
  }
  const ft = r.profile?.perTask.find((p) => p.form === "fused");
  if (ft)
    g.push({
      name: "package ÷ raw libsql on the same SQL, per call, summed over a fused task (profile)",
      goal: "≤ 1.05×",
      measured: fmtRatio(ft.package / ft.engine),
      met: ft.package / ft.engine <= 1.05,
    });
  for (const [shards, what] of [
    [512, "8 × 512 fresh process"],
    [64, "8 × 64, 3rd run in the same process (warm)"],
  ] as const) {
    const pf = fresh(r, shards, "package/fused");
    const rf = fresh(r, shards, "raw-libsql/fused");
    const v =
      shards === 64
        ? pf && rf && pf.warmTasksPerSec && rf.warmTasksPerSec
          ? rf.warmTasksPerSec / pf.warmTasksPerSec
          : null
        : pf?.overEngine;
    if (v)
      g.push({
        name: `package ÷ raw libsql on the same SQL, end to end, fused, ${what}`,
        goal: "≤ 1.05×",
        measured: fmtRatio(v),
        met: v <= 1.05,
      });
  }
  const d = r.dashboards;
  if (d && d.points.length > 1) {
    const a = d.points[0]!;
    const b = d.points.at(-1)!;
    for (const k of [
      "actorTasks.countByStatus",
      "status summary (get + pipelines.list + countByStatus + listRunning)",
    ]) {
      if (!a.calls[k] || !b.calls[k]) continue;
      const grow = b.calls[k]!.p50 / a.calls[k]!.p50;
      g.push({
        name: `${k.split(" (")[0]}: p50 at ${fmtInt(b.tasks)} ÷ at ${fmtInt(a.tasks)} tasks per experiment`,
        goal: "constant (≈ 1×; < 1 ms)",
        measured: `${grow.toFixed(1)}× (${fmtUs(a.calls[k]!.p50)} → ${fmtUs(b.calls[k]!.p50)} µs; +${(d.slopeNsPerTask[k] ?? 0).toFixed(1)} ns/task)`,
        met: grow < 2 && b.calls[k]!.p50 < 1, // (a shared machine moves a 10 µs call by ~1.5×)
      });
    }
  }
  for (const c of r.concurrent.filter((x) => x.kind === "package"))
    g.push({
      name: `${c.actors} actors, ${c.delayMs} ms per request, ${c.workload}: package ÷ raw @libsql/client, tasks/s`,
      goal: "≥ 3×",
      measured: `${c.vsRawClient ? fmtRatio(c.vsRawClient) : "-"} (${c.tasksPerSec.toFixed(1)} tasks/s, ${c.requestsPerTask.toFixed(2)} requests/task)`,
      met: c.vsRawClient === null ? null : c.vsRawClient >= 3,
    });
  const top = r.scaleOut.at(-1);
  if (top)
    g.push({
      name: `${top.processes} actor processes on one sqld${top.leases ? " with leases" : " (no leases yet)"}: lost / double-completed`,
      goal: "0 / 0",
      measured: `${top.lost} / ${top.doubleCompleted} (${fmtInt(top.tasksPerSec)} tasks/s)`,
      met:
        top.lost === 0 && top.doubleCompleted === 0 && top.leases
          ? true
          : top.lost === 0 && top.doubleCompleted === 0
            ? null
            : false,
    });
  const rep = r.replica;
  if (rep) {
    // Each dashboard read: replica ÷ primary over HTTP at p50 (a failure on the replica fails the goal).
    for (const name of ["status summary (4 reads together)", "db.snapshot"]) {
      const rs = rep.calls[`replica: ${name}`];
      const ps = rep.calls[`primary over HTTP: ${name}`];
      const err = rep.failed?.[`replica: ${name}`];
      if (!err && !(rs && ps)) continue;
      g.push({
        name: `dashboard read (${name}) on an embedded replica while ${rep.processes} actor processes write: replica ÷ primary over HTTP, p50`,
        goal: "< 1× (served locally)",
        measured: err
          ? `fails on the replica (${err.replaceAll("|", "\\|")})`
          : `${fmtRatio(rs!.p50 / ps!.p50)} (${rs!.p50.toFixed(2)} vs ${ps!.p50.toFixed(2)} ms; lost / double ${rep.lost} / ${rep.doubleCompleted})`,
        met: !err && rs!.p50 < ps!.p50 && rep.lost === 0 && rep.doubleCompleted === 0,
      });
    }
  }
  return g;
}

function table(head: string[], rows: (string | number)[][], align?: ("l" | "r")[]): string {
  const a = align ?? head.map((_, i) => (i === 0 ? "l" : "r"));
  const lines = [`| ${head.join(" | ")} |`, `|${a.map((x) => (x === "l" ? ":---" : "---:")).join("|")}|`];
  for (const r of rows) lines.push(`| ${r.join(" | ")} |`);
  return lines.join("\n");
}

const formLabel = (f: string) => (f === "api" ? "API-for-API" : "fused");
const ms = (x: number | null | undefined, d = 0) =>
  x === null || x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(d);
const mark = (met: boolean | null) => (met === null ? "-" : met ? "✅" : "❌");

function freshTable(s: FreshShapeResult): string {
  const warm = s.repeat > 1;
  const rr = (v: FreshContenderResult["vsModule"]) =>
    v ? `**${fmtRatio(v.median)}** (${v.min.toFixed(2)}–${v.max.toFixed(2)})` : "-";
  const rows = s.contenders.map((c) => [
    `${FRESH_LABEL[c.kind]} — ${formLabel(c.form)}`,
    (c.calls / Math.max(1, c.tasks)).toFixed(2),
    fmtInt(c.tasksPerSec),
    rr(c.vsModule),
    ms(c.cpuUsPerTask, 0),
    rr(c.cpuVsModule),
    c.overEngine ? `${fmtRatio(c.overEngine)} / ${fmtRatio(c.cpuOverEngine)}` : "-",
    ...(warm ? [fmtInt(c.warmTasksPerSec), ms(c.freshExtraMs, 1)] : []),
    `${fmtInt(c.wallMs)} / ${fmtInt(c.processCpuMs)}`,
    c.wallVsModule ? fmtRatio(c.wallVsModule) : "-",
    c.rounds.map((x) => fmtInt(x.tasksPerSec)).join(", "),
  ]);
  return table(
    [
      "contender — form",
      "calls/task",
      "tasks/s, fresh process (median)",
      "tasks/s ÷ Python module (median of rounds; range)",
      "CPU µs/task",
      "÷ module by CPU time (median; range)",
      "cost ÷ raw libsql, same form: time / CPU",
      ...(warm
        ? [`warm: run ${s.repeat} in the same process, tasks/s`, `run 1 − run ${s.repeat}, ms (being fresh)`]
        : []),
      "whole process: wall / CPU ms",
      "÷ module, whole-process wall",
      "tasks/s per round",
    ],
    rows,
  );
}

function latencyTable(s: FreshShapeResult): string {
  const cs = s.contenders;
  const types = [...new Set(cs.flatMap((c) => Object.keys(c.latency)))];
  return table(
    ["call type", ...cs.map((c) => `${c.id} p50 / p99 µs`)],
    types.map((t) => [
      `\`${t}\``,
      ...cs.map((c) => (c.latency[t] ? `${fmtUs(c.latency[t]!.p50)} / ${fmtUs(c.latency[t]!.p99)}` : "-")),
    ]),
  );
}

function firstCallsTable(s: FreshShapeResult): string {
  const cs = s.contenders.filter((c) => c.form === "fused" || c.kind === "python-module");
  const types = [...new Set(cs.flatMap((c) => Object.keys(c.firstOfType)))];
  return table(
    ["call type: its first call in a fresh process, ms", ...cs.map((c) => c.id), ...cs.map((c) => `${c.id} p50`)],
    types.map((t) => [
      `\`${t}\``,
      ...cs.map((c) => ms(c.firstOfType[t], 2)),
      ...cs.map((c) => (c.latency[t] ? ms(c.latency[t]!.p50, 3) : "-")),
    ]),
  );
}

function startupTable(r: Results): string {
  const s = r.fresh.find((x) => x.shape.shards === 64) ?? r.fresh[0];
  if (!s) return "";
  return table(
    [
      "contender (8 × 64 runs)",
      "import ms",
      "open ms",
      "first call ms",
      "process start → first call returned, ms",
      "workload (run 1) ms",
      "whole process ms",
    ],
    s.contenders
      .filter((c) => c.form === "fused" || c.kind === "python-module")
      .map((c) => [
        FRESH_LABEL[c.kind],
        ms(c.importMs, 1),
        ms(c.openMs, 1),
        ms(c.firstCallMs, 2),
        ms(c.firstCallAtMs),
        ms((c.tasks / c.tasksPerSec) * 1000),
        ms(c.wallMs),
      ]),
  );
}

export function renderMarkdown(r: Results): string {
  const out: string[] = [];
  const m = r.machine;
  const la = (x: number[] | undefined) => (x ? x.map((v) => v.toFixed(2)).join(" ") : "-");
  out.push(
    `_Generated by \`${r.command}\` on ${r.startedAt}${r.commit ? ` at commit ${r.commit}` : ""} in ${r.durationS.toFixed(0)} s._`,
  );
  out.push("");
  out.push(
    `Machine: ${m.nproc} × ${m.cpu} (nproc ${m.nproc}), ${m.memGiB} GiB, ${m.os}, work files on ${m.fs}; ` +
      `Node ${m.node}; libsql ${m.libsql} (SQLite ${m.sqlite}), @libsql/client ${m.clientVersion}, drizzle-orm ${m.drizzle}; ` +
      `Python ${m.python ?? "not found"}. Load average (1/5/15 min) at start ${la(r.loadavg.start)}, ` +
      `${Object.entries(r.loadavg.sections)
        .map(([k, v]) => `before ${k} ${la(v)}`)
        .join(
          ", ",
        )}, at end ${la(r.loadavg.end)}. The machine is shared: read ratios from the same rounds, not absolute figures.`,
  );
  out.push("");
  const pr = r.fresh
    .flatMap((s) => s.contenders)
    .map((c) => `${c.id}: ${c.pragmas.journal_mode}/${c.pragmas.synchronous}`);
  out.push(
    `Durability, the same for every contender: journal_mode=WAL, synchronous=NORMAL, read back from each contender's own connection after the run started (${[
      ...new Set(pr),
    ].join(
      ", ",
    )}). The Python module sets both itself; the bench sets them again on the module's own connection (\`db.db.conn\`) after \`RFDatabase()\` has built it, without changing its code. Its other settings (cache_size=10000, mmap_size=256 MiB, temp_store=MEMORY) are its own and left as they are.`,
  );
  out.push("");
  out.push(
    "anchor" in r && "source" in r.anchor
      ? `Python module: \`${r.anchor.source.replace(/.*\/shared\//, "../shared/")}\`, laid out as a package in a scratch folder at bench time, run by bench/python/workload.py.`
      : `Python module: **skipped** — ${(r.anchor as { skipped: string }).skipped}.`,
  );
  out.push("");

  if (r.goals.length) {
    out.push("### Goals of issue 12, measured in this run");
    out.push("");
    out.push(
      table(
        ["goal", "target", "measured", "met"],
        r.goals.map((g) => [g.name, g.goal, g.measured, mark(g.met)]),
      ),
    );
    out.push("");
  }

  for (const s of r.fresh) {
    out.push(
      `### Against the Python module: ${shapeLabel(s.shape)} shards, fresh processes (${s.shape.pipelines * s.shape.shards} tasks; median of ${s.rounds} alternated rounds)`,
    );
    out.push("");
    out.push(freshTable(s));
    out.push("");
  }
  if (r.fresh.length) {
    out.push(
      "tasks/s = tasks ÷ the workload's own time in a fresh process (first call to last; import and open are in the start-up table). " +
        "Ratios are medians of per-round ratios (each round runs every contender once, in a rotating order). " +
        "CPU = the process's CPU time (all threads) during the workload: other tenants' load inflates wall time much more than CPU time, so on a busy machine the CPU ratios are the steadier estimate. " +
        "\"cost ÷ raw libsql\" is this contender's time (and CPU time) per task ÷ raw libsql's in the same round and form (1.00× = the engine's floor for this SQL). " +
        "Every process's database is checked afterwards (every task completed, every completion counted once).",
    );
    out.push("");
    for (const s of r.fresh) {
      out.push(`Latency per call type, ${shapeLabel(s.shape)}, run 1 of every process pooled (µs):`);
      out.push("");
      out.push(latencyTable(s));
      out.push("");
    }
  }

  if (r.fresh.length || r.imports) {
    out.push("### Start-up: import, open, first call");
    out.push("");
    out.push(startupTable(r));
    out.push("");
    const s64 = r.fresh.find((x) => x.shape.shards === 64);
    if (s64) {
      out.push(
        "The first call of each type in a fresh process against the median of its type (8 × 64, run 1): statements prepared (and, in the package, built) at first use, code not yet compiled by the JIT.",
      );
      out.push("");
      out.push(firstCallsTable(s64));
      out.push("");
    }
    if (r.imports) {
      out.push(
        `Importing the package in a fresh Node process, layer by layer (median of ${r.imports.rounds} processes; each step is what that layer adds; Node's own start-up to the first line of the bench's child: ${ms(r.imports.bootMs)} ms):`,
      );
      out.push("");
      out.push(
        table(
          ["layer", "ms"],
          [
            ...Object.entries(r.imports.steps).map(([k, v]) => [k, ms(v, 1)]),
            ['**total: `import "rf-inferno-db"`**', `**${ms(r.imports.totalMs, 1)}**`],
          ],
        ),
      );
      out.push("");
    }
  }

  if (r.profile) {
    const p = r.profile;
    out.push("### Per-call cost: the package vs raw libsql on the same SQL");
    out.push("");
    out.push(
      `CPU µs per call (the process's CPU time, all threads), median of interleaved batches, each layer on its own copy of one seeded WAL file${p.tmpfs ? ' on tmpfs (so other tenants\' disk latency does not drown CPU differences; "engine on disk" is the same on the disk file)' : ""}. ` +
        "engine = raw libsql, the package's statements (the plan) prepared once; driver = the package's LocalClient with that SQL; package = the repository call. " +
        "The last column is the same ratio by wall time, which on this shared machine also counts waiting for a core.",
    );
    out.push("");
    out.push(
      table(
        [
          "call",
          "per task: fused / API",
          "engine on disk CPU µs",
          "engine CPU µs",
          "driver CPU µs",
          "package CPU µs",
          "**package ÷ engine**",
          "driver share µs",
          "repository share µs",
          "@libsql/client µs",
          "Drizzle query built per call µs",
          "package ÷ engine, wall",
        ],
        p.layers.map((l) => [
          l.call,
          `${+l.perTask.fused.toFixed(3)} / ${+l.perTask.api.toFixed(3)}`,
          fmtUs(l.engineDisk / 1000),
          fmtUs(l.engine / 1000),
          fmtUs(l.driver / 1000),
          fmtUs(l.package / 1000),
          `**${fmtRatio(l.package / l.engine)}**`,
          fmtUs((l.driver - l.engine) / 1000),
          fmtUs((l.package - l.driver) / 1000),
          fmtUs(l.libsqlClient / 1000),
          l.builtPerCall === null ? "-" : fmtUs(l.builtPerCall / 1000),
          fmtRatio(l.wall.package / l.wall.engine),
        ]),
      ),
    );
    out.push("");
    out.push("Summed per task (calls per task × µs per call; the reference workload's call mix):");
    out.push("");
    out.push(
      table(
        [
          "form",
          "engine on disk CPU µs/task",
          "engine CPU µs/task",
          "driver CPU µs/task",
          "package CPU µs/task",
          "package ÷ engine",
          "@libsql/client CPU µs/task",
        ],
        p.perTask.map((t) => [
          formLabel(t.form),
          fmtUs(t.engineDisk / 1000),
          fmtUs(t.engine / 1000),
          fmtUs(t.driver / 1000),
          fmtUs(t.package / 1000),
          fmtRatio(t.package / t.engine),
          fmtUs(t.libsqlClient / 1000),
        ]),
      ),
    );
    out.push("");
    out.push(
      "CPU profile of each repository call in a loop (V8 sampling profiler, self time by module; native frames count for their JS caller):",
    );
    out.push("");
    out.push(
      table(
        ["call", "µs/call under the profiler", ...p.buckets],
        p.profile.map((x) => [
          x.call,
          fmtUs(x.totalUs / 1000),
          ...p.buckets.map((b) => `${Math.round((x.shares[b] ?? 0) * 100)} %`),
        ]),
      ),
    );
    out.push("");
    out.push("The package's SQL for these calls (captured from the package; every raw contender runs exactly this):");
    out.push("");
    out.push("```sql");
    for (const l of p.layers) out.push(`-- ${l.call}\n${l.sql}`);
    out.push("```");
    out.push("");
  }

  if (r.sqld.length) {
    out.push(
      `### On sqld over loopback HTTP (${r.sqld[0] ? `${r.sqld[0].calls} calls, ` : ""}8 × 16 shards, fresh sqld per run; median of ${r.sqld[0]?.rounds ?? 0} rounds)`,
    );
    out.push("");
    out.push(
      table(
        [
          "contender — form",
          "tasks/s (median)",
          "calls/s",
          "calls/task",
          "ms/call",
          "÷ raw @libsql/client (time per call)",
          "tasks/s per round",
        ],
        r.sqld.map((c) => {
          const raw = r.sqld.find((x) => x.kind === "raw-client" && x.form === c.form);
          return [
            `${REMOTE_LABEL[c.kind as RemoteKind]} — ${formLabel(c.form)}`,
            fmtInt(c.tasksPerSec),
            fmtInt(c.callsPerSec),
            c.callsPerTask.toFixed(2),
            c.msPerCall.toFixed(2),
            raw ? fmtRatio(c.msPerCall / raw.msPerCall) : "-",
            c.tasksPerSecRounds.map(fmtInt).join(", "),
          ];
        }),
      ),
    );
    out.push("");
  }
  if (r.requests.length) {
    out.push(`Requests per task (package, ${shapeLabel(r.requests[0]!.shape)}, counted by tests/support/proxy.ts):`);
    out.push("");
    out.push(
      table(
        [
          "form",
          "calls",
          "HTTP requests",
          "requests/call",
          "requests/task",
          "RTT ms (median)",
          "tasks/s",
          "round-trip bound = 1000 / (req/task × RTT)",
        ],
        r.requests.map((x) => [
          formLabel(x.form),
          fmtInt(x.calls),
          fmtInt(x.requests),
          x.requestsPerCall.toFixed(3),
          x.requestsPerTask.toFixed(2),
          x.rttMs.toFixed(2),
          fmtInt(x.tasksPerSec),
          fmtInt(x.boundTasksPerSec),
        ]),
      ),
    );
    out.push("");
  }
  if (r.concurrent.length) {
    const c0 = r.concurrent[0]!;
    out.push(
      `### ${c0.actors} actors in one process, ${c0.delayMs} ms added to every request (${c0.tasks} tasks; median of ${c0.rounds} rounds, fresh sqld per run)`,
    );
    out.push("");
    out.push(
      "actor-loop: each actor `claimNext` → `completeWithProgress` until nothing is scheduled (the package: `claimNext`, then `completeAndClaimNext`, one atomic batch per task); fused-lifecycle: each actor creates a running task, polls the running tasks, completes it with progress (the package issues the previous task's completion, the next creation and the poll together: one round trip per task, run in that order). One connection shared by the 4 actors: the package sends the calls its actors issue together as one HTTP request (src/driver/remote/pipeline.ts). Raw @libsql/client sends the package's SQL, one request per call, each actor's calls in turn (concurrent requests of its own have no order).",
    );
    out.push("");
    out.push(
      table(
        [
          "workload",
          "contender",
          "tasks/s (median)",
          "÷ raw @libsql/client",
          "HTTP requests/task",
          "round trips/task, per actor",
          "RTT ms",
          "bound: actors × 1000 / (round trips/task × RTT)",
          "p50 / p99 ms per call",
          "tasks/s per round",
        ],
        r.concurrent.map((c) => [
          c.workload,
          REMOTE_LABEL[c.kind],
          c.tasksPerSec.toFixed(1),
          c.vsRawClient ? fmtRatio(c.vsRawClient) : "-",
          c.requestsPerTask.toFixed(2),
          c.roundTripsPerTask === undefined ? "-" : c.roundTripsPerTask.toFixed(2),
          c.rttMs.toFixed(1),
          c.boundTasksPerSec.toFixed(1),
          Object.entries(c.latency)
            .map(([k, v]) => `${k} ${v.p50.toFixed(1)} / ${v.p99.toFixed(1)}`)
            .join("; "),
          c.tasksPerSecRounds.join(", "),
        ]),
      ),
    );
    out.push("");
  }
  if (r.scaleOut.length) {
    const t = r.scaleOut[0]!;
    out.push(
      `### Scale-out: actor processes against one sqld (${fmtInt(t.tasks)} tasks, ${t.latency.completeAndClaimNext ? "claimNext, then completeAndClaimNext per task" : "claimNext + completeWithProgress"}${t.leases ? ", with leases" : "; no leases yet"})`,
    );
    out.push("");
    const one = r.scaleOut.find((x) => x.processes === 1);
    out.push(
      table(
        [
          "processes",
          "tasks/s",
          "× 1 process",
          "claimNext p50 / p99 ms",
          t.latency.completeAndClaimNext ? "completeAndClaimNext p50 / p99 ms" : "completeWithProgress p50 / p99 ms",
          "tasks per process (min–max)",
          "CPU µs/task: sqld / actors",
          "cores busy: sqld / actors",
          "lost",
          "double-completed",
          "errors",
        ],
        r.scaleOut.map((x) => [
          x.stalled ? `${x.processes} (stalled: actors killed after ${fmtInt(x.wallMs / 1000)} s)` : x.processes,
          fmtInt(x.tasksPerSec),
          one ? fmtRatio(x.tasksPerSec / one.tasksPerSec) : "-",
          `${ms(x.latency.claimNext?.p50, 1)} / ${ms(x.latency.claimNext?.p99, 1)}`,
          ((c) => `${ms(c?.p50, 1)} / ${ms(c?.p99, 1)}`)(
            x.latency.completeAndClaimNext ?? x.latency.completeWithProgress,
          ),
          `${x.perProcess.min}–${x.perProcess.max}`,
          `${ms(x.cpu.sqldUsPerTask)} / ${ms(x.cpu.actorsUsPerTask)}`,
          `${ms(x.cpu.sqldCores, 2)} / ${ms(x.cpu.actorsCores, 2)}`,
          x.lost && x.lostBy
            ? `${x.lost} (${x.lostBy.scheduled} scheduled, ${x.lostBy.inProgress} leased, ${x.lostBy.failed} failed)`
            : x.lost,
          x.doubleCompleted,
          x.errors ? `${x.errors}: ${x.errorSamples.join("; ")}` : 0,
        ]),
      ),
    );
    out.push("");
    out.push(
      "lost = tasks not `completed` in the database afterwards (scheduled: never claimed; leased: in_progress under a lease no live actor holds, handed out again when it ends); double-completed = pipeline shard counters beyond the completed tasks, plus task ids reported done by two processes.",
    );
    out.push("");
  }
  if (r.replica) {
    const x = r.replica;
    out.push(`### Dashboard reads from an embedded replica while ${x.processes} actor processes write to the primary`);
    out.push("");
    out.push(
      `${x.processes} actor processes complete ${fmtInt(x.tasks)} tasks on one sqld (as in the scale-out table) while the bench process keeps an embedded replica of it: every ${x.pollMs} ms it pulls (\`db.sync()\`), runs each dashboard read (\`countByStatus\`; the status summary \`rf-db status\` reads: get + pipelines.list + countByStatus + listRunning issued together; \`db.snapshot\`) on the replica, then the same read on the primary over HTTP; ${x.rounds} rounds. A read that fails is shown with its error and not tried again. ` +
        `Actors: ${fmtInt(x.tasksPerSec)} tasks/s with the reader, ${fmtInt(x.tasksPerSecAlone)} in the same setup just before without it (${fmtRatio(x.tasksPerSec / x.tasksPerSecAlone)}); lost ${x.lost}, double-completed ${x.doubleCompleted}. ` +
        `Right after a pull the replica showed ${x.lagTasks.p50} completed task(s) fewer than the primary read just after (median; max ${x.lagTasks.max}).`,
    );
    out.push("");
    out.push(
      table(
        ["call", "n", "p50 ms", "p99 ms"],
        [
          ...Object.entries(x.calls).map(([k, v]) => [k, v.n, v.p50.toFixed(2), v.p99.toFixed(2)]),
          ...Object.entries(x.failed ?? {}).map(([k, err]) => [k, 0, `fails: ${err.replaceAll("|", "\\|")}`, "-"]),
        ],
      ),
    );
    out.push("");
  }
  if (r.changeLog) out.push(...renderChangeLog(r.changeLog));
  if (r.dashboards) {
    const d = r.dashboards;
    out.push("### Dashboards at scale: one experiment with N tasks");
    out.push("");
    const keys = [...new Set(d.points.flatMap((p) => Object.keys(p.calls)))];
    out.push(
      table(
        [
          "call (p50 / p99 µs)",
          ...d.points.map((p) => `${fmtInt(p.tasks)} tasks (${p.sizeMiB.toFixed(0)} MiB)`),
          "slope, ns per task",
        ],
        keys.map((k) => [
          k,
          ...d.points.map((p) => (p.calls[k] ? `${fmtUs(p.calls[k]!.p50)} / ${fmtUs(p.calls[k]!.p99)}` : "-")),
          d.slopeNsPerTask[k] === undefined ? "-" : d.slopeNsPerTask[k]!.toFixed(1),
        ]),
      ),
    );
    out.push("");
    if (Object.keys(d.plans).length) {
      out.push("Query plans at the largest N (EXPLAIN QUERY PLAN):");
      out.push("");
      out.push("```");
      for (const [k, v] of Object.entries(d.plans)) out.push(`${k}: ${v.join(" / ")}`);
      out.push("```");
      out.push("");
    }
  }
  return out.join("\n").trimEnd();
}

const COLORS: Record<string, string> = {
  "package/fused": "#1f77b4",
  "package/api": "#aec7e8",
  "raw-libsql/fused": "#2ca02c",
  "raw-libsql/api": "#98df8a",
  "python-module/api": "#d62728",
  "py-sqlite3/fused": "#9467bd",
  "py-sqlite3/api": "#c5b0d5",
};

export function renderChart(r: Results): string {
  const panels: Panel[] = r.fresh.map((s) => ({
    title: `${shapeLabel(s.shape)} shards, fresh process — tasks/s (higher is better)`,
    unit: "tasks/s",
    groups: [
      {
        label: "fresh process (run 1)",
        bars: s.contenders.map((c) => ({
          label: `${FRESH_LABEL[c.kind]} — ${formLabel(c.form)}`,
          value: c.tasksPerSec,
          color: COLORS[c.id] ?? "#7f7f7f",
          text: `${fmtInt(c.tasksPerSec)}${c.vsModule ? ` (${fmtRatio(c.vsModule.median)} the module)` : ""}`,
        })),
      },
    ],
  }));
  const legend = Object.entries(COLORS).map(([id, color]) => ({ label: id, color }));
  return renderSvg("rf-inferno-db vs the Python module it replaces (one run of npm run bench)", panels, legend);
}
