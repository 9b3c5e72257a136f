/**
 * `syncUrl`: the local file as an embedded replica of a real sqld primary —
 * reads are local, writes go to the primary, `db.sync()` pulls — and two
 * behaviours of libsql 0.5 it has to live with, pinned (RELIABILITY.md F9, F10).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalClient } from "../src/driver/local";
import { ConfigError, ConnectionError, RFDatabase } from "../src/index";
import { startSqld, type SqldServer } from "./support/sqld";

let server: SqldServer;
let primary: RFDatabase;
const dir = mkdtempSync(join(tmpdir(), "rf-replica-"));
let n = 0;
const replicaUrl = () => `file:${join(dir, `r${++n}.db`)}`;

beforeAll(async () => {
  server = await startSqld();
  primary = await RFDatabase.open({ url: server.url, migrate: true });
});
afterAll(async () => {
  await primary?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const until = async (cond: () => Promise<boolean>, ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
};

describe("embedded replica (syncUrl) against sqld", () => {
  it("a write through the replica is on the primary; sync() brings the primary's writes to the replica", async () => {
    const replica = await RFDatabase.open({ url: replicaUrl(), syncUrl: server.url });
    const viaReplica = await replica.experiments.create({ experimentName: "via-replica", numActors: 1 });
    expect((await primary.experiments.get(viaReplica))?.experimentName).toBe("via-replica");
    expect((await replica.experiments.get(viaReplica))?.experimentName).toBe("via-replica"); // reads its writes
    // Reads go through a plain connection to the replica's file (read-connection.ts), even outside a transaction.
    expect((replica.client as unknown as LocalClient).readConnection).not.toBeNull();

    const onPrimary = await primary.experiments.create({ experimentName: "on-primary", numActors: 2 });
    expect(await replica.experiments.get(onPrimary)).toBeNull(); // local reads: not pulled yet
    const pulled = await replica.sync();
    expect(pulled.framesSynced).toBeGreaterThan(0);
    expect((await replica.experiments.get(onPrimary))?.experimentName).toBe("on-primary");
    // Statements run before the pull give the right rows, for every id (F9).
    expect((await replica.experiments.get(viaReplica))?.experimentName).toBe("via-replica");
    expect((await replica.experiments.get(onPrimary))?.experimentName).toBe("on-primary");

    const pipelineId = await replica.transaction(async (tx) =>
      tx.pipelines.create({
        experimentId: onPrimary,
        pipelineName: "p",
        pipelineType: "vllm",
        modelConfig: {},
        samplingParams: {},
      }),
    );
    await expect(
      replica.transaction(async (tx) => {
        await tx.pipelines.create({
          experimentId: onPrimary,
          pipelineName: "rolled back",
          pipelineType: "vllm",
          modelConfig: {},
          samplingParams: {},
        });
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    expect((await primary.pipelines.list(onPrimary)).map((p) => p.pipelineId)).toEqual([pipelineId]);
    await replica.close();
  });

  it("reads beside a transaction come from the local file (the last pull) at once, through a plain connection: new bindings are honoured and later pulls seen (F9 is the replica handle's)", async () => {
    const replica = await RFDatabase.open({ url: replicaUrl(), syncUrl: server.url });
    const a = await primary.experiments.create({ experimentName: "beside-a", numActors: 1, numShards: 1 });
    const b = await primary.experiments.create({ experimentName: "beside-b", numActors: 1, numShards: 2 });
    await replica.sync();
    const soon = <T>(p: Promise<T>) =>
      Promise.race([p, new Promise<"pending">((r) => setTimeout(r, 5_000, "pending"))]);
    const read = (id: number) => soon(replica.experiments.get(id).then((e) => `${e?.experimentName}/${e?.numShards}`));
    let during: string[] = [];
    await replica.transaction(async (tx) => {
      await tx.experiments.setNumShards(a, 42);
      // Through the client, not tx: answered without waiting for the transaction, pre-transaction state.
      during = [await read(a), await read(b), await read(a)];
    });
    expect(during).toEqual(["beside-a/1", "beside-b/2", "beside-a/1"]);
    expect(await replica.experiments.get(a)).toMatchObject({ numShards: 42 }); // the replica reads its writes

    // A pull between two transactions: the read connection's cached statements see it.
    const c = await primary.experiments.create({ experimentName: "beside-c", numActors: 1, numShards: 3 });
    await replica.sync();
    await replica.transaction(async (tx) => {
      await tx.experiments.setNumShards(b, 43);
      during = [await read(c), await read(a), await read(b)];
    });
    expect(during).toEqual(["beside-c/3", "beside-a/42", "beside-b/2"]);
    await replica.close();
  });

  it("syncIntervalSeconds pulls in the background", async () => {
    const replica = await RFDatabase.open({ url: replicaUrl(), syncUrl: server.url, syncIntervalSeconds: 0.2 });
    const id = await primary.experiments.create({ experimentName: "pulled-by-itself", numActors: 1 });
    expect(await until(async () => (await replica.experiments.get(id)) !== null, 10_000)).toBe(true);
    await replica.close();
  });

  it("with encryptionKey the replica's files are ciphertext; its files are private", async () => {
    const url = replicaUrl();
    const path = url.slice("file:".length);
    const replica = await RFDatabase.open({ url, syncUrl: server.url, encryptionKey: "replica key" });
    await replica.experiments.create({ experimentName: "secret-replicated-name", numActors: 1 });
    await replica.sync();
    expect((await replica.experiments.listNames()).includes("secret-replicated-name")).toBe(true);
    // Reads beside a transaction: the read connection opens the encrypted replica file with the key.
    const beside = await replica.transaction(async () =>
      Promise.race([replica.experiments.listNames(), new Promise((r) => setTimeout(r, 5_000, "pending"))]),
    );
    expect(beside).toContain("secret-replicated-name");
    for (const f of readdirSync(dir).filter((f) => f.startsWith(path.split("/").pop()!))) {
      const bytes = readFileSync(join(dir, f));
      expect(bytes.includes("secret-replicated-name"), f).toBe(false);
      expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
    }
    await replica.close();
  });

  it("db.sync() elsewhere is a ConfigError; a primary that never answers is a ConnectionError, not a frozen process", async () => {
    const local = await RFDatabase.open({ url: ":memory:" });
    await expect(local.sync()).rejects.toThrow(ConfigError);
    await local.close();
    const hole = await blackHole();
    try {
      const started = Date.now();
      const err = await RFDatabase.open({
        url: replicaUrl(),
        syncUrl: `http://127.0.0.1:${(hole.address() as { port: number }).port}`,
        requestTimeoutMs: 300,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionError);
      expect(Date.now() - started).toBeLessThan(300 + 5_000);
    } finally {
      hole.close();
    }
  });
});

/** A TCP server that accepts connections and never answers. */
async function blackHole(): Promise<Server> {
  const srv = createServer(() => {});
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return srv;
}

describe("libsql 0.5 embedded replicas, pinned", () => {
  it("F9: a replica's prepared statement runs again with its first bindings, and get() hides later pulls", async () => {
    const a = await primary.experiments.create({ experimentName: "f9-a", numActors: 1 });
    const b = await primary.experiments.create({ experimentName: "f9-b", numActors: 1 });
    const db = new Database(replicaUrl().slice("file:".length), { syncUrl: server.url });
    db.sync();
    const byId = db.prepare("SELECT experiment_name FROM experiments WHERE experiment_id = ?").raw(true);
    const names = [a, b].map((id) => (byId.all([id]) as unknown[][])[0]?.[0]);
    expect(names).toEqual(["f9-a", "f9-a"]); // b's row asked for, a's returned

    const count = () => (db.prepare("SELECT count(*) FROM experiments").raw(true).all() as unknown[][])[0]![0];
    const before = count();
    const pinned = db.prepare("SELECT experiment_id FROM experiments WHERE experiment_id = ?").raw(true);
    pinned.get([a]); // its read snapshot stays while the statement lives
    await primary.experiments.create({ experimentName: "f9-c", numActors: 1 });
    db.sync();
    expect(count()).toBe(before); // the pull happened, this connection does not see it
    expect(pinned).toBeDefined(); // (still alive up to here)
    db.close();
  });

  it("F10: opening a replica of a primary that never answers blocks the thread (still blocked after 3 s)", async () => {
    const hole = await blackHole();
    const port = (hole.address() as { port: number }).port;
    const script = `const D = require(${JSON.stringify(require.resolve("libsql"))});
      console.log("opening"); new D(${JSON.stringify(join(dir, "f10.db"))}, { syncUrl: "http://127.0.0.1:${port}" }); console.log("opened");`;
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    await new Promise((r) => setTimeout(r, 3_000));
    const stillBlocked = child.exitCode === null && !out.includes("opened");
    child.kill("SIGKILL");
    hole.close();
    expect(out).toContain("opening");
    expect(stillBlocked).toBe(true);
  });
});
