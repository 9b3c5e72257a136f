/**
 * Scenario 4 — SIGKILL at a random moment loses nothing acknowledged.
 *
 * Rounds (small 5, heavy 20) on one file: a child (workers/acked-writer.ts)
 * writes in a loop and logs every acknowledged write; the parent SIGKILLs it
 * at a random moment (mostly while writing, sometimes while it is still
 * starting/opening). After each kill: `PRAGMA integrity_check` is `ok` and
 * `foreign_key_check` is empty (through a fresh `libsql` connection), every
 * acknowledged write is present, the progress counters equal the acknowledged
 * sum (plus at most the one increment in flight), and `RFDatabase.open` works
 * again — then the next round continues on the same file.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "libsql";
import { afterAll, describe, expect, it } from "vitest";
import { RFDatabase } from "../../src/index";
import { cleanupAll, prng, report, size, sleep, startWorker, tempDir } from "./support";

const ROUNDS = size(5, 20);
const MAX_KILL_DELAY_MS = size(700, 1500);

afterAll(cleanupAll);

type Line = {
  ack?: true;
  intent?: string;
  op?: string;
  taskId?: number;
  icId?: number;
  delta?: number;
  shards?: number;
  samples?: number;
};

function readLog(file: string): Line[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, "utf8").split("\n").filter(Boolean);
  const out: Line[] = [];
  lines.forEach((l, i) => {
    try {
      out.push(JSON.parse(l) as Line);
    } catch (err) {
      // Only the very last line may be cut by the kill.
      if (i !== lines.length - 1) throw err;
    }
  });
  return out;
}

describe(`kill -9: ${ROUNDS} rounds`, () => {
  it(
    "keeps the file intact and every acknowledged write, round after round",
    async () => {
      const seed = Number(process.env.RF_SEED ?? Date.now() % 1_000_000);
      const rand = prng(seed);
      const dir = tempDir();
      const path = join(dir, "kill9.db");
      const url = `file:${path}`;
      let setup = await RFDatabase.open({ url });
      const experimentId = await setup.experiments.create({ experimentName: "kill9", numActors: 1 });
      const contextId = await setup.contexts.create({ contextHash: "kill9-ctx" });
      const pipelineId = await setup.pipelines.create({
        experimentId,
        pipelineName: "p",
        pipelineType: "vllm",
        modelConfig: { m: 1 },
        samplingParams: { t: 0 },
        contextId,
      });
      await setup.close();

      // Counters as of the end of the previous round (read from the database after each kill).
      let baseShards = 0;
      let baseSamples = 0;
      let totalAcked = 0;
      let lost = 0;
      let inFlightCommitted = 0;
      const killedDuring: string[] = [];

      for (let round = 0; round < ROUNDS; round++) {
        const ackFile = join(dir, `acks-${round}.jsonl`);
        const w = startWorker("acked-writer", {
          url,
          experimentId,
          pipelineId,
          contextId,
          ackFile,
          actorId: round,
          seed: seed + round,
        });
        const early = rand() < 0.2;
        let delay: number;
        if (early) {
          // Somewhere in start-up: loading, opening, checking the schema, first writes.
          delay = 100 + Math.floor(rand() * 700);
          await sleep(delay);
        } else {
          await w.waitFor((m) => m.type === "ready", 30_000);
          delay = Math.floor(rand() * MAX_KILL_DELAY_MS);
          await sleep(delay);
        }
        if (w.exitInfo()) throw new Error(`writer exited by itself: ${w.stderr().slice(-3000)}`);
        w.kill("SIGKILL");
        const exit = await w.exited;
        expect(exit.signal).toBe("SIGKILL");
        killedDuring.push(early ? `startup+${delay}ms` : `ready+${delay}ms`);

        // 1. The file is intact.
        const raw = new Database(path);
        const integrity = (raw.prepare("PRAGMA integrity_check").all() as Record<string, unknown>[]).map(
          (r) => Object.values(r)[0],
        );
        const fkProblems = raw.prepare("PRAGMA foreign_key_check").all();
        raw.close();
        expect(integrity).toEqual(["ok"]);
        expect(fkProblems).toEqual([]);

        // 2. Every acknowledged write is there.
        const lines = readLog(ackFile);
        const acks = lines.filter((l) => l.ack);
        totalAcked += acks.length;
        const db = await RFDatabase.open({ url }); // 3. and the next open works
        let roundLost = 0;
        const statusRank = { scheduled: 0, in_progress: 1, completed: 2, failed: -1 } as const;
        const wanted = new Map<number, number>();
        for (const l of acks) {
          if (l.op === "created") wanted.set(l.taskId!, Math.max(wanted.get(l.taskId!) ?? 0, 0));
          if (l.op === "started") wanted.set(l.taskId!, Math.max(wanted.get(l.taskId!) ?? 0, 1));
          if (l.op === "completed") wanted.set(l.taskId!, 2);
          if (l.op === "tx") {
            const op = await db.icOperations.get(l.icId!);
            if (!op || op.requestData === null) roundLost++;
          }
        }
        for (const [taskId, rank] of wanted) {
          const t = await db.actorTasks.get(taskId);
          if (!t || statusRank[t.status] < rank) roundLost++;
        }
        // The counters: the acknowledged increments, plus the one in flight if it committed before the kill.
        const advancedDeltas = acks.filter((l) => l.op === "advanced").map((l) => l.delta!);
        const intents = lines.filter((l) => l.intent === "advance");
        const pendingDelta = intents.length > advancedDeltas.length ? intents[intents.length - 1]!.delta! : 0;
        const pl = (await db.pipelines.get(pipelineId))!;
        const ackedSamples = baseSamples + advancedDeltas.reduce((s, d) => s + d, 0);
        const ackedShards = baseShards + advancedDeltas.length;
        const samplesOk =
          pl.totalSamplesProcessed === ackedSamples ||
          (pendingDelta > 0 && pl.totalSamplesProcessed === ackedSamples + pendingDelta);
        const shardsOk =
          pl.shardsCompleted === ackedShards || (pendingDelta > 0 && pl.shardsCompleted === ackedShards + 1);
        if (!samplesOk || !shardsOk) roundLost++;
        if (pl.totalSamplesProcessed !== ackedSamples) inFlightCommitted++;
        // The last acknowledged counter value the child saw must match too.
        const lastAdv = acks.filter((l) => l.op === "advanced").at(-1);
        if (lastAdv) expect(lastAdv.samples).toBe(ackedSamples);
        baseSamples = pl.totalSamplesProcessed;
        baseShards = pl.shardsCompleted;
        // Usable: a write and a read through the reopened database.
        await db.experiments.setNumShards(experimentId, round + 1);
        expect((await db.experiments.get(experimentId))!.numShards).toBe(round + 1);
        await db.close();
        lost += roundLost;
        expect(roundLost, `round ${round} (seed ${seed}): acknowledged writes missing`).toBe(0);
        expect(
          samplesOk && shardsOk,
          `counters ${pl.shardsCompleted}/${pl.totalSamplesProcessed} vs acked ${ackedShards}/${ackedSamples} (+${pendingDelta} in flight)`,
        ).toBe(true);
      }

      report("kill9", {
        seed,
        rounds: ROUNDS,
        killsInjected: ROUNDS,
        killedDuring,
        acknowledgedWrites: totalAcked,
        inFlightIncrementsThatCommitted: inFlightCommitted,
        integrityOk: true,
        rowsLost: lost,
      });
      expect(totalAcked).toBeGreaterThan(0);
      setup = await RFDatabase.open({ url });
      await setup.close();
    },
    size(60_000, 240_000),
  );
});
