/**
 * A database written by RapidFire's Python module (at the very path this
 * package uses by default) is refused by `open` — in every `migrate` mode —
 * with a `SchemaVersionError` naming `rf-db import`, within milliseconds, and
 * nothing is written: the file's sha256, and the directory's listing (no
 * `-wal`/`-shm` appear), are unchanged. Copies of the fixtures are used, so a
 * defect here could never write into the shared ones.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import Database from "libsql";
import { afterEach, describe, expect, it } from "vitest";
import { DatabaseBusyError, RFDatabase, SchemaVersionError } from "../../src/index";
import { classifySchema, groupColumns, LEGACY_GUARD_SQL } from "../../src/legacy/schema";
import { BACKENDS } from "../support/backends";
import { startSqld } from "../support/sqld";
import { anchorTablesSql, copyFixture, FIXTURE_NAMES, sha256File, skipReason } from "../support/shared";

const skip = skipReason();
if (skip) console.log(skip);

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "rf-legacy-detect-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Opens and expects the legacy refusal; returns the error and the time it took. */
async function expectRefused(open: () => Promise<RFDatabase>): Promise<{ err: SchemaVersionError; ms: number }> {
  const t0 = performance.now();
  const err = await open().then(
    async (db) => {
      await db.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  const ms = performance.now() - t0;
  expect(err).toBeInstanceOf(SchemaVersionError);
  const e = err as SchemaVersionError;
  expect(e.state).toBe("legacy");
  expect(e.code).toBe("SCHEMA_VERSION");
  expect(e.message).toContain("rf-db import");
  expect(e.message).toContain("Python module");
  return { err: e, ms };
}

describe.skipIf(!!skip)("open() on a legacy Python database", () => {
  for (const name of FIXTURE_NAMES) {
    for (const migrate of ["auto", true, false] as const) {
      it(`${name}, migrate: ${migrate}: SchemaVersionError naming rf-db import, nothing written`, async () => {
        const dir = tempDir();
        const path = copyFixture(name, dir, "legacy.db");
        const before = sha256File(path);
        const { err, ms } = await expectRefused(() => RFDatabase.open({ url: `file:${path}`, migrate }));
        console.log(`open() refused ${name} (migrate: ${migrate}) in ${ms.toFixed(1)} ms`);
        expect(err.message).toContain(`--url file:${path}`);
        expect(sha256File(path)).toBe(before);
        expect(readdirSync(dir)).toEqual(["legacy.db"]);
        // "Milliseconds": generous for a loaded CI machine; the old failure took ~0.8 s of retries.
        expect(ms).toBeLessThan(500);
      });
    }
  }

  it("at the embedded default path (RF_DB_PATH): the message says `npx rf-db import` with no arguments", async () => {
    const dir = tempDir();
    const path = copyFixture("rapidfire-6158eec.db", dir, "rapidfire.db");
    const before = sha256File(path);
    const saved = { path: process.env.RF_DB_PATH, url: process.env.RF_DB_URL };
    process.env.RF_DB_PATH = dir;
    delete process.env.RF_DB_URL;
    try {
      const { err, ms } = await expectRefused(() => RFDatabase.open());
      console.log(`open() on the default path refused in ${ms.toFixed(1)} ms`);
      expect(err.message).toContain("`npx rf-db import`");
    } finally {
      if (saved.path === undefined) delete process.env.RF_DB_PATH;
      else process.env.RF_DB_PATH = saved.path;
      if (saved.url !== undefined) process.env.RF_DB_URL = saved.url;
    }
    expect(sha256File(path)).toBe(before);
    expect(readdirSync(dir)).toEqual(["rapidfire.db"]);
  });

  it("while a Python-like writer holds it open in WAL mode (rows only in the -wal): refused, main file and -wal unchanged", async () => {
    const dir = tempDir();
    const path = join(dir, "live.db");
    // The writer: the 6dd53c1 DDL, WAL, no checkpoint — its tables exist only in the -wal.
    const writer = new Database(path);
    try {
      writer.exec("PRAGMA journal_mode = WAL");
      writer.exec("PRAGMA wal_autocheckpoint = 0");
      writer.exec(anchorTablesSql("6dd53c1"));
      writer.exec("INSERT INTO experiments (experiment_name, num_actors, status) VALUES ('live', 1, 'running')");
      const main = sha256File(path);
      const wal = sha256File(`${path}-wal`);
      await expectRefused(() => RFDatabase.open({ url: `file:${path}` }));
      await expectRefused(() => RFDatabase.open({ url: `file:${path}`, migrate: false }));
      expect(sha256File(path)).toBe(main);
      expect(sha256File(`${path}-wal`)).toBe(wal);
      expect(readdirSync(dir).sort()).toEqual(["live.db", "live.db-shm", "live.db-wal"]);
    } finally {
      writer.close();
    }
  });

  it("peeking a file this process already has open leaves that connection's locks alone", async () => {
    // Closing any descriptor of a file drops every POSIX lock the process holds on it: a peek
    // done carelessly (fs header read, an immutable connection) made the next write of an open
    // connection ignore another process's lock (see src/legacy/peek.ts, trap 2).
    const dir = tempDir();
    const path = join(dir, "shared.db");
    const a = await RFDatabase.open({ url: `file:${path}`, busyRetryMs: 300 });
    try {
      await a.experiments.create({ experimentName: "before", numActors: 1 });
      for (let i = 0; i < 3; i++) await (await RFDatabase.open({ url: `file:${path}` })).close();
      const holder = spawn(
        process.execPath,
        [
          "-e",
          `const D = require("libsql"); const d = new D(${JSON.stringify(path)}, { timeout: 5000 });
           d.exec("BEGIN IMMEDIATE"); d.exec("INSERT INTO experiments (experiment_name, num_actors) VALUES ('holder', 1)");
           console.log("locked"); setTimeout(() => { d.exec("COMMIT"); d.close(); }, 1500);`,
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      const exited = new Promise((r) => holder.once("exit", r));
      await new Promise<void>((r) => holder.stdout.on("data", (d) => String(d).includes("locked") && r()));
      const during = await a.experiments.create({ experimentName: "during", numActors: 1 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(during).toBeInstanceOf(DatabaseBusyError);
      await exited;
      await a.experiments.create({ experimentName: "after", numActors: 1 });
      const fresh = await RFDatabase.open({ url: `file:${path}` });
      expect((await fresh.experiments.listNames()).sort()).toEqual(["after", "before", "holder"]);
      await fresh.close();
    } finally {
      await a.close();
    }
  });

  it("the package's own databases and empty files still open (and a new file is still created)", async () => {
    const dir = tempDir();
    const db = await RFDatabase.open({ url: `file:${join(dir, "new.db")}` });
    await db.experiments.create({ experimentName: "x", numActors: 1 });
    await db.close();
    const again = await RFDatabase.open({ url: `file:${join(dir, "new.db")}` });
    expect(await again.experiments.listNames()).toEqual(["x"]);
    await again.close();
  });
});

describe.skipIf(!!skip || !BACKENDS.includes("sqld"))("open() and migrate on a remote legacy database (sqld)", () => {
  it("refuses in every migrate mode that reads the schema, before writing any bookkeeping", async () => {
    const server = await startSqld();
    const raw = createClient({ url: server.url });
    try {
      await raw.executeMultiple(anchorTablesSql("6158eec"));
      await raw.execute(
        "INSERT INTO experiments (experiment_name, num_actors, status) VALUES ('remote', 1, 'running')",
      );
      for (const migrate of ["auto", true] as const) {
        const { ms } = await expectRefused(() => RFDatabase.open({ url: server.url, migrate }));
        console.log(`open() on a remote legacy database (migrate: ${migrate}) refused in ${ms.toFixed(1)} ms`);
      }
      const db = await RFDatabase.open({ url: server.url, migrate: false });
      await expect(db.migrate()).rejects.toMatchObject({ name: "SchemaVersionError", state: "legacy" });
      await db.close();
      const tables = await raw.execute("SELECT name FROM sqlite_master WHERE name LIKE '%drizzle%'");
      expect(tables.rows).toEqual([]);
    } finally {
      raw.close();
      await server.stop();
    }
  });
});

describe("classifySchema", () => {
  const cols = (spec: Record<string, string[]>) =>
    groupColumns(Object.entries(spec).flatMap(([t, cs]) => cs.map((c) => [t, c])));
  it("tells the two upstream schemas, the package's, empty and unknown apart", () => {
    expect(classifySchema(cols({}))).toEqual({ kind: "empty" });
    expect(classifySchema(cols({ sqlite_sequence: ["name", "seq"] }))).toEqual({ kind: "empty" });
    expect(
      classifySchema(cols({ experiments: ["experiment_id"], pipelines: ["pipeline_id", "model_config_json"] })),
    ).toEqual({ kind: "legacy", version: "6158eec" });
    expect(
      classifySchema(cols({ experiments: ["experiment_id"], pipelines: ["pipeline_id", "pipeline_config"] })),
    ).toEqual({ kind: "legacy", version: "6dd53c1" });
    expect(
      classifySchema(
        cols({ experiments: ["experiment_id"], pipelines: ["pipeline_id", "experiment_id", "pipeline_config"] }),
      ),
    ).toEqual({ kind: "package", recorded: false });
    expect(classifySchema(cols({ __drizzle_migrations: ["id"], pipelines: ["x"] }))).toEqual({
      kind: "package",
      recorded: true,
    });
    expect(classifySchema(cols({ users: ["id"] }))).toEqual({ kind: "unknown", tables: ["users"] });
  });
});

describe.skipIf(!!skip)("LEGACY_GUARD_SQL (first statement of the migrator's bookkeeping batch)", () => {
  it("fails on both upstream schemas, passes on empty and package databases", async () => {
    for (const version of ["6158eec", "6dd53c1"] as const) {
      const raw = new Database(":memory:");
      raw.exec(anchorTablesSql(version));
      expect(() => raw.prepare(LEGACY_GUARD_SQL).all(), version).toThrow(/malformed JSON/);
      raw.close();
    }
    const empty = new Database(":memory:");
    expect(empty.prepare(LEGACY_GUARD_SQL).all()).toEqual([]);
    empty.close();
    const pkg = await RFDatabase.open({ url: ":memory:" });
    expect((await pkg.client.execute(LEGACY_GUARD_SQL)).rows).toEqual([]);
    await pkg.close();
  });
});
