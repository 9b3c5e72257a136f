/** The implementations the workload runs on, and how each opens a database. */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { RFDatabase } from "../../src/index";
import { packageTarget } from "../impl/package";
import { rawClientTarget } from "../impl/raw-client";
import { rawLibsqlTarget } from "../impl/raw-libsql";
import { Samples } from "./stats";
import { runWorkload, type Form, type RunResult, type Shape } from "./workload";

export type Kind = "package" | "raw-client" | "raw-libsql" | "python";

export const KIND_LABEL: Record<Kind, string> = {
  package: "rf-inferno-db (this package)",
  "raw-client": "raw @libsql/client, hand-written SQL",
  "raw-libsql": "raw libsql, cached statements",
  python: "Python sqlite3, hand-written SQL",
};

export interface Contender {
  kind: Kind;
  form: Form;
  /** e.g. "package/api" */
  id: string;
  /** Runs the workload once on the database at `url` (a path for local kinds). */
  run(url: string, shape: Shape): Promise<RunResult>;
}

const execFileP = promisify(execFile);
const PYTHON_SCRIPT = fileURLToPath(new URL("../python_ref.py", import.meta.url));

async function runPython(path: string, form: Form, shape: Shape): Promise<RunResult> {
  const { stdout } = await execFileP("python3", [PYTHON_SCRIPT, path, form, String(shape.pipelines), String(shape.shards), String(shape.actors)], {
    maxBuffer: 64 * 2 ** 20,
  });
  const out = JSON.parse(stdout) as { ms: number; calls: number; tasks: number; latency: Record<string, number[]> };
  const latency = new Map<string, Samples>();
  for (const [k, v] of Object.entries(out.latency)) {
    const s = new Samples();
    for (const x of v) s.push(x);
    latency.set(k, s);
  }
  return { ms: out.ms, calls: out.calls, tasks: out.tasks, latency };
}

export function contender(kind: Kind, form: Form, remote = false): Contender {
  const id = `${kind}/${form}`;
  const run = async (url: string, shape: Shape): Promise<RunResult> => {
    if (kind === "python") return runPython(url, form, shape);
    const target =
      kind === "package"
        ? packageTarget(await RFDatabase.open({ url: remote ? url : `file:${url}`, migrate: remote ? false : "auto" }))
        : kind === "raw-client"
          ? await rawClientTarget(remote ? url : `file:${url}`)
          : rawLibsqlTarget(url);
    try {
      return await runWorkload(target, form, shape);
    } finally {
      await target.close();
    }
  };
  return { kind, form, id, run };
}
