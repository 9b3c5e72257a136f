/**
 * Interactive control from two processes at once, on a shared file and on
 * sqld: both create operations with the same dedupe keys (a dashboard and a
 * notebook clicking "stop" together) — each key yields ONE operation and
 * both processes get its id; then both apply the same operations — each is
 * applied exactly once (the other process gets InvalidTransitionError), and
 * each clone made exactly one child.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RFDatabase } from "../../src/index";
import { startSqld, type SqldServer } from "../support/sqld";
import { cleanupAll, countRows, releaseBarrier, report, resultOf, size, startWorker, tempDir } from "./support";

const KEYS = size(24, 400);
const OPS = size(12, 200);

const servers: SqldServer[] = [];
afterAll(async () => {
  await cleanupAll();
  for (const s of servers) await s.stop();
});

async function race(url: string, args: Record<string, unknown>) {
  const goFile = join(tempDir(), "go");
  const workers = [0, 1].map(() => startWorker("ic-race", { ...args, url, goFile }));
  await Promise.all(workers.map((w) => w.waitFor((m) => m.type === "ready", 60_000)));
  releaseBarrier(goFile);
  return Promise.all(workers.map((w) => resultOf(w)));
}

async function scenario(backend: "file" | "sqld", url: string) {
  const db = await RFDatabase.open({ url, migrate: true });
  try {
    const experimentId = await db.experiments.create({ experimentName: `ic-race-${backend}`, numActors: 2 });
    const pipelineIds: number[] = [];
    for (let i = 0; i < 4; i++) {
      const id = await db.pipelines.create({ experimentId, pipelineType: "vllm", configJson: { i } });
      await db.pipelines.setStatus(id, "ongoing");
      pipelineIds.push(id);
    }

    // 1. the same dedupe keys from both processes
    const keys = Array.from({ length: KEYS }, (_, i) => `${backend}-stop-${i}`);
    const created = await race(url, { mode: "create", pipelineIds, keys, icIds: [] });
    for (const r of created) expect(r.errors).toEqual([]);
    const [ids0, ids1] = created.map((r) => r.ids as Record<string, number>);
    for (const k of keys) expect(ids1![k], k).toBe(ids0![k]);
    expect(await countRows(db.client, "interactive_control", `dedupe_key like '${backend}-stop-%'`)).toBe(KEYS);

    // 2. the same operations applied from both processes: stops and clones of other pipelines
    const icIds: number[] = [];
    const moving = await db.pipelines.create({ experimentId, pipelineType: "vllm" });
    await db.pipelines.setStatus(moving, "ongoing");
    for (let i = 0; i < OPS; i++) {
      icIds.push(
        i % 2 === 0
          ? await db.icOperations.create({ operation: i % 4 === 0 ? "stop" : "resume", pipelineId: moving })
          : await db.icOperations.create({ operation: "clone", parentPipelineId: pipelineIds[0]!, config: { i } }),
      );
    }
    const pipelinesBefore = await countRows(db.client, "pipelines");
    const applied = await race(url, { mode: "apply", pipelineIds: [], keys: [], icIds });
    for (const r of applied) expect(r.errors).toEqual([]);
    const [o0, o1] = applied.map((r) => r.outcomes as Record<string, string>);
    let once = 0;
    for (const id of icIds) {
      const outcomes = [o0![id], o1![id]].sort();
      expect(outcomes, `operation ${id}`).toEqual(["InvalidTransitionError", "applied"]);
      if (outcomes[1] === "applied") once++;
    }
    expect(
      await countRows(db.client, "interactive_control", `ic_id in (${icIds.join(",")}) and status = 'completed'`),
    ).toBe(OPS);
    expect(await countRows(db.client, "pipelines")).toBe(pipelinesBefore + OPS / 2); // one child per clone
    report("ic-race", { backend, keys: KEYS, operations: OPS, appliedExactlyOnce: once });
  } finally {
    await db.close();
  }
}

describe("interactive control from two processes", () => {
  it("on a shared file: one operation per dedupe key, each operation applied once", async () => {
    await scenario("file", `file:${join(tempDir(), "ic-race.db")}`);
  }, 180_000);

  it("on sqld: one operation per dedupe key, each operation applied once", async () => {
    const server = await startSqld();
    servers.push(server);
    await scenario("sqld", server.url);
  }, 180_000);
});
