/**
 * Holds the write lock of a database file from another process, with the
 * `libsql` package directly (not through rf-inferno-db): BEGIN IMMEDIATE,
 * insert one experiment row, print `locked`, hold `holdMs`, then COMMIT or
 * ROLLBACK, print `released`, exit.
 *
 *   node --import tsx tests/reliability/workers/lock-holder.ts '{"path":"/tmp/x.db","holdMs":1000,"end":"rollback","name":"holder"}'
 */
import Database from "libsql";
import { args, emit, fatal, sleep } from "./util";

interface Args {
  path: string;
  holdMs: number;
  end: "commit" | "rollback";
  name: string;
}

const a = args<Args>();
try {
  const db = new Database(a.path, { timeout: 5_000 });
  db.exec("BEGIN IMMEDIATE");
  db.prepare("INSERT INTO experiments (experiment_name, num_actors) VALUES (?, 1)").run(a.name);
  emit({ type: "locked", at: Date.now() });
  await sleep(a.holdMs);
  const releasedAt = Date.now();
  db.exec(a.end === "commit" ? "COMMIT" : "ROLLBACK");
  db.close();
  emit({ type: "released", at: releasedAt, end: a.end });
  emit({ type: "result" });
} catch (err) {
  fatal(err);
}
