/**
 * importLegacy on the two fixtures the Python module wrote (read in place from
 * ../shared: reading must create nothing there), into a fresh database on
 * every backend (memory, file, sqld): everything expected.json lists, the
 * source byte for byte unchanged, and a second import that imports nothing.
 */
import { asc } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { importLegacy, type LegacyImportResult, type RFDatabase } from "../../src/index";
import { actorTasks, experiments, icOperations, legacyImports, pipelines } from "../../src/schema";
import { type Backend, BACKENDS, openBackend } from "../support/backends";
import {
  expected,
  FIXTURE_NAMES,
  type FixtureName,
  fixtureListing,
  fixturePath,
  sha256File,
  skipReason,
} from "../support/shared";

const skip = skipReason();
if (skip) console.log(skip);

/** Everything expected.json says about one fixture, checked against the imported database. */
async function expectMatches(db: RFDatabase, name: FixtureName, counts: LegacyImportResult): Promise<void> {
  const want = expected()[name] as Record<string, unknown>;
  const c = want.counts as Record<string, number>;
  expect({
    experiments: counts.experiments,
    contexts: counts.contexts,
    pipelines: counts.pipelines,
    actor_tasks: counts.actorTasks,
    interactive_control: counts.icOperations,
  }).toEqual(c);
  const d = db.drizzle;
  const exps = await d.select().from(experiments).orderBy(asc(experiments.createdAt), asc(experiments.experimentId));
  const pls = await d.select().from(pipelines).orderBy(asc(pipelines.pipelineId));
  const tasks = await d.select().from(actorTasks).orderBy(asc(actorTasks.taskId));
  const ics = await d.select().from(icOperations).orderBy(asc(icOperations.icId));
  // The rows are really there, not just counted.
  expect([exps.length, pls.length, tasks.length, ics.length]).toEqual([
    c.experiments,
    c.pipelines,
    c.actor_tasks,
    c.interactive_control,
  ]);
  expect(exps.map((e) => e.experimentName)).toEqual(want.experiment_names);
  expect(pls.every((p) => p.source === "import")).toBe(true);
  // Every task belongs to its pipeline's experiment.
  const experimentOf = new Map(pls.map((p) => [p.pipelineId, p.experimentId]));
  for (const t of tasks) expect(t.experimentId).toBe(experimentOf.get(t.pipelineId));

  if ("failed_experiment_error" in want) {
    expect(exps.find((e) => e.status === "failed")?.error).toBe(want.failed_experiment_error);
  }
  if ("shards_completed_by_pipeline" in want) {
    const byId = Object.fromEntries(pls.map((p) => [String(p.pipelineId), p.shardsCompleted]));
    expect(byId).toEqual(want.shards_completed_by_pipeline);
  }
  if ("ic_statuses" in want) expect(ics.map((i) => i.status)).toEqual(want.ic_statuses);
  if ("pipelines_per_experiment_by_creation_time" in want) {
    expect(exps.map((e) => pls.filter((p) => p.experimentId === e.experimentId).length)).toEqual(
      want.pipelines_per_experiment_by_creation_time,
    );
  }
  if ("first_task_started_at" in want) {
    // Written by datetime.now().isoformat(): local time without a zone, read as local time by
    // default — exactly what JavaScript's Date makes of the same text.
    expect(tasks[0]!.startedAt).toEqual(new Date(want.first_task_started_at as string));
  }
  if ("metric_run_ids" in want) expect(pls.map((p) => p.metricRunId)).toEqual(want.metric_run_ids);
  if ("num_gpus_per_actor" in want) {
    for (const e of exps) expect(e.numGpusPerActor).toBe(want.num_gpus_per_actor);
  }
  if ("ic_created_at_unix" in want) {
    const unix = ics.map((i) => i.createdAt.getTime() / 1000);
    for (const [k, u] of (want.ic_created_at_unix as number[]).entries()) expect(unix[k]).toBeCloseTo(u, 3);
  }
}

describe.skipIf(!!skip)("importLegacy on the Python module's fixtures", () => {
  for (const backendName of BACKENDS) {
    describe(backendName, () => {
      let backend: Backend;
      beforeAll(async () => {
        backend = await openBackend(backendName);
      }, 60_000);
      afterAll(async () => backend?.close());

      for (const name of FIXTURE_NAMES) {
        it(`${name}: reproduces expected.json; the file is unchanged; a second import imports nothing`, async () => {
          const db = backend.db;
          await db.resetAllTables({ experiments: true });
          const listing = fixtureListing();
          const hash = sha256File(fixturePath(name));
          const t0 = performance.now();
          const first = await importLegacy(fixturePath(name), db);
          console.log(`imported ${name} into ${backendName} in ${(performance.now() - t0).toFixed(1)} ms`);
          expect(first.alreadyImported).toBe(false);
          expect(first.schemaVersion).toBe(name.slice("rapidfire-".length, -".db".length));
          expect(first.warnings).toEqual([]);
          await expectMatches(db, name, first);
          expect(sha256File(fixturePath(name))).toBe(hash);
          expect(fixtureListing()).toEqual(listing);

          const again = await importLegacy(fixturePath(name), db);
          expect(again).toMatchObject({
            alreadyImported: true,
            experiments: 0,
            contexts: 0,
            pipelines: 0,
            actorTasks: 0,
            icOperations: 0,
            fingerprint: first.fingerprint,
          });
          expect(again.importedAt).toEqual(first.importedAt);
          expect(await db.drizzle.$count(pipelines)).toBe(first.pipelines);
          expect(await db.drizzle.$count(legacyImports)).toBe(1);
          expect(sha256File(fixturePath(name))).toBe(hash);
        });
      }
    });
  }
});
