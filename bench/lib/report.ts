/** Turns the results into the markdown tables of BENCHMARKS.md and the SVG chart. */
import type { ContenderResult } from "../sections/local";
import type { LayerRow, ProfileRow } from "../sections/profile";
import type { RequestCount } from "../sections/remote";
import type { ScaleResult } from "../sections/scale";
import type { Machine } from "./machine";
import { fmtInt, fmtRatio, fmtUs } from "./stats";
import { renderSvg, type Panel } from "./svg";
import { KIND_LABEL, type Kind } from "./contenders";

export interface Results {
  version: 1;
  startedAt: string;
  durationS: number;
  command: string;
  machine: Machine;
  loadavg: { start: number[]; end: number[] };
  options: Record<string, unknown>;
  /** The Python module's numbers as measured by the issue (not re-measured here). */
  pythonModule: {
    callsPerSec: [number, number];
    tasksPerSec: [number, number];
    calls: number;
    listRunningFullScanMs: number;
  };
  local: ContenderResult[];
  remote: ContenderResult[];
  requests: RequestCount[];
  delayed: RequestCount[];
  scale: ScaleResult | null;
  profile: { layers: LayerRow[]; profile: ProfileRow[]; buckets: readonly string[]; tmpfs: boolean } | null;
  targets: Target[];
}

export interface Target {
  name: string;
  goal: string;
  measured: string;
  met: boolean | null;
}

const find = (rs: ContenderResult[], kind: Kind, form: string) => rs.find((r) => r.kind === kind && r.form === form);

export function evaluateTargets(r: Omit<Results, "targets">): Target[] {
  const t: Target[] = [];
  const pf = find(r.local, "package", "fused");
  const pa = find(r.local, "package", "api");
  if (pf)
    t.push({
      name: "tasks/s, local file, fused form",
      goal: "≥ 8,000 (Python module: 6,200–7,950)",
      measured: fmtInt(pf.tasksPerSec),
      met: pf.tasksPerSec >= 8000,
    });
  if (pa)
    t.push({
      name: "tasks/s, local file, API-for-API form",
      goal: "(≥ 8,000 asked of the lifecycle; reported)",
      measured: fmtInt(pa.tasksPerSec),
      met: pa.tasksPerSec >= 8000,
    });
  const pc = find(r.local, "package-cold", "fused");
  if (pc)
    t.push({
      name: "tasks/s, local file, fused form, brand-new connection (no warm-up)",
      goal: "(reported)",
      measured: fmtInt(pc.tasksPerSec),
      met: null,
    });
  for (const [where, rs] of [
    ["local file", r.local],
    ["sqld", r.remote],
  ] as const) {
    for (const form of ["api", "fused"]) {
      const p = find(rs, "package", form);
      const c = find(rs, "raw-client", form);
      if (p && c && c.callsPerSec > 0) {
        const ratio = p.msPerCall / c.msPerCall;
        t.push({
          name: `cost per call ÷ raw @libsql/client, ${where}, ${form}`,
          goal: "≤ 1.30×",
          measured: fmtRatio(ratio),
          met: ratio <= 1.3,
        });
      }
    }
  }
  if (r.scale) {
    for (const q of r.scale.queries) {
      if (q.name.startsWith("full-scan") || q.name.startsWith("experiments.getCurrent")) continue;
      t.push({ name: `${q.name} at 1M tasks, p50`, goal: "< 1 ms", measured: `${fmtUs(q.p50)} µs`, met: q.p50 < 1 });
    }
  }
  const ref = r.requests.filter((q) => q.id.startsWith("package/"));
  for (const q of ref)
    t.push({
      name: `sqld requests per call, ${q.form}`,
      goal: "1",
      measured: q.requestsPerCall.toFixed(3),
      met: Math.abs(q.requestsPerCall - 1) < 1e-9,
    });
  return t;
}

function table(head: string[], rows: (string | number)[][], align?: ("l" | "r")[]): string {
  const a = align ?? head.map((_, i) => (i === 0 ? "l" : "r"));
  const lines = [`| ${head.join(" | ")} |`, `|${a.map((x) => (x === "l" ? ":---" : "---:")).join("|")}|`];
  for (const r of rows) lines.push(`| ${r.join(" | ")} |`);
  return lines.join("\n");
}

function workloadTable(rs: ContenderResult[], where: "local" | "sqld"): string {
  const rows: (string | number)[][] = [];
  for (const r of rs) {
    const raw = find(rs, "raw-client", r.form);
    const eng = find(rs, "raw-libsql", r.form);
    rows.push([
      `${KIND_LABEL[r.kind]} — ${r.form === "api" ? "API-for-API" : "fused"}`,
      fmtInt(r.tasksPerSec),
      fmtInt(r.callsPerSec),
      r.callsPerTask.toFixed(2),
      fmtUs(r.msPerCall),
      raw ? fmtRatio(r.msPerCall / raw.msPerCall) : "-",
      where === "local" && eng ? fmtRatio(r.msPerCall / eng.msPerCall) : "-",
      fmtInt(Math.max(...r.tasksPerSecRounds)),
      r.tasksPerSecRounds.map((x) => fmtInt(x)).join(", "),
    ]);
  }
  return table(
    [
      "implementation — form",
      "tasks/s (median)",
      "calls/s",
      "calls/task",
      "µs/call",
      "÷ raw client (same form)",
      "÷ raw libsql",
      "best round",
      "tasks/s per round",
    ],
    rows,
  );
}

function latencyTable(rs: ContenderResult[], form: string): string {
  const cs = rs.filter((r) => r.form === form && r.rounds > 0);
  const types = [...new Set(cs.flatMap((c) => Object.keys(c.latency)))];
  const rows = types.map((t) => [
    `\`${t}\` (×${cs[0]?.latency[t]?.n ?? "?"})`,
    ...cs.map((c) => (c.latency[t] ? `${fmtUs(c.latency[t]!.p50)} / ${fmtUs(c.latency[t]!.p99)}` : "-")),
  ]);
  return table(["call type (calls per run)", ...cs.map((c) => `${c.kind} p50 / p99 µs`)], rows);
}

export function renderMarkdown(r: Results): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`_Generated by \`${r.command}\` on ${r.startedAt} in ${r.durationS.toFixed(0)} s._`);
  out.push("");
  out.push(
    `Machine: ${m.nproc} × ${m.cpu} (nproc ${m.nproc}), ${m.memGiB} GiB, ${m.os}; Node ${m.node}; libsql ${m.libsql}, @libsql/client ${m.clientVersion}, drizzle-orm ${m.drizzle}; ` +
      `Python ${m.python ?? "not available"}. Load average at start ${r.loadavg.start.map((x) => x.toFixed(2)).join(" ")}, at end ${r.loadavg.end.map((x) => x.toFixed(2)).join(" ")} ` +
      `(other work was running on this machine; medians of interleaved rounds).`,
  );
  out.push("");
  out.push("### Targets");
  out.push("");
  out.push(
    table(
      ["target", "goal", "measured", "met"],
      r.targets.map((t) => [t.name, t.goal, t.measured, t.met === null ? "-" : t.met ? "✅" : "❌"]),
      ["l", "l", "r", "l"],
    ),
  );
  out.push("");
  if (r.local.length) {
    out.push(
      `### Reference workload, local WAL file (8 pipelines × 64 shards, 4 actors; median of ${r.local[0]!.rounds} rounds)`,
    );
    out.push("");
    out.push(workloadTable(r.local, "local"));
    out.push("");
    out.push(
      `The Python module (issue's measurement on these machines, not re-run here): ${fmtInt(r.pythonModule.callsPerSec[0])}–${fmtInt(r.pythonModule.callsPerSec[1])} calls/s, ` +
        `${fmtInt(r.pythonModule.tasksPerSec[0])}–${fmtInt(r.pythonModule.tasksPerSec[1])} tasks/s, ${fmtInt(r.pythonModule.calls)} calls. ` +
        `"Python sqlite3, hand-written SQL" above is a same-machine stand-in: the same SQL with no module code around it, i.e. a ceiling for the module.`,
    );
    out.push("");
    out.push("Latency per call type, API-for-API form (p50 / p99, µs, all measured rounds pooled):");
    out.push("");
    out.push(latencyTable(r.local, "api"));
    out.push("");
    out.push("Fused form:");
    out.push("");
    out.push(latencyTable(r.local, "fused"));
    out.push("");
  }
  if (r.remote.length) {
    const sh = r.options.remoteShape as { pipelines: number; shards: number } | undefined;
    out.push(
      `### Workload on sqld over loopback HTTP (${sh ? `${sh.pipelines} pipelines × ${sh.shards} shards, ` : ""}fresh sqld per run; median of ${r.remote[0]!.rounds} rounds)`,
    );
    out.push("");
    out.push(workloadTable(r.remote, "sqld"));
    out.push("");
    out.push("Latency per call type on sqld, API-for-API form (p50 / p99, µs):");
    out.push("");
    out.push(latencyTable(r.remote, "api"));
    out.push("");
    out.push("Fused form:");
    out.push("");
    out.push(latencyTable(r.remote, "fused"));
    out.push("");
  }
  if (r.requests.length || r.delayed.length) {
    out.push("### Requests per task on sqld (counted by tests/support/proxy.ts)");
    out.push("");
    const rows = [...r.requests, ...r.delayed].map((q) => [
      q.id,
      `${q.shape.pipelines}×${q.shape.shards}`,
      `${q.delayMs} ms`,
      fmtInt(q.calls),
      fmtInt(q.requests),
      q.requestsPerCall.toFixed(3),
      q.requestsPerTask.toFixed(2),
      q.rttMs.toFixed(2),
      fmtInt(q.tasksPerSec),
      fmtInt(q.boundTasksPerSec),
    ]);
    out.push(
      table(
        [
          "implementation/form",
          "shape",
          "added delay",
          "calls",
          "HTTP requests",
          "requests/call",
          "requests/task",
          "RTT ms (median)",
          "tasks/s",
          "round-trip bound tasks/s = 1000 / (req/task × RTT)",
        ],
        rows,
      ),
    );
    out.push("");
  }
  if (r.scale) {
    const s = r.scale;
    out.push(
      `### Dashboard reads at scale (${fmtInt(s.counts.actorTasks)} actor tasks, ${fmtInt(s.counts.pipelines)} pipelines, ${s.counts.experiments} experiments; ${s.sizeMiB.toFixed(0)} MiB file${
        s.generatedNow
          ? `, generated in ${((s.generateMs ?? 0) / 1000).toFixed(1)} s this run`
          : ", cached from an earlier run"
      })`,
    );
    out.push("");
    out.push(
      table(
        ["query (through the package unless noted)", "rows", "p50 µs", "p99 µs", "calls"],
        s.queries.map((q) => [q.name, q.rows, fmtUs(q.p50), fmtUs(q.p99), q.n]),
      ),
    );
    out.push("");
    out.push(
      "Query plans (EXPLAIN QUERY PLAN of the package's own SQL; every repository query is checked in tests/query-plans.test.ts):",
    );
    out.push("");
    out.push("```");
    for (const [k, v] of Object.entries(s.plans)) out.push(`${k}: ${v.join(" / ")}`);
    out.push("```");
    out.push("");
  }
  if (r.profile) {
    out.push("### Where the time of one call goes (local file)");
    out.push("");
    out.push(
      `Layers by subtraction, median µs per call of interleaved batches, each layer on its own copy of one seeded WAL file${
        r.profile.tmpfs
          ? ' on tmpfs (so another tenant\'s disk latency does not drown CPU differences; "engine on disk" is the same statement on the disk file)'
          : ""
      }:`,
    );
    out.push("");
    out.push(
      table(
        [
          "call",
          "engine on disk µs",
          "engine: raw libsql, same SQL µs",
          "driver: + LocalClient µs",
          "package: + repository µs",
          "driver share µs",
          "package share µs",
          "@libsql/client µs (prepares per call)",
          "Drizzle query built per call µs",
        ],
        r.profile.layers.map((l) => [
          l.call,
          l.engineDisk.toFixed(1),
          l.engine.toFixed(1),
          l.driver.toFixed(1),
          l.package.toFixed(1),
          (l.driver - l.engine).toFixed(1),
          (l.package - l.driver).toFixed(1),
          l.libsqlClient.toFixed(1),
          l.builtPerCall === null ? "-" : l.builtPerCall.toFixed(1),
        ]),
      ),
    );
    out.push("");
    out.push(
      "CPU profile of the repository call in a loop (V8 sampling profiler, self time by module; native frames count for their JS caller):",
    );
    out.push("");
    out.push(
      table(
        ["call", "µs/call under the profiler", ...r.profile.buckets],
        r.profile.profile.map((p) => [
          p.call,
          p.totalUs.toFixed(1),
          ...r.profile!.buckets.map((b) => `${((p.shares[b] ?? 0) * 100).toFixed(0)} %`),
        ]),
      ),
    );
    out.push("");
    out.push("SQL of the profiled calls:");
    out.push("");
    out.push("```sql");
    for (const l of r.profile.layers) out.push(`-- ${l.call}\n${l.sql}`);
    out.push("```");
    out.push("");
  }
  return out.join("\n");
}

const COLORS: Record<Kind, string> = {
  package: "#1f77b4",
  "package-cold": "#6baed6",
  "raw-client": "#ff7f0e",
  "raw-libsql": "#2ca02c",
  python: "#9467bd",
  "package+ckpt": "#aec7e8",
  "raw-libsql+ckpt": "#98df8a",
};

export function renderChart(r: Results): string {
  const panels: Panel[] = [];
  const bars = (rs: ContenderResult[]) =>
    (["api", "fused"] as const).map((form) => ({
      label: form === "api" ? "API-for-API (7 calls/task)" : "fused (~3 calls/task)",
      bars: rs
        .filter((c) => c.form === form && c.rounds > 0)
        .map((c) => ({ label: KIND_LABEL[c.kind], value: c.tasksPerSec, color: COLORS[c.kind] })),
    }));
  if (r.local.length) {
    panels.push({
      title: "Reference workload on a local WAL file — tasks/s (higher is better)",
      unit: "tasks/s",
      groups: bars(r.local),
      marks: [
        { value: 8000, label: "target 8,000", color: "#d62728" },
        { value: r.pythonModule.tasksPerSec[1], label: "Python module max", color: "#7f7f7f" },
      ],
    });
  }
  if (r.remote.length)
    panels.push({
      title: "Reference workload on sqld over loopback — tasks/s",
      unit: "tasks/s",
      groups: bars(r.remote),
    });
  const api = r.local.filter((c) => c.form === "api" && c.rounds > 0 && !c.kind.includes("+"));
  if (api.length) {
    const types = [...new Set(api.flatMap((c) => Object.keys(c.latency)))];
    panels.push({
      title: "p50 latency per call type, local file, API-for-API form (lower is better)",
      unit: "µs",
      groups: types.map((t) => ({
        label: t,
        bars: api
          .filter((c) => c.latency[t])
          .map((c) => ({
            label: KIND_LABEL[c.kind],
            value: c.latency[t]!.p50 * 1000,
            color: COLORS[c.kind],
            text: c.latency[t]!.p50 * 1000 < 100 ? (c.latency[t]!.p50 * 1000).toFixed(1) : undefined,
          })),
      })),
    });
  }
  const kinds = [...new Set(r.local.map((c) => c.kind))];
  return renderSvg(
    `rf-inferno-db benchmark — ${r.startedAt.slice(0, 10)}, ${r.machine.nproc} × ${r.machine.cpu}, Node ${r.machine.node}`,
    panels,
    kinds.map((k) => ({ label: KIND_LABEL[k], color: COLORS[k] })),
  );
}
