/** The implementations the workload runs on, and how each opens a database. */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Database from "libsql";
import { RFDatabase } from "../../src/index";
import { packageTarget } from "../impl/package";
import { rawClientTarget } from "../impl/raw-client";
import { rawLibsqlTarget } from "../impl/raw-libsql";
import { Samples } from "./stats";
import { runWorkload, type Form, type RunResult, type Shape, type Target } from "./workload";

export type Kind =
  | "package"
  | "package-cold"
  | "raw-client"
  | "raw-libsql"
  | "python"
  | "package+ckpt"
  | "raw-libsql+ckpt";

export const KIND_LABEL: Record<Kind, string> = {
  package: "rf-inferno-db (this package)",
  "package-cold": "rf-inferno-db, cold connection (no warm-up)",
  "raw-client": "raw @libsql/client, hand-written SQL",
  "raw-libsql": "raw libsql, cached statements",
  python: "Python sqlite3, hand-written SQL",
  "package+ckpt": "experiment: rf-inferno-db, wal_autocheckpoint=10000",
  "raw-libsql+ckpt": "experiment: raw libsql, wal_autocheckpoint=10000",
};

/**
 * The checkpoint experiment: SQLite checkpoints the WAL into the database
 * file (with two fsyncs) whenever it passes `wal_autocheckpoint` pages
 * (default 1000, i.e. every ~300–400 commits of this workload). Raising it
 * to 10000 makes that 10x rarer. A single run would then usually not pay any
 * checkpoint at all, so these contenders pay one explicit PASSIVE checkpoint
 * at the end of the run, inside the timed window — more than their
 * steady-state share (one per ~3 runs).
 */
const CKPT_PAGES = 10_000;

/**
 * Every contender opens a fresh connection to its fresh file, then runs this
 * small workload (a separate experiment, 2 tasks, every call type once or
 * more) untimed on the same connection before the timed reference workload:
 * the timed run measures a connection in steady state — statements prepared,
 * page cache warm — as an actor process that runs for hours sees it. What a
 * brand-new connection pays on its first calls is shown by "package-cold".
 */
export const WARMUP_SHAPE: Shape = { pipelines: 1, shards: 2, actors: 1 };

export interface Contender {
  kind: Kind;
  form: Form;
  /** e.g. "package/api" */
  id: string;
  /** Runs the workload once on the database at `url` (a path for local kinds); `afterWarmup` is called between the warm-up and the timed run. */
  run(url: string, shape: Shape, afterWarmup?: () => void): Promise<RunResult>;
}

const execFileP = promisify(execFile);
const PYTHON_SCRIPT = fileURLToPath(new URL("../python_ref.py", import.meta.url));

async function runPython(path: string, form: Form, shape: Shape, warm: boolean): Promise<RunResult> {
  const { stdout } = await execFileP(
    "python3",
    [
      PYTHON_SCRIPT,
      path,
      form,
      String(shape.pipelines),
      String(shape.shards),
      String(shape.actors),
      warm ? "warm" : "cold",
    ],
    {
      maxBuffer: 64 * 2 ** 20,
    },
  );
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
  const run = async (url: string, shape: Shape, afterWarmup?: () => void): Promise<RunResult> => {
    if (kind === "python") return runPython(url, form, shape, true);
    let checkpoint: (() => Promise<unknown>) | undefined;
    let target: Target;
    if (kind === "package" || kind === "package-cold" || kind === "package+ckpt") {
      const db = await RFDatabase.open({ url: remote ? url : `file:${url}`, migrate: remote ? false : "auto" });
      if (kind === "package+ckpt") {
        await db.client.execute(`PRAGMA wal_autocheckpoint = ${CKPT_PAGES}`);
        checkpoint = () => db.client.execute("PRAGMA wal_checkpoint(PASSIVE)");
      }
      target = packageTarget(db);
    } else if (kind === "raw-client") {
      target = await rawClientTarget(remote ? url : `file:${url}`);
    } else if (kind === "raw-libsql+ckpt") {
      target = rawLibsqlTarget(url, KIND_LABEL[kind], [`PRAGMA wal_autocheckpoint = ${CKPT_PAGES}`]);
      const side = new Database(url);
      side.exec("PRAGMA synchronous = NORMAL");
      checkpoint = async () => side.prepare("PRAGMA wal_checkpoint(PASSIVE)").all([]);
      const close = target.close;
      target = { ...target, close: async () => (side.close(), close()) };
    } else {
      target = rawLibsqlTarget(url);
    }
    try {
      if (kind !== "package-cold") await runWorkload(target, form, WARMUP_SHAPE);
      afterWarmup?.();
      const r = await runWorkload(target, form, shape);
      if (checkpoint) {
        const t0 = performance.now();
        await checkpoint();
        r.ms += performance.now() - t0;
      }
      return r;
    } finally {
      await target.close();
    }
  };
  return { kind, form, id, run };
}
