/**
 * `rf-db check`: is the database healthy and the schema the migrations
 * define? Prints `ok: <url>`, or one problem per line and exits 1. Never
 * writes: the database is opened without migrating, and a missing local
 * file is reported, not created.
 */
import { existsSync } from "node:fs";
import { CliError, openDatabase, resolveTarget, type ConnectionOptions } from "./common";

export interface CheckCommandOptions extends ConnectionOptions {}

/**
 * Runs `db.check()` and prints the result; a database that cannot even be
 * opened (not a database, corrupt header) is a problem too.
 */
export async function runCheck(opts: CheckCommandOptions, print: (line: string) => void = console.log): Promise<void> {
  const target = resolveTarget(opts, false);
  if (target.kind === "file" && target.path && !existsSync(target.path)) {
    throw new CliError(`${target.path} does not exist`);
  }
  let db: Awaited<ReturnType<typeof openDatabase>>;
  try {
    // A local file is opened read-only: nothing is written, and a damaged file still opens (a writable open refuses it).
    db = await openDatabase(target.kind === "file" ? { ...target, readOnly: true } : target);
  } catch (err) {
    print(`cannot open the database: ${(err as Error).message}`);
    throw new CliError(`the database is not ok: it cannot be opened`);
  }
  try {
    const { ok, problems } = await db.check();
    if (ok) {
      print(`ok: ${db.url} (integrity, foreign keys, migrations recorded, tables match the migrations)`);
      return;
    }
    for (const p of problems) print(p);
    throw new CliError(
      `${db.url} is not ok: ${problems.length} problem${problems.length === 1 ? "" : "s"} (listed above)`,
    );
  } finally {
    await db.close();
  }
}
