/**
 * `rf-db migrate`: what a deploy runs before new code talks to a remote
 * database (`RFDatabase.open` only *checks* remote schemas). Safe to run
 * twice and from several machines at once — the migrator is race-safe.
 */
import { openDatabase, type ConnectionOptions } from "./common";

export interface MigrateCommandOptions extends ConnectionOptions {}

/**
 * Applies pending migrations and says what it did, one line per migration.
 * `print` is injectable so the text can be checked without a child process.
 */
export async function runMigrate(
  opts: MigrateCommandOptions,
  print: (line: string) => void = console.log,
): Promise<void> {
  // migrate: false — open must not apply (or refuse over) the schema itself;
  // this command does it explicitly so it can report each step.
  const db = await openDatabase(opts, false);
  try {
    print(`Migrating ${db.url}`);
    const { applied, state } = await db.migrate({ onApplied: (m) => print(`  applied ${m.tag}`) });
    const latest = state.latest?.tag ?? "none";
    if (applied.length === 0) print(`Already up to date (latest migration: ${latest}).`);
    else print(`Done: ${applied.length} migration${applied.length === 1 ? "" : "s"} applied; schema is at ${latest}.`);
  } finally {
    await db.close();
  }
}
