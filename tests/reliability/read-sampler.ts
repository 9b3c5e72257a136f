/**
 * Reads issued continuously, as the requests of a Node service would be:
 * `experiments.get` and `pipelines.list` every millisecond (as often as the
 * timer fires), each timed from issue to answer. Used where this process
 * holds or waits for the write connection (read-beside-write, busy,
 * multi-writer) to print p50/p99 of what a read costs meanwhile.
 */
import type { RFDatabase } from "../../src/index";

export interface ReadSample {
  what: "experiments.get" | "pipelines.list";
  issuedAt: number;
  doneAt: number;
  /** What the read saw: the experiment's numShards, or the number of its pipelines; the error if it failed. */
  saw: number | null | Error;
}

/** p50/p99/max of `xs` (ms, 3 decimals). */
export function percentiles(xs: number[]): { n: number; p50: number; p99: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
  const r = (v: number) => Math.round(v * 1000) / 1000;
  return { n: s.length, p50: r(at(0.5)), p99: r(at(0.99)), max: r(s[s.length - 1] ?? Number.NaN) };
}

export interface ReadSampler {
  samples: ReadSample[];
  /** Reads issued and not answered yet. */
  inflight: Set<Promise<void>>;
  /** Stops issuing; returns how many reads were issued in all. */
  stop(): number;
  /** Latency percentiles per read, for a report. */
  latencies(): Record<ReadSample["what"], ReturnType<typeof percentiles>>;
}

export function readContinuously(db: RFDatabase, experimentId: number, everyMs = 1): ReadSampler {
  const samples: ReadSample[] = [];
  const inflight = new Set<Promise<void>>();
  let issued = 0;
  const issue = (what: ReadSample["what"], read: () => Promise<number | null>) => {
    const issuedAt = performance.now();
    issued++;
    const p: Promise<void> = read()
      .catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))))
      .then((saw) => {
        samples.push({ what, issuedAt, doneAt: performance.now(), saw });
        inflight.delete(p);
      });
    inflight.add(p);
  };
  const timer = setInterval(() => {
    issue("experiments.get", async () => (await db.experiments.get(experimentId))?.numShards ?? null);
    issue("pipelines.list", async () => (await db.pipelines.list(experimentId)).length);
  }, everyMs);
  const latency = (what: ReadSample["what"]) =>
    percentiles(samples.filter((s) => s.what === what).map((s) => s.doneAt - s.issuedAt));
  return {
    samples,
    inflight,
    stop() {
      clearInterval(timer);
      return issued;
    },
    latencies: () => ({ "experiments.get": latency("experiments.get"), "pipelines.list": latency("pipelines.list") }),
  };
}

/**
 * Runs a write transaction that first does `inTx(tx)` and then stays open
 * `holdMs`, while reads are issued continuously from outside it (through
 * `db`). Before committing it waits (up to `waitForReadsMs`) for the reads
 * issued so far: reads that run beside the transaction are all answered by
 * then, reads that queue behind it cannot be (so whether they completed
 * before the commit depends on where they ran, not on timing).
 */
export async function readsBesideTransaction(
  db: RFDatabase,
  experimentId: number,
  opts: {
    holdMs: number;
    waitForReadsMs: number;
    inTx: (tx: Parameters<Parameters<RFDatabase["transaction"]>[0]>[0]) => Promise<void>;
  },
): Promise<{ reads: ReadSampler; issued: number; commitAt: number }> {
  let reads: ReadSampler | undefined;
  let issued = 0;
  let commitAt = 0;
  await db.transaction(async (tx) => {
    await opts.inTx(tx);
    reads = readContinuously(db, experimentId);
    await sleep(opts.holdMs);
    issued = reads.stop();
    await Promise.race([Promise.all(reads.inflight), sleep(opts.waitForReadsMs)]);
    commitAt = performance.now();
  });
  await Promise.all(reads!.inflight);
  return { reads: reads!, issued, commitAt };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
