/**
 * Builds every repository statement once, and renders what the statement
 * engine made of each into the form src/repositories/engine/generated-statements.ts
 * stores. Shared by scripts/generate-statements.ts (which writes the file) and
 * tests/generated-statements.test.ts (which fails when the file differs).
 *
 * The exercise: every call of repository-calls.ts (one per public method,
 * plus the variants that send other SQL) on a seed, again inside a
 * transaction, and `setStatus` to every status of every entity (each target
 * status is a statement of its own). A statement it does not reach is simply
 * built with Drizzle at run time, as before.
 */
import { RFDatabase, type Repositories } from "../../src/index";
import {
  forgetTemplates,
  type GeneratedStatements,
  renderedTemplates,
  serializeTemplate,
  useGeneratedStatements,
} from "../../src/repositories/engine";
import {
  ACTOR_TASK_STATUSES,
  CONTEXT_STATUSES,
  EXPERIMENT_STATUSES,
  IC_STATUSES,
  PIPELINE_STATUSES,
} from "../../src/schema";
import { CALLS, seedRows } from "./repository-calls";

/** Runs every statement of every repository of `db` at least once. */
export async function exerciseStatements(db: RFDatabase): Promise<void> {
  const ids = await seedRows(db);
  for (const call of CALLS) await call.run(db, ids);
  await db.transaction(async (tx) => {
    const txIds = await seedRows(tx);
    for (const call of CALLS) await call.run(tx, txIds);
  });
  const moves: [keyof Repositories, readonly string[], number][] = [
    ["experiments", EXPERIMENT_STATUSES, ids.experimentId],
    ["contexts", CONTEXT_STATUSES, ids.contextId],
    ["pipelines", PIPELINE_STATUSES, ids.pipelineId],
    ["actorTasks", ACTOR_TASK_STATUSES, ids.taskId],
    ["icOperations", IC_STATUSES, ids.icId],
  ];
  for (const [repo, statuses, id] of moves) {
    const r = db[repo] as unknown as { setStatus(id: number, s: string): Promise<void> };
    // Whether the row may move there does not matter: the statement is built before it runs.
    for (const s of statuses) await r.setStatus(id, s).catch(() => undefined);
  }
}

/**
 * Every statement rendered by Drizzle now (generated templates off), as the
 * generated file stores them, sorted; `skipped`: statements that cannot be
 * stored (built with Drizzle at run time). Leaves the generated templates on
 * and the shared template cache empty.
 */
export async function renderStatements(): Promise<{ statements: GeneratedStatements; skipped: string[] }> {
  useGeneratedStatements(false);
  forgetTemplates();
  try {
    const db = await RFDatabase.open({ url: ":memory:" });
    try {
      await exerciseStatements(db);
    } finally {
      await db.close();
    }
    const statements: GeneratedStatements = {};
    const skipped: string[] = [];
    for (const owner of [...renderedTemplates().keys()].sort()) {
      const byKey = renderedTemplates().get(owner)!;
      const out: GeneratedStatements[string] = {};
      for (const key of [...byKey.keys()].sort()) {
        const g = serializeTemplate(byKey.get(key)!);
        if (g === null) skipped.push(`${owner}.${key}`);
        else out[key] = g;
      }
      statements[owner] = out;
    }
    return { statements, skipped };
  } finally {
    useGeneratedStatements(true);
    forgetTemplates();
  }
}
