/**
 * `rf-db import [<legacy.db>]`: moves a database written by RapidFire's
 * Python module into this package's database (`--url`, else `$RF_DB_URL`,
 * else the embedded default), in one transaction, printing counts per table.
 *
 * Without a file it takes the Python database that sits where the target
 * should be — typically `~/db/rapidfire.db`, the path both use by default —
 * renames it aside (unchanged, byte for byte; the new name is printed) and
 * imports it into a new database at that path. Otherwise it looks for the
 * module's databases in the default directory (`rapidfire.db`, and
 * `rapidfire_evals.db` as the current module names it) and reads them in place.
 * Sources are read completely before anything moves; if writing then fails,
 * the new file is removed and the Python database put back.
 */
import { existsSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { ResolvedConfig } from "../config";
import { convertLegacy } from "../legacy/convert";
import { type LegacyImportResult, writeLegacy } from "../legacy/import";
import { moveAside, moveBack } from "../legacy/move-aside";
import { peekSchema } from "../legacy/peek";
import { type LegacySource, readLegacy } from "../legacy/read";
import { defaultDatabaseUrl } from "../node-config";
import { legacyImports } from "../schema";
import { CliError, type ConnectionOptions, formatDuration, openDatabase, resolveTarget } from "./common";
import { importProgressBar } from "./import-progress";

export interface ImportCommandOptions extends ConnectionOptions {
  naiveTimes?: "local" | "utc";
  /** `--no-progress` sets false. */
  progress?: boolean;
}

const ZERO = { experiments: 0, contexts: 0, pipelines: 0, actorTasks: 0, icOperations: 0 };

const LABELS = [
  ["experiments", "experiments"],
  ["contexts", "contexts"],
  ["pipelines", "pipelines"],
  ["actorTasks", "actor tasks"],
  ["icOperations", "IC operations"],
] as const;

/** What tests may replace: where lines go, and the writer (to make a write fail after the move). */
export interface ImportIo {
  print?: (line: string) => void;
  write?: typeof writeLegacy;
}

/** Runs the command. */
export async function runImport(
  file: string | undefined,
  opts: ImportCommandOptions,
  io: ImportIo = {},
): Promise<void> {
  const print = io.print ?? console.log;
  const write = io.write ?? writeLegacy;
  const naive = opts.naiveTimes ? { naiveTimes: opts.naiveTimes } : {};
  const target = resolveTarget(opts);
  const targetPath = target.kind === "file" ? resolve(target.path!) : undefined;
  const found =
    file === undefined ? findLegacy(targetPath) : [{ path: resolve(file), aside: resolve(file) === targetPath }];
  if (found.length === 0) return nothingFound(target, targetPath, print);

  const bar = importProgressBar({ enabled: opts.progress !== false });
  const sources: { source: LegacySource; aside: boolean }[] = [];
  // (read before anything moves or is opened for writing)
  try {
    for (const f of found) {
      const source = readLegacy(f.path, (p) => bar.update(p));
      sources.push({ source, aside: f.aside });
    }
  } finally {
    bar.stop();
  }

  let kept: { from: string; to: string } | undefined;
  const aside = sources.find((s) => s.aside);
  if (aside) {
    // A row the import cannot carry over is found now, before anything moves (the real
    // conversion, against the target's ids, happens in the write).
    convertLegacy(aside.source, { naiveTimes: "local", ...naive, offsets: ZERO, existingContexts: new Map() });
    kept = { from: aside.source.path, to: moveAside(aside.source.path) };
    aside.source = { ...aside.source, path: kept.to };
    print(`Kept the Python database, unchanged, as ${kept.to}`);
  }
  let imported = false;
  try {
    const db = await openDatabase(target);
    try {
      for (const { source } of sources) {
        print(`Importing ${source.path} (RapidFire's Python module, schema ${source.version}) into ${db.url}`);
        const t0 = performance.now();
        const bar = importProgressBar({ enabled: opts.progress !== false });
        let result: LegacyImportResult;
        try {
          result = await write(source, db, { ...naive, onProgress: (p) => bar.update(p) });
        } finally {
          bar.stop();
        }
        report(result, performance.now() - t0, print);
        imported ||= !result.alreadyImported;
      }
    } finally {
      await db.close();
    }
  } catch (err) {
    if (!kept) throw err;
    // Nothing of the import was committed: remove the new database and put the Python one back.
    for (const side of ["", "-wal", "-shm", "-journal"]) rmSync(kept.from + side, { force: true });
    moveBack(kept.to, kept.from);
    const message = err instanceof Error ? err.message : String(err);
    throw new CliError(`${message} (nothing was imported; the Python database is back at ${kept.from})`, 1, {
      cause: err,
    });
  }
  if (imported) print("See them with: rf-db status");
}

/** Without a file: the target itself if the module wrote it, then the module's default files. */
function findLegacy(targetPath: string | undefined): { path: string; aside: boolean }[] {
  const found: { path: string; aside: boolean }[] = [];
  if (targetPath && peekSchema(targetPath)?.kind === "legacy") found.push({ path: targetPath, aside: true });
  const defaultPath = defaultDatabaseUrl().slice("file:".length);
  for (const path of [defaultPath, join(dirname(defaultPath), "rapidfire_evals.db")]) {
    if (path !== targetPath && peekSchema(path)?.kind === "legacy") found.push({ path, aside: false });
  }
  return found;
}

async function nothingFound(target: ResolvedConfig, targetPath: string | undefined, print: (l: string) => void) {
  const defaultPath = defaultDatabaseUrl().slice("file:".length);
  if (target.kind !== "memory" && (!targetPath || existsSync(targetPath))) {
    const db = await openDatabase(target);
    try {
      const done = await db.drizzle.select().from(legacyImports).orderBy(legacyImports.importId);
      if (done.length > 0) {
        for (const d of done) {
          print(`Nothing to import: ${db.url} already holds ${d.sourcePath} (imported ${d.createdAt.toISOString()}).`);
        }
        return;
      }
    } finally {
      await db.close();
    }
  }
  throw new CliError(
    `no database written by RapidFire's Python module at ${defaultPath} (nor rapidfire_evals.db beside it); ` +
      "pass its path: rf-db import <legacy.db>",
  );
}

function report(r: LegacyImportResult, ms: number, print: (line: string) => void): void {
  if (r.alreadyImported) {
    print(
      `Already imported on ${r.importedAt.toISOString()} (fingerprint ${r.fingerprint.slice(0, 12)}…): nothing to do.`,
    );
    return;
  }
  print(`Imported in ${formatDuration(ms)}:`);
  for (const [key, label] of LABELS) print(`  ${label.padEnd(14)} ${String(r[key]).padStart(9)}`);
  for (const w of r.warnings) print(`  note: ${w}`);
}
