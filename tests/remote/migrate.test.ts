/**
 * Migrating a remote database the way a deploy does, and what `open` says when
 * the schema does not match — against real sqld servers (JWT auth where a token matters).
 *
 * - `rf-db migrate --url http://…` (the CLI as a child process, token from
 *   RF_DB_AUTH_TOKEN) applies the migrations to an empty database, is a no-op
 *   the second time, and never prints the token.
 * - `drizzle-kit migrate` with the project's drizzle.config.ts (RF_DB_URL /
 *   RF_DB_AUTH_TOKEN) does the same to another empty database; the
 *   bookkeeping is shared, so `RFDatabase.open` (migrate "auto" = check only)
 *   accepts it, and each tool is a no-op after the other.
 * - Opening an empty or behind remote database with default options fails
 *   with SchemaVersionError naming `rf-db migrate`; a database with a newer
 *   migration recorded fails with SchemaVersionError state "ahead".
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { afterAll, describe, expect, it } from "vitest";
import { MIGRATIONS, RFDatabase, SchemaVersionError } from "../../src/index";
import { generateJwtKeyPair, signJwt } from "../support/jwt";
import { REPO_ROOT, startSqld, type SqldServer } from "../support/sqld";

const CLI = join(REPO_ROOT, "src", "cli", "main.ts");
const DRIZZLE_KIT = join(REPO_ROOT, "node_modules", ".bin", "drizzle-kit");
const LATEST = MIGRATIONS[MIGRATIONS.length - 1]!;

const keys = generateJwtKeyPair();
const token = signJwt(keys.privateKey);

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function sqld(auth: boolean): Promise<SqldServer> {
  const server = await startSqld(auth ? { jwtPublicKey: keys.publicKeyPem } : {});
  cleanups.push(() => server.stop());
  return server;
}

async function open(options: Parameters<typeof RFDatabase.open>[0]): Promise<RFDatabase> {
  const db = await RFDatabase.open(options);
  cleanups.push(() => db.close());
  return db;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command with a clean RF_DB_* environment plus `env`; bounded by a timeout. */
function run(file: string, args: string[], env: Record<string, string>): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("RF_DB_")));
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: REPO_ROOT, env: { ...base, ...env }, timeout: 60_000, encoding: "utf8" },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const rfDb = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ["--import", "tsx", CLI, ...args], env);
const drizzleKitMigrate = (env: Record<string, string>) => run(DRIZZLE_KIT, ["migrate"], env);

async function tables(url: string, authToken?: string): Promise<string[]> {
  const c = createClient({ url, authToken });
  try {
    const rs = await c.execute(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    );
    return rs.rows.map((r) => String(r.name));
  } finally {
    c.close();
  }
}

async function bookkeeping(url: string, authToken?: string): Promise<Array<{ hash: string; createdAt: number }>> {
  const c = createClient({ url, authToken });
  try {
    const rs = await c.execute("SELECT hash, created_at FROM __drizzle_migrations ORDER BY created_at");
    return rs.rows.map((r) => ({ hash: String(r.hash), createdAt: Number(r.created_at) }));
  } finally {
    c.close();
  }
}

const EXPECTED_TABLES = [
  "__drizzle_migrations",
  "actor_task_counts",
  "actor_tasks",
  "change_log",
  "change_log_horizon",
  "contexts",
  "experiments",
  "interactive_control",
  "legacy_imports",
  "pipelines",
];
const EXPECTED_BOOKKEEPING = MIGRATIONS.map((m) => ({ hash: m.hash, createdAt: m.when }));

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe.concurrent("remote migrations", () => {
  it.skipIf(!existsSync(CLI))(
    "rf-db migrate --url http://… (token from RF_DB_AUTH_TOKEN) migrates an empty sqld, then is a no-op",
    async () => {
      const server = await sqld(true);
      // before: open with default options refuses, naming the command
      const before = await rejection(RFDatabase.open({ url: server.url, authToken: token }));
      expect(before).toBeInstanceOf(SchemaVersionError);
      expect((before as Error).message).toContain(`rf-db migrate --url ${server.url}`);

      const first = await rfDb(["migrate", "--url", server.url], { RF_DB_AUTH_TOKEN: token });
      expect(first, first.stderr).toMatchObject({ code: 0, stderr: "" });
      expect(first.stdout).toContain(`Migrating ${server.url}`);
      for (const m of MIGRATIONS) expect(first.stdout).toContain(`applied ${m.tag}`);
      expect(await tables(server.url, token)).toEqual(EXPECTED_TABLES);
      expect(await bookkeeping(server.url, token)).toEqual(EXPECTED_BOOKKEEPING);

      const second = await rfDb(["migrate", "--url", server.url], { RF_DB_AUTH_TOKEN: token });
      expect(second, second.stderr).toMatchObject({ code: 0, stderr: "" });
      expect(second.stdout).toContain(`Already up to date (latest migration: ${LATEST.tag})`);
      expect(second.stdout).not.toContain("applied ");
      expect(await bookkeeping(server.url, token)).toEqual(EXPECTED_BOOKKEEPING);
      for (const r of [first, second]) expect(r.stdout + r.stderr).not.toContain(token);

      // now open (check only) accepts it, and works
      const db = await open({ url: server.url, authToken: token });
      expect((await db.schemaState()).state).toBe("current");
      const id = await db.experiments.create({ experimentName: "after-rf-db-migrate", numActors: 1 });
      expect((await db.experiments.get(id))?.experimentName).toBe("after-rf-db-migrate");

      // drizzle-kit agrees there is nothing to do on a database rf-db migrated
      const dk = await drizzleKitMigrate({ RF_DB_URL: server.url, RF_DB_AUTH_TOKEN: token });
      expect(dk.code, dk.stdout + dk.stderr).toBe(0);
      expect(await bookkeeping(server.url, token)).toEqual(EXPECTED_BOOKKEEPING);
    },
  );

  it.skipIf(!existsSync(CLI))(
    "rf-db migrate without a valid token: exit 1, one line on stderr, token never printed",
    async () => {
      const server = await sqld(true);
      const wrong = signJwt(generateJwtKeyPair().privateKey);
      const r = await rfDb(["migrate", "--url", server.url], { RF_DB_AUTH_TOKEN: wrong });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(/^rf-db: .*refused the credentials/);
      expect(r.stdout + r.stderr).not.toContain(wrong);
      const missing = await rfDb(["migrate", "--url", server.url]);
      expect(missing.code, missing.stderr).toBe(1);
      // (migrate.ts maps driver errors without the token context, so the message lists the possible causes)
      expect(missing.stderr).toMatch(/^rf-db: the server refused the credentials \(HTTP 401\)/);
      expect(await tables(server.url, token)).toEqual([]);
    },
  );

  it("drizzle-kit migrate (drizzle.config.ts, RF_DB_URL / RF_DB_AUTH_TOKEN) migrates another empty sqld; open then only checks", async () => {
    const server = await sqld(true);
    const env = { RF_DB_URL: server.url, RF_DB_AUTH_TOKEN: token };
    const first = await drizzleKitMigrate(env);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toContain("migrations applied successfully");
    expect(await tables(server.url, token)).toEqual(EXPECTED_TABLES);
    // same bookkeeping as rf-db migrate writes: drizzle's table, file hash, journal `when`
    expect(await bookkeeping(server.url, token)).toEqual(EXPECTED_BOOKKEEPING);

    const second = await drizzleKitMigrate(env);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(await bookkeeping(server.url, token)).toEqual(EXPECTED_BOOKKEEPING);

    // RFDatabase.open with migrate "auto" only checks a remote schema: it is current
    const db = await open({ url: server.url, authToken: token });
    expect((await db.schemaState()).state).toBe("current");
    const id = await db.experiments.create({ experimentName: "after-drizzle-kit", numActors: 2 });
    expect((await db.experiments.get(id))?.numActors).toBe(2);

    if (existsSync(CLI)) {
      const cli = await rfDb(["migrate", "--url", server.url], env);
      expect(cli, cli.stderr).toMatchObject({ code: 0 });
      expect(cli.stdout).toContain("Already up to date");
      expect(await bookkeeping(server.url, token)).toEqual(EXPECTED_BOOKKEEPING);
    }
  });

  it("an empty remote database: open fails with SchemaVersionError naming `rf-db migrate`, and writes nothing", async () => {
    const server = await sqld(false);
    const err = await rejection(RFDatabase.open({ url: server.url }));
    expect(err).toBeInstanceOf(SchemaVersionError);
    const e = err as SchemaVersionError;
    expect(e.code).toBe("SCHEMA_VERSION");
    expect(e.state).toBe("behind");
    expect(e.message).toContain(`is behind this package`);
    expect(e.message).toContain(MIGRATIONS[0]!.tag);
    expect(e.message).toContain(`npx rf-db migrate --url ${server.url}`);
    expect(e.message).toContain("{ migrate: true }");
    // check only: not even the bookkeeping table was created
    expect(await tables(server.url)).toEqual([]);
    // the same via RF_DB_URL
    const viaEnv = await rejection(
      (async () => {
        const saved = process.env.RF_DB_URL;
        process.env.RF_DB_URL = server.url;
        try {
          return await RFDatabase.open();
        } finally {
          if (saved === undefined) delete process.env.RF_DB_URL;
          else process.env.RF_DB_URL = saved;
        }
      })(),
    );
    expect(viaEnv).toBeInstanceOf(SchemaVersionError);
    // migrate: false skips the check entirely (the caller's responsibility)
    const unchecked = await open({ url: server.url, migrate: false });
    expect(unchecked.kind).toBe("remote");
  });

  it("a behind remote database (older migrations recorded only): SchemaVersionError 'behind' listing what is pending", async () => {
    const server = await sqld(false);
    const c = createClient({ url: server.url });
    try {
      await c.execute(
        "CREATE TABLE __drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)",
      );
      await c.execute({
        sql: "INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)",
        args: ["older-migration", MIGRATIONS[0]!.when - 86_400_000],
      });
    } finally {
      c.close();
    }
    const err = await rejection(RFDatabase.open({ url: server.url }));
    expect(err).toBeInstanceOf(SchemaVersionError);
    expect((err as SchemaVersionError).state).toBe("behind");
    expect((err as Error).message).toMatch(
      new RegExp(`${MIGRATIONS.length} pending migration\\(s\\): ${MIGRATIONS.map((m) => m.tag).join(", ")}`),
    );
    expect((err as Error).message).toContain("rf-db migrate");
    // and migrating brings it up to date
    const db = await open({ url: server.url, migrate: true });
    expect((await db.schemaState()).state).toBe("current");
  });

  it("a remote database with a newer migration recorded: SchemaVersionError 'ahead' (open, migrate: true, and rf-db migrate)", async () => {
    const server = await sqld(false);
    await (await open({ url: server.url, migrate: true })).close();
    const newer = LATEST.when + 86_400_000;
    const c = createClient({ url: server.url });
    try {
      await c.execute({
        sql: "INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)",
        args: ["from-a-newer-release", newer],
      });
    } finally {
      c.close();
    }
    for (const migrate of ["auto", true] as const) {
      const err = await rejection(RFDatabase.open({ url: server.url, migrate }));
      expect(err, `migrate: ${migrate}`).toBeInstanceOf(SchemaVersionError);
      const e = err as SchemaVersionError;
      expect(e.state).toBe("ahead");
      expect(e.message).toContain("newer than this version of rf-inferno-db");
      expect(e.message).toContain(String(newer));
      expect(e.message).toContain(LATEST.tag);
      expect(e.message).toContain("upgrade rf-inferno-db");
    }
    if (existsSync(CLI)) {
      const r = await rfDb(["migrate", "--url", server.url]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^rf-db: .*newer than this version of rf-inferno-db.*upgrade rf-inferno-db/);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
    // nothing was changed by the refusals
    expect((await bookkeeping(server.url)).at(-1)).toEqual({ hash: "from-a-newer-release", createdAt: newer });
  });
});
