/**
 * `importLegacy(path, db)`: a database written by RapidFire's Python module,
 * read read-only, written into `db` all at once (`db.executeAtomic`: one
 * transaction on a local database, progress reported between statements; one
 * batch, one request, on a remote one, where sqld aborts interactive
 * transactions held ~5 s). Idempotent through `legacy_imports` (see its
 * schema). Node only.
 */
import { eq, getTableName, inArray, sql } from "drizzle-orm";
import type { RFDatabaseBase } from "../database";
import { gather, LegacyImportError, ValidationError } from "../errors";
import type { Executor } from "../repositories";
import * as schema from "../schema";
import { DB_NOW_MS } from "../schema";
import { type Converted, convertLegacy, type Counts, type Entity } from "./convert";
import { secureConverted } from "./secure";
import { type ImportProgress, type LegacySource, readLegacy } from "./read";
import type { LegacyVersion } from "./schema";
import { type InsertStatement, insertStatements } from "./statements";
import type { NaiveTimes } from "./time";

export type { ImportProgress } from "./read";
export type { NaiveTimes } from "./time";

export interface ImportLegacyOptions {
  /**
   * How times the module wrote without a zone (`datetime.now().isoformat()`:
   * task and context start/end times) are read: as this machine's local time
   * (default — the module wrote local time) or as UTC.
   */
  naiveTimes?: NaiveTimes;
  /** Called as rows are read and written (for a progress bar). */
  onProgress?: (progress: ImportProgress) => void;
}

/** What an import did: rows written per table, or — `alreadyImported` — nothing, because it was done before. */
export interface LegacyImportResult extends Counts {
  alreadyImported: boolean;
  /** When the rows were imported (this call, or the earlier import). */
  importedAt: Date;
  schemaVersion: LegacyVersion;
  /** sha256 of the source's rows; recorded in `legacy_imports`. */
  fingerprint: string;
  /** The source file (absolute). */
  source: string;
  /** Rows left out or changed, in words (orphans, duplicate run ids …). */
  warnings: string[];
}

const ENTITIES: readonly Entity[] = ["experiments", "contexts", "pipelines", "actorTasks", "icOperations"];
const TABLES = {
  experiments: [schema.experiments, "experiment_id"],
  contexts: [schema.contexts, "context_id"],
  pipelines: [schema.pipelines, "pipeline_id"],
  actorTasks: [schema.actorTasks, "task_id"],
  icOperations: [schema.icOperations, "ic_id"],
} as const;

/**
 * Imports the database RapidFire's Python module wrote at `path` into `db`.
 * The source is only read; bad or unknown files are a `LegacyImportError` and
 * nothing is written. A second call with the same source imports nothing.
 * @example
 * const counts = await importLegacy("/home/me/db/rapidfire.python-20261130-120000.db", db);
 * console.log(counts.pipelines, counts.alreadyImported);
 */
export async function importLegacy(
  path: string,
  db: RFDatabaseBase,
  options: ImportLegacyOptions = {},
): Promise<LegacyImportResult> {
  const o = checkOptions(path, options);
  const source = readLegacy(path, o.onProgress);
  return writeLegacy(source, db, o);
}

/** Writes an already-read source (the CLI reads before it moves the file aside). */
export async function writeLegacy(
  source: LegacySource,
  db: RFDatabaseBase,
  options: ImportLegacyOptions = {},
): Promise<LegacyImportResult> {
  const naiveTimes = options.naiveTimes ?? "local";
  const base = { schemaVersion: source.version, fingerprint: source.fingerprint, source: source.path };
  const attempt = async (): Promise<LegacyImportResult> => {
    const target = await readTarget(db.drizzle, source);
    if (target.done) return { ...base, ...zero(), alreadyImported: true, importedAt: target.done, warnings: [] };
    const rows = convertLegacy(source, { naiveTimes, offsets: target.offsets, existingContexts: target.contexts });
    await secureConverted(rows, db.redactKeys);
    const counts = Object.fromEntries(ENTITIES.map((e) => [e, rows[e].length])) as Counts;
    const statements = plan(source, rows, counts, target.now);
    const total = statements.reduce((n, s) => n + s.rows, 0);
    let done = 0;
    options.onProgress?.({ phase: "write", done, total });
    await db.executeAtomic(
      statements.map((s) => s.statement),
      (i) => {
        done += statements[i]!.rows;
        options.onProgress?.({ phase: "write", done, total });
      },
    );
    return { ...base, ...counts, alreadyImported: false, importedAt: new Date(target.now), warnings: rows.warnings };
  };
  try {
    return await attempt();
  } catch (err) {
    // Another import of the same source committed between our read and our write: its
    // bookkeeping row's UNIQUE fingerprint failed our statements whole. Report that import.
    if (!gather(err).text.includes("legacy_imports.fingerprint")) throw err;
    return attempt();
  }
}

/**
 * The statements of one import, bookkeeping row first: its UNIQUE fingerprint
 * makes a concurrent import of the same source fail whole. Ids are explicit,
 * so rows keep their (offset) legacy ids and references between them hold.
 */
function plan(source: LegacySource, rows: Converted, counts: Counts, nowMs: number): InsertStatement[] {
  const at = new Date(nowMs);
  const record = {
    fingerprint: source.fingerprint,
    origin: source.origin,
    sourcePath: source.path,
    schemaVersion: source.version,
    counts,
    createdAt: at,
    updatedAt: at,
  };
  const out = insertStatements(schema.legacyImports, [record], nowMs).map((s) => ({ ...s, rows: 0 }));
  for (const entity of ENTITIES) {
    out.push(...insertStatements(TABLES[entity][0], rows[entity] as Record<string, unknown>[], nowMs));
  }
  return out;
}

interface TargetState {
  /** When this source was imported, if it was. */
  done: Date | undefined;
  offsets: Counts;
  contexts: Map<string, number>;
  now: number;
}

/** What the import needs from the target: was it done, the largest ids ever used, known context hashes, the clock. */
async function readTarget(exec: Executor, source: LegacySource): Promise<TargetState> {
  const li = schema.legacyImports;
  const earlier = await exec.select().from(li).where(eq(li.origin, source.origin)).orderBy(li.importId);
  const same = earlier.find((e) => e.fingerprint === source.fingerprint);
  // The largest id each table ever handed out (AUTOINCREMENT's sqlite_sequence, or the rows), the clock.
  const offsetsSql = ENTITIES.map((e, i) => {
    const [table, key] = TABLES[e];
    const name = sql.raw(`'${getTableName(table)}'`);
    return sql`max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = ${name}), 0), coalesce((SELECT max(${sql.raw(key)}) FROM ${table}), 0)) AS ${sql.raw(`v${i}`)}`;
  });
  const row = await exec.get<Record<string, unknown>>(
    sql`SELECT ${sql.join(offsetsSql, sql`, `)}, (SELECT count(*) FROM ${schema.contexts}) AS v5, ${DB_NOW_MS} AS v6`,
  );
  const values = [0, 1, 2, 3, 4, 5, 6].map((i) => Number(row?.[`v${i}`]));
  const now = values[6]!;
  if (same) return { done: same.createdAt, offsets: zero(), contexts: new Map(), now };
  if (earlier.length > 0) {
    const first = earlier[0]!;
    throw new LegacyImportError(
      `${source.path} was imported before (on ${first.createdAt.toISOString()}, from ${first.sourcePath}) and has changed ` +
        "since; importing it again would duplicate its rows. Import it into a new database (--url), or delete the " +
        "earlier import's experiments and its legacy_imports row first",
      "changed-since-import",
    );
  }
  const offsets = Object.fromEntries(ENTITIES.map((e, i) => [e, values[i]!])) as Counts;
  const contexts = new Map<string, number>();
  if (values[5]! > 0) {
    const hashes = source.rows.contexts.map((c) => String(c.context_hash));
    for (let i = 0; i < hashes.length; i += 500) {
      const found = await exec
        .select({ id: schema.contexts.contextId, hash: schema.contexts.contextHash })
        .from(schema.contexts)
        .where(inArray(schema.contexts.contextHash, hashes.slice(i, i + 500)));
      for (const f of found) contexts.set(f.hash, f.id);
    }
  }
  return { done: undefined, offsets, contexts, now };
}

function zero(): Counts {
  return { experiments: 0, contexts: 0, pipelines: 0, actorTasks: 0, icOperations: 0 };
}

function checkOptions(path: unknown, options: unknown): ImportLegacyOptions {
  if (typeof path !== "string" || path === "")
    throw new ValidationError("importLegacy: path must be a non-empty string", { field: "path" });
  if (typeof options !== "object" || options === null)
    throw new ValidationError("importLegacy: options must be an object", { field: "options" });
  for (const key of Object.keys(options)) {
    if (key !== "naiveTimes" && key !== "onProgress")
      throw new ValidationError(`importLegacy: unknown option ${JSON.stringify(key)}`, { field: key });
  }
  const o = options as ImportLegacyOptions;
  if (o.naiveTimes !== undefined && o.naiveTimes !== "local" && o.naiveTimes !== "utc") {
    throw new ValidationError('importLegacy: naiveTimes must be "local" or "utc"', { field: "naiveTimes" });
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== "function") {
    throw new ValidationError("importLegacy: onProgress must be a function", { field: "onProgress" });
  }
  return o;
}
