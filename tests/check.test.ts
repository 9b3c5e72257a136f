/**
 * `db.check()` and `rf-db check`: SQLite's integrity check (and foreign-key
 * check) plus the live schema — tables with their columns and constraints,
 * indexes, triggers — compared with what the package's migrations define
 * (applied to an in-memory database as the reference).
 *
 * On memory, file and sqld: a healthy database is ok; a dropped index and an
 * extra trigger are problems naming them. On a file: scribbled pages are a
 * problem (integrity), and `rf-db check` exits 1 listing them, 0 when healthy.
 */
import { openSync, rmSync, writeSync, closeSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, RFDatabase } from "../src/index";
import { RFDatabase as WebDatabase } from "../src/web";
import { BACKENDS, openBackend, type Backend } from "./support/backends";
import { runCli } from "./support/cli";
import { startSqld } from "./support/sqld";

const dir = mkdtempSync(join(tmpdir(), "rf-db-check-"));
const backends: Backend[] = [];
afterAll(async () => {
  for (const b of backends) await b.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(BACKENDS)("db.check() on %s", (name) => {
  it("a healthy database is ok; a dropped index and an extra trigger are problems that name them", async () => {
    const backend = await openBackend(name);
    backends.push(backend);
    const { db } = backend;
    await db.experiments.create({ experimentName: "healthy", numActors: 1 });
    expect(await db.check()).toEqual({ ok: true, problems: [] });

    const index = String(
      (
        await db.client.execute(
          "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name = 'pipelines' LIMIT 1",
        )
      ).rows[0]![0],
    );
    await db.client.execute(`DROP INDEX "${index}"`);
    await db.client.execute(
      "CREATE TRIGGER sneaky AFTER INSERT ON experiments BEGIN UPDATE experiments SET error = 'x' WHERE 0; END",
    );
    const result = await db.check();
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`index ${index} .*missing`)),
        expect.stringMatching(/trigger sneaky .*not defined by the migrations/),
      ]),
    );
    expect(result.problems).toHaveLength(2);
  });

  it("a changed table (a column added by hand) is a problem naming table and column", async () => {
    const backend = await openBackend(name);
    backends.push(backend);
    await backend.db.client.execute("ALTER TABLE pipelines ADD COLUMN notes text");
    const result = await backend.db.check();
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([expect.stringMatching(/table pipelines: column notes .*not defined/)]);
  });
});

describe("db.check() compares a table's columns and constraints as a set", () => {
  // The CREATE TABLE text of an (empty) table rewritten in place, as another tool's DDL would differ.
  const rewrite = (path: string, table: string, edit: (sql: string) => string) => {
    const raw = new Database(path);
    const { sql } = raw.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) as {
      sql: string;
    };
    raw.exec("PRAGMA writable_schema = ON");
    raw.prepare("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?").run(edit(sql), table);
    raw.exec("PRAGMA writable_schema = OFF");
    raw.close();
  };

  it("the same columns and CHECKs in another order (drizzle-kit push's order) are ok; a changed CHECK is a problem", async () => {
    const path = join(dir, "order.db");
    await (await RFDatabase.open({ url: `file:${path}` })).close();
    // Reverse the order of contexts' columns and of its constraints in its CREATE TABLE.
    rewrite(path, "contexts", (sql) => {
      const open = sql.indexOf("(");
      const items: string[] = [];
      let depth = 0;
      let start = open + 1;
      for (let i = start; i < sql.lastIndexOf(")"); i++) {
        if (sql[i] === "(") depth++;
        else if (sql[i] === ")") depth--;
        else if (sql[i] === "," && depth === 0) {
          items.push(sql.slice(start, i));
          start = i + 1;
        }
      }
      items.push(sql.slice(start, sql.lastIndexOf(")")));
      // SQLite wants the columns before the table constraints: reverse each group.
      const isConstraint = (item: string) => /^\s*(constraint|check|foreign|primary|unique)\b/i.test(item);
      const reordered = [...items.filter((i) => !isConstraint(i)).reverse(), ...items.filter(isConstraint).reverse()];
      return `${sql.slice(0, open + 1)}${reordered.join(",")})`;
    });
    let db = await RFDatabase.open({ url: `file:${path}`, readOnly: true });
    expect(await db.check()).toEqual({ ok: true, problems: [] });
    await db.close();

    rewrite(path, "contexts", (sql) => sql.replace(/"duration_seconds" >= 0/, '"duration_seconds" >= 1'));
    db = await RFDatabase.open({ url: `file:${path}`, readOnly: true });
    const result = await db.check();
    await db.close();
    expect(result.problems).toEqual([expect.stringMatching(/table contexts: its constraints .* differ/)]);
  });
});

describe("db.check() on a damaged file", () => {
  it("scribbled pages are an integrity problem; rf-db check exits 1 and lists them, 0 when healthy", async () => {
    const path = join(dir, "rapidfire.db");
    const db = await RFDatabase.open({ url: `file:${path}` });
    for (let i = 0; i < 300; i++)
      await db.experiments.create({ experimentName: `e${i}-${"x".repeat(100)}`, numActors: 1 });
    await db.close();
    const healthy = await runCli(["check"], dir);
    expect(healthy.code, healthy.stderr).toBe(0);
    expect(healthy.stdout).toMatch(/^ok: .*rapidfire\.db/m);

    const raw = new Database(path);
    const leaf = raw
      .prepare("SELECT pageno FROM dbstat WHERE name = 'experiments' AND pagetype = 'leaf' LIMIT 1 OFFSET 2")
      .get() as { pageno: number };
    const pageSize = (raw.prepare("PRAGMA page_size").get() as { page_size: number }).page_size;
    raw.close();
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.alloc(200, 0x5a), 0, 200, (leaf.pageno - 1) * pageSize + 300);
    closeSync(fd);

    // A writable open refuses the damaged file; read-only, it opens and check() says what is wrong.
    await expect(RFDatabase.open({ url: `file:${path}` })).rejects.toMatchObject({
      code: "STORAGE",
      reason: "corrupt",
    });
    const damaged = await RFDatabase.open({ url: `file:${path}`, readOnly: true });
    const result = await damaged.check();
    await damaged.close();
    expect(result.ok).toBe(false);
    expect(result.problems.join("\n")).toMatch(/integrity: .*page \d+/);

    const cli = await runCli(["check"], dir);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(/integrity: /);
    expect(cli.stderr).toMatch(/^rf-db: .*not ok: \d+ problems?/);
  });

  it("the web entry cannot build the reference (no local SQLite) and says so", async () => {
    const server = await startSqld();
    try {
      await (await RFDatabase.open({ url: server.url, migrate: true })).close();
      const db = await WebDatabase.open({ url: server.url });
      await expect(db.check()).rejects.toThrow(ConfigError);
      await expect(db.check()).rejects.toThrow(/rf-db check/);
      await db.close();
    } finally {
      await server.stop();
    }
  });
});
