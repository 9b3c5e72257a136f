/**
 * `updatedAt` on every row: set by the database's clock at insert, moved by
 * every repository update (through the one UPDATE builder), never behind
 * `createdAt`. One suite over every backend.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RFDatabase } from "../src/index";
import { BACKENDS, openBackend, type Backend } from "./support/backends";
import { makeContext, makeExperiment, makeIcOperation, makePipeline, makeTask } from "./support/factories";

const tick = () => new Promise((r) => setTimeout(r, 15));

describe.each(BACKENDS)("updatedAt on %s", (backendName) => {
  let backend: Backend;
  let db: RFDatabase;
  beforeAll(async () => {
    backend = await openBackend(backendName);
    db = backend.db;
  });
  afterAll(async () => {
    await backend?.close();
  });

  /** Runs `change`, then checks the row's updatedAt moved forward from `before` and is not behind createdAt. */
  async function moves(
    read: () => Promise<{ createdAt: Date; updatedAt: Date } | null>,
    change: () => Promise<unknown>,
  ): Promise<void> {
    const first = (await read())!;
    expect(first.updatedAt.getTime()).toBeGreaterThanOrEqual(first.createdAt.getTime());
    await tick();
    await change();
    const after = (await read())!;
    expect(after.updatedAt.getTime()).toBeGreaterThan(first.updatedAt.getTime());
    expect(after.createdAt).toEqual(first.createdAt);
  }

  it("experiments", async () => {
    const id = await makeExperiment(db);
    await moves(
      () => db.experiments.get(id),
      () => db.experiments.setNumShards(id, 99),
    );
    await moves(
      () => db.experiments.get(id),
      () => db.experiments.setError(id, "boom"),
    );
  });

  it("contexts", async () => {
    const id = await makeContext(db);
    await moves(
      () => db.contexts.get(id),
      () => db.contexts.setStatus(id, "building"),
    );
  });

  it("pipelines, also through the fused completion", async () => {
    const experimentId = await makeExperiment(db);
    const pipelineId = await makePipeline(db, { experimentId });
    await moves(
      () => db.pipelines.get(pipelineId),
      () => db.pipelines.advanceProgress(pipelineId, { samples: 3 }),
    );
    const taskId = await makeTask(db, { experimentId, pipelineId });
    await db.actorTasks.start(taskId);
    await tick();
    const pipelineBefore = (await db.pipelines.get(pipelineId))!.updatedAt;
    await moves(
      () => db.actorTasks.get(taskId),
      () => db.actorTasks.completeWithProgress(taskId, { samples: 1 }),
    );
    expect((await db.pipelines.get(pipelineId))!.updatedAt.getTime()).toBeGreaterThan(pipelineBefore.getTime());
  });

  it("actor tasks", async () => {
    const id = await makeTask(db);
    await moves(
      () => db.actorTasks.get(id),
      () => db.actorTasks.start(id),
    );
    await moves(
      () => db.actorTasks.get(id),
      () => db.actorTasks.fail(id, "lost"),
    );
  });

  it("IC operations", async () => {
    const id = await makeIcOperation(db);
    await moves(
      () => db.icOperations.get(id),
      () => db.icOperations.setStatus(id, "processing"),
    );
  });
});
