/**
 * IC race worker: after the go file appears, either creates one operation per
 * dedupe key (the same keys, in the same order, as its twin process) or
 * applies each of the given operations (the same ones as its twin), and
 * prints what it got: the id per key, or per operation "applied" or the
 * error's class.
 *
 *   node --import tsx tests/reliability/workers/ic-race.ts '{"url":…,"mode":"create","pipelineIds":[1],"keys":["k1"],"goFile":…}'
 */
import { RFDatabase } from "../../../src/index";
import { args, describeError, emit, fatal, waitForGo } from "./util";

interface Args {
  url: string;
  mode: "create" | "apply";
  /** create: keys[i] is used on pipelineIds[i % length]. */
  pipelineIds: number[];
  keys: string[];
  /** apply: the operations to apply. */
  icIds: number[];
  goFile: string;
}

const a = args<Args>();
let db: RFDatabase;
try {
  db = await RFDatabase.open({ url: a.url });
} catch (err) {
  fatal(err);
}
emit({ type: "ready", pid: process.pid });
await waitForGo(a.goFile);

const ids: Record<string, number> = {};
const outcomes: Record<string, string> = {};
const errors: ReturnType<typeof describeError>[] = [];
if (a.mode === "create") {
  for (let i = 0; i < a.keys.length; i++) {
    const dedupeKey = a.keys[i]!;
    try {
      ids[dedupeKey] = await db.icOperations.create({
        operation: "stop",
        pipelineId: a.pipelineIds[i % a.pipelineIds.length]!,
        dedupeKey,
      });
    } catch (err) {
      errors.push(describeError(err));
    }
  }
} else {
  for (const icId of a.icIds) {
    try {
      await db.icOperations.apply(icId);
      outcomes[icId] = "applied";
    } catch (err) {
      outcomes[icId] = (err as Error).name;
      if ((err as Error).name !== "InvalidTransitionError") errors.push(describeError(err));
    }
  }
}
await db.close();
emit({ type: "result", ids, outcomes, errors });
