/**
 * Scenario 7 — random and hostile arguments to every public method.
 *
 * fast-check generates sequences of calls to all five repositories plus
 * `resetAllTables`, `resetExperimentStates` and `transaction`, each argument
 * either plausible (ids of existing rows, valid statuses, JSON values, dates)
 * or hostile: wrong types, NaN, ±Infinity, -0, negative/fractional/huge
 * numbers, BigInt, ~1 MB strings, unknown statuses, non-JSON values
 * (undefined, functions, symbols, cycles, Dates, Maps, class instances, array
 * holes, lone surrogates), strings with quotes/SQL/NUL, ids that do not exist.
 * For every call:
 *  - it succeeds and what it wrote reads back exactly (JSON deep-equal after a
 *    JSON round trip, Date equality for times), only the rows it should
 *    touch changed, and what it read matches a raw dump; or
 *  - it throws a ValidationError, NotFoundError or InvalidTransitionError
 *    (never a TypeError/RangeError/LibsqlError/bare RFDatabaseError) and the
 *    database is unchanged (every table dumped with `SELECT * … ORDER BY 1`
 *    before and after, `__drizzle_migrations` and `sqlite_sequence` included).
 * Runs on :memory: and a temp file. Runs: small 100, heavy 2000 per backend
 * (RF_FUZZ_RUNS overrides; RF_FUZZ_SEED replays; fast-check prints seed and
 * path on failure).
 */
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ACTOR_TASK_STATUSES,
  CONTEXT_STATUSES,
  EXPERIMENT_STATUSES,
  IC_OPERATIONS,
  IC_STATUSES,
  InvalidTransitionError,
  NotFoundError,
  PIPELINE_STATUSES,
  RFDatabase,
  RFDatabaseError,
  ValidationError,
  type Repositories,
} from "../../src/index";
import { cleanupAll, dumpAll, HEAVY, report, size, TABLES, tempDir, type Dump } from "./support";

const RUNS = Number(process.env.RF_FUZZ_RUNS ?? size(100, 2000));
const SEED = process.env.RF_FUZZ_SEED === undefined ? undefined : Number(process.env.RF_FUZZ_SEED);

afterAll(cleanupAll);

// ---------------------------------------------------------------------------------------------
// argument descriptions (data, so fast-check can print and shrink them; resolved at call time)

type Table = (typeof TABLES)[number];
type Arg =
  | { v: unknown; hostile?: true }
  | { ref: Table; i: number } // the id of an existing row (i-th, modulo the row count)
  | { big: "ascii" | "unicode" | "sql"; hostile?: true } // a ~1 MB string, built at call time
  | { rec: Record<string, Arg> }; // an input object whose fields are arguments themselves

const BIG = {
  ascii: "x".repeat(1 << 20),
  unicode: "é🚀'\"\\\n".repeat(1 << 17),
  sql: "'); DROP TABLE experiments; --".repeat(35_000),
};

class Custom {
  a = 1;
}
const cyclic: Record<string, unknown> = { a: 1 };
cyclic.self = cyclic;
const holey = [1, , 3]; // eslint-disable-line no-sparse-arrays

const HOSTILE_VALUES: unknown[] = [
  undefined,
  null,
  true,
  false,
  NaN,
  Infinity,
  -Infinity,
  -0,
  -1,
  0.5,
  1.5,
  -2.5,
  2 ** 53,
  2 ** 53 + 2,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  1e21,
  -(2 ** 31),
  2 ** 63,
  10n,
  -1n,
  "",
  " ",
  "0",
  "1",
  "NaN",
  "null",
  "undefined",
  "RUNNING",
  "running ",
  " completed",
  "in-progress",
  "In_Progress",
  "completed\0",
  "a\0b",
  "\0",
  "'; DROP TABLE experiments; --",
  '" OR 1=1 --',
  "Robert'); DELETE FROM pipelines;--",
  "\\x00\\n",
  "\uD800",
  "x\uDFFFy",
  "🚀",
  "2024-01-01T00:00:00Z",
  "2024-13-45",
  "not a date",
  () => 1,
  Symbol("s"),
  cyclic,
  holey,
  new Date(NaN),
  new Date(0),
  new Map([[1, 2]]),
  new Set([1]),
  new Uint8Array([1, 2]),
  Object.create(null) as unknown,
  new Custom(),
  { toJSON: () => 1 },
  [undefined],
  { a: undefined },
  { a: NaN },
  { a: () => 1 },
  { a: 1n },
  { "\uD800": 1 },
  [new Date(0)],
  new Error("boom"),
  Promise.resolve(1),
];

const hostile: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...HOSTILE_VALUES) },
  { weight: 1, arbitrary: fc.anything() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.bigInt() },
  { weight: 1, arbitrary: fc.string({ unit: "binary" }) },
);

const v = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<Arg> => a.map((x) => ({ v: x }));
const bad: fc.Arbitrary<Arg> = fc.oneof(
  { weight: 8, arbitrary: hostile.map((x): Arg => ({ v: x, hostile: true })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Arg>(
      { big: "ascii", hostile: true },
      { big: "unicode", hostile: true },
      { big: "sql", hostile: true },
    ),
  },
);

/** No argument (or field) came from the hostile generator. */
const plausible = (args: (Arg | undefined)[]): boolean =>
  args.every(
    (x) => x === undefined || (!("hostile" in x && x.hostile) && !("rec" in x && !plausible(Object.values(x.rec)))),
  );
const either = (good: fc.Arbitrary<Arg>, goodWeight = 5): fc.Arbitrary<Arg> =>
  fc.oneof({ weight: goodWeight, arbitrary: good }, { weight: 1, arbitrary: bad });

const MISSING_IDS = [0, 987_654_321, 2 ** 53 - 1];
const idOf = (table: Table) =>
  either(
    fc.oneof(
      { weight: 6, arbitrary: fc.nat({ max: 30 }).map((i): Arg => ({ ref: table, i })) },
      { weight: 1, arbitrary: v(fc.constantFrom(...MISSING_IDS)) },
    ),
  );
const count = either(v(fc.oneof(fc.nat({ max: 1000 }), fc.constantFrom(0, 2 ** 52, 2 ** 53 - 1, -0))));
const smallCount = either(v(fc.oneof(fc.nat({ max: 1000 }), fc.constantFrom(0, -0))));
const status = (set: readonly string[]) => either(v(fc.constantFrom(...set)));
const text = either(
  fc.oneof(
    { weight: 4, arbitrary: v(fc.string()) },
    { weight: 2, arbitrary: v(fc.string({ unit: "grapheme" })) },
    {
      weight: 2,
      arbitrary: v(fc.constantFrom("a\0b", "it's", 'say "hi"', "'); DROP TABLE pipelines; --", "🚀\u0301", "\\")),
    },
    { weight: 1, arbitrary: fc.constantFrom<Arg>({ big: "ascii" }, { big: "unicode" }, { big: "sql" }) },
  ),
);
const json = either(
  fc.oneof(
    { weight: 4, arbitrary: v(fc.jsonValue()) },
    {
      weight: 1,
      arbitrary: v(
        fc.constantFrom({ a: -0 }, [-0, 1e308, 5e-324], { __proto__: null, x: 1 }, { "a\0b": "c\0d" }, "str", 0, false),
      ),
    },
  ),
  3,
);
const time = either(
  fc.oneof(
    v(fc.date({ noInvalidDate: true })),
    v(
      fc
        .date({ noInvalidDate: true, min: new Date("1000-01-01"), max: new Date("9999-12-31") })
        .map((d) => d.toISOString()),
    ),
    v(
      fc.constantFrom(
        "2024-01-01",
        "2024-01-01T10:00",
        "2024-01-01 10:00:00",
        "2024-01-01T10:00:00.123456+02:00",
        "2024-02-30",
      ),
    ),
  ),
);
const duration = either(
  v(fc.oneof(fc.double({ min: 0, max: 1e9, noNaN: true }), fc.constantFrom(0, -0, 1e308, 5e-324))),
);
/** A fractional amount (CPUs/GPUs per actor), or null (clears it). */
const amount = either(v(fc.oneof(fc.double({ min: 0, max: 64, noNaN: true }), fc.constantFrom(0, -0, 0.5, null))));
/** A metric run id, often one the seed already gave a pipeline (a duplicate must be refused). */
const runId = either(fc.oneof(text, v(fc.constantFrom("seed-run-0", "seed-run-1", "fuzz-run"))));
/** An optional trailing argument: absent, or given. */
const opt = (a: fc.Arbitrary<Arg>) => fc.option(a, { nil: undefined, freq: 3 });

function record(model: Record<string, fc.Arbitrary<Arg>>, required: string[]): fc.Arbitrary<Arg> {
  const strict = fc
    .record(model, { requiredKeys: required as never[] })
    .map((r): Arg => ({ rec: r as Record<string, Arg> }));
  const loose = fc.record(model, { requiredKeys: [] }).map((r): Arg => ({ rec: r as Record<string, Arg> }));
  return fc.oneof({ weight: 6, arbitrary: strict }, { weight: 1, arbitrary: loose }, { weight: 1, arbitrary: bad });
}

function resolve(arg: Arg | undefined, dump: Dump): unknown {
  if (arg === undefined) return undefined;
  if ("v" in arg) return arg.v;
  if ("big" in arg) return BIG[arg.big];
  if ("ref" in arg) {
    const ids = dump[arg.ref]!.map((r) => Number(Object.values(r)[0]));
    return ids.length ? ids[arg.i % ids.length] : 987_654_321;
  }
  const out: Record<string, unknown> = {};
  for (const [k, a] of Object.entries(arg.rec)) out[k] = resolve(a, dump);
  return out;
}

// ---------------------------------------------------------------------------------------------
// methods

interface Ctx {
  before: Dump;
  after: Dump;
  a: unknown[];
  result: unknown;
  db: Repositories;
  started: number;
}

interface Method {
  name: string;
  args: fc.Arbitrary<(Arg | undefined)[]>;
  run(r: Repositories, a: unknown[]): Promise<unknown>;
  /** Checks a successful call; `null` = a read (the database must be unchanged). */
  verify: ((c: Ctx) => Promise<void> | void) | null;
  /** The table and argument index of the row a setter addresses (NotFoundError must mean it is absent). */
  target?: { table: Table; arg: number };
  /** Lifecycle methods: the statuses they may start from. */
  from?: readonly string[];
}

const PK: Record<Table, string> = {
  experiments: "experiment_id",
  contexts: "context_id",
  pipelines: "pipeline_id",
  actor_tasks: "task_id",
  interactive_control: "ic_id",
};

const rowOf = (d: Dump, t: Table, id: unknown) => d[t]!.find((r) => r[PK[t]] === id);
const z = (x: unknown) => (Object.is(x, -0) ? 0 : x);
const jsonNorm = (x: unknown) => (x === undefined ? null : JSON.parse(JSON.stringify(x)));
const ms = (x: unknown) => (x instanceof Date ? x.getTime() : new Date(x as string).getTime());

interface Diff {
  added: unknown[];
  removed: unknown[];
  changed: Map<unknown, string[]>;
}
function diff(before: Dump, after: Dump): Record<string, Diff> {
  const out: Record<string, Diff> = {};
  for (const t of [...TABLES, "__drizzle_migrations"]) {
    const key = (r: Record<string, unknown>) => Object.values(r)[0];
    const b = new Map(before[t]!.map((r) => [key(r), r]));
    const a = new Map(after[t]!.map((r) => [key(r), r]));
    const d: Diff = { added: [], removed: [], changed: new Map() };
    for (const [k, r] of a) {
      const old = b.get(k);
      if (!old) d.added.push(k);
      else {
        // change_seq: the change log's pointer, moved by its triggers on every write that touches the row
        // (also contexts.create of a known hash, an upsert that rewrites the row with its own values).
        const cols = Object.keys(r).filter((c) => c !== "change_seq" && !Object.is(r[c], old[c]) && !(r[c] === old[c]));
        if (cols.length) d.changed.set(k, cols);
      }
    }
    for (const k of b.keys()) if (!a.has(k)) d.removed.push(k);
    if (d.added.length || d.removed.length || d.changed.size) out[t] = d;
  }
  return out;
}

/** Only `table` changed, and only as described. */
function expectOnly(c: Ctx, table: Table, expected: { added?: unknown[]; changed?: unknown[]; columns?: string[] }) {
  const d = diff(c.before, c.after);
  for (const t of Object.keys(d))
    if (t !== table) throw new Error(`unexpected change in ${t}: ${JSON.stringify([...d[t]!.changed], replacer)}`);
  const td = d[table] ?? { added: [], removed: [], changed: new Map() };
  expect(td.removed).toEqual([]);
  expect(td.added).toEqual(expected.added ?? []);
  for (const [id, cols] of td.changed) {
    expect(expected.changed ?? [], `row ${String(id)} of ${table} changed`).toContain(id);
    // updated_at moves with every update (the database clock); any other column must be one the call writes.
    if (expected.columns)
      for (const col of cols)
        if (col !== "updated_at") expect(expected.columns, `column ${col} of ${table} changed`).toContain(col);
  }
}

const replacer = (_k: string, x: unknown) =>
  typeof x === "bigint" ? `${x}n` : typeof x === "string" && x.length > 200 ? `<${x.length} chars>` : x;

/** A printable form of any argument list (cycles, BigInts, symbols, functions, 1 MB strings). */
function show(a: unknown): string {
  const shorten = (x: unknown, depth: number): unknown => {
    if (typeof x === "string") return x.length > 200 ? `<${x.length} chars>` : x;
    if (x === null || typeof x !== "object" || depth > 3) return x;
    if (Array.isArray(x)) return x.map((y) => shorten(y, depth + 1));
    if (Object.getPrototypeOf(x) !== Object.prototype) return x;
    return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, shorten(y, depth + 1)]));
  };
  return fc.stringify(shorten(a, 0)).slice(0, 600);
}

function expectCloseOrNull(actual: unknown, expected: number | null) {
  if (expected === null) expect(actual).toBeNull();
  else {
    expect(typeof actual).toBe("number");
    expect(Math.abs((actual as number) - expected)).toBeLessThanOrEqual(Math.abs(expected) * 1e-12 + 1e-9);
  }
}

const expectTime = (actual: unknown, t: unknown) => {
  expect(actual).toBeInstanceOf(Date);
  expect((actual as Date).getTime()).toBe(ms(t));
};
const expectNow = (actual: unknown, c: Ctx) => {
  expect(actual).toBeInstanceOf(Date);
  const t = (actual as Date).getTime();
  expect(t).toBeGreaterThanOrEqual(c.started - 1000);
  expect(t).toBeLessThanOrEqual(Date.now() + 1000);
};

/** The duration the package computes from a start time (ms or null) and an end time: clamped at 0 (one policy). */
const computed = (startMs: unknown, endMs: number) =>
  startMs === null || startMs === undefined ? null : Math.max(0, (endMs - Number(startMs)) / 1000);

const setter = (
  name: string,
  table: Table,
  args: fc.Arbitrary<(Arg | undefined)[]>,
  run: Method["run"],
  columns: string[],
  check: (row: Record<string, unknown>, c: Ctx) => void,
  get: (r: Repositories, id: number) => Promise<unknown>,
): Method => ({
  name,
  args,
  run,
  target: { table, arg: 0 },
  async verify(c) {
    const id = c.a[0] as number;
    expect(c.result).toBeUndefined();
    expectOnly(c, table, { changed: [id], columns });
    const row = (await get(c.db, id)) as Record<string, unknown>;
    expect(row).not.toBeNull();
    check(row, c);
  },
});

/**
 * A `setStatus`: setting the status a row already has is a no-op (nothing written); any other
 * accepted call is a setter. Refused moves (InvalidTransitionError, nothing written) are checked
 * by the harness like every typed error; tests/transitions.test.ts checks which moves are refused.
 */
const statusSetter = (...a: Parameters<typeof setter>): Method => {
  const m = setter(...a);
  return {
    ...m,
    async verify(c) {
      if (rowOf(c.before, a[1], c.a[0])?.status === c.a[1]) {
        expect(c.result).toBeUndefined();
        expect(diff(c.before, c.after)).toEqual({});
        return;
      }
      await m.verify!(c);
    },
  };
};

const tupleOf = (...a: fc.Arbitrary<Arg | undefined>[]) => fc.tuple(...a) as fc.Arbitrary<(Arg | undefined)[]>;

const METHODS: Method[] = [
  // ----- experiments
  {
    name: "experiments.create",
    args: tupleOf(
      record(
        {
          experimentName: text,
          numActors: count,
          numShards: count,
          numCpus: either(v(fc.oneof(fc.nat({ max: 64 }), fc.constant(null)))),
          numGpus: either(v(fc.oneof(fc.nat({ max: 8 }), fc.constant(null)))),
          mlflowExperimentId: either(v(fc.oneof(fc.string(), fc.constant(null)))),
          status: status(EXPERIMENT_STATUSES),
        },
        ["experimentName", "numActors"],
      ),
    ),
    run: (r, a) => r.experiments.create(a[0] as never),
    async verify(c) {
      const i = c.a[0] as Record<string, unknown>;
      expectOnly(c, "experiments", { added: [c.result] });
      const row = await c.db.experiments.get(c.result as number);
      expect(row).toMatchObject({
        experimentId: c.result,
        experimentName: i.experimentName,
        numActors: z(i.numActors),
        numShards: z(i.numShards ?? 0),
        numCpus: z(i.numCpus ?? null),
        numGpus: z(i.numGpus ?? null),
        mlflowExperimentId: i.mlflowExperimentId ?? null,
        status: i.status ?? "running",
        error: null,
      });
      expectNow(row!.createdAt, c);
    },
  },
  {
    name: "experiments.get",
    args: tupleOf(idOf("experiments")),
    run: (r, a) => r.experiments.get(a[0] as number),
    verify(c) {
      const raw = rowOf(c.before, "experiments", c.a[0]);
      if (!raw) expect(c.result).toBeNull();
      else expect((c.result as { experimentId: number }).experimentId).toBe(c.a[0]);
    },
  },
  {
    name: "experiments.getCurrent",
    args: tupleOf(),
    run: (r) => r.experiments.getCurrent(),
    verify(c) {
      const running = c.before.experiments!.filter((r) => r.status === "running").map((r) => Number(r.experiment_id));
      expect((c.result as { experimentId: number } | null)?.experimentId ?? null).toBe(
        running.length ? Math.max(...running) : null,
      );
    },
  },
  {
    name: "experiments.getByName",
    args: tupleOf(either(v(fc.oneof(fc.string(), fc.constantFrom("seed-a", "seed-b"))))),
    run: (r, a) => r.experiments.getByName(a[0] as string),
    verify(c) {
      const ids = c.before.experiments!.filter((r) => r.experiment_name === c.a[0]).map((r) => Number(r.experiment_id));
      expect((c.result as { experimentId: number } | null)?.experimentId ?? null).toBe(
        ids.length ? Math.max(...ids) : null,
      );
    },
  },
  {
    name: "experiments.listNames",
    args: tupleOf(),
    run: (r) => r.experiments.listNames(),
    verify(c) {
      const names = [...new Set(c.before.experiments!.map((r) => String(r.experiment_name)))].sort();
      expect([...(c.result as string[])].sort()).toEqual(names);
    },
  },
  statusSetter(
    "experiments.setStatus",
    "experiments",
    tupleOf(idOf("experiments"), status(EXPERIMENT_STATUSES)),
    (r, a) => r.experiments.setStatus(a[0] as number, a[1] as never),
    ["status"],
    (row, c) => expect(row.status).toBe(c.a[1]),
    (r, id) => r.experiments.get(id),
  ),
  setter(
    "experiments.setError",
    "experiments",
    tupleOf(idOf("experiments"), text),
    (r, a) => r.experiments.setError(a[0] as number, a[1] as string),
    ["error"],
    (row, c) => expect(row.error).toBe(c.a[1]),
    (r, id) => r.experiments.get(id),
  ),
  {
    name: "experiments.getError",
    args: tupleOf(idOf("experiments")),
    run: (r, a) => r.experiments.getError(a[0] as number),
    target: { table: "experiments", arg: 0 },
    verify(c) {
      expect(c.result).toBe(rowOf(c.before, "experiments", c.a[0])?.error ?? "");
    },
  },
  setter(
    "experiments.setNumShards",
    "experiments",
    tupleOf(idOf("experiments"), count),
    (r, a) => r.experiments.setNumShards(a[0] as number, a[1] as number),
    ["num_shards"],
    (row, c) => expect(row.numShards).toBe(z(c.a[1])),
    (r, id) => r.experiments.get(id),
  ),

  setter(
    "experiments.setResources",
    "experiments",
    tupleOf(idOf("experiments"), record({ numActors: count, numCpusPerActor: amount, numGpusPerActor: amount }, [])),
    (r, a) => r.experiments.setResources(a[0] as number, a[1] as never),
    ["num_actors", "num_cpus_per_actor", "num_gpus_per_actor"],
    (row, c) => {
      const given = c.a[1] as Record<string, unknown>;
      const before = rowOf(c.before, "experiments", c.a[0])!;
      expect(row.numActors).toBe(given.numActors === undefined ? before.num_actors : z(given.numActors));
      for (const [k, col] of [
        ["numCpusPerActor", "num_cpus_per_actor"],
        ["numGpusPerActor", "num_gpus_per_actor"],
      ] as const)
        expect(row[k]).toBe(given[k] === undefined ? before[col] : z(given[k]));
    },
    (r, id) => r.experiments.get(id),
  ),

  // ----- contexts
  {
    name: "contexts.create",
    args: tupleOf(
      record(
        {
          contextHash: either(fc.oneof(text, v(fc.constantFrom("seed-ctx-0", "seed-ctx-1")))),
          ragConfig: json,
          promptConfig: json,
          status: status(CONTEXT_STATUSES),
        },
        ["contextHash"],
      ),
    ),
    run: (r, a) => r.contexts.create(a[0] as never),
    async verify(c) {
      const i = c.a[0] as Record<string, unknown>;
      const existing = c.before.contexts!.find((r) => r.context_hash === i.contextHash);
      if (existing) {
        // Deduplicated: the existing id, nothing written.
        expect(c.result).toBe(existing.context_id);
        expect(diff(c.before, c.after)).toEqual({});
        return;
      }
      expectOnly(c, "contexts", { added: [c.result] });
      const row = await c.db.contexts.get(c.result as number);
      expect(row).toMatchObject({
        contextId: c.result,
        contextHash: i.contextHash,
        status: i.status ?? "pending",
        error: null,
      });
      expect(row!.ragConfig).toEqual(jsonNorm(i.ragConfig));
      expect(row!.promptConfig).toEqual(jsonNorm(i.promptConfig));
      expect((await c.db.contexts.getByHash(i.contextHash as string))?.contextId).toBe(c.result);
    },
  },
  {
    name: "contexts.get",
    args: tupleOf(idOf("contexts")),
    run: (r, a) => r.contexts.get(a[0] as number),
    verify(c) {
      const raw = rowOf(c.before, "contexts", c.a[0]);
      if (!raw) expect(c.result).toBeNull();
      else {
        const row = c.result as Record<string, unknown>;
        expect(row.contextId).toBe(c.a[0]);
        expect(row.ragConfig).toEqual(raw.rag_config === null ? null : JSON.parse(raw.rag_config as string));
      }
    },
  },
  {
    name: "contexts.getByHash",
    args: tupleOf(either(fc.oneof(v(fc.string()), v(fc.constantFrom("seed-ctx-0", "seed-ctx-1", "a\0b"))))),
    run: (r, a) => r.contexts.getByHash(a[0] as string),
    verify(c) {
      const raw = c.before.contexts!.find((r) => r.context_hash === c.a[0]);
      expect((c.result as { contextId: number } | null)?.contextId ?? null).toBe(raw?.context_id ?? null);
    },
  },
  statusSetter(
    "contexts.setStatus",
    "contexts",
    tupleOf(idOf("contexts"), status(CONTEXT_STATUSES)),
    (r, a) => r.contexts.setStatus(a[0] as number, a[1] as never),
    ["status"],
    (row, c) => expect(row.status).toBe(c.a[1]),
    (r, id) => r.contexts.get(id),
  ),
  setter(
    "contexts.setStartTime",
    "contexts",
    tupleOf(idOf("contexts"), time),
    (r, a) => r.contexts.setStartTime(a[0] as number, a[1] as never),
    ["started_at"],
    (row, c) => expectTime(row.startedAt, c.a[1]),
    (r, id) => r.contexts.get(id),
  ),
  setter(
    "contexts.setEndTime",
    "contexts",
    tupleOf(idOf("contexts"), time, opt(duration)),
    (r, a) =>
      a.length > 2 && a[2] !== undefined
        ? r.contexts.setEndTime(a[0] as number, a[1] as never, a[2] as number)
        : r.contexts.setEndTime(a[0] as number, a[1] as never),
    ["completed_at", "duration_seconds"],
    (row, c) => {
      expectTime(row.completedAt, c.a[1]);
      const start = rowOf(c.before, "contexts", c.a[0])!.started_at;
      expectCloseOrNull(
        row.durationSeconds,
        c.a[2] !== undefined ? (z(c.a[2]) as number) : computed(start, ms(c.a[1])),
      );
    },
    (r, id) => r.contexts.get(id),
  ),
  setter(
    "contexts.setError",
    "contexts",
    tupleOf(idOf("contexts"), text),
    (r, a) => r.contexts.setError(a[0] as number, a[1] as string),
    ["error"],
    (row, c) => expect(row.error).toBe(c.a[1]),
    (r, id) => r.contexts.get(id),
  ),

  // ----- pipelines
  {
    name: "pipelines.create",
    args: tupleOf(
      record(
        {
          experimentId: idOf("experiments"),
          pipelineName: text,
          pipelineType: text,
          modelConfig: json,
          samplingParams: json,
          contextId: either(
            fc.oneof(
              fc.nat({ max: 9 }).map((i): Arg => ({ ref: "contexts", i })),
              v(fc.constant(null)),
            ),
          ),
          status: status(PIPELINE_STATUSES),
          // the run model (issue 10)
          pipelineConfig: text,
          configJson: json,
          metricRunId: runId,
          parentPipelineId: idOf("pipelines"),
        },
        ["experimentId", "pipelineType"],
      ),
    ),
    run: (r, a) => r.pipelines.create(a[0] as never),
    async verify(c) {
      const i = c.a[0] as Record<string, unknown>;
      expectOnly(c, "pipelines", { added: [c.result] });
      const row = await c.db.pipelines.get(c.result as number);
      expect(row).toMatchObject({
        pipelineId: c.result,
        experimentId: i.experimentId,
        pipelineName: i.pipelineName ?? null,
        pipelineType: i.pipelineType,
        contextId: i.contextId ?? null,
        status: i.status ?? "new",
        currentShardId: 0,
        shardsCompleted: 0,
        totalSamplesProcessed: 0,
        error: null,
        pipelineConfig: i.pipelineConfig ?? null,
        metricRunId: i.metricRunId ?? null,
        parentPipelineId: i.parentPipelineId ?? null,
      });
      expect(row!.modelConfig).toEqual(jsonNorm(i.modelConfig));
      expect(row!.samplingParams).toEqual(jsonNorm(i.samplingParams));
      expect(row!.configJson).toEqual(jsonNorm(i.configJson));
      if (i.configJson === undefined || i.configJson === null) expect(row!.configHash).toBeNull();
      else expect(row!.configHash).toMatch(/^[0-9a-f]{64}$/);
    },
  },
  {
    name: "pipelines.get",
    args: tupleOf(idOf("pipelines")),
    run: (r, a) => r.pipelines.get(a[0] as number),
    verify(c) {
      const raw = rowOf(c.before, "pipelines", c.a[0]);
      if (!raw) expect(c.result).toBeNull();
      else {
        const row = c.result as Record<string, unknown>;
        expect(row.pipelineId).toBe(c.a[0]);
        expect(row.modelConfig).toEqual(JSON.parse(raw.model_config as string));
        expect(row.totalSamplesProcessed).toBe(raw.total_samples_processed);
      }
    },
  },
  {
    name: "pipelines.list",
    args: tupleOf(idOf("experiments")),
    run: (r, a) => r.pipelines.list(a[0] as number),
    verify(c) {
      const ids = c.before.pipelines!.filter((r) => r.experiment_id === c.a[0]).map((r) => r.pipeline_id);
      expect((c.result as { pipelineId: number }[]).map((p) => p.pipelineId)).toEqual(ids);
    },
  },
  statusSetter(
    "pipelines.setStatus",
    "pipelines",
    tupleOf(idOf("pipelines"), status(PIPELINE_STATUSES)),
    (r, a) => r.pipelines.setStatus(a[0] as number, a[1] as never),
    ["status"],
    (row, c) => expect(row.status).toBe(c.a[1]),
    (r, id) => r.pipelines.get(id),
  ),
  setter(
    "pipelines.setProgress",
    "pipelines",
    tupleOf(
      idOf("pipelines"),
      record({ currentShardId: count, shardsCompleted: count, totalSamplesProcessed: count }, [
        "currentShardId",
        "shardsCompleted",
        "totalSamplesProcessed",
      ]),
    ),
    (r, a) => r.pipelines.setProgress(a[0] as number, a[1] as never),
    ["current_shard_id", "shards_completed", "total_samples_processed"],
    (row, c) => {
      const p = c.a[1] as Record<string, unknown>;
      expect([row.currentShardId, row.shardsCompleted, row.totalSamplesProcessed]).toEqual([
        z(p.currentShardId),
        z(p.shardsCompleted),
        z(p.totalSamplesProcessed),
      ]);
    },
    (r, id) => r.pipelines.get(id),
  ),
  {
    name: "pipelines.advanceProgress",
    args: fc.oneof(
      tupleOf(idOf("pipelines"), record({ shards: smallCount, samples: count, currentShardId: smallCount }, [])),
      tupleOf(idOf("pipelines")),
    ),
    run: (r, a) =>
      a.length > 1
        ? r.pipelines.advanceProgress(a[0] as number, a[1] as never)
        : r.pipelines.advanceProgress(a[0] as number),
    target: { table: "pipelines", arg: 0 },
    async verify(c) {
      const id = c.a[0] as number;
      const d = (c.a[1] ?? {}) as Record<string, unknown>;
      const before = rowOf(c.before, "pipelines", id)!;
      expectOnly(c, "pipelines", {
        changed: [id],
        columns: ["current_shard_id", "shards_completed", "total_samples_processed"],
      });
      const row = (await c.db.pipelines.get(id))!;
      expect(row.shardsCompleted).toBe(Number(before.shards_completed) + Number(z(d.shards ?? 1)));
      expect(row.totalSamplesProcessed).toBe(Number(before.total_samples_processed) + Number(z(d.samples ?? 0)));
      expect(row.currentShardId).toBe(d.currentShardId === undefined ? before.current_shard_id : z(d.currentShardId));
      expect(c.result).toEqual({
        shardsCompleted: row.shardsCompleted,
        totalSamplesProcessed: row.totalSamplesProcessed,
      });
    },
  },
  setter(
    "pipelines.setError",
    "pipelines",
    tupleOf(idOf("pipelines"), text),
    (r, a) => r.pipelines.setError(a[0] as number, a[1] as string),
    ["error"],
    (row, c) => expect(row.error).toBe(c.a[1]),
    (r, id) => r.pipelines.get(id),
  ),

  setter(
    "pipelines.setCurrentShard",
    "pipelines",
    tupleOf(idOf("pipelines"), count),
    (r, a) => r.pipelines.setCurrentShard(a[0] as number, a[1] as number),
    ["current_shard_id"],
    (row, c) => expect(row.currentShardId).toBe(z(c.a[1])),
    (r, id) => r.pipelines.get(id),
  ),
  setter(
    "pipelines.setMetricRunId",
    "pipelines",
    tupleOf(idOf("pipelines"), either(fc.oneof(runId, v(fc.constant(null))))),
    (r, a) => r.pipelines.setMetricRunId(a[0] as number, a[1] as string | null),
    ["metric_run_id"],
    (row, c) => {
      expect(row.metricRunId).toBe(c.a[1]);
      // unique: no other pipeline had it
      if (c.a[1] !== null)
        expect(c.before.pipelines!.filter((p) => p.metric_run_id === c.a[1] && p.pipeline_id !== c.a[0])).toEqual([]);
    },
    (r, id) => r.pipelines.get(id),
  ),
  {
    name: "pipelines.getByMetricRunId",
    args: tupleOf(runId),
    run: (r, a) => r.pipelines.getByMetricRunId(a[0] as string),
    verify(c) {
      const raw = c.before.pipelines!.find((p) => p.metric_run_id === c.a[0]);
      if (!raw) expect(c.result).toBeNull();
      else expect((c.result as { pipelineId: number }).pipelineId).toBe(raw.pipeline_id);
    },
  },
  {
    name: "pipelines.listSummaries",
    args: tupleOf(idOf("experiments")),
    run: (r, a) => r.pipelines.listSummaries(a[0] as number),
    verify(c) {
      const rows = c.before.pipelines!.filter((r) => r.experiment_id === c.a[0]);
      const got = c.result as Record<string, unknown>[];
      expect(got.map((p) => p.pipelineId)).toEqual(rows.map((r) => r.pipeline_id));
      for (const [i, p] of got.entries()) {
        expect(p).not.toHaveProperty("configJson");
        expect([p.status, p.shardsCompleted]).toEqual([rows[i]!.status, rows[i]!.shards_completed]);
      }
    },
  },
  {
    name: "pipelines.lineage",
    args: tupleOf(idOf("pipelines")),
    run: (r, a) => r.pipelines.lineage(a[0] as number),
    verify(c) {
      const line = c.result as { pipelineId: number; parentPipelineId: number | null; depth: number }[];
      if (!rowOf(c.before, "pipelines", c.a[0])) return expect(line).toEqual([]);
      expect(line.find((e) => e.depth === 0)?.pipelineId).toBe(c.a[0]);
      expect(line.map((e) => e.depth)).toEqual([...line.map((e) => e.depth)].sort((x, y) => x - y));
    },
  },

  // ----- actor tasks
  {
    name: "actorTasks.create",
    args: tupleOf(
      record(
        {
          experimentId: idOf("experiments"),
          pipelineId: idOf("pipelines"),
          actorId: smallCount,
          shardId: count,
          status: status(ACTOR_TASK_STATUSES),
        },
        ["experimentId", "pipelineId", "actorId", "shardId"],
      ),
    ),
    run: (r, a) => r.actorTasks.create(a[0] as never),
    async verify(c) {
      const i = c.a[0] as Record<string, unknown>;
      expectOnly(c, "actor_tasks", { added: [c.result] });
      expect(await c.db.actorTasks.get(c.result as number)).toMatchObject({
        taskId: c.result,
        experimentId: i.experimentId,
        pipelineId: i.pipelineId,
        actorId: z(i.actorId),
        shardId: z(i.shardId),
        status: i.status ?? "scheduled",
        errorMessage: null,
        startedAt: null,
        completedAt: null,
        durationSeconds: null,
        // created running = started by its actor: held without a lease end, one attempt
        leaseOwner: i.status === "in_progress" ? z(i.actorId) : null,
        leaseExpiresAt: null,
        attempts: i.status === "in_progress" ? 1 : 0,
        maxAttempts: 3,
      });
    },
  },
  {
    name: "actorTasks.get",
    args: tupleOf(idOf("actor_tasks")),
    run: (r, a) => r.actorTasks.get(a[0] as number),
    verify(c) {
      const raw = rowOf(c.before, "actor_tasks", c.a[0]);
      if (!raw) expect(c.result).toBeNull();
      else expect((c.result as { status: string }).status).toBe(raw.status);
    },
  },
  {
    name: "actorTasks.listRunning",
    args: tupleOf(idOf("experiments")),
    run: (r, a) => r.actorTasks.listRunning(a[0] as number),
    verify(c) {
      const ids = c.before
        .actor_tasks!.filter((r) => r.experiment_id === c.a[0] && r.status === "in_progress")
        .map((r) => r.task_id);
      expect((c.result as { taskId: number }[]).map((t) => t.taskId)).toEqual(ids);
    },
  },
  {
    name: "actorTasks.countByStatus",
    args: tupleOf(idOf("experiments")),
    run: (r, a) => r.actorTasks.countByStatus(a[0] as number),
    verify(c) {
      const counts = Object.fromEntries(ACTOR_TASK_STATUSES.map((s) => [s, 0])) as Record<string, number>;
      for (const r of c.before.actor_tasks!) if (r.experiment_id === c.a[0]) counts[r.status as string]!++;
      expect(c.result).toEqual(counts);
    },
  },
  statusSetter(
    "actorTasks.setStatus",
    "actor_tasks",
    tupleOf(idOf("actor_tasks"), status(ACTOR_TASK_STATUSES)),
    (r, a) => r.actorTasks.setStatus(a[0] as number, a[1] as never),
    ["status"],
    (row, c) => expect(row.status).toBe(c.a[1]),
    (r, id) => r.actorTasks.get(id),
  ),
  setter(
    "actorTasks.setStartTime",
    "actor_tasks",
    tupleOf(idOf("actor_tasks"), time),
    (r, a) => r.actorTasks.setStartTime(a[0] as number, a[1] as never),
    ["started_at"],
    (row, c) => expectTime(row.startedAt, c.a[1]),
    (r, id) => r.actorTasks.get(id),
  ),
  setter(
    "actorTasks.setEndTime",
    "actor_tasks",
    tupleOf(idOf("actor_tasks"), time, opt(duration)),
    (r, a) =>
      a.length > 2 && a[2] !== undefined
        ? r.actorTasks.setEndTime(a[0] as number, a[1] as never, a[2] as number)
        : r.actorTasks.setEndTime(a[0] as number, a[1] as never),
    ["completed_at", "duration_seconds"],
    (row, c) => {
      expectTime(row.completedAt, c.a[1]);
      const start = rowOf(c.before, "actor_tasks", c.a[0])!.started_at;
      expectCloseOrNull(
        row.durationSeconds,
        c.a[2] !== undefined ? (z(c.a[2]) as number) : computed(start, ms(c.a[1])),
      );
    },
    (r, id) => r.actorTasks.get(id),
  ),
  setter(
    "actorTasks.setError",
    "actor_tasks",
    tupleOf(idOf("actor_tasks"), text),
    (r, a) => r.actorTasks.setError(a[0] as number, a[1] as string),
    ["error_message"],
    (row, c) => expect(row.errorMessage).toBe(c.a[1]),
    (r, id) => r.actorTasks.get(id),
  ),
  {
    ...setter(
      "actorTasks.start",
      "actor_tasks",
      tupleOf(idOf("actor_tasks"), opt(time)),
      (r, a) =>
        a[1] === undefined ? r.actorTasks.start(a[0] as number) : r.actorTasks.start(a[0] as number, a[1] as never),
      ["status", "started_at", "lease_owner", "attempts"],
      (row, c) => {
        expect(row.status).toBe("in_progress");
        expect(row.leaseOwner).toBe(row.actorId);
        if (c.a[1] === undefined) expectNow(row.startedAt, c);
        else expectTime(row.startedAt, c.a[1]);
      },
      (r, id) => r.actorTasks.get(id),
    ),
    from: ["scheduled"],
  },
  {
    ...setter(
      "actorTasks.complete",
      "actor_tasks",
      tupleOf(idOf("actor_tasks"), opt(time)),
      (r, a) =>
        a[1] === undefined
          ? r.actorTasks.complete(a[0] as number)
          : r.actorTasks.complete(a[0] as number, a[1] as never),
      ["status", "completed_at", "duration_seconds", "lease_expires_at"],
      (row, c) => {
        expect(row.status).toBe("completed");
        expect(row.leaseExpiresAt).toBeNull();
        if (c.a[1] === undefined) expectNow(row.completedAt, c);
        else expectTime(row.completedAt, c.a[1]);
        const start = rowOf(c.before, "actor_tasks", c.a[0])!.started_at;
        expectCloseOrNull(row.durationSeconds, computed(start, (row.completedAt as Date).getTime()));
      },
      (r, id) => r.actorTasks.get(id),
    ),
    from: ["in_progress"],
  },
  {
    ...setter(
      "actorTasks.fail",
      "actor_tasks",
      tupleOf(idOf("actor_tasks"), text, opt(time)),
      (r, a) =>
        a[2] === undefined
          ? r.actorTasks.fail(a[0] as number, a[1] as string)
          : r.actorTasks.fail(a[0] as number, a[1] as string, a[2] as never),
      ["status", "error_message", "completed_at", "duration_seconds", "lease_expires_at"],
      (row, c) => {
        expect(row.status).toBe("failed");
        expect(row.leaseExpiresAt).toBeNull();
        expect(row.errorMessage).toBe(c.a[1]);
        if (c.a[2] === undefined) expectNow(row.completedAt, c);
        else expectTime(row.completedAt, c.a[2]);
        const start = rowOf(c.before, "actor_tasks", c.a[0])!.started_at;
        expectCloseOrNull(row.durationSeconds, computed(start, (row.completedAt as Date).getTime()));
      },
      (r, id) => r.actorTasks.get(id),
    ),
    from: ["scheduled", "in_progress"],
  },
  {
    name: "actorTasks.claimNext",
    args: tupleOf(idOf("experiments"), smallCount, opt(time)),
    run: (r, a) =>
      a[2] === undefined
        ? r.actorTasks.claimNext(a[0] as number, a[1] as number)
        : r.actorTasks.claimNext(a[0] as number, a[1] as number, a[2] as never),
    async verify(c) {
      const scheduled = c.before
        .actor_tasks!.filter((r) => r.experiment_id === c.a[0] && r.status === "scheduled")
        .map((r) => Number(r.task_id));
      if (!scheduled.length) {
        expect(c.result).toBeNull();
        expect(diff(c.before, c.after)).toEqual({});
        return;
      }
      const id = Math.min(...scheduled);
      expectOnly(c, "actor_tasks", {
        changed: [id],
        columns: [
          "status",
          "actor_id",
          "started_at",
          "lease_owner",
          "lease_expires_at",
          "attempts",
          "completed_at",
          "duration_seconds",
        ],
      });
      const row = c.result as Record<string, unknown>;
      const attempts = Number(rowOf(c.before, "actor_tasks", id)!.attempts) + 1;
      expect(row).toMatchObject({
        taskId: id,
        status: "in_progress",
        actorId: z(c.a[1]),
        leaseOwner: z(c.a[1]),
        attempts,
      });
      expect(row.leaseExpiresAt).toBeInstanceOf(Date);
      if (c.a[2] === undefined) expectNow(row.startedAt, c);
      else expectTime(row.startedAt, c.a[2]);
      expect(await c.db.actorTasks.get(id)).toEqual(row);
    },
  },

  // ----- IC operations
  {
    name: "icOperations.create",
    args: tupleOf(
      record(
        {
          operation: status(IC_OPERATIONS),
          pipelineId: either(
            fc.oneof(
              fc.nat({ max: 9 }).map((i): Arg => ({ ref: "pipelines", i })),
              v(fc.constant(null)),
            ),
          ),
          requestData: json,
        },
        ["operation"],
      ),
    ),
    run: (r, a) => r.icOperations.create(a[0] as never),
    async verify(c) {
      const i = c.a[0] as Record<string, unknown>;
      expectOnly(c, "interactive_control", { added: [c.result] });
      const row = await c.db.icOperations.get(c.result as number);
      expect(row).toMatchObject({
        icId: c.result,
        operation: i.operation,
        pipelineId: i.pipelineId ?? null,
        status: "pending",
        error: null,
        processedAt: null,
      });
      expect(row!.requestData).toEqual(jsonNorm(i.requestData));
      expect(i.operation === "clone" || (i.pipelineId !== null && i.pipelineId !== undefined)).toBe(true);
    },
  },
  {
    name: "icOperations.get",
    args: tupleOf(idOf("interactive_control")),
    run: (r, a) => r.icOperations.get(a[0] as number),
    verify(c) {
      const raw = rowOf(c.before, "interactive_control", c.a[0]);
      if (!raw) expect(c.result).toBeNull();
      else
        expect((c.result as { requestData: unknown }).requestData).toEqual(
          raw.request_data === null ? null : JSON.parse(raw.request_data as string),
        );
    },
  },
  {
    name: "icOperations.listPending",
    args: tupleOf(),
    run: (r) => r.icOperations.listPending(),
    verify(c) {
      const ids = c.before.interactive_control!.filter((r) => r.status === "pending").map((r) => r.ic_id);
      expect((c.result as { icId: number }[]).map((o) => o.icId)).toEqual(ids);
    },
  },
  {
    name: "icOperations.listAll",
    args: tupleOf(),
    run: (r) => r.icOperations.listAll(),
    verify(c) {
      const ids = c.before.interactive_control!.map((r) => r.ic_id).reverse();
      expect((c.result as { icId: number }[]).map((o) => o.icId)).toEqual(ids);
    },
  },
  {
    name: "icOperations.claimNext",
    args: tupleOf(),
    run: (r) => r.icOperations.claimNext(),
    async verify(c) {
      const pending = c.before.interactive_control!.filter((r) => r.status === "pending").map((r) => Number(r.ic_id));
      if (!pending.length) {
        expect(c.result).toBeNull();
        expect(diff(c.before, c.after)).toEqual({});
        return;
      }
      const id = Math.min(...pending);
      expectOnly(c, "interactive_control", { changed: [id], columns: ["status", "lease_expires_at", "attempts"] });
      expect(c.result).toMatchObject({ icId: id, status: "processing" });
    },
  },
  statusSetter(
    "icOperations.setStatus",
    "interactive_control",
    tupleOf(idOf("interactive_control"), status(IC_STATUSES), opt(text)),
    (r, a) =>
      a[2] === undefined
        ? r.icOperations.setStatus(a[0] as number, a[1] as never)
        : r.icOperations.setStatus(a[0] as number, a[1] as never, a[2] as string),
    ["status", "error", "processed_at", "lease_expires_at"],
    (row, c) => {
      expect(row.status).toBe(c.a[1]);
      expect(row.leaseExpiresAt).toBeNull();
      expect(row.error).toBe(
        c.a[2] === undefined ? (rowOf(c.before, "interactive_control", c.a[0])!.error ?? null) : c.a[2],
      );
      expectNow(row.processedAt, c);
    },
    (r, id) => r.icOperations.get(id),
  ),
];

/** Methods of the database itself (not available on a transaction scope). */
const DB_METHODS: Method[] = [
  {
    name: "resetExperimentStates",
    args: tupleOf(),
    run: (r) => (r as RFDatabase).resetExperimentStates(),
    verify(c) {
      const d = diff(c.before, c.after);
      const n = (t: string) => d[t]?.changed.size ?? 0;
      expect(c.result).toEqual({
        actorTasks: n("actor_tasks"),
        pipelines: n("pipelines"),
        contexts: n("contexts"),
        icOperations: n("interactive_control"),
      });
      const unfinished = (t: Table, set: string[]) =>
        c.before[t]!.filter((r) => set.includes(r.status as string)).length;
      expect(c.result).toEqual({
        actorTasks: unfinished("actor_tasks", ["scheduled", "in_progress"]),
        pipelines: unfinished("pipelines", ["new", "ongoing"]),
        contexts: unfinished("contexts", ["pending", "building"]),
        icOperations: unfinished("interactive_control", ["pending", "processing"]),
      });
      for (const t of Object.keys(d)) expect(d[t]!.added.length + d[t]!.removed.length).toBe(0);
    },
  },
  {
    name: "resetAllTables",
    // Valid shapes only here; a non-boolean flag is its own test below.
    args: fc.oneof(
      tupleOf(),
      tupleOf(v(fc.constantFrom({}, { experiments: true }, { experiments: false }, { experiments: undefined }))),
    ),
    run: (r, a) => (a.length ? (r as RFDatabase).resetAllTables(a[0] as never) : (r as RFDatabase).resetAllTables()),
    verify(c) {
      for (const t of ["contexts", "pipelines", "actor_tasks", "interactive_control"]) expect(c.after[t]).toEqual([]);
      const all = (c.a[0] as { experiments?: boolean } | undefined)?.experiments === true;
      expect(c.after.experiments).toEqual(all ? [] : c.before.experiments);
    },
  },
];

// ---------------------------------------------------------------------------------------------
// calls

type Call =
  | { m: string; args: (Arg | undefined)[] }
  | { m: "transaction"; body: { m: string; args: (Arg | undefined)[] }[]; end: "return" | "throw" }
  | { m: "transaction"; fn: Arg };

const repoCall = fc.oneof(...METHODS.map((m) => m.args.map((args) => ({ m: m.name, args }))));
const dbCall = fc.oneof(...DB_METHODS.map((m) => m.args.map((args) => ({ m: m.name, args }))));
const txCall = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      m: fc.constant("transaction" as const),
      body: fc.array(repoCall, { maxLength: 4 }),
      end: fc.constantFrom<"return" | "throw">("return", "throw"),
    }),
  },
  { weight: 1, arbitrary: fc.record({ m: fc.constant("transaction" as const), fn: bad }) },
);
const anyCall: fc.Arbitrary<Call> = fc.oneof(
  { weight: 30, arbitrary: repoCall },
  { weight: 1, arbitrary: dbCall },
  { weight: 3, arbitrary: txCall },
);

/**
 * While a bug pinned in "fuzz findings, pinned" (below) is open, set this to
 * true: argument shapes that hit it are then skipped by the property, so it
 * keeps searching for new ones. The shapes (both fixed in 4c3c252):
 *  - a string argument containing U+0000 (was stored whole, read back cut at the NUL);
 *  - `transaction(x)` with `x` not a function (was a TypeError).
 */
const EXCLUDE_PINNED = false;

function hitsPinnedBug(a: unknown[]): boolean {
  const nul = (x: unknown) => typeof x === "string" && x.includes("\0");
  return a.some(
    (x) => nul(x) || (x !== null && typeof x === "object" && !Array.isArray(x) && Object.values(x).some(nul)),
  );
}

const BY_NAME = new Map([...METHODS, ...DB_METHODS].map((m) => [m.name, m]));
const TYPED = [ValidationError, NotFoundError, InvalidTransitionError];

interface Stats {
  plausibleRefused: Record<string, number>;
  calls: number;
  skipped: number;
  ok: number;
  typed: Record<string, number>;
  byMethod: Record<string, { ok: number; err: number }>;
  bigStrings: number;
  transactions: { committed: number; rolledBack: number; badFn: number };
}

function describeError(err: unknown): string {
  const e = err as Error & { code?: unknown; cause?: unknown };
  return `${e?.constructor?.name ?? typeof err}: ${String(e?.message ?? err).slice(0, 300)}${e?.cause ? ` (cause: ${String((e.cause as Error)?.message ?? e.cause).slice(0, 200)})` : ""}`;
}

function expectTyped(err: unknown, where: string) {
  if (!TYPED.some((T) => err instanceof T)) {
    throw new Error(`${where} threw an untyped error — ${describeError(err)}`, { cause: err });
  }
  expect(err).toBeInstanceOf(RFDatabaseError);
}

async function checkCall(db: RFDatabase, call: Call, stats: Stats): Promise<void> {
  const before = await dumpAll(db.client);
  stats.calls++;
  if (call.m === "transaction") return checkTransaction(db, call as Extract<Call, { m: "transaction" }>, before, stats);
  const { args } = call as { m: string; args: (Arg | undefined)[] };
  const m = BY_NAME.get(call.m)!;
  const a = args.map((x) => resolve(x, before));
  while (a.length && a[a.length - 1] === undefined && args[a.length - 1] === undefined) a.pop();
  if (EXCLUDE_PINNED && hitsPinnedBug(a)) {
    stats.skipped++;
    return;
  }
  if (args.some((x) => x && ("big" in x || ("rec" in x && Object.values(x.rec).some((y) => "big" in y)))))
    stats.bigStrings++;
  const started = Date.now();
  let result: unknown;
  let error: unknown;
  let threw = false;
  try {
    result = await m.run(db, a);
  } catch (err) {
    threw = true;
    error = err;
  }
  const after = await dumpAll(db.client);
  const bm = (stats.byMethod[m.name] ??= { ok: 0, err: 0 });
  const label = `${m.name}(${show(a).slice(1, -1)})`;
  if (threw) {
    bm.err++;
    expectTyped(error, label);
    stats.typed[(error as Error).constructor.name] = (stats.typed[(error as Error).constructor.name] ?? 0) + 1;
    if (error instanceof ValidationError && plausible(args)) {
      // Refusals of plausible arguments, by message shape (for the report: they should all be deliberate).
      const shape = `${m.name}: ${(error as Error).message
        .replace(/got .*$/, "got …")
        .replace(/\d+/g, "N")
        .slice(0, 120)}`;
      stats.plausibleRefused[shape] = (stats.plausibleRefused[shape] ?? 0) + 1;
    }
    expect(after, `${label} failed (${describeError(error)}) but changed the database`).toEqual(before);
    // The error is about the right thing.
    if (error instanceof NotFoundError && m.target && typeof a[m.target.arg] === "number") {
      expect(
        rowOf(before, m.target.table, a[m.target.arg]),
        `${label}: NotFoundError for an existing row`,
      ).toBeUndefined();
    }
    if (error instanceof InvalidTransitionError && m.from) {
      const row = rowOf(before, "actor_tasks", a[0]);
      expect(row, label).toBeDefined();
      expect(m.from, `${label}: refused from an allowed status`).not.toContain(row!.status);
    }
    return;
  }
  bm.ok++;
  stats.ok++;
  const ctx: Ctx = { before, after, a, result, db, started };
  try {
    if (m.verify === null) expect(after).toEqual(before);
    else await m.verify(ctx);
    if (
      !m.name.includes(".create") &&
      !m.name.startsWith("reset") &&
      !/\.(set|start|complete|fail|claimNext|advanceProgress)/.test(m.name)
    ) {
      expect(after, `${label} is a read but changed the database`).toEqual(before);
    }
  } catch (err) {
    throw new Error(`${label} succeeded but: ${(err as Error).message}`, { cause: err });
  }
}

class Sentinel extends Error {}

async function checkTransaction(
  db: RFDatabase,
  call: Extract<Call, { m: "transaction" }>,
  before: Dump,
  stats: Stats,
): Promise<void> {
  if ("fn" in call) {
    const fn = resolve(call.fn, before);
    if (EXCLUDE_PINNED && typeof fn !== "function") {
      stats.skipped++;
      return;
    }
    let error: unknown;
    let resolved = false;
    try {
      await db.transaction(fn as never);
      resolved = true;
    } catch (err) {
      error = err;
    }
    stats.transactions.badFn++;
    const label = `transaction(${show(fn)})`;
    // A function that writes nothing may well succeed; anything else must be refused.
    if (typeof fn === "function" && resolved) return;
    expect(error, `${label} resolved`).toBeDefined();
    expectTyped(error, label);
    expect(await dumpAll(db.client), `${label} changed the database`).toEqual(before);
    return;
  }
  const sentinel = new Sentinel("rollback please");
  let innerError: unknown;
  let error: unknown;
  let value: unknown;
  try {
    value = await db.transaction(async (tx) => {
      for (const c of call.body) {
        const m = BY_NAME.get(c.m)!;
        const a = c.args.map((x) => resolve(x, before));
        if (EXCLUDE_PINNED && hitsPinnedBug(a)) continue;
        try {
          await m.run(tx, a);
        } catch (err) {
          innerError = err;
          expectTyped(err, `in a transaction: ${m.name}(${show(a).slice(1, -1)})`);
          throw err;
        }
      }
      if (call.end === "throw") throw sentinel;
      return "committed";
    });
  } catch (err) {
    error = err;
  }
  const after = await dumpAll(db.client);
  if (error === undefined) {
    stats.transactions.committed++;
    expect(value).toBe("committed");
    return;
  }
  stats.transactions.rolledBack++;
  // Whatever the callback threw comes out as it was, and nothing of it stays.
  expect(error, `transaction rejected with ${describeError(error)} instead of what its callback threw`).toBe(
    innerError ?? sentinel,
  );
  expect(after, "a rolled-back transaction changed the database").toEqual(before);
}

// ---------------------------------------------------------------------------------------------
// fixture

async function resetAndSeed(db: RFDatabase): Promise<void> {
  await db.client.batch(
    [...[...TABLES].reverse().map((t) => `DELETE FROM ${t}`), "DELETE FROM sqlite_sequence"],
    "write",
  );
  const e1 = await db.experiments.create({ experimentName: "seed-a", numActors: 2, numShards: 4 });
  const e2 = await db.experiments.create({
    experimentName: "seed-b",
    numActors: 1,
    status: "completed",
    mlflowExperimentId: "m-1",
  });
  await db.experiments.setError(e2, "old error");
  const c1 = await db.contexts.create({
    contextHash: "seed-ctx-0",
    ragConfig: { k: 5, chunks: [1, 2] },
    promptConfig: "p",
  });
  const c2 = await db.contexts.create({ contextHash: "seed-ctx-1", status: "building" });
  await db.contexts.setStartTime(c2, new Date("2024-05-01T00:00:00Z"));
  void c1;
  const p1 = await db.pipelines.create({
    experimentId: e1,
    pipelineName: "p1",
    pipelineType: "vllm",
    modelConfig: { m: "a" },
    samplingParams: { t: 0.7 },
    contextId: c1,
  });
  const p2 = await db.pipelines.create({
    experimentId: e1,
    pipelineName: "p2",
    pipelineType: "vllm",
    modelConfig: [1, "x"],
    samplingParams: 0,
    status: "ongoing",
  });
  const p3 = await db.pipelines.create({
    experimentId: e2,
    pipelineName: "p3",
    pipelineType: "hf",
    modelConfig: {},
    samplingParams: {},
    status: "completed",
  });
  const t1 = await db.actorTasks.create({ experimentId: e1, pipelineId: p1, actorId: 0, shardId: 0 });
  const t2 = await db.actorTasks.create({ experimentId: e1, pipelineId: p1, actorId: 1, shardId: 1 });
  await db.actorTasks.start(t2, new Date("2024-05-01T00:00:00Z"));
  const t3 = await db.actorTasks.create({ experimentId: e1, pipelineId: p2, actorId: 0, shardId: 2 });
  await db.actorTasks.start(t3);
  await db.actorTasks.complete(t3);
  await db.actorTasks.create({ experimentId: e2, pipelineId: p3, actorId: 0, shardId: 0, status: "failed" });
  void t1;
  await db.pipelines.setMetricRunId(p1, "seed-run-0");
  await db.pipelines.setMetricRunId(p2, "seed-run-1");
  await db.pipelines.create({
    experimentId: e1,
    pipelineType: "vllm",
    parentPipelineId: p2,
    configJson: { a: { b: 1 } },
  });
  await db.icOperations.create({ operation: "stop", pipelineId: p1 });
  await db.icOperations.create({ operation: "clone", experimentId: e1, requestData: { from: p2 } });
  const ic3 = await db.icOperations.create({ operation: "resume", pipelineId: p2, requestData: null });
  await db.icOperations.setStatus(ic3, "failed", "already running");
}

// ---------------------------------------------------------------------------------------------

describe.each(["memory", "file"] as const)(`fuzz on %s: ${RUNS} runs${HEAVY ? " (heavy)" : ""}`, (backend) => {
  let db: RFDatabase;
  beforeAll(async () => {
    db = await RFDatabase.open({ url: backend === "memory" ? ":memory:" : `file:${join(tempDir(), "fuzz.db")}` });
  });
  afterAll(async () => {
    await db?.close();
  });

  it(
    "every call either reads back exactly or throws a typed error and changes nothing",
    async () => {
      const stats: Stats = {
        plausibleRefused: {},
        calls: 0,
        skipped: 0,
        ok: 0,
        typed: {},
        byMethod: {},
        bigStrings: 0,
        transactions: { committed: 0, rolledBack: 0, badFn: 0 },
      };
      const t0 = performance.now();
      let failure: string | undefined;
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(anyCall, { minLength: 1, maxLength: 12 }), async (calls) => {
            await resetAndSeed(db);
            for (const call of calls) await checkCall(db, call, stats);
          }),
          { numRuns: RUNS, seed: SEED, endOnFailure: !HEAVY, interruptAfterTimeLimit: size(40_000, 1_500_000) },
        );
      } catch (err) {
        failure = (err as Error).message.split("\n").slice(0, 6).join(" ");
        throw err;
      } finally {
        report("fuzz", {
          backend,
          runs: RUNS,
          callsTried: stats.calls,
          succeeded: stats.ok,
          skippedPinned: stats.skipped,
          typedErrors: stats.typed,
          untypedErrors: failure?.includes("untyped") ? 1 : 0,
          bigStringCalls: stats.bigStrings,
          transactions: stats.transactions,
          methodsCovered: Object.keys(stats.byMethod).length,
          plausibleArgsRefused: process.env.RF_FUZZ_DETAIL
            ? stats.plausibleRefused
            : Object.values(stats.plausibleRefused).reduce((a, b) => a + b, 0),
          methodsTotal: METHODS.length + DB_METHODS.length,
          ms: Math.round(performance.now() - t0),
          failure: failure?.slice(0, 600),
        });
      }
    },
    size(60_000, 1_800_000),
  );
});

describe("fuzz findings, pinned", () => {
  it.each(["memory", "file"] as const)(
    "a text argument containing U+0000 reads back whole or is refused (%s)",
    async (backend) => {
      const db = await RFDatabase.open({
        url: backend === "memory" ? ":memory:" : `file:${join(tempDir(), "nul.db")}`,
      });
      try {
        const outcomes: string[] = [];
        const attempt = async (
          what: string,
          write: () => Promise<unknown>,
          read: () => Promise<unknown>,
          expected: unknown,
        ) => {
          const err = await write().then(
            () => undefined,
            (e: unknown) => e,
          );
          if (err) {
            expect(err, what).toBeInstanceOf(ValidationError);
            outcomes.push(`${what}: refused`);
            return;
          }
          const got = await read();
          outcomes.push(`${what}: read back ${JSON.stringify(got)}`);
          expect(got, what).toEqual(expected);
        };
        const e = await db.experiments.create({ experimentName: "nul", numActors: 1 });
        await attempt(
          "experiments.setError",
          () => db.experiments.setError(e, "a\0b"),
          () => db.experiments.getError(e),
          "a\0b",
        );
        let id: number | undefined;
        await attempt(
          "experiments.create",
          async () => (id = await db.experiments.create({ experimentName: "x\0y", numActors: 1 })),
          async () => (await db.experiments.get(id!))?.experimentName,
          "x\0y",
        );
        report("fuzz-finding-nul", { backend, outcomes });
      } finally {
        await db.close();
      }
    },
  );

  it("an impossible calendar date is refused, not shifted (2024-02-30 is not 2024-03-01)", async () => {
    const db = await RFDatabase.open({ url: ":memory:" });
    try {
      const ctx = await db.contexts.create({ contextHash: "dates" });
      const outcomes: Record<string, string> = {};
      for (const t of ["2024-02-30", "2023-02-29T10:00:00Z", "2024-04-31", "2024-06-31T00:00"]) {
        const err = await db.contexts.setStartTime(ctx, t).then(
          () => undefined,
          (e: unknown) => e,
        );
        outcomes[t] = err
          ? (err as Error).constructor.name
          : `stored ${(await db.contexts.get(ctx))!.startedAt!.toISOString()}`;
      }
      report("fuzz-finding-dates", { outcomes });
      for (const [t, outcome] of Object.entries(outcomes)) expect(outcome, t).toBe("ValidationError");
    } finally {
      await db.close();
    }
  });

  it("transaction(not a function) is a ValidationError, not a TypeError", async () => {
    const db = await RFDatabase.open({ url: ":memory:" });
    try {
      for (const fn of [undefined, null, 1, "x", {}, [], Symbol("s")]) {
        const err = await db.transaction(fn as never).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, `transaction(${String(fn)})`).toBeInstanceOf(ValidationError);
      }
    } finally {
      await db.close();
    }
  });

  it("resetAllTables refuses a non-boolean `experiments` flag (a truthy string must not delete every experiment)", async () => {
    const db = await RFDatabase.open({ url: ":memory:" });
    try {
      await db.experiments.create({ experimentName: "keep me", numActors: 1 });
      for (const opts of [{ experiments: "false" }, { experiments: 1 }, "yes", 5, null]) {
        const err = await db.resetAllTables(opts as never).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, `resetAllTables(${JSON.stringify(opts)})`).toBeInstanceOf(ValidationError);
        expect(await db.experiments.listNames()).toEqual(["keep me"]);
      }
    } finally {
      await db.close();
    }
  });
});
