/**
 * Scenario 5 — many processes migrate the same new database at once.
 *
 * 6 processes on one NEW file and 3 on one new sqld database, released by one
 * go file so they start together; half run `open({ migrate: true })`, half
 * `open({ migrate: false })` + `db.migrate()`. All succeed and can write at
 * once, the schema equals a database migrated alone (same sqlite_master), and
 * every migration is recorded exactly once in `__drizzle_migrations` (and
 * reported as applied by exactly one process). Rounds: small 1 (file) / 1
 * (sqld), heavy 10 / 5.
 */
import { join } from "node:path";
import type { Client } from "@libsql/client";
import { afterAll, describe, expect, it } from "vitest";
import { MIGRATIONS, RFDatabase } from "../../src/index";
import { startSqld, type SqldServer } from "../support/sqld";
import { cleanupAll, releaseBarrier, report, resultOf, size, startWorker, tempDir } from "./support";

const FILE_ROUNDS = size(1, 10);
const SQLD_ROUNDS = size(1, 5);

const servers: SqldServer[] = [];
afterAll(async () => {
  await cleanupAll();
  for (const s of servers) await s.stop();
});

async function schemaOf(client: Client): Promise<string[]> {
  const rs = await client.execute(
    "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_litestream%' AND name NOT LIKE 'libsql_%' ORDER BY type, name",
  );
  return rs.rows.map((r) => `${r[0]} ${r[1]} on ${r[2]}: ${r[3]}`);
}

let reference: string[] | undefined;
async function referenceSchema(): Promise<string[]> {
  if (!reference) {
    const db = await RFDatabase.open({ url: ":memory:" });
    reference = await schemaOf(db.client);
    await db.close();
  }
  return reference;
}

async function race(backend: "file" | "sqld", url: string, processes: number) {
  const goFile = join(tempDir(), "go");
  const workers = Array.from({ length: processes }, (_, i) =>
    startWorker("migrate", { url, goFile, how: i % 2 ? "migrate" : "open" }),
  );
  await Promise.all(workers.map((w) => w.waitFor((m) => m.type === "ready", 60_000)));
  releaseBarrier(goFile);
  const results = await Promise.all(workers.map((w) => resultOf(w, 60_000)));

  const failures = results.filter((r) => !r.ok);
  const db = await RFDatabase.open({ url, migrate: false });
  try {
    const schema = await schemaOf(db.client);
    const rows = (
      await db.client.execute("SELECT hash, created_at FROM __drizzle_migrations ORDER BY created_at")
    ).rows.map((r) => ({
      hash: String(r[0]),
      createdAt: Number(r[1]),
    }));
    const appliedBy = new Map<string, number>();
    for (const r of results)
      for (const tag of (r.applied as string[] | null) ?? []) appliedBy.set(tag, (appliedBy.get(tag) ?? 0) + 1);
    const migrators = results.filter((r) => r.how === "migrate").length;
    report("concurrent-migrate", {
      backend,
      processes,
      failures: failures.length,
      migrationsRecorded: rows.length,
      migrationsExpected: MIGRATIONS.length,
      appliedBy: Object.fromEntries(appliedBy),
      slowestMs: Math.max(...results.map((r) => r.ms as number)),
    });
    expect(failures, JSON.stringify(failures)).toEqual([]);
    expect((await Promise.all(workers.map((w) => w.exited))).map((e) => e.code)).toEqual(workers.map(() => 0));
    expect(results.every((r) => r.state === "current")).toBe(true);
    expect(schema).toEqual(await referenceSchema());
    expect(rows.map((r) => r.hash)).toEqual(MIGRATIONS.map((m) => m.hash));
    expect(rows.map((r) => r.createdAt)).toEqual(MIGRATIONS.map((m) => m.when));
    // With `db.migrate()` racers, each migration was applied by at most one of them (and by
    // exactly one unless an `open({ migrate: true })` racer won it).
    for (const m of MIGRATIONS) expect(appliedBy.get(m.tag) ?? 0).toBeLessThanOrEqual(1);
    expect(migrators).toBeGreaterThan(0);
    expect((await db.schemaState()).state).toBe("current");
    // Every process's write landed.
    const made = (
      await db.client.execute("SELECT count(*) FROM experiments WHERE experiment_name LIKE 'migrated-by-%'")
    ).rows[0]![0];
    expect(Number(made)).toBe(processes);
  } finally {
    await db.close();
  }
}

describe("concurrent migrate", () => {
  it(
    `6 processes on one new file, ${FILE_ROUNDS} round(s)`,
    async () => {
      for (let round = 0; round < FILE_ROUNDS; round++) {
        await race("file", `file:${join(tempDir(), `new-${round}.db`)}`, 6);
      }
    },
    size(60_000, 300_000),
  );

  it(
    `3 processes on one new sqld database, ${SQLD_ROUNDS} round(s)`,
    async () => {
      for (let round = 0; round < SQLD_ROUNDS; round++) {
        const server = await startSqld();
        servers.push(server);
        try {
          await race("sqld", server.url, 3);
        } finally {
          await server.stop();
        }
      }
    },
    size(60_000, 300_000),
  );
});
