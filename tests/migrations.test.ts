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
