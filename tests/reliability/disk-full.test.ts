/**
 * Disk full: every write the package acknowledges is in the file afterwards,
 * and the call that finds the disk full throws StorageError.
 *
 * A worker process (workers/disk-full.ts) calls every public write method in
 * rounds until the storage refuses, then each method once more on the full
 * disk. Afterwards this process opens the file and compares every
 * acknowledged write with what is stored (and checks that no refused write
 * left its value behind).
 *
 * - file, no root needed: the worker's file size limit is lowered with
 *   `prlimit --fsize` (RLIMIT_FSIZE; SIGXFSZ ignored, so writes fail with EFBIG).
 * - sqld: its data directory on a small tmpfs (needs root for `mount`;
 *   skipped with a printed reason otherwise). Heavy mode also runs the file
 *   case on a tmpfs (ENOSPC) and more limits.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { createClient, type Client } from "@libsql/client";
import { afterAll, describe, expect, it } from "vitest";
import { RFDatabase } from "../../src/index";
import { startSqld } from "../support/sqld";
import { cleanupAll, HEAVY, releaseBarrier, report, resultOf, size, startWorker, tempDir } from "./support";

afterAll(cleanupAll);

const PK: Record<string, string> = {
  experiments: "experiment_id",
  contexts: "context_id",
  pipelines: "pipeline_id",
  actor_tasks: "task_id",
  interactive_control: "ic_id",
};

type Fact = { e: string; id?: number; f?: string; v?: unknown };
type Msg = Record<string, unknown>;

interface Outcome {
  acked: number;
  lost: string[];
  phantom: string[];
  refusals: { op: string; phase: number; name: string; code: unknown; message: string }[];
  ackedOps: string[];
}

/** Compares the worker's acknowledged writes with the database behind `client`. */
async function verify(messages: Msg[], client: Client): Promise<Outcome> {
  const rows = new Map<string, Map<number, Map<string, unknown>>>();
  let resetStates = false;
  let resetAll = false;
  let acked = 0;
  const ackedOps: string[] = [];
  for (const m of messages) {
    if (m.type !== "ack") continue;
    acked++;
    ackedOps.push(String(m.op));
    if (m.op === "resetExperimentStates") resetStates = true;
    if (m.op === "resetAllTables") resetAll = true;
    for (const fact of m.facts as Fact[]) {
      if (fact.id === undefined) continue;
      const table = rows.get(fact.e) ?? new Map<number, Map<string, unknown>>();
      rows.set(fact.e, table);
      const fields = table.get(fact.id) ?? new Map<string, unknown>();
      table.set(fact.id, fields);
      if (fact.f !== undefined) fields.set(fact.f, fact.v);
    }
  }
  const lost: string[] = [];
  const phantom: string[] = [];
  for (const [table, pk] of Object.entries(PK)) {
    const rs = await client.execute(`SELECT * FROM "${table}"`);
    const stored = new Map(rs.rows.map((r) => [Number(r[pk]), r]));
    const expected = rows.get(table) ?? new Map();
    if (resetAll && table !== "experiments") {
      if (stored.size > 0) lost.push(`${table}: ${stored.size} rows left after an acknowledged resetAllTables`);
      continue;
    }
    for (const [id, fields] of expected) {
      const row = stored.get(id);
      if (!row) {
        lost.push(`${table} ${id}: missing`);
        continue;
      }
      for (const [f, v] of fields) {
        const actual = row[f];
        if (actual === v) continue;
        if (resetStates && f === "status" && actual === "failed") continue;
        lost.push(`${table} ${id}.${f}: ${JSON.stringify(actual)}, acknowledged ${JSON.stringify(v)}`);
      }
    }
    for (const id of stored.keys()) if (!expected.has(id)) phantom.push(`${table} ${id}: stored, never acknowledged`);
  }
  const refusals: Outcome["refusals"] = [];
  for (const m of messages) {
    if (m.type !== "refused") continue;
    const err = m.error as { name: string; code: unknown; message: string };
    refusals.push({ op: String(m.op), phase: Number(m.phase), name: err.name, code: err.code, message: err.message });
    const intent = m.intent as Fact | undefined;
    if (intent?.f === undefined || (resetAll && intent.e !== "experiments")) continue;
    const rs = await client.execute({
      sql: `SELECT count(*) AS n FROM "${intent.e}" WHERE "${intent.f}" = ?`,
      args: [intent.v as string],
    });
    if (Number(rs.rows[0]![0]) > 0) phantom.push(`${m.op}: refused, but its ${intent.e}.${intent.f} was stored`);
  }
  return { acked, lost, phantom, refusals, ackedOps };
}

/** Creates and migrates the database, runs the worker until the disk is full, verifies. */
async function scenario(opts: {
  label: string;
  url: string;
  /** The file the worker writes (for the file size limit: bytes beyond its current size). */
  file?: string;
  budgetBytes?: number;
  filler: number;
}): Promise<Outcome> {
  const setup = await RFDatabase.open({ url: opts.url, migrate: true });
  await setup.close();
  const dir = tempDir("rf-full-go-");
  const goFile = join(dir, "go");
  const started = performance.now();
  const w = startWorker("disk-full", { url: opts.url, goFile, maxRounds: 10_000, filler: opts.filler });
  await w.waitFor((m) => m.type === "ready", 60_000);
  let limit: number | undefined;
  if (opts.file !== undefined && opts.budgetBytes !== undefined) {
    // The limit covers every file the worker writes: the database (checkpointed, so the
    // WAL starts empty) and its -wal/-shm.
    const sizeOf = (f: string) => (existsSync(f) ? statSync(f).size : 0);
    limit = Math.max(sizeOf(opts.file), sizeOf(`${opts.file}-wal`)) + opts.budgetBytes;
    execFileSync("prlimit", ["--pid", String(w.pid), `--fsize=${limit}`]);
  }
  releaseBarrier(goFile);
  const result = await resultOf(w, 180_000);
  const check = opts.url.startsWith("file:") ? createClient({ url: opts.url }) : createClient({ url: opts.url });
  let out: Outcome;
  try {
    out = await verify(w.messages, check);
  } finally {
    check.close();
  }
  const storage = out.refusals.filter((r) => r.name === "StorageError");
  report("disk-full", {
    label: opts.label,
    limitBytes: limit,
    rounds: result.rounds,
    acknowledged: out.acked,
    lost: out.lost.length,
    phantom: out.phantom.length,
    refused: out.refusals.length,
    storageErrors: storage.length,
    firstRefusal: out.refusals[0] && { op: out.refusals[0].op, name: out.refusals[0].name, code: out.refusals[0].code },
    refusedOpsPhase2: out.refusals.filter((r) => r.phase === 2).map((r) => r.op),
    seconds: Math.round(performance.now() - started) / 1000,
  });
  return out;
}

function expectSound(out: Outcome, where: string): void {
  expect(out.lost, "acknowledged writes missing").toEqual([]);
  expect(out.phantom, "refused writes that were stored").toEqual([]);
  expect(out.refusals.length, "the storage refused something").toBeGreaterThan(0);
  for (const r of out.refusals) {
    expect({ op: r.op, name: r.name }, r.message).toEqual({ op: r.op, name: "StorageError" });
    expect(r.code).toBe("STORAGE");
    expect(r.message).toContain(where);
  }
}

const hasPrlimit = spawnSync("prlimit", ["--version"]).status === 0;

describe("disk full (file): every acknowledged write is stored; the refused call throws StorageError", () => {
  const budgets = size([64 * 1024, 256 * 1024], [16 * 1024, 64 * 1024, 192 * 1024, 700 * 1024, 2 * 1024 * 1024]);
  it.skipIf(!hasPrlimit).each(budgets)(
    "file size limit: database size + %i bytes",
    async (budget) => {
      const path = join(tempDir("rf-full-"), "full.db");
      const out = await scenario({
        label: `file+${budget}`,
        url: `file:${path}`,
        file: path,
        budgetBytes: budget,
        filler: 2000,
      });
      expectSound(out, path);
    },
    240_000,
  );
});

/** Mounts a tmpfs of `bytes` at a new directory; undefined (and the reason printed) when that is not possible. */
function mountTmpfs(bytes: number): { dir: string; unmount(): void } | undefined {
  const dir = tempDir("rf-tmpfs-");
  const mnt = join(dir, "mnt");
  mkdirSync(mnt);
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", mnt], { encoding: "utf8" });
  if (r.status !== 0) {
    console.log(
      `[disk-full] skipped: cannot mount a tmpfs (${(r.stderr || r.error?.message || "").trim()}; needs root)`,
    );
    return undefined;
  }
  return { dir: mnt, unmount: () => spawnSync("umount", ["-l", mnt]) };
}

describe("disk full on a tmpfs", () => {
  it("sqld with a full data directory: every acknowledged write is stored; refusals are StorageError", async (ctx) => {
    const fs = mountTmpfs(size(3, 6) * 1024 * 1024);
    if (!fs) return ctx.skip();
    const server = await startSqld({ tempParent: fs.dir });
    try {
      const out = await scenario({ label: "sqld-tmpfs", url: server.url, filler: 2000 });
      expectSound(out, server.url);
    } finally {
      await server.stop();
      fs.unmount();
    }
  }, 240_000);

  it.skipIf(!HEAVY)(
    "file on a full tmpfs (ENOSPC)",
    async (ctx) => {
      const fs = mountTmpfs(2 * 1024 * 1024);
      if (!fs) return ctx.skip();
      try {
        const path = join(fs.dir, "full.db");
        const out = await scenario({ label: "file-tmpfs", url: `file:${path}`, filler: 2000 });
        expectSound(out, path);
      } finally {
        fs.unmount();
      }
    },
    240_000,
  );
});
