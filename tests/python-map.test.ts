/**
 * The README's "From the Python module" table names every public method of
 * the Python module's RFDatabase (upstream 6dd53c1, read from the shared
 * anchors), so a port of the current dispatcher finds each one's
 * replacement; and every TypeScript call it names exists.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { RFDatabase } from "../src/index";
import { SHARED_DIR } from "./support/shared";

const readme = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8");
const start = readme.indexOf("## From the Python module");
const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
const rows = section.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| -"));

it.skipIf(!SHARED_DIR)("names every public method of the 6dd53c1 module", () => {
  const source = readFileSync(join(SHARED_DIR!, "anchors/rapidfireai-evals-db@6dd53c1/rf_db.py"), "utf8");
  const methods = new Set([...source.matchAll(/^ {4}def ([a-z][a-z0-9_]*)\(/gm)].map((m) => m[1]!));
  expect(methods.size).toBeGreaterThan(40);
  const python = new Set(
    rows.flatMap((r) => [...r.split("|")[1]!.matchAll(/`([a-z][a-z0-9_]*)\(/g)].map((m) => m[1]!)),
  );
  expect([...methods].filter((m) => !python.has(m)).sort(), "methods without a row").toEqual([]);
});

it("every db.<repository>.<method> it names exists", async () => {
  const db = await RFDatabase.open({ url: ":memory:" });
  try {
    const named = rows.flatMap((r) =>
      [...r.split("|")[2]!.matchAll(/`(\w+)\.(\w+)\(/g)].map((m): [string, string] => [m[1]!, m[2]!]),
    );
    expect(named.length).toBeGreaterThan(40);
    for (const [repo, method] of named) {
      const target = repo === "db" ? db : (db as unknown as Record<string, unknown>)[repo];
      expect(typeof (target as Record<string, unknown>)?.[method], `${repo}.${method}`).toBe("function");
    }
  } finally {
    await db.close();
  }
});
