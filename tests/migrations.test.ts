/**
 * The committed migrations are the schema: drizzle-kit finds nothing to
 * generate, the embedded bundle matches drizzle/, and applying them is
 * idempotent and compatible with drizzle's own bookkeeping.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MIGRATIONS, RFDatabase, SchemaVersionError } from "../src/index";
import { applyMigrations } from "../src/migrate";
import { renderBundle } from "../scripts/embed-migrations";
import { readFileSync } from "node:fs";

const root = join(import.meta.dirname, "..");
const tmp = mkdtempSync(join(tmpdir(), "rf-db-migrations-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("committed migrations", () => {
  it("drizzle-kit reports no pending schema change", () => {
    // generate into a copy: a schema change not yet generated would show up as a new .sql file there.
    // drizzle-kit wants `out` relative to the working directory: use a git-ignored folder in the repo.
    const rel = `.tmp/drizzle-check-${process.pid}`;
    const out = join(root, rel);
    rmSync(out, { recursive: true, force: true });
    cpSync(join(root, "drizzle"), out, { recursive: true });
    const config = join(out, "drizzle.check.config.ts");
    writeFileSync(
      config,
      `export default { dialect: "turso", schema: ${JSON.stringify(join(root, "src/schema/index.ts"))}, out: ${JSON.stringify(`./${rel}`)}, dbCredentials: { url: ":memory:" } };\n`,
    );
    const before = readdirSync(out).filter((f) => f.endsWith(".sql"));
    const run = spawnSync(join(root, "node_modules/.bin/drizzle-kit"), ["generate", "--config", config], {
      cwd: root,
      encoding: "utf8",
    });
    const output = `${run.stdout}${run.stderr}`;
    expect(run.status, output).toBe(0);
    const after = readdirSync(out).filter((f) => f.endsWith(".sql"));
    expect(after, `drizzle-kit generated a migration: run \`npm run db:generate\`\n${output}`).toEqual(before);
    expect(output).toMatch(/No schema changes/);
    rmSync(out, { recursive: true, force: true });
  }, 60_000);

  it("drizzle-kit check finds the migration history consistent", () => {
    const output = execFileSync(join(root, "node_modules/.bin/drizzle-kit"), ["check"], {
      cwd: root,
      encoding: "utf8",
    });
    expect(output).toMatch(/Everything's fine/);
  }, 60_000);

  it("the embedded bundle matches drizzle/", () => {
    expect(readFileSync(join(root, "src/migrations/bundle.ts"), "utf8")).toBe(renderBundle(join(root, "drizzle")));
    expect(MIGRATIONS.length).toBeGreaterThan(0);
  });
});

describe("applying migrations", () => {
  it("applies once, then is a no-op, and records drizzle's bookkeeping", async () => {
    const url = `file:${join(tmp, "twice.db")}`;
    const db = await RFDatabase.open({ url, migrate: false });
    expect((await db.schemaState()).state).toBe("empty");
    const first = await db.migrate();
    expect(first.applied.map((m) => m.tag)).toEqual(MIGRATIONS.map((m) => m.tag));
    const second = await db.migrate();
    expect(second.applied).toEqual([]);
    expect((await db.schemaState()).state).toBe("current");
    const rows = await db.client.execute("SELECT hash, created_at FROM __drizzle_migrations ORDER BY created_at");
    expect(rows.rows.map((r) => [r[0], Number(r[1])])).toEqual(MIGRATIONS.map((m) => [m.hash, m.when]));
    const tables = await db.client.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
    expect(tables.rows.map((r) => r[0])).toEqual(
      expect.arrayContaining(["actor_tasks", "contexts", "experiments", "interactive_control", "pipelines"]),
    );
    await db.close();
  });

  it("migrate: false never touches the schema; 'auto' applies on a file", async () => {
    const url = `file:${join(tmp, "modes.db")}`;
    const untouched = await RFDatabase.open({ url, migrate: false });
    const tables = await untouched.client.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'");
    expect(Number(tables.rows[0]![0])).toBe(0);
    await untouched.close();
    const auto = await RFDatabase.open({ url });
    expect((await auto.schemaState()).state).toBe("current");
    await auto.close();
  });

  it("a database migrated by a newer package is refused with SchemaVersionError", async () => {
    const url = `file:${join(tmp, "ahead.db")}`;
    const db = await RFDatabase.open({ url });
    await db.client.execute({
      sql: "INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)",
      args: ["f".repeat(64), MIGRATIONS[MIGRATIONS.length - 1]!.when + 1000],
    });
    await db.close();
    const err = await RFDatabase.open({ url }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaVersionError);
    expect((err as SchemaVersionError).state).toBe("ahead");
    expect((err as Error).message).toMatch(/newer than this version/);
  });
});

describe("upgrading a first-release database (0000 only) to the current schema", () => {
  it("keeps every row, renames mlflow_experiment_id, backfills IC experiments, and gains the v2 guards", async () => {
    const url = `file:${join(tmp, "upgrade.db")}`;
    const v1 = await RFDatabase.open({ url, migrate: false });
    await applyMigrations(v1.client, { migrations: MIGRATIONS.slice(0, 1) });
    await v1.client.executeMultiple(`
      INSERT INTO experiments (experiment_name, num_actors, mlflow_experiment_id, created_at) VALUES ('e1', 2, 'mlf-1', 1000);
      INSERT INTO contexts (context_hash, status, started_at, completed_at, created_at) VALUES ('h', 'ready', 2000, 5000, 1500);
      INSERT INTO pipelines (experiment_id, context_id, pipeline_name, pipeline_type, model_config, sampling_params, status, shards_completed, created_at)
        VALUES (1, 1, 'p', 'vllm', '{}', '{}', 'ongoing', 3, 1100);
      INSERT INTO actor_tasks (experiment_id, pipeline_id, actor_id, shard_id, status, started_at, created_at)
        VALUES (1, 1, 0, 0, 'in_progress', 3000, 1200), (1, 1, 0, 1, 'scheduled', NULL, 1300);
      INSERT INTO interactive_control (pipeline_id, operation, status, created_at) VALUES (1, 'stop', 'pending', 7000);
    `);
    await v1.close();

    const db = await RFDatabase.open({ url });
    expect((await db.schemaState()).state).toBe("current");
    const exp = await db.experiments.get(1);
    expect(exp).toMatchObject({ experimentName: "e1", metricExperimentId: "mlf-1", mlflowExperimentId: "mlf-1" });
    expect(exp!.updatedAt.getTime()).toBe(1000);
    expect(await db.contexts.get(1)).toMatchObject({ status: "ready", updatedAt: new Date(5000) });
    expect(await db.pipelines.get(1)).toMatchObject({ pipelineName: "p", shardsCompleted: 3 });
    expect(await db.actorTasks.get(1)).toMatchObject({ status: "in_progress", attempts: 1, maxAttempts: 3 });
    expect(await db.actorTasks.get(2)).toMatchObject({ status: "scheduled", attempts: 0 });
    expect(await db.icOperations.get(1)).toMatchObject({ experimentId: 1, pipelineId: 1, operation: "stop" });
    // Task ids are AUTOINCREMENT now: never reused, also after every task is deleted.
    await db.client.execute("DELETE FROM actor_tasks");
    const next = await db.actorTasks.create({ experimentId: 1, pipelineId: 1, actorId: 0, shardId: 9 });
    expect(next).toBe(3);
    // One live operation per dedupe key (the expression index drizzle-kit cannot write on its own).
    const live =
      "INSERT INTO interactive_control (experiment_id, pipeline_id, operation, status, dedupe_key) VALUES (1, 1, 'stop', ?, 'k')";
    await db.client.execute({ sql: live, args: ["completed"] });
    await db.client.execute({ sql: live, args: ["pending"] });
    await expect(db.client.execute({ sql: live, args: ["processing"] })).rejects.toThrow(/UNIQUE/);
    const check = await db.client.execute("PRAGMA integrity_check");
    expect(check.rows[0]![0]).toBe("ok");
    expect((await db.client.execute("PRAGMA foreign_key_check")).rows).toEqual([]);
    await db.close();
  });

  it("refuses an id the package could not return exactly (2^53 and beyond) before writing", async () => {
    const db = await RFDatabase.open({ url: ":memory:" });
    await expect(
      db.client.execute(
        "INSERT INTO experiments (experiment_id, experiment_name, num_actors) VALUES (4611686018427387904, 'x', 1)",
      ),
    ).rejects.toThrow(/experiments_id_check|CHECK/);
    await db.client.execute(
      "INSERT INTO experiments (experiment_id, experiment_name, num_actors) VALUES (9007199254740991, 'at the limit', 1)",
    );
    await expect(db.experiments.create({ experimentName: "next", numActors: 1 })).rejects.toThrow();
    expect(await db.experiments.listNames()).toEqual(["at the limit"]);
    await db.close();
  });
});
