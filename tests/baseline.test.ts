/**
 * A database created by `drizzle-kit push` — the package's tables, but no
 * record of its migrations — used to fail to open with an untyped
 * "table `experiments` already exists" (after ~1 s of retries), and the advice
 * `rf-db migrate` failed the same way. Now:
 *
 * - `open` (local: migrate "auto"; remote: the check) is a SchemaVersionError
 *   (`state: "unrecorded"`) naming `rf-db migrate --baseline`, and writes nothing;
 * - `rf-db migrate --baseline` compares the tables with the migrations (as
 *   `check` does), creates what push leaves out (triggers) if anything, and
 *   records the migrations — or, when the shape differs, lists the
 *   differences, exits 1 and writes nothing.
 *
 * Real `drizzle-kit push` (with this package's drizzle.config.ts) into a temp
 * file and into a real sqld.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATIONS, RFDatabase, SchemaVersionError } from "../src/index";
import { ROOT, runCli } from "./support/cli";
import { startSqld, type SqldServer } from "./support/sqld";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "rf-db-baseline-"));
let server: SqldServer;
/** One real push into a file; each file test works on a copy (push takes seconds). */
const pushed = join(dir, "pushed.db");
beforeAll(async () => {
  [server] = await Promise.all([startSqld(), push(`file:${pushed}`)]);
}, 60_000);
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `drizzle-kit push` of the package's schema to `url` (a file: URL or sqld). */
async function push(url: string): Promise<void> {
  await run(join(ROOT, "node_modules/.bin/drizzle-kit"), ["push", "--force"], {
    cwd: ROOT,
    env: { ...process.env, RF_DB_URL: url },
    timeout: 60_000,
  });
}

/** Every schema object of a file (the bookkeeping table included). */
async function dump(path: string): Promise<unknown[]> {
  const db = await RFDatabase.open({ url: `file:${path}`, migrate: false });
  try {
    return (await db.client.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name")).rows.map((r) => [
      ...Object.values(r),
    ]);
  } finally {
    await db.close();
  }
}

const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

function expectUnrecorded(err: unknown) {
  expect(err).toBeInstanceOf(SchemaVersionError);
  expect((err as SchemaVersionError).state).toBe("unrecorded");
  expect((err as Error).message).toMatch(/no record of its migrations.*drizzle-kit push.*rf-db migrate --baseline/);
}

describe("a database made by drizzle-kit push", () => {
  it("file: open is a SchemaVersionError naming `rf-db migrate --baseline`; --baseline records; then it works", async () => {
    const path = join(dir, "rapidfire.db");
    copyFileSync(pushed, path);
    const before = sha(path);
    expectUnrecorded(await rejection(RFDatabase.open({ url: `file:${path}` })));
    expect(sha(path)).toBe(before); // refused before anything opened it for writing
    const schema = await dump(path);
    const plain = await runCli(["migrate"], dir);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/^rf-db: .*rf-db migrate --baseline/);
    expect(await dump(path)).toEqual(schema); // the migrator's first batch failed whole: no bookkeeping table

    // Tasks written before the baseline: push made the counters' table but none of their triggers.
    const early = await RFDatabase.open({ url: `file:${path}`, migrate: false });
    const e0 = await early.experiments.create({ experimentName: "before baseline", numActors: 1 });
    const p0 = await early.pipelines.create({ experimentId: e0, pipelineName: "p", pipelineType: "t" });
    for (const status of ["scheduled", "completed", "completed"] as const)
      await early.actorTasks.create({ experimentId: e0, pipelineId: p0, actorId: 0, shardId: 0, status });
    await early.close();

    const baseline = await runCli(["migrate", "--baseline"], dir);
    expect(baseline.code, baseline.stderr).toBe(0);
    expect(baseline.stdout).toMatch(new RegExp(`match the migrations.*recorded ${MIGRATIONS.length} migration`, "s"));

    const db = await RFDatabase.open({ url: `file:${path}` });
    expect((await db.schemaState()).state).toBe("current");
    expect(await db.check()).toEqual({ ok: true, problems: [] });
    expect(await db.actorTasks.countByStatus(e0)).toEqual({ scheduled: 1, in_progress: 0, completed: 2, failed: 0 });
    const id = await db.experiments.create({ experimentName: "after baseline", numActors: 1 });
    expect((await db.experiments.get(id))?.experimentName).toBe("after baseline");
    await db.close();

    const again = await runCli(["migrate", "--baseline"], dir);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/already recorded|up to date/i);
  });

  it("file: a pushed database whose shape differs is refused by --baseline, listing why; nothing written", async () => {
    const sub = mkdtempSync(join(dir, "differs-"));
    const path = join(sub, "rapidfire.db");
    copyFileSync(pushed, path);
    const raw = await RFDatabase.open({ url: `file:${path}`, migrate: false });
    await raw.client.execute("ALTER TABLE experiments DROP COLUMN heartbeat_at");
    await raw.client.execute("DROP INDEX interactive_control_pipeline_idx");
    await raw.close();
    const before = await dump(path);
    const r = await runCli(["migrate", "--baseline"], sub);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/experiments: column heartbeat_at .*missing/);
    expect(r.stderr).toMatch(/^rf-db: .*does not match the migrations/m);
    expect(await dump(path)).toEqual(before); // no bookkeeping, no index created
  });

  it("sqld: open (schema check) is the same SchemaVersionError; --baseline over the network records", async () => {
    await push(server.url);
    expectUnrecorded(await rejection(RFDatabase.open({ url: server.url })));
    // What push leaves out (today: nothing; triggers of custom migrations later) is created from the
    // migrations' SQL: an index dropped after the push stands in for it.
    const raw = await RFDatabase.open({ url: server.url, migrate: false });
    await raw.client.execute("DROP INDEX interactive_control_pipeline_idx");
    await raw.close();
    const r = await runCli(["migrate", "--baseline", "--url", server.url], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/created index interactive_control_pipeline_idx/);
    const db = await RFDatabase.open({ url: server.url });
    expect((await db.schemaState()).state).toBe("current");
    expect(await db.check()).toEqual({ ok: true, problems: [] });
    await db.close();
  });
});
