/**
 * The CLI's machine-facing outputs, run as child processes as a user or a
 * deploy script runs them:
 *
 * - `rf-db status --json`: the output parses, and its shape is checked both
 *   ways against the table in README.md ("Machine-readable status") — every
 *   field printed is documented with its type, every documented field is
 *   printed — on a temp file and on a real sqld; values match the database;
 *   `--watch` prints one more document when the experiment changes.
 * - `rf-db migrate --status` / `--dry-run`: list exactly the applied and
 *   pending migrations, and write nothing — the file stays byte-identical (a
 *   missing one is not created), sqld's schema and migration records stay the
 *   same — and `rf-db migrate` then applies exactly what the dry run listed.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATIONS, RFDatabase } from "../src/index";
import { loadStatusDocument, type StatusDocument } from "../src/cli/status-json";
import { applyMigrations } from "../src/migrate";
import { BACKENDS } from "./support/backends";
import { ROOT, runCli, startCli, until } from "./support/cli";
import { startProxy } from "./support/proxy";
import { startSqld, type SqldServer } from "./support/sqld";

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "rf-db-cli-json-"));
  roots.push(dir);
  return dir;
}
const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

// ---------------------------------------------------------------------------------------------
// The documented shape, read from README.md

/** Documented path (`a.b`, `a[].b`, `tasks.*`) → the JSON types it may have. */
function documentedShape(): Map<string, Set<string>> {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf("### Machine-readable status");
  expect(start, "README has a 'Machine-readable status' section").toBeGreaterThan(0);
  const section = readme.slice(start, readme.indexOf("\n#", start + 10));
  const shape = new Map<string, Set<string>>();
  for (const line of section.split("\n")) {
    const m = /^\| `([^`]+)` +\| ([a-z \\|]+?) +\|/.exec(line);
    if (!m) continue;
    shape.set(m[1]!, new Set(m[2]!.split(/\s*\\\|\s*/)));
  }
  return shape;
}

const typeOf = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

/**
 * Every problem of `doc` against `shape`: a field not documented, a type not
 * documented for it, a documented field missing where its parent is present.
 */
function shapeProblems(doc: unknown, shape: Map<string, Set<string>>): string[] {
  const problems: string[] = [];
  // The fields of an object at `prefix` ("" for the document, "pipelines[]" for an array's items).
  const visitObject = (obj: Record<string, unknown>, prefix: string) => {
    const at = (k: string) => (prefix ? `${prefix}.${k}` : k);
    for (const [k, v] of Object.entries(obj)) visit(v, at(k));
    // Every documented field of a present object must be there.
    for (const p of shape.keys()) {
      const rest = prefix ? (p.startsWith(`${prefix}.`) ? p.slice(prefix.length + 1) : null) : p;
      if (rest !== null && rest !== "*" && !/[.[]/.test(rest) && !(rest in obj))
        problems.push(`${p}: documented, missing`);
    }
  };
  const visit = (value: unknown, path: string) => {
    const types = shape.get(path);
    if (!types) {
      problems.push(`${path}: not documented`);
      return;
    }
    const t = typeOf(value);
    if (!types.has(t)) problems.push(`${path}: ${t}, documented as ${[...types].join(" | ")}`);
    if (t === "array")
      for (const item of value as unknown[]) {
        if (typeOf(item) === "object") visitObject(item as Record<string, unknown>, `${path}[]`);
        else visit(item, `${path}[]`);
      }
    if (t === "object") {
      // A map (`tasks.*`): any key, each value as documented.
      if (shape.has(`${path}.*`)) for (const v of Object.values(value as object)) visit(v, `${path}.*`);
      else visitObject(value as Record<string, unknown>, path);
    }
  };
  visitObject(doc as Record<string, unknown>, "");
  return problems;
}

/** Parses `rf-db status --json` output: exactly one line, one JSON document, its shape as documented. */
function parseStatus(stdout: string): StatusDocument {
  const lines = stdout.split("\n").filter((l) => l !== "");
  expect(lines).toHaveLength(1);
  const doc = JSON.parse(lines[0]!);
  expect(shapeProblems(doc, documentedShape())).toEqual([]);
  return doc;
}

describe("the documented status shape", () => {
  it("is read from the README and catches an undocumented field, a wrong type and a missing field", () => {
    const shape = documentedShape();
    expect(shape.size).toBeGreaterThan(40);
    expect(shape.get("cursor")).toEqual(new Set(["number", "null"]));
    expect(shape.get("pipelines[].id")).toEqual(new Set(["number"]));
    const doc = {
      schema: "rf-inferno-db/status@1",
      database: "file:x",
      generatedAt: "2020-01-01T00:00:00.000Z",
      cursor: 1,
      experiment: null,
      progress: null,
      pipelines: [],
      tasks: {},
      runningTasks: [],
      pendingOperations: [],
      expiredLeases: { tasks: 0, icOperations: 0 },
      recentExperiments: [],
    };
    expect(shapeProblems(doc, shape)).toEqual([]);
    expect(shapeProblems({ ...doc, extra: 1 }, shape)).toEqual(["extra: not documented"]);
    expect(shapeProblems({ ...doc, cursor: "1" }, shape)).toEqual(["cursor: string, documented as number | null"]);
    expect(shapeProblems({ ...doc, expiredLeases: { tasks: 0 } }, shape)).toEqual([
      "expiredLeases.icOperations: documented, missing",
    ]);
    expect(shapeProblems({ ...doc, pipelines: [{ id: 1 }] }, shape)).toContain(
      "pipelines[].status: documented, missing",
    );
  });
});

// ---------------------------------------------------------------------------------------------
// rf-db status --json

/**
 * A running experiment with every list non-empty: two pipelines (one a clone), three tasks (one
 * completed, one in progress, one scheduled), a controller heartbeat and a pending stop.
 */
async function populate(db: RFDatabase) {
  const id = await db.experiments.create({ experimentName: "json-run", numActors: 2, numShards: 2 });
  await db.experiments.heartbeat(id, { owner: "controller-1", leaseMs: 60_000 });
  const p1 = await db.pipelines.create({
    experimentId: id,
    pipelineName: "p1",
    pipelineType: "vllm",
    modelConfig: { model: "m" },
    samplingParams: {},
  });
  const p2 = await db.pipelines.create({
    experimentId: id,
    pipelineName: "p2",
    pipelineType: "vllm",
    modelConfig: { model: "m" },
    samplingParams: {},
    parentPipelineId: p1,
  });
  for (const [pipelineId, shardId] of [
    [p1, 0],
    [p1, 1],
    [p2, 0],
  ] as const)
    await db.actorTasks.create({ experimentId: id, pipelineId, actorId: 1, shardId });
  const first = await db.actorTasks.claimNext(id, 1, { leaseMs: 60_000 });
  await db.actorTasks.completeWithProgress(first!.taskId, { samples: 10 }, { actorId: 1 });
  await db.actorTasks.claimNext(id, 1, { leaseMs: 60_000 });
  const stop = await db.icOperations.create({ operation: "stop", pipelineId: p2 });
  return { id, p1, p2, stop, head: await db.changes.head() };
}

/** The values `populate` wrote, as the document must show them. */
function expectPopulated(doc: StatusDocument, made: Awaited<ReturnType<typeof populate>>) {
  expect(doc.schema).toBe("rf-inferno-db/status@1");
  expect(doc.cursor).toBe(made.head);
  expect(doc.experiment).toMatchObject({ id: made.id, name: "json-run", status: "running", numShards: 2 });
  expect(doc.experiment?.controller).toMatchObject({ owner: "controller-1", stale: false });
  expect(doc.progress).toEqual({ shardsCompleted: 1, shardsTotal: 4 });
  expect(doc.pipelines.map((p) => [p.id, p.name, p.parentPipelineId])).toEqual([
    [made.p1, "p1", null],
    [made.p2, "p2", made.p1],
  ]);
  expect(doc.tasks).toEqual({ scheduled: 1, in_progress: 1, completed: 1, failed: 0 });
  expect(doc.runningTasks).toHaveLength(1);
  expect(doc.runningTasks[0]).toMatchObject({ actorId: 1, leaseOwner: 1, attempts: 1 });
  expect(doc.pendingOperations).toEqual([
    expect.objectContaining({ id: made.stop, operation: "stop", pipelineId: made.p2 }),
  ]);
  expect(doc.recentExperiments).toEqual([expect.objectContaining({ id: made.id, status: "running" })]);
  expect(Number.isNaN(Date.parse(doc.generatedAt))).toBe(false);
}

describe.runIf(BACKENDS.includes("file"))("rf-db status --json on a file", () => {
  it("a populated database: the documented shape and the database's values", async () => {
    const dir = tempDir();
    const db = await RFDatabase.open({ url: `file:${join(dir, "rapidfire.db")}` });
    const made = await populate(db);
    await db.close();
    const r = await runCli(["status", "--json"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expectPopulated(parseStatus(r.stdout), made);
  });

  it("no database file, an empty database, a missing experiment", async () => {
    const missing = tempDir();
    const empty = tempDir();
    const db = await RFDatabase.open({ url: `file:${join(empty, "rapidfire.db")}` });
    await db.close();
    const [none, zero, absent] = await Promise.all([
      runCli(["status", "--json"], missing),
      runCli(["status", "--json"], empty),
      runCli(["status", "--json", "-e", "7"], empty),
    ]);
    expect(none.code, none.stderr).toBe(0);
    expect(parseStatus(none.stdout)).toMatchObject({ experiment: null, cursor: null, pipelines: [] });
    expect(readdirSync(missing)).toEqual([]); // not created
    expect(zero.code, zero.stderr).toBe(0);
    expect(parseStatus(zero.stdout)).toMatchObject({ experiment: null, cursor: 0, recentExperiments: [] });
    expect(absent.code).toBe(1);
    expect(absent.stdout).toBe("");
    expect(absent.stderr).toMatch(/^rf-db: experiment 7 not found[^\n]*\n$/);
  });

  it("--watch: one document per line, a new one when the experiment changes, until it stops running", async () => {
    const dir = tempDir();
    const db = await RFDatabase.open({ url: `file:${join(dir, "rapidfire.db")}` });
    try {
      const made = await populate(db);
      const cli = startCli(["status", "--json", "--watch", "--interval", "100"], dir);
      await until("the first document", () => cli.stdout().includes("\n"), 30_000);
      await db.experiments.setStatus(made.id, "completed");
      const r = await cli.done;
      expect(r.code, r.stderr).toBe(0);
      const docs = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as StatusDocument);
      expect(docs.length).toBeGreaterThanOrEqual(2);
      for (const d of docs) expect(shapeProblems(d, documentedShape())).toEqual([]);
      expect(docs[0]!.experiment?.status).toBe("running");
      expect(docs.at(-1)!.experiment?.status).toBe("completed");
      expect(docs.at(-1)!.cursor).toBeGreaterThan(docs[0]!.cursor!);
    } finally {
      await db.close();
    }
  });
});

describe.runIf(BACKENDS.includes("sqld"))("rf-db status --json and migrate --status/--dry-run on sqld", () => {
  let server: SqldServer;
  beforeAll(async () => {
    server = await startSqld();
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** What a write would change: the schema and the migration records. */
  async function schemaOf(db: RFDatabase) {
    const rs = await db.client.execute(
      "SELECT type, name, sql FROM sqlite_master UNION ALL SELECT 'record', hash, created_at FROM __drizzle_migrations ORDER BY 1, 2",
    );
    return rs.rows.map((r) => rs.columns.map((_, i) => r[i]));
  }

  it("migrate --status / --dry-run list the pending migrations and change nothing; migrate applies exactly those", async () => {
    const dir = tempDir();
    const keep = MIGRATIONS.length - 3;
    const db = await RFDatabase.open({ url: server.url, migrate: false });
    try {
      await applyMigrations(db.client, { migrations: MIGRATIONS.slice(0, keep) });
      const before = await schemaOf(db);
      const status = await runCli(["migrate", "--status", "--url", server.url], dir);
      const dry = await runCli(["migrate", "--dry-run", "--url", server.url], dir);
      expect(await schemaOf(db)).toEqual(before);
      expect((await db.schemaState()).state).toBe("behind");
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toContain(`${server.url}: behind`);
      expectListed(status.stdout, keep);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dryRunTags(dry.stdout)).toEqual(MIGRATIONS.slice(keep).map((m) => m.tag));
      const real = await runCli(["migrate", "--url", server.url], dir);
      expect(real.code, real.stderr).toBe(0);
      expect(appliedTags(real.stdout)).toEqual(dryRunTags(dry.stdout));
      expect((await db.schemaState()).state).toBe("current");
    } finally {
      await db.close();
    }
  });

  it("status --json: the documented shape and the database's values", async () => {
    const db = await RFDatabase.open({ url: server.url, migrate: true });
    try {
      const made = await populate(db);
      const r = await runCli(["status", "--json", "--url", server.url], tempDir());
      expect(r.code, r.stderr).toBe(0);
      const doc = parseStatus(r.stdout);
      expect(doc.database).toBe(server.url);
      expectPopulated(doc, made);

      // Its reads are issued together: one HTTP request per document (counted by a proxy).
      const proxy = await startProxy({ target: server.url });
      const viaProxy = await RFDatabase.open({ url: proxy.url });
      try {
        await loadStatusDocument(viaProxy, made.id); // warm: the statements' first use
        proxy.reset();
        expectPopulated(await loadStatusDocument(viaProxy, made.id), made);
        expect(proxy.requests).toBe(1);
      } finally {
        await viaProxy.close();
        await proxy.stop();
      }
    } finally {
      await db.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// rf-db migrate --status / --dry-run on a file

/** A file with the given migrations applied and recorded as the migrator records them (raw connection, closed). */
function rawDatabase(path: string, migrations = MIGRATIONS): void {
  const raw = new Database(path);
  raw.exec("PRAGMA journal_mode = WAL");
  raw.exec("CREATE TABLE __drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)");
  for (const m of migrations) {
    for (const statement of m.statements) raw.exec(statement);
    raw.exec(`INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('${m.hash}', ${m.when})`);
  }
  raw.close();
}

/** `--status`: `applied  <tag>` for the first `applied` migrations, `pending  <tag>` for the rest, in order. */
function expectListed(stdout: string, applied: number) {
  const rows = stdout
    .split("\n")
    .map((l) => /^ {2}(applied|pending) {2}(\S+)$/.exec(l))
    .filter((m) => m !== null)
    .map((m) => `${m[1]} ${m[2]}`);
  expect(rows).toEqual(MIGRATIONS.map((m, i) => `${i < applied ? "applied" : "pending"} ${m.tag}`));
  expect(stdout).toContain(`${applied} applied, ${MIGRATIONS.length - applied} pending`);
}
const dryRunTags = (stdout: string) => [...stdout.matchAll(/^ {2}(\d{4}_\w+) \(\d+ statements?\)$/gm)].map((m) => m[1]);
const appliedTags = (stdout: string) => [...stdout.matchAll(/^ {2}applied (\S+)$/gm)].map((m) => m[1]);

describe.runIf(BACKENDS.includes("file"))("rf-db migrate --status / --dry-run on a file", () => {
  it("a database behind: lists applied and pending, prints the pending SQL, leaves the file byte-identical", async () => {
    const dir = tempDir();
    const path = join(dir, "rapidfire.db");
    const keep = MIGRATIONS.length - 3;
    rawDatabase(path, MIGRATIONS.slice(0, keep));
    const before = sha(path);
    const [status, dry] = await Promise.all([
      runCli(["migrate", "--status"], dir),
      runCli(["migrate", "--dry-run"], dir),
    ]);
    expect(sha(path)).toBe(before);
    // A WAL reader leaves SQLite's -shm index and an empty -wal (see cli-status-readonly.test.ts).
    if (existsSync(`${path}-wal`)) expect(statSync(`${path}-wal`).size).toBe(0);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/: behind — `rf-db migrate` applies the pending ones/);
    expectListed(status.stdout, keep);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain("(nothing written)");
    const pending = MIGRATIONS.slice(keep);
    expect(dryRunTags(dry.stdout)).toEqual(pending.map((m) => m.tag));
    // Each pending migration's SQL is printed (indented), the applied ones' are not.
    expect(dry.stdout).toContain(pending[0]!.statements[0]!.split("\n")[0]!.trim());
    expect(dry.stdout).not.toContain(MIGRATIONS[0]!.statements[0]!.split("\n")[0]!.trim());

    const real = await runCli(["migrate"], dir);
    expect(real.code, real.stderr).toBe(0);
    expect(appliedTags(real.stdout)).toEqual(dryRunTags(dry.stdout));
    const after = await runCli(["migrate", "--status"], dir);
    expectListed(after.stdout, MIGRATIONS.length);
    expect(after.stdout).toMatch(/: current — up to date/);
  });

  it("no file: every migration pending, and the file is not created; refusals exit 1 like migrate would", async () => {
    const missing = tempDir();
    const ahead = tempDir();
    rawDatabase(join(ahead, "rapidfire.db"));
    const raw = new Database(join(ahead, "rapidfire.db"));
    raw.exec(`INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('newer', ${MIGRATIONS.at(-1)!.when + 1})`);
    raw.close();
    const before = sha(join(ahead, "rapidfire.db"));
    const [status, dry, aheadStatus, aheadDry, both] = await Promise.all([
      runCli(["migrate", "--status"], missing),
      runCli(["migrate", "--dry-run"], missing),
      runCli(["migrate", "--status"], ahead),
      runCli(["migrate", "--dry-run"], ahead),
      runCli(["migrate", "--status", "--dry-run"], missing),
    ]);
    expect(readdirSync(missing)).toEqual([]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain("does not exist yet");
    expectListed(status.stdout, 0);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dryRunTags(dry.stdout)).toEqual(MIGRATIONS.map((m) => m.tag));

    expect(sha(join(ahead, "rapidfire.db"))).toBe(before);
    expect(aheadStatus.code, aheadStatus.stderr).toBe(0);
    expect(aheadStatus.stdout).toMatch(/: ahead — .*refuses/);
    expect(aheadDry.code).toBe(1);
    expect(aheadDry.stderr).toMatch(/^rf-db: rf-db migrate would refuse [^\n]*newer rf-inferno-db[^\n]*\n$/);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/cannot be used with/);
  });
});
