/**
 * `rf-db migrate`: what a deploy runs before new code talks to a remote
 * database (`RFDatabase.open` only *checks* remote schemas). Safe to run
 * twice and from several machines at once — the migrator is race-safe.
 */
import { openDatabase, type ConnectionOptions } from "./common";

export interface MigrateCommandOptions extends ConnectionOptions {
  /** Adopt a database made without the migrator (drizzle-kit push): verify its tables, record the migrations. */
  baseline?: boolean;
  /** Only list applied and pending migrations (writes nothing; see ./migrate-plan). */
  status?: boolean;
  /** Only print what would be applied (writes nothing; see ./migrate-plan). */
  dryRun?: boolean;
}

/**
 * Applies pending migrations and says what it did, one line per migration.
 * `print` is injectable so the text can be checked without a child process.
 */
export async function runMigrate(
  opts: MigrateCommandOptions,
  print: (line: string) => void = console.log,
): Promise<void> {
  if (opts.status || opts.dryRun) return (await import("./migrate-plan")).runMigratePlan(opts, print);
  // migrate: false — open must not apply (or refuse over) the schema itself;
  // this command does it explicitly so it can report each step.
  const db = await openDatabase(opts, false);
  try {
    if (opts.baseline) {
      print(`Baselining ${db.url}`);
      const { applied, created, baselined } = await db.migrate({
        baseline: true,
        onApplied: (m) => print(`  recorded ${m.tag}`),
      });
      if (applied.length === 0) {
        print("Already recorded: the migrations are recorded in this database; nothing to do.");
        return;
      }
      if (!baselined) {
        print(`None of the package's tables existed: applied ${applied.length} migration(s) instead.`);
        return;
      }
      print("The tables match the migrations.");
      for (const c of created ?? []) print(`  created ${c} (not made by drizzle-kit push)`);
      print(`Done: recorded ${applied.length} migration${applied.length === 1 ? "" : "s"} as applied.`);
      return;
    }
    print(`Migrating ${db.url}`);
    const { applied, state } = await db.migrate({ onApplied: (m) => print(`  applied ${m.tag}`) });
    const latest = state.latest?.tag ?? "none";
    if (applied.length === 0) print(`Already up to date (latest migration: ${latest}).`);
    else print(`Done: ${applied.length} migration${applied.length === 1 ? "" : "s"} applied; schema is at ${latest}.`);
  } finally {
    await db.close();
  }
}
