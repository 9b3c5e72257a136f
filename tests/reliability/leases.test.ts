/**
 * Scenario 17 — crashed workers never leave work stuck (issue 9), with real
 * processes and SIGKILL, on a file and on sqld (workers/lease.ts):
 *
 * 1. An actor holding a task is SIGKILLed: the task is not handed out while
 *    its lease lives; after it ends another actor process takes it with
 *    `attempts` 2; the dead holder's `complete` — sent from a second process
 *    with its actorId — is a LeaseLostError and changes nothing; the new
 *    holder completes it once.
 * 2. The IC worker is SIGKILLed holding an operation: it is redelivered once
 *    (attempts 2) to another worker, which completes it; nothing delivers it again.
 * 3. A controller is SIGKILLed: `reapStale` fails its experiment only, with
 *    `controller lost: no heartbeat since <its last heartbeat>`, and its
 *    unfinished work; a live controller's experiment and one that never
 *    heartbeated are untouched.
 */
import { afterAll, describe, expect, it } from "vitest";
import { RFDatabase } from "../../src/index";
import { startSqld, type SqldServer } from "../support/sqld";
import { cleanupAll, report, resultOf, sleep, startWorker, tempDir } from "./support";

/** Long enough that a kill and the next check happen inside it even on a loaded machine. */
const LEASE_MS = 4_000;

const servers: SqldServer[] = [];
afterAll(async () => {
  await cleanupAll();
  for (const s of servers) await s.stop();
});

async function setup(url: string) {
  const db = await RFDatabase.open({ url, migrate: true });
  const experimentId = await db.experiments.create({ experimentName: "leases", numActors: 2 });
  const pipelineId = await db.pipelines.create({
    experimentId,
    pipelineName: "p",
    pipelineType: "vllm",
    modelConfig: {},
    samplingParams: {},
    status: "ongoing",
  });
  return { db, experimentId, pipelineId };
}

async function scenario(backend: "file" | "sqld", url: string) {
  const { db, experimentId, pipelineId } = await setup(url);
  const base = { url, experimentId, leaseMs: LEASE_MS };
  try {
    // 1. a task's holder dies
    const taskId = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 0 });
    const holder = startWorker("lease", { ...base, mode: "hold", actorId: 1 });
    const claimed = await holder.waitFor((m) => m.type === "claimed", 60_000);
    expect(claimed).toMatchObject({ taskId, attempts: 1 });
    holder.kill("SIGKILL");
    const killedAt = Date.now();
    expect((await holder.exited).signal).toBe("SIGKILL");
    // while the lease lives nobody gets it
    expect(await db.actorTasks.claimNext(experimentId, 9)).toBeNull();
    const taker = startWorker("lease", { ...base, mode: "take", actorId: 2 });
    const retaken = await taker.waitFor((m) => m.type === "claimed", 60_000);
    const retakenAfterMs = Date.now() - killedAt;
    expect(retaken).toMatchObject({ taskId, attempts: 2, leaseOwner: 2 });
    await resultOf(taker);
    // the dead holder's late complete, from another process with its actorId
    const before = await db.actorTasks.get(taskId);
    const ghost = await resultOf(startWorker("lease", { ...base, mode: "complete", actorId: 1, taskId }));
    expect(ghost.error).toMatchObject({ name: "LeaseLostError", lease: true });
    expect(await db.actorTasks.get(taskId)).toEqual(before);
    await db.actorTasks.completeWithProgress(taskId, { samples: 7 }, { actorId: 2 });
    expect((await db.actorTasks.get(taskId))!).toMatchObject({ status: "completed", attempts: 2, leaseOwner: 2 });
    expect((await db.pipelines.get(pipelineId))!.shardsCompleted).toBe(1);

    // 2. the IC worker dies holding an operation
    const icId = await db.icOperations.create({ operation: "stop", pipelineId });
    await db.client.execute({
      sql: "UPDATE interactive_control SET experiment_id = ? WHERE ic_id = ?",
      args: [experimentId, icId],
    });
    const icHolder = startWorker("lease", { ...base, mode: "ic-hold", actorId: 0 });
    expect(await icHolder.waitFor((m) => m.type === "claimed", 60_000)).toMatchObject({ icId, attempts: 1 });
    icHolder.kill("SIGKILL");
    await icHolder.exited;
    expect(await db.icOperations.claimNext({ experimentId })).toBeNull();
    const icTaker = startWorker("lease", { ...base, mode: "ic-take", actorId: 0 });
    expect(await icTaker.waitFor((m) => m.type === "claimed", 60_000)).toMatchObject({ icId, attempts: 2 });
    await resultOf(icTaker);
    expect((await db.icOperations.get(icId))!).toMatchObject({ status: "completed", attempts: 2 });
    expect(await db.icOperations.claimNext({ experimentId })).toBeNull(); // delivered twice in all, never again

    // 3. a controller dies
    const experiment = async (name: string) => {
      const id = await db.experiments.create({ experimentName: name, numActors: 1 });
      const pid = await db.pipelines.create({
        experimentId: id,
        pipelineName: name,
        pipelineType: "vllm",
        modelConfig: {},
        samplingParams: {},
        status: "ongoing",
      });
      const task = await db.actorTasks.create({ experimentId: id, pipelineId: pid, actorId: 0, shardId: 0 });
      return { id, pid, task };
    };
    const doomed = await experiment("doomed");
    const healthy = await experiment("healthy");
    const unwatched = await experiment("unwatched"); // never heartbeats: not ours to judge
    const controllerArgs = { url, leaseMs: 1_500, everyMs: 200, actorId: 0 };
    const c1 = startWorker("lease", { ...controllerArgs, mode: "controller", experimentId: doomed.id });
    const c2 = startWorker("lease", { ...controllerArgs, mode: "controller", experimentId: healthy.id });
    await c1.waitFor((m) => m.type === "beat" && m.ok === true, 60_000);
    await c2.waitFor((m) => m.type === "beat" && m.ok === true, 60_000);
    c1.kill("SIGKILL");
    await c1.exited;
    const lastBeat = (await db.experiments.get(doomed.id))!.heartbeatAt!;
    let counts = await db.reapStale();
    const deadline = Date.now() + 60_000;
    while (counts.experiments === 0 && Date.now() < deadline) {
      await sleep(100);
      counts = await db.reapStale();
    }
    expect(counts).toEqual({ experiments: 1, actorTasks: 1, icOperations: 0 });
    const lost = (await db.experiments.get(doomed.id))!;
    expect(lost).toMatchObject({
      status: "failed",
      error: `controller lost: no heartbeat since ${lastBeat.toISOString()}`,
    });
    expect((await db.pipelines.get(doomed.pid))!.status).toBe("failed");
    expect((await db.actorTasks.get(doomed.task))!.status).toBe("failed");
    for (const other of [healthy, unwatched]) {
      expect((await db.experiments.get(other.id))!).toMatchObject({ status: "running", error: null });
      expect((await db.pipelines.get(other.pid))!.status).toBe("ongoing");
      expect((await db.actorTasks.get(other.task))!.status).toBe("scheduled");
    }
    // the live controller keeps its lease; the dead one's can no longer be renewed by anyone
    const seen = c2.messages.length;
    await c2.waitFor((m) => c2.messages.indexOf(m) >= seen && m.type === "beat" && m.ok === true, 30_000);
    expect(await db.experiments.heartbeat(doomed.id, { owner: "late" })).toBe(false);
    c2.kill("SIGKILL");
    await c2.exited;

    report("leases", {
      backend,
      leaseMs: LEASE_MS,
      taskRetakenAfterKillMs: retakenAfterMs,
      taskAttempts: 2,
      deadHolderComplete: "LeaseLostError",
      icRedeliveries: 1,
      reaped: counts,
    });
  } finally {
    await db.close();
  }
}

describe("leases with real processes: SIGKILL a holder, the work is taken over", () => {
  it("on a temp file", async () => {
    await scenario("file", `file:${tempDir()}/leases.db`);
  }, 120_000);

  it("through sqld", async () => {
    const server = await startSqld();
    servers.push(server);
    await scenario("sqld", server.url);
  }, 120_000);
});
