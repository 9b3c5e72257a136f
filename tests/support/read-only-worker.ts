/**
 * Run by local-file.test.ts as another user (or in a read-only directory):
 * opens the database at argv[2] read-only, reads it, tries a write, then
 * tries a writable open; prints one JSON line with what happened.
 */
import { RFDatabase } from "../../src/index";

const path = process.argv[2]!;
const describe = (err: unknown) => {
  const e = err as { name?: string; reason?: string; message?: string };
  return { name: e?.name, reason: e?.reason, message: e?.message };
};
const out: Record<string, unknown> = {};
const db = await RFDatabase.open({ url: `file:${path}`, readOnly: true });
out.names = await db.experiments.listNames();
try {
  await db.experiments.create({ experimentName: "no", numActors: 1 });
  out.writeError = null;
} catch (err) {
  out.writeError = describe(err);
}
await db.close();
try {
  await (await RFDatabase.open({ url: `file:${path}` })).close();
  out.writableOpen = null;
} catch (err) {
  out.writableOpen = describe(err);
}
console.log(JSON.stringify(out));
