/**
 * The statement templates generated at build time
 * (src/repositories/engine/generated-statements.ts) are exactly what the
 * repositories' Drizzle builders render today, and with them a fresh process
 * builds no statement with Drizzle. Fails after a change to a statement or
 * to the schema until `npm run db:statements` is run.
 */
import { describe, expect, it } from "vitest";
import { RFDatabase } from "../src/index";
import { drizzleBuilds, renderedTemplates, slowPath, statementsOf } from "../src/repositories/engine";
import { GENERATED_STATEMENTS } from "../src/repositories/engine/generated-statements";
import { exerciseStatements, renderStatements } from "./support/statement-exercise";

const FIX = "run `npm run db:statements` to regenerate src/repositories/engine/generated-statements.ts";

describe("generated statement templates", () => {
  it("are what Drizzle renders now, statement for statement", async () => {
    const { statements } = await renderStatements();
    const keys = (s: typeof statements) =>
      Object.entries(s).flatMap(([owner, byKey]) => Object.keys(byKey).map((k) => `${owner}.${k}`));
    const stale = keys(GENERATED_STATEMENTS).filter((k) => !keys(statements).includes(k));
    const missing = keys(statements).filter((k) => !keys(GENERATED_STATEMENTS).includes(k));
    expect(stale, `generated but no longer rendered: ${FIX}`).toEqual([]);
    expect(missing, `rendered but not generated: ${FIX}`).toEqual([]);
    for (const [owner, byKey] of Object.entries(statements)) {
      for (const [key, g] of Object.entries(byKey)) {
        expect(GENERATED_STATEMENTS[owner]?.[key], `${owner}.${key} differs from what Drizzle renders: ${FIX}`).toEqual(
          g,
        );
      }
    }
  });

  it("let a fresh database run every statement without building one with Drizzle", async () => {
    const { skipped } = await renderStatements(); // also empties the shared template cache
    const before = drizzleBuilds;
    const db = await RFDatabase.open({ url: ":memory:" });
    try {
      await exerciseStatements(db);
      // Only statements that cannot be stored are built (none today); each generated one runs on the fast path.
      expect(drizzleBuilds - before).toBe(skipped.length);
      expect([...renderedTemplates().values()].flatMap((m) => [...m.keys()])).toHaveLength(skipped.length);
      for (const repo of ["experiments", "contexts", "pipelines", "actorTasks", "icOperations"] as const) {
        for (const [key, stmt] of statementsOf(db[repo])!.entries()) expect(stmt.fast, `${repo}.${key}`).toBe(true);
      }
      expect([...slowPath]).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
