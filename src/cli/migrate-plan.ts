/**
 * `rf-db migrate --status` and `rf-db migrate --dry-run`: what the migrator
 * would see and do, without writing anything — a local file is opened
 * read-only (a missing one is not created), a remote database is only read.
 *
 * --status   every migration of this package, applied or pending, and the
 *            database's state (empty, behind, current, ahead, diverged, unrecorded);
 * --dry-run  the migrations `rf-db migrate` would apply, with their SQL, or
 *            why it would refuse (exit 1, as the real run would).
 */
import { existsSync } from "node:fs";
import type { ResolvedConfig } from "../config";
import type { SchemaState } from "../migrate";
import { MIGRATIONS } from "../migrate";
import { CliError, openDatabase, resolveTarget, type ConnectionOptions } from "./common";

/** What each state means for `rf-db migrate`, in one line. */
const MEANING: Record<SchemaState["state"], string> = {
  empty: "no migration applied yet: `rf-db migrate` applies them all",
  behind: "`rf-db migrate` applies the pending ones",
  current: "up to date: `rf-db migrate` has nothing to do",
  ahead: "migrated by a newer rf-inferno-db: `rf-db migrate` refuses; upgrade the package",
  diverged: "the recorded migrations differ from this package's: `rf-db migrate` refuses",
  unrecorded:
    "tables without migration records (drizzle-kit push): `rf-db migrate` refuses; run `rf-db migrate --baseline`",
};

/** The database's schema state, read without writing (null: a local file that does not exist). */
async function readState(target: ResolvedConfig): Promise<{ url: string; state: SchemaState | null }> {
  if (target.kind === "file" && target.path && !existsSync(target.path)) return { url: target.url, state: null };
  const db = await openDatabase(target.kind === "file" ? { ...target, readOnly: true } : target);
  try {
    return { url: db.url, state: await db.schemaState() };
  } finally {
    await db.close();
  }
}

/**
 * `rf-db migrate --status` / `--dry-run` (exactly one of them).
 * `print` is injectable so the text can be checked without a child process.
 */
export async function runMigratePlan(
  opts: ConnectionOptions & { status?: boolean; dryRun?: boolean },
  print: (line: string) => void = console.log,
): Promise<void> {
  const target = resolveTarget(opts, false);
  const { url, state } = await readState(target);
  const pending = state === null ? [...MIGRATIONS] : state.pending;
  const kind: SchemaState["state"] = state === null ? "empty" : state.state;
  if (opts.status) {
    const tags = new Map(MIGRATIONS.map((m) => [m.hash, m.tag]));
    const applied = state?.applied ?? [];
    print(`Migrations of ${url}${state === null ? " (the file does not exist yet)" : ""}: ${kind} — ${MEANING[kind]}`);
    print(
      `  ${applied.length} applied, ${kind === "current" || kind === "behind" || kind === "empty" ? pending.length : "?"} pending`,
    );
    for (const a of applied)
      print(`  applied  ${tags.get(a.hash) ?? `(not this package's: recorded at ${a.createdAt})`}`);
    if (kind === "current" || kind === "behind" || kind === "empty")
      for (const m of pending) print(`  pending  ${m.tag}`);
    return;
  }
  if (kind === "ahead" || kind === "diverged" || kind === "unrecorded")
    throw new CliError(`rf-db migrate would refuse ${url}: ${MEANING[kind]}`);
  print(`Dry run on ${url} (nothing written):`);
  if (pending.length === 0) {
    print("  nothing to apply: the database is up to date.");
    return;
  }
  print(`  ${pending.length} migration${pending.length === 1 ? "" : "s"} would be applied, each in one transaction:`);
  for (const m of pending) {
    print(`  ${m.tag} (${m.statements.length} statement${m.statements.length === 1 ? "" : "s"})`);
    for (const s of m.statements) print(s.replace(/^/gm, "      "));
  }
}
