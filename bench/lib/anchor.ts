/**
 * The Python module this package replaces, as a benchmark contender.
 *
 * The module is not in this repository: it lives in the project's shared
 * folder (`shared/anchors/rapidfireai-evals-db@6158eec`, beside the clone in
 * CI: `<repo>/../shared`). At bench time it is laid out as an importable
 * package in a scratch folder (shared/ may be read-only), exactly as
 * shared/anchors/README.md describes, and run by bench/python/workload.py in
 * fresh `python3` processes. Nothing of it is copied into the repository.
 *
 * Without `python3`, or without the anchor folder, the Python contenders are
 * skipped with the reason printed (and recorded in the results).
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

export const ANCHOR = "rapidfireai-evals-db@6158eec";

export interface PythonAnchor {
  /** `python3` and its versions, e.g. "3.11.7 sqlite 3.40.1". */
  python: string;
  /** The anchor's source folder (read only). */
  source: string;
  /** The scratch folder to put on PYTHONPATH (holds `rapidfireai/evals/…`). */
  pythonPath: string;
  remove(): void;
}

/** `shared/anchors/<ANCHOR>` in the nearest ancestor of `root` that has it (or `RF_BENCH_ANCHORS`/<ANCHOR>). */
export function findAnchor(root: string): string | null {
  const env = process.env.RF_BENCH_ANCHORS;
  if (env) {
    const p = resolve(env, ANCHOR);
    return existsSync(join(p, "rf_db.py")) ? p : null;
  }
  for (let dir = resolve(root); ; dir = dirname(dir)) {
    const p = join(dir, "shared", "anchors", ANCHOR);
    if (existsSync(join(p, "rf_db.py"))) return p;
    if (dirname(dir) === dir) return null;
  }
}

export function pythonVersion(): string | null {
  try {
    return execFileSync(
      "python3",
      ["-c", "import sys, sqlite3; print(sys.version.split()[0], 'sqlite', sqlite3.sqlite_version)"],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
    ).trim();
  } catch {
    return null;
  }
}

/** Lays the module out as a package, or says why it cannot. */
export function layOutAnchor(root: string): PythonAnchor | { skipped: string } {
  const python = pythonVersion();
  if (!python) return { skipped: "python3 not found on PATH" };
  const source = findAnchor(root);
  if (!source)
    return {
      skipped: `${ANCHOR} not found (looked for shared/anchors/${ANCHOR} above ${root}; or set RF_BENCH_ANCHORS)`,
    };
  const dir = mkdtempSync(join(tmpdir(), "rf-bench-anchor-"));
  const pkg = join(dir, "rapidfireai", "evals");
  mkdirSync(join(pkg, "db"), { recursive: true });
  mkdirSync(join(pkg, "utils"), { recursive: true });
  for (const f of ["rf_db.py", "db_interface.py", "tables.sql"]) copyFileSync(join(source, f), join(pkg, "db", f));
  copyFileSync(join(source, "constants.py"), join(pkg, "utils", "constants.py"));
  for (const d of [join(dir, "rapidfireai"), pkg, join(pkg, "db"), join(pkg, "utils")])
    writeFileSync(join(d, "__init__.py"), "");
  return { python, source, pythonPath: dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
