/**
 * `close()` ends the calls in flight on a local database too: calls queued
 * behind a transaction (the local client has one connection, and a
 * transaction holds it) reject with `ConnectionError` when the database is
 * closed, instead of staying pending or failing with an untyped error; the
 * transaction is rolled back. (Remote: tests/remote/timeouts.test.ts.)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConnectionError, RFDatabase } from "../src/index";

const dir = mkdtempSync(join(tmpdir(), "rf-db-close-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function settled(p: Promise<unknown>): Promise<unknown> {
  try {
    return { value: await p };
  } catch (err) {
    return err;
  }
}

describe.each(["memory", "file"] as const)("close() on a %s database", (kind) => {
  it("rejects queued calls with ConnectionError and rolls the transaction back (a read on a file is not queued)", async () => {
    const url = kind === "memory" ? ":memory:" : `file:${join(dir, "close.db")}`;
    const db = await RFDatabase.open({ url });
    const id = await db.experiments.create({ experimentName: "kept", numActors: 1 });
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let entered!: () => void;
    const inside = new Promise<void>((r) => {
      entered = r;
    });
    const tx = settled(
      db.transaction(async (t) => {
        await t.experiments.setStatus(id, "failed");
        entered();
        await held;
        await t.experiments.setError(id, "after close");
      }),
    );
    await inside;
    const queued = [
      settled(db.experiments.get(id)),
      settled(db.experiments.create({ experimentName: "queued", numActors: 1 })),
      settled(db.resetExperimentStates()),
    ];
    await db.close();
    release();
    const results = await Promise.all(queued);
    // On a file the read does not queue: if it reached the client before close(), the read connection
    // answered it from the committed state (never the transaction's "failed"); else it is refused like the rest.
    if (kind === "file" && !(results[0] instanceof ConnectionError))
      expect(results.shift()).toMatchObject({ value: { experimentId: id, status: "running" } });
    for (const r of results) {
      expect(r).toBeInstanceOf(ConnectionError);
      expect((r as Error).message).toMatch(/closed/);
    }
    expect(await tx).toBeInstanceOf(ConnectionError);
    expect(await settled(db.experiments.get(id))).toBeInstanceOf(ConnectionError);
    if (kind === "file") {
      const again = await RFDatabase.open({ url });
      expect(await again.experiments.listNames()).toEqual(["kept"]);
      expect((await again.experiments.get(id))?.status).toBe("running");
      await again.close();
    }
  });
});
