/** Captures the package's SQL plan (bench/lib/plan.ts) twice, on scratch databases, and checks the two agree. */
import Database from "libsql";
import { RFDatabase } from "../../src/index";
import type { FreshFiles } from "./files";
import { assertSamePlan, capturePlan, type Plan } from "./plan";

/**
 * `url` (optional): capture on that (empty, migrated) database instead of a
 * scratch file — e.g. a fresh sqld, to record exactly what the package sends
 * remotely. SQLite is asked on a scratch file which statements are readers.
 */
export async function makePlan(files: FreshFiles, urls?: [string, string]): Promise<Plan> {
  const probeFile = await files.make();
  const probe = new Database(probeFile);
  const isReader = (sql: string) => {
    const s = probe.prepare(sql);
    return { reader: s.reader, columns: s.reader ? s.columns().map((c) => c.name) : [] };
  };
  try {
    const plans: Plan[] = [];
    for (const variant of [0, 1] as const) {
      const path = urls ? undefined : await files.make();
      const db = await RFDatabase.open({ url: urls ? urls[variant] : `file:${path}`, migrate: urls ? false : "auto" });
      try {
        plans.push(await capturePlan(db, isReader, variant));
      } finally {
        await db.close();
        if (path) files.remove(path);
      }
    }
    assertSamePlan(plans[0]!, plans[1]!);
    return plans[0]!;
  } finally {
    probe.close();
    files.remove(probeFile);
  }
}
