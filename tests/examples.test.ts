/**
 * The shipped Node service example (examples/node-service.ts) runs as a user
 * runs it — `tsx` with `rf-inferno-db` mapped to the source by
 * examples/tsconfig.node.json — against a temp file: the snapshot, the
 * pipelines' summaries, a stop enqueued twice (one operation), the event
 * stream's first events, typed errors as HTTP statuses, and SIGTERM. The edge
 * example runs in workerd in tests/remote/edge.test.ts.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { RFDatabase } from "../src/index";
import { cliEnv, ROOT, until } from "./support/cli";

const dir = mkdtempSync(join(tmpdir(), "rf-db-example-"));
const url = `file:${join(dir, "service.db")}`;
let base = "";
let experimentId = 0;
let pipelineId = 0;
let output = "";
const service = spawn(process.execPath, ["--import", "tsx", join(ROOT, "examples/node-service.ts")], {
  cwd: ROOT,
  env: cliEnv(dir, { RF_DB_URL: url, PORT: "0", TSX_TSCONFIG_PATH: join(ROOT, "examples/tsconfig.node.json") }),
  stdio: ["ignore", "pipe", "pipe"],
});
service.stdout!.setEncoding("utf8").on("data", (c: string) => (output += c));
service.stderr!.setEncoding("utf8").on("data", (c: string) => (output += c));
const exited = new Promise<number | null>((resolve) => service.once("close", resolve));

beforeAll(async () => {
  const db = await RFDatabase.open({ url });
  experimentId = await db.experiments.create({ experimentName: "service", numActors: 1, numShards: 2 });
  pipelineId = await db.pipelines.create({ experimentId, pipelineType: "vllm", configJson: { a: 1 } });
  await db.pipelines.start(pipelineId);
  await db.close();
  base = await until("the service to listen", () => /listening on (http:\/\/\S+\/)/.exec(output)?.[1], 60_000);
}, 90_000);

afterAll(async () => {
  if (service.exitCode === null) service.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

it("answers with a snapshot, summaries, a deduplicated stop, events, and typed errors", async () => {
  const snap = await (await fetch(`${base}experiments/${experimentId}`)).json();
  expect(snap).toMatchObject({ experiment: { experimentName: "service" }, taskCounts: { scheduled: 0 } });
  expect(snap.pipelines).toHaveLength(1);
  const summaries = await (await fetch(`${base}experiments/${experimentId}/pipelines`)).json();
  expect(summaries).toEqual([expect.objectContaining({ pipelineId, status: "ongoing" })]);
  expect(summaries[0]).not.toHaveProperty("configJson");

  const stop = () => fetch(`${base}pipelines/${pipelineId}/stop`, { method: "POST" }).then((r) => r.json());
  const [a, b] = [await stop(), await stop()];
  expect(a.icId).toBe(b.icId);

  const events = await fetch(`${base}experiments/${experimentId}/events`);
  expect(events.headers.get("content-type")).toContain("text/event-stream");
  const reader = events.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  expect(first).toMatch(/^event: snapshot\nid: \d+\ndata: \{/);
  await reader.cancel();

  const missing = await fetch(`${base}experiments/99999`);
  expect([missing.status, (await missing.json()).error]).toEqual([404, "NotFoundError"]);
  expect((await fetch(`${base}experiments/abc`)).status).toBe(400);
}, 30_000);

it("stops on SIGTERM, closing its database", async () => {
  service.kill("SIGTERM");
  expect(await exited).toBe(0);
}, 30_000);
