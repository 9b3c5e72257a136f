/**
 * sqld refuses a string or blob over 5,000,000 bytes ("string or blob too
 * big", which used to surface as an untyped DRIVER error after the upload).
 * On a remote URL the package now says so before sending: ValidationError
 * naming the limit and the field, and no request leaves (a counting proxy
 * sees none). A value just under the limit is still stored; a row that
 * grows past it on the server is a ValidationError too. Local files have no
 * such limit (SQLite's default is 1e9 bytes).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RFDatabase, ValidationError } from "../../src/index";
import { REMOTE_MAX_VALUE_BYTES } from "../../src/driver/remote";
import { startProxy, type TestProxy } from "../support/proxy";
import { startSqld, type SqldServer } from "../support/sqld";

let server: SqldServer;
let proxy: TestProxy;
let db: RFDatabase;
beforeAll(async () => {
  server = await startSqld();
  await (await RFDatabase.open({ url: server.url, migrate: true })).close();
  proxy = await startProxy({ target: server.url });
  db = await RFDatabase.open({ url: proxy.url });
});
afterAll(async () => {
  await db?.close();
  await proxy?.stop();
  await server?.stop();
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

/** The call is refused with a ValidationError naming `field` and the limit, and sends nothing. */
async function refusedBeforeSending(call: () => Promise<unknown>, field: string) {
  const before = proxy.requests;
  const err = await rejection(call());
  expect(err).toBeInstanceOf(ValidationError);
  expect((err as ValidationError).field).toBe(field);
  expect((err as Error).message).toMatch(new RegExp(`${field} is \\d+ bytes .*at most 5000000 bytes`));
  expect(proxy.requests - before).toBe(0);
}

describe("remote value-size limit (sqld: 5,000,000 bytes per value)", () => {
  it("is 5,000,000 bytes", () => {
    expect(REMOTE_MAX_VALUE_BYTES).toBe(5_000_000);
  });

  it("an INSERT with a text over the limit: ValidationError naming the field, nothing sent", async () => {
    await refusedBeforeSending(
      () => db.experiments.create({ experimentName: "x".repeat(REMOTE_MAX_VALUE_BYTES + 1), numActors: 1 }),
      "experimentName",
    );
    // counted in UTF-8 bytes, not characters: 1,666,667 × "€" (3 bytes) = 5,000,001 bytes
    await refusedBeforeSending(
      () => db.experiments.create({ experimentName: "€".repeat(1_666_667), numActors: 1 }),
      "experimentName",
    );
    expect(await db.experiments.listNames()).toEqual([]);
  });

  it("a JSON value and an UPDATE over the limit: the field is named", async () => {
    const experimentId = await db.experiments.create({ experimentName: "limits", numActors: 1 });
    const big = { blob: "y".repeat(REMOTE_MAX_VALUE_BYTES) };
    await refusedBeforeSending(
      () =>
        db.pipelines.create({
          experimentId,
          pipelineName: "p",
          pipelineType: "vllm",
          modelConfig: big,
          samplingParams: {},
        }),
      "modelConfig",
    );
    await refusedBeforeSending(() => db.experiments.setError(experimentId, "e".repeat(6_000_000)), "error");
    expect((await db.experiments.get(experimentId))?.error).toBeNull();
  });

  it("just under the limit is stored; a row the server finds too big is a ValidationError too", async () => {
    const name = "n".repeat(4_900_000);
    const id = await db.experiments.create({ experimentName: name, numActors: 1 });
    expect((await db.experiments.get(id))?.experimentName.length).toBe(4_900_000);
    // each value fits, the row does not (sqld's SQLITE_TOOBIG): typed, and nothing written
    const err = await rejection(db.experiments.setError(id, "e".repeat(4_900_000)));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toMatch(/too big/);
    expect((await db.experiments.get(id))?.error).toBeNull();
  });

  it("a local file has no such limit", async () => {
    const local = await RFDatabase.open({ url: ":memory:" });
    const id = await local.experiments.create({ experimentName: "z".repeat(6_000_000), numActors: 1 });
    expect((await local.experiments.get(id))?.experimentName.length).toBe(6_000_000);
    await local.close();
  });
});
