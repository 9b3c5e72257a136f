/**
 * The project's shared reference material (`../shared` beside the clone in
 * CI; two levels up from a worktree under `wt/`): the Python module's two
 * upstream versions (`anchors/`) and databases they wrote (`fixtures/legacy/`).
 * Read in place, never written: copy a file before anything opens it for writing.
 */
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The shared directory, or undefined (tests then skip with a printed reason). */
export const SHARED_DIR: string | undefined = [
  process.env.RF_SHARED_DIR,
  resolve(ROOT, "../shared"),
  resolve(ROOT, "../../shared"),
].find((d): d is string => !!d && existsSync(join(d, "fixtures/legacy/expected.json")));

export const FIXTURE_NAMES = ["rapidfire-6158eec.db", "rapidfire-6dd53c1.db"] as const;
export type FixtureName = (typeof FIXTURE_NAMES)[number];

/** Why legacy tests are skipped, printed once per file. */
export function skipReason(): string | undefined {
  return SHARED_DIR
    ? undefined
    : "legacy tests skipped: no shared/fixtures/legacy beside the clone (set RF_SHARED_DIR)";
}

export function fixturePath(name: FixtureName): string {
  return join(SHARED_DIR!, "fixtures/legacy", name);
}

/** expected.json: what an import of each fixture must reproduce. */
export function expected(): Record<FixtureName, Record<string, unknown>> {
  return JSON.parse(readFileSync(join(SHARED_DIR!, "fixtures/legacy/expected.json"), "utf8"));
}

/** The Python module's DDL of one upstream version (read at run time, never copied into the repo). */
export function anchorTablesSql(version: "6158eec" | "6dd53c1"): string {
  return readFileSync(join(SHARED_DIR!, `anchors/rapidfireai-evals-db@${version}/tables.sql`), "utf8");
}

export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Copies a fixture to `dir/as` and returns the copy's path. */
export function copyFixture(name: FixtureName, dir: string, as: string = name): string {
  const to = join(dir, as);
  copyFileSync(fixturePath(name), to);
  chmodSync(to, 0o644); // the fixtures are read-only; a user's file is not
  return to;
}

/** The fixtures directory's listing, to prove reading in place created nothing beside the files. */
export function fixtureListing(): string[] {
  return readdirSync(join(SHARED_DIR!, "fixtures/legacy")).sort();
}
