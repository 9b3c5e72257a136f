/**
 * Microbenchmark for the local client (src/driver/local/): how close the local client
 * gets to raw `libsql` with cached prepared statements, and how far ahead of
 * `@libsql/client`'s sqlite3 client (which re-prepares every call) it is.
 *
 *   npx tsx bench/local-client-micro.ts [--ms=1000] [--rounds=3]
 *
 * Every contender gets its own WAL database file (same schema and seed,
 * synchronous=NORMAL), in one process, sequentially; calls to the async
 * clients are awaited one by one (what a request handler does). The best
 * of `rounds` runs is reported.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { createClient, type Client } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import { integer, real, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { eq } from "drizzle-orm";
import { openLocalClient } from "../src/driver/local";

const arg = (name: string, dflt: number) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split("=")[1]) : dflt;
};
const MS = arg("ms", 1000);
const ROUNDS = arg("rounds", 3);
const SEED = 10_000;

const SCHEMA =
  "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL, price REAL, note TEXT)";
const SELECT = "SELECT id, name, qty, price, note FROM items WHERE id = ?";
const UPDATE = "UPDATE items SET qty = qty + 1 WHERE id = ?";
const INSERT = "INSERT INTO items (name, qty, price, note) VALUES (?, ?, ?, ?) RETURNING id";

const items = sqliteTable("items", {
  id: integer("id").primaryKey(),
  name: text("name").notNull(),
  qty: integer("qty").notNull(),
  price: real("price"),
  note: text("note"),
});

const dir = mkdtempSync(join(tmpdir(), "local-client-bench-"));
let files = 0;
function seededFile(): string {
  const path = join(dir, `db${files++}.sqlite`);
  const db = new Database(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(SCHEMA);
  const ins = db.prepare("INSERT INTO items (name, qty, price, note) VALUES (?, ?, ?, ?)");
  db.exec("BEGIN");
  for (let i = 0; i < SEED; i++) ins.run([`item ${i}`, i, i * 0.25, i % 3 ? null : "note"]);
  db.exec("COMMIT");
  db.close();
  return path;
}

let rnd = 12345;
const nextId = () => {
  rnd = (rnd * 1103515245 + 12345) & 0x7fffffff;
  return 1 + (rnd % SEED);
};

/** Calls/s of `fn` over MS ms, awaited one call at a time, after a warm-up. */
async function measureOnce(fn: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < 2000; i++) await fn(i); // warm-up (JIT, caches)
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < MS) {
    for (let j = 0; j < 200; j++) await fn(n++);
    t = performance.now();
  }
  return n / ((t - t0) / 1000);
}

type Op = "select" | "update" | "insert…returning" | "drizzle select";
const OPS: Op[] = ["select", "update", "insert…returning", "drizzle select"];
type Contender = { who: string; ops: Partial<Record<Op, (i: number) => unknown>>; close(): void };

function rawContender(): Contender {
  const db = new Database(seededFile());
  db.exec("PRAGMA synchronous = NORMAL");
  const sel = db.prepare(SELECT);
  const upd = db.prepare(UPDATE);
  const ins = db.prepare(INSERT);
  const a1: unknown[] = [0];
  return {
    who: "raw libsql get()/run()",
    ops: {
      select: () => ((a1[0] = nextId()), sel.get(a1)),
      update: () => ((a1[0] = nextId()), upd.run(a1)),
      "insert…returning": (i) => ins.get([`new ${i}`, i, 1.5, null]),
    },
    close: () => db.close(),
  };
}

/** Raw all(): what any driver must call when it cannot know a SELECT returns one row. */
function rawAllContender(): Contender {
  const db = new Database(seededFile());
  db.exec("PRAGMA synchronous = NORMAL");
  const sel = db.prepare(SELECT).raw(true);
  const a1: unknown[] = [0];
  return { who: "raw libsql all()", ops: { select: () => ((a1[0] = nextId()), sel.all(a1)) }, close: () => db.close() };
}

async function clientContender(who: string, client: Client): Promise<Contender> {
  await client.execute("PRAGMA synchronous = NORMAL");
  const db = drizzle(client);
  return {
    who,
    ops: {
      select: () => client.execute({ sql: SELECT, args: [nextId()] }),
      update: () => client.execute({ sql: UPDATE, args: [nextId()] }),
      "insert…returning": (i) => client.execute({ sql: INSERT, args: [`new ${i}`, i, 1.5, null] }),
      "drizzle select": () => db.select().from(items).where(eq(items.id, nextId())).get(),
    },
    close: () => client.close(),
  };
}

async function main(): Promise<void> {
  console.error(
    `local-client microbenchmark: ${MS} ms per cell, best of ${ROUNDS} interleaved rounds, node ${process.version}`,
  );
  const contenders = [
    rawContender(),
    rawAllContender(),
    await clientContender("@libsql/client file:", createClient({ url: `file:${seededFile()}`, intMode: "number" })),
    await clientContender("local-client", openLocalClient({ path: seededFile() })),
  ];
  const best = new Map<string, Partial<Record<Op, number>>>();
  // Rounds are interleaved so that drift (thermal, page cache, GC) hits everyone alike.
  for (let r = 0; r < ROUNDS; r++) {
    for (const op of OPS) {
      for (const c of contenders) {
        const fn = c.ops[op];
        if (!fn) continue;
        const v = await measureOnce(fn);
        const b = best.get(c.who) ?? {};
        b[op] = Math.max(b[op] ?? 0, v);
        best.set(c.who, b);
        console.error(
          `  round ${r + 1}  ${c.who.padEnd(24)} ${op.padEnd(18)} ${Math.round(v).toLocaleString("en-US").padStart(9)} calls/s`,
        );
      }
    }
  }
  for (const c of contenders) c.close();

  const fmt = (v: number | undefined) => (v === undefined ? "-" : Math.round(v).toLocaleString("en-US"));
  console.log("\ncalls/s (higher is better)");
  console.log("".padEnd(26) + OPS.map((o) => o.padStart(18)).join(""));
  for (const [who, r] of best) console.log(who.padEnd(26) + OPS.map((o) => fmt(r[o]).padStart(18)).join(""));
  const raw = best.get("raw libsql get()/run()")!;
  const rawAll = best.get("raw libsql all()")!;
  const lib = best.get("@libsql/client file:")!;
  const ours = best.get("local-client")!;
  const ratio = (a?: number, b?: number) => (a && b ? `${(a / b).toFixed(2)}x` : "-");
  console.log("\nratios");
  console.log(`local-client / raw get()/run() ${OPS.map((o) => ratio(ours[o], raw[o]).padStart(18)).join("")}`);
  console.log(`local-client / raw all()       ${ratio(ours.select, rawAll.select).padStart(18)}`);
  console.log(`local-client / @libsql/client  ${OPS.map((o) => ratio(ours[o], lib[o]).padStart(18)).join("")}`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
