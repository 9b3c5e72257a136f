/**
 * Concurrent-migrate worker: loads the package, prints `ready`, waits for the
 * go file, then migrates — either `RFDatabase.open({ url, migrate: true })`
 * or `open({ migrate: false })` + `db.migrate()` (which reports what this
 * process applied) — and prints the outcome.
 */
import { RFDatabase } from "../../../src/index";
import { args, describeError, emit, waitForGo } from "./util";

interface Args {
  url: string;
  goFile: string;
  how: "open" | "migrate";
}

const a = args<Args>();
emit({ type: "ready", pid: process.pid });
await waitForGo(a.goFile);
const t0 = performance.now();
let db: RFDatabase | undefined;
try {
  let applied: string[] | null = null;
  if (a.how === "open") {
    db = await RFDatabase.open({ url: a.url, migrate: true });
  } else {
    db = await RFDatabase.open({ url: a.url, migrate: false });
    applied = (await db.migrate()).applied.map((m) => m.tag);
  }
  const state = (await db.schemaState()).state;
  // Usable straight away.
  const id = await db.experiments.create({ experimentName: `migrated-by-${process.pid}`, numActors: 1 });
  emit({
    type: "result",
    ok: true,
    how: a.how,
    applied,
    state,
    experimentId: id,
    ms: Math.round(performance.now() - t0),
  });
} catch (err) {
  emit({ type: "result", ok: false, how: a.how, error: describeError(err), ms: Math.round(performance.now() - t0) });
  process.exitCode = 1;
} finally {
  await db?.close();
}
