/**
 * The local client's read connection (src/driver/local/read-connection.ts):
 * while a transaction or batch of the client holds the write connection, a
 * read through the client runs on a second connection and sees the last
 * committed state. Real libSQL files, no mocks; the user-level proof with
 * latencies is tests/reliability/read-beside-write.test.ts.
 */
import { existsSync, rmSync } from "node:fs";
import Database from "libsql";
import { describe, expect, it } from "vitest";
import type { LocalClient, LocalClientOptions } from "../src/driver/local";
import { localClients } from "./support/local-clients";

const { freshFile, client } = localClients("read-connection");

/** A client on a new file with `items` 1..5 (name `i<n>`), committed. */
async function seeded(opts: Partial<LocalClientOptions> = {}): Promise<LocalClient> {
  const c = client({ path: freshFile(), ...opts });
  await c.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
  await c.batch([1, 2, 3, 4, 5].map((i) => ({ sql: "INSERT INTO items VALUES (?, ?)", args: [i, `i${i}`] })));
  return c;
}

const names = async (c: LocalClient, sql = "SELECT name FROM items ORDER BY id") =>
  (await c.execute(sql)).rows.map((r) => r.name);

/** Resolves with the value, or "pending" if `p` has not settled after a few timer turns. */
async function settledSoon<T>(p: Promise<T>): Promise<T | "pending"> {
  return Promise.race([p, new Promise<"pending">((r) => setTimeout(() => r("pending"), 50))]);
}

describe("reads while the write connection is held", () => {
  it("answer from the committed state at once; the transaction sees its own writes; after COMMIT everyone does", async () => {
    const c = await seeded();
    const tx = await c.transaction("write");
    await tx.execute("UPDATE items SET name = 'changed' WHERE id = 1");
    await tx.execute("INSERT INTO items VALUES (6, 'i6')");
    expect(await settledSoon(names(c))).toEqual(["i1", "i2", "i3", "i4", "i5"]);
    expect((await tx.execute("SELECT name FROM items WHERE id = 1")).rows[0]!.name).toBe("changed");
    const write = c.execute("INSERT INTO items VALUES (7, 'i7')"); // writes still wait, in order
    expect(await settledSoon(write)).toBe("pending");
    await tx.commit();
    await write;
    expect(await names(c)).toEqual(["changed", "i2", "i3", "i4", "i5", "i6", "i7"]);
  });

  it("read-your-writes: a read on the read connection sees every commit before it (cached statements hold no old snapshot)", async () => {
    const c = await seeded();
    // `LIMIT 1` is fetched with get(), the list with all(): both statements stay cached on the read connection.
    const one = async () =>
      (await c.execute({ sql: "SELECT name FROM items WHERE id = ? LIMIT 1", args: [1] })).rows[0]!.name;
    const other = new Database(c.options.path); // another connection (as another process) commits too
    for (let round = 0; round < 4; round++) {
      const tx = await c.transaction("write");
      expect(await settledSoon(one())).toBe(round === 0 ? "i1" : `tx${round - 1}`);
      expect(await settledSoon(names(c))).toHaveLength(5 + round);
      expect(c.busy).toBe(true); // answered by the read connection
      await tx.execute({ sql: "UPDATE items SET name = ? WHERE id = 1", args: [`tx${round}`] });
      await tx.commit();
      // Acknowledged: the next transaction holds the writer again, the read goes to the read connection.
      const next = await c.transaction("write");
      expect(await settledSoon(one())).toBe(`tx${round}`);
      await next.rollback();
      other.prepare("INSERT INTO items (name) VALUES (?)").run(`other${round}`);
    }
    const tx = await c.transaction("write");
    expect(await settledSoon(names(c))).toHaveLength(9);
    await tx.rollback();
    other.close();
  });

  it("a batch of reads is one snapshot on the read connection, whatever its mode; a batch with a write waits", async () => {
    const c = await seeded();
    const tx = await c.transaction("write");
    await tx.execute("DELETE FROM items WHERE id > 2");
    for (const mode of ["read", "deferred", "write"] as const) {
      const rs = await settledSoon(
        c.batch(["SELECT count(*) AS n FROM items", "SELECT max(id) AS m FROM items"], mode),
      );
      expect(rs === "pending" ? rs : rs.map((r) => r.rows[0]![0])).toEqual([5, 5]);
    }
    const mixed = c.batch(["SELECT count(*) FROM items", "INSERT INTO items VALUES (9, 'i9')"]);
    expect(await settledSoon(mixed)).toBe("pending");
    await tx.commit();
    expect((await mixed)[0]!.rows[0]![0]).toBe(2);
  });

  it("keeps libsql's workarounds on the read connection: get-after-all (LIMIT ?), a failed statement is reset", async () => {
    const c = await seeded();
    const tx = await c.transaction("write");
    const limited = (n: number) =>
      c.execute({ sql: "SELECT id FROM items ORDER BY id LIMIT ?", args: [n] }).then((rs) => rs.rows.map((r) => r.id));
    // LIMIT 1 takes get(), LIMIT 3 all(): one native statement must never see both (libsql 0.5 returns
    // the previous bindings' rows on the first get() after an all()).
    expect(await limited(3)).toEqual([1, 2, 3]);
    expect(await limited(1)).toEqual([1]);
    expect(await limited(2)).toEqual([1, 2]);
    expect(await limited(1)).toEqual([1]);
    // A statement that failed is not reset by libsql: the next call must not repeat the failure.
    const json = "SELECT json_extract(?, '$.a') AS a";
    await expect(c.execute({ sql: json, args: ["{not json"] })).rejects.toMatchObject({ code: "SQLITE_ERROR" });
    expect((await c.execute({ sql: json, args: ['{"a": 7}'] })).rows[0]!.a).toBe(7);
    expect(c.busy).toBe(true); // all of it answered while the transaction held the writer
    await tx.commit();
  });

  it("uses the client's settings: busy timeout, foreign keys, query_only; never creates files", async () => {
    const c = await seeded({ busyTimeoutMs: 77 });
    expect(c.readConnection).toBeNull(); // opened lazily, on first need
    const tx = await c.transaction("write");
    await names(c);
    const ro = c.readConnection!;
    const pragma = (p: string) => (ro.prepare(`PRAGMA ${p}`).raw(true).get() as unknown[])[0];
    expect(pragma("busy_timeout")).toBe(77);
    expect(pragma("foreign_keys")).toBe(1);
    expect(pragma("query_only")).toBe(1); // a "read" that tried to write would fail, not write outside the transaction
    expect(String(pragma("journal_mode"))).toBe("wal");
    await tx.rollback();
  });

  it("encrypted files: the read connection opens with the key", async () => {
    const key = "read connection key";
    const c = await seeded({ encryptionKey: key });
    const tx = await c.transaction("write");
    await tx.execute("DELETE FROM items");
    expect(await settledSoon(names(c))).toEqual(["i1", "i2", "i3", "i4", "i5"]);
    await tx.commit();
    const plain = new Database(c.options.path);
    expect(() => plain.prepare("SELECT count(*) FROM items").get()).toThrow();
    plain.close();
  });

  it("read-only clients: reads beside a held read transaction use a read-only connection too", async () => {
    const path = freshFile();
    (await seeded({ path })).close();
    const c = client({ path, readOnly: true });
    const tx = await c.transaction("read");
    expect(await settledSoon(names(c))).toEqual(["i1", "i2", "i3", "i4", "i5"]);
    expect(c.readConnection!.prepare("PRAGMA query_only").raw(true).get()).toEqual([1]);
    await tx.commit();
  });

  it("never creates the file: when it is gone, reads queue for the write connection instead of reading a new, empty database", async () => {
    const c = await seeded();
    const path = c.options.path;
    for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
    const tx = await c.transaction("write");
    const read = names(c);
    expect(await settledSoon(read)).toBe("pending");
    await tx.commit();
    expect(await read).toHaveLength(5); // the write connection still has the (unlinked) file
    expect(existsSync(path)).toBe(false);
    expect(c.readConnection).toBeNull();
  });

  it("reads that depend on the write connection's own state stay on it (they wait)", async () => {
    const c = await seeded();
    await c.execute("CREATE TEMP TABLE scratch (x)");
    const tx = await c.transaction("write");
    const temp = c.execute("SELECT count(*) FROM scratch");
    const rowid = c.execute("SELECT last_insert_rowid()");
    expect(await settledSoon(temp)).toBe("pending");
    expect(await settledSoon(rowid)).toBe("pending");
    expect(await settledSoon(names(c))).toBe("pending"); // a client with TEMP objects keeps every read on its writer
    await tx.commit();
    expect((await temp).rows[0]![0]).toBe(0);
  });

  it("a connection in exclusive locking mode: the read connection cannot open, reads queue as before", async () => {
    const c = await seeded();
    await c.execute("PRAGMA locking_mode = EXCLUSIVE");
    await c.execute("INSERT INTO items VALUES (6, 'i6')"); // takes the file's exclusive lock, and keeps it
    const tx = await c.transaction("write");
    const read = names(c);
    expect(await settledSoon(read)).toBe("pending");
    await tx.commit();
    expect(await read).toHaveLength(6);
    expect(c.readConnection).toBeNull();
  });

  it("close() closes the read connection; reconnect() opens a new one on demand", async () => {
    const c = await seeded();
    let tx = await c.transaction("write");
    await names(c);
    const native = c.readConnection!;
    c.close();
    expect(c.readConnection).toBeNull();
    expect(() => native.prepare("SELECT 1").get()).toThrow();
    await expect(c.execute("SELECT 1")).rejects.toMatchObject({ code: "CLIENT_CLOSED" });
    c.reconnect();
    tx = await c.transaction("write");
    expect(await settledSoon(names(c))).toHaveLength(5);
    expect(c.readConnection).not.toBe(native);
    await tx.commit();
  });
});

describe(":memory:", () => {
  it("has no second connection to the same data: reads wait for the transaction and see its result", async () => {
    const c = client({ path: ":memory:" });
    await c.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
    const tx = await c.transaction("write");
    await tx.execute("INSERT INTO items VALUES (1, 'in tx')");
    const read = names(c);
    expect(await settledSoon(read)).toBe("pending");
    await tx.commit();
    expect(await read).toEqual(["in tx"]);
    expect(c.readConnection).toBeNull();
  });
});
