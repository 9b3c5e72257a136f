/**
 * The measured costs behind three choices of the local driver
 * (src/driver/local/), recorded in BENCHMARKS.md ("Local driver") instead of
 * in code comments, where figures go stale:
 *
 * - rows: a generated row class (one store per column) vs the generic one;
 * - integers: reading without `safeIntegers` vs with (a BigInt per integer,
 *   converted back to a number), rows built as the client builds them;
 * - one row: `stmt.get()` vs `stmt.all()` for a statement proven to return at most one row.
 *
 *   npx tsx bench/driver-costs.ts [--ms=500] [--rounds=5]
 *
 * Synchronous tight loops on one WAL file, contenders interleaved per
 * round, best round reported (the machine is shared: compare the ratios).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { compileRowClass, genericRowClass, wrapRows } from "../src/driver/local/rows";

const arg = (name: string, dflt: number) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split("=")[1]) : dflt;
};
const MS = arg("ms", 500);
const ROUNDS = arg("rounds", 5);
const SEED = 10_000;

const dir = mkdtempSync(join(tmpdir(), "driver-costs-"));
const db = new Database(join(dir, "db.sqlite"));
db.exec("PRAGMA journal_mode = WAL");
db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL, price REAL, note TEXT)");
const ins = db.prepare("INSERT INTO items (name, qty, price, note) VALUES (?, ?, ?, ?)");
db.exec("BEGIN");
for (let i = 0; i < SEED; i++) ins.run([`item ${i}`, i, i * 0.25, i % 3 ? null : "note"]);
db.exec("COMMIT");

const BY_ID = "SELECT id, name, qty, price, note FROM items WHERE id = ?";
const RANGE = "SELECT id, name, qty, price, note FROM items WHERE id > ? LIMIT 100";
const stmt = (sql: string, safe: boolean) => db.prepare(sql).raw(true).safeIntegers(safe);
const byIdFast = stmt(BY_ID, false);
const byIdSafe = stmt(BY_ID, true);
const rangeFast = stmt(RANGE, false);
const rangeSafe = stmt(RANGE, true);
const byIdAll = stmt(BY_ID, false);

const COLUMNS = ["id", "name", "qty", "price", "note"];
const Generic = genericRowClass(COLUMNS);
const Compiled = compileRowClass(COLUMNS)!;
const raw = [1, "item 1", 1, 0.25, null];

const rows = (raw: unknown, fast: boolean) => wrapRows(Compiled, 5, [raw as unknown[]], fast, "number");

let k = 0;
const id = () => 1 + ((k = (k * 1103515245 + 12345) & 0x7fffffff) % (SEED - 100));
let sink: unknown;

const cases: Record<string, Array<[string, () => void]>> = {
  "row class (5 columns), per row": [
    ["generic class", () => (sink = new Generic(raw))],
    ["generated class", () => (sink = new Compiled(raw))],
  ],
  "by-id SELECT, get() + rows": [
    ["without safeIntegers", () => (sink = rows(byIdFast.get([id()]), true))],
    ["with safeIntegers", () => (sink = rows(byIdSafe.get([id()]), false))],
  ],
  "100-row SELECT, all() + rows": [
    [
      "without safeIntegers",
      () => (sink = wrapRows(Compiled, 5, rangeFast.all([id()]) as unknown[][], true, "number")),
    ],
    ["with safeIntegers", () => (sink = wrapRows(Compiled, 5, rangeSafe.all([id()]) as unknown[][], false, "number"))],
  ],
  "by-id SELECT, one row": [
    ["all()", () => (sink = byIdAll.all([id()]))],
    ["get()", () => (sink = byIdFast.get([id()]))],
  ],
};

function nsPerCall(fn: () => void): number {
  for (let i = 0; i < 5000; i++) fn();
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < MS) {
    for (let j = 0; j < 1000; j++) fn();
    n += 1000;
    t = performance.now();
  }
  return ((t - t0) * 1e6) / n;
}

console.log(`driver design costs: best of ${ROUNDS} rounds of ${MS} ms, node ${process.version}`);
for (const [title, pair] of Object.entries(cases)) {
  const best = pair.map(() => Number.POSITIVE_INFINITY);
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < pair.length; i++) best[i] = Math.min(best[i]!, nsPerCall(pair[i]![1]));
  }
  const [a, b] = best as [number, number];
  console.log(
    `${title.padEnd(34)} ${pair[0]![0]} ${a.toFixed(0)} ns, ${pair[1]![0]} ${b.toFixed(0)} ns: ${(a / b).toFixed(2)}x`,
  );
}
void sink;
db.close();
rmSync(dir, { recursive: true, force: true });
