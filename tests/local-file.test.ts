/**
 * A local database file, as the package creates, opens and refuses it:
 * private file modes, `readOnly` / `?mode=ro` (nothing written), encryption
 * at rest, and a StorageError naming the file for every storage failure at
 * open (cannot open, not a database, corrupt).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
  closeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, RFDatabase, SchemaVersionError, StorageError } from "../src/index";
import { REPO_ROOT } from "./support/sqld";

const root = mkdtempSync(join(tmpdir(), "rf-local-file-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const dir = join(root, `t${++n}`);
  mkdirSync(dir);
  return dir;
};
const mode = (p: string) => statSync(p).mode & 0o777;
const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

/** A migrated database with one experiment, closed (checkpointed, no -wal left). */
async function migratedFile(dir: string, name = "exp-1"): Promise<string> {
  const path = join(dir, "rf.db");
  const db = await RFDatabase.open({ url: `file:${path}` });
  await db.experiments.create({ experimentName: name, numActors: 1 });
  await db.close();
  const raw = new Database(path);
  raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  raw.close();
  // libsql frees a closed connection's handle only when its statements are collected, so
  // -wal/-shm can outlive close(); the WAL is empty now, so the file alone is the database.
  for (const suffix of ["-wal", "-shm"]) rmSync(path + suffix, { force: true });
  return path;
}

describe("file modes", () => {
  it("creates the database, its -wal and -shm 0600 and missing directories 0700", async () => {
    const base = fresh();
    const path = join(base, "a", "b", "rf.db");
    const db = await RFDatabase.open({ url: `file:${path}` });
    await db.experiments.create({ experimentName: "x", numActors: 1 });
    expect(mode(path)).toBe(0o600);
    expect(mode(`${path}-wal`)).toBe(0o600);
    expect(mode(`${path}-shm`)).toBe(0o600);
    expect(mode(join(base, "a"))).toBe(0o700);
    expect(mode(join(base, "a", "b"))).toBe(0o700);
    await db.close();
  });

  it("leaves the mode of an existing file alone", async () => {
    const dir = fresh();
    const path = join(dir, "rf.db");
    writeFileSync(path, "");
    chmodSync(path, 0o640);
    const db = await RFDatabase.open({ url: `file:${path}` });
    await db.close();
    expect(mode(path)).toBe(0o640);
  });
});

describe("readOnly and ?mode=ro", () => {
  it.each([
    ["readOnly: true", (p: string) => ({ url: `file:${p}`, readOnly: true })],
    ["?mode=ro", (p: string) => ({ url: `file:${p}?mode=ro` })],
  ])("%s reads without writing the file, and every write is a StorageError saying read-only", async (_n, options) => {
    const path = await migratedFile(fresh());
    const before = { hash: sha(path), mtime: statSync(path).mtimeMs };
    const db = await RFDatabase.open(options(path));
    expect(await db.experiments.listNames()).toEqual(["exp-1"]);
    const attempts = [
      () => db.experiments.create({ experimentName: "no", numActors: 1 }),
      () => db.experiments.setError(1, "no"),
      () => db.transaction(async (tx) => tx.experiments.setNumShards(1, 3)),
      () => db.resetAllTables({ experiments: true }),
    ];
    for (const attempt of attempts) {
      const err = await rejection(attempt());
      expect(err).toBeInstanceOf(StorageError);
      expect(err).toMatchObject({ code: "STORAGE", reason: "read-only", path });
      expect(err.message).toMatch(/read-only/);
    }
    expect(await db.experiments.listNames()).toEqual(["exp-1"]);
    await db.close();
    expect({ hash: sha(path), mtime: statSync(path).mtimeMs }).toEqual(before);
  });

  it("applies no migration and changes no journal mode", async () => {
    const dir = fresh();
    const path = join(dir, "old.db");
    const raw = new Database(path);
    raw.exec("PRAGMA journal_mode = DELETE; CREATE TABLE unrelated (x)");
    raw.close();
    const before = sha(path);
    const err = await rejection(RFDatabase.open({ url: `file:${path}`, readOnly: true }));
    expect(err).toBeInstanceOf(SchemaVersionError); // checked, not migrated
    const opened = await RFDatabase.open({ url: `file:${path}`, readOnly: true, migrate: false });
    expect((await opened.client.execute("PRAGMA journal_mode")).rows[0]![0]).toBe("delete");
    await opened.close();
    expect(sha(path)).toBe(before);
    expect(readdirSync(dir)).toEqual(["old.db"]);
  });

  it("a missing file is a StorageError (cannot open) and nothing is created", async () => {
    const dir = fresh();
    const path = join(dir, "missing", "rf.db");
    const err = await rejection(RFDatabase.open({ url: `file:${path}`, readOnly: true }));
    expect(err).toMatchObject({ code: "STORAGE", reason: "cannot-open" });
    expect(err.message).toContain(path);
    expect(existsSync(join(dir, "missing"))).toBe(false);
    const rw = await rejection(RFDatabase.open({ url: `file:${join(dir, "x.db")}?mode=rw` }));
    expect(rw).toMatchObject({ code: "STORAGE", reason: "cannot-open" });
    expect(existsSync(join(dir, "x.db"))).toBe(false);
  });

  it("reads a database in a directory it cannot write (another user's), and a writable open there is a StorageError", async () => {
    const dir = fresh();
    const path = await migratedFile(dir);
    const before = sha(path);
    chmodSync(dir, 0o755);
    chmodSync(path, 0o644);
    const asRoot = process.getuid?.() === 0;
    // Root ignores directory permissions: then the check runs as `nobody`; otherwise as us, with the directory made read-only.
    if (!asRoot) chmodSync(dir, 0o555);
    chmodSync(root, 0o755);
    try {
      const r = spawnSync(
        process.execPath,
        ["--import", "tsx", join(REPO_ROOT, "tests/support/read-only-worker.ts"), path],
        {
          cwd: REPO_ROOT,
          encoding: "utf8",
          timeout: 60_000,
          env: { PATH: process.env.PATH, HOME: tmpdir() },
          ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
        },
      );
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
      expect(out.names).toEqual(["exp-1"]);
      expect(out.writeError).toMatchObject({ name: "StorageError", reason: "read-only" });
      expect(out.writableOpen).toMatchObject({ name: "StorageError" });
      expect(out.writableOpen.message).toContain(path);
    } finally {
      chmodSync(dir, 0o700);
      chmodSync(root, 0o700);
    }
    expect(sha(path)).toBe(before);
    expect(readdirSync(dir)).toEqual(["rf.db"]);
  });
});

describe("StorageError at open, naming the file", () => {
  it("cannot open: a path below a file, a directory", async () => {
    const dir = fresh();
    writeFileSync(join(dir, "file"), "x");
    for (const path of [join(dir, "file", "rf.db"), dir]) {
      const err = await rejection(RFDatabase.open({ url: `file:${path}` }));
      expect(err).toBeInstanceOf(StorageError);
      expect(err).toMatchObject({ reason: "cannot-open" });
      expect(err.message).toContain(path);
    }
  });

  it("not a database: refused, and the file is left as it was", async () => {
    const path = join(fresh(), "notes.db");
    writeFileSync(path, "these are my notes, not a database\n".repeat(300));
    const before = sha(path);
    const err = await rejection(RFDatabase.open({ url: `file:${path}` }));
    expect(err).toMatchObject({ code: "STORAGE", reason: "not-a-database" });
    expect(err.message).toContain(path);
    expect(sha(path)).toBe(before);
  });

  it("corrupt (scribbled pages): refused at open instead of accepting writes", async () => {
    const path = await migratedFile(fresh());
    const pages = statSync(path).size / 4096;
    expect(pages).toBeGreaterThan(8);
    const fd = openSync(path, "r+");
    // Scribble over every other page but the first (the header stays valid, so SQLite opens the file).
    const junk = Buffer.alloc(4096, 0x5a);
    for (let p = 1; p < pages; p += 2) writeSync(fd, junk, 0, 4096, p * 4096 + 100);
    closeSync(fd);
    const err = await rejection(RFDatabase.open({ url: `file:${path}` }));
    expect(err).toMatchObject({ code: "STORAGE", reason: "corrupt", path });
    expect(err.message).toMatch(/corrupt/);
  });

  it("corrupt in one index page that opening never reads: found by quick_check at open", async () => {
    const path = await migratedFile(fresh());
    const raw = new Database(path);
    const index = raw
      .prepare(
        "SELECT name, rootpage FROM sqlite_master WHERE type = 'index' AND tbl_name = 'pipelines' AND sql IS NOT NULL LIMIT 1",
      )
      .get() as { name: string; rootpage: number };
    raw.close();
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.alloc(64, 0x5a), 0, 64, (index.rootpage - 1) * 4096); // the b-tree page header
    closeSync(fd);
    const err = await rejection(RFDatabase.open({ url: `file:${path}` }));
    expect(err).toMatchObject({ code: "STORAGE", reason: "corrupt", path });
    expect(err.message).toMatch(/quick_check/);
    // Without the check the file opens and takes writes that do not touch the index.
    const unchecked = new Database(path);
    unchecked.prepare("UPDATE experiments SET error = 'accepted' WHERE experiment_id = 1").run();
    unchecked.close();
  });
});

describe("encryptionKey", () => {
  const SECRET = "experiment-name-that-must-not-be-readable";

  it("keeps the file and its WAL encrypted; the key opens it again; no or another key is a StorageError that says so", async () => {
    const dir = fresh();
    const path = join(dir, "enc.db");
    const db = await RFDatabase.open({ url: `file:${path}`, encryptionKey: "correct horse battery staple" });
    const id = await db.experiments.create({ experimentName: SECRET, numActors: 1 });
    // Open: the row is in the WAL. Neither file may show it, nor the SQLite header.
    for (const f of [path, `${path}-wal`]) {
      const bytes = readFileSync(f);
      expect(bytes.length).toBeGreaterThan(0);
      expect(bytes.includes(SECRET), f).toBe(false);
      expect(bytes.includes("SQLite format 3"), f).toBe(false);
      expect(bytes.includes("experiments"), f).toBe(false);
    }
    await db.close();
    expect(readFileSync(path).includes(SECRET)).toBe(false);

    const again = await RFDatabase.open({ url: `file:${path}`, encryptionKey: "correct horse battery staple" });
    expect((await again.experiments.get(id))?.experimentName).toBe(SECRET);
    await again.close();

    const before = sha(path);
    const missing = await rejection(RFDatabase.open({ url: `file:${path}` }));
    expect(missing).toMatchObject({ code: "STORAGE", reason: "not-a-database" });
    expect(missing.message).toMatch(/encrypted: open it with its encryptionKey/);
    const wrong = await rejection(RFDatabase.open({ url: `file:${path}`, encryptionKey: "Tr0ub4dor&3" }));
    expect(wrong).toMatchObject({ code: "STORAGE", reason: "not-a-database" });
    expect(wrong.message).toMatch(/encryptionKey does not decrypt it/);
    expect(wrong.message).not.toContain("Tr0ub4dor&3");
    expect(sha(path)).toBe(before);
  });

  it("a plain file opened with a key is refused and left as it was; a key on :memory: is a ConfigError", async () => {
    const path = await migratedFile(fresh());
    const before = sha(path);
    const err = await rejection(RFDatabase.open({ url: `file:${path}`, encryptionKey: "k" }));
    expect(err).toMatchObject({ code: "STORAGE", reason: "not-a-database" });
    expect(sha(path)).toBe(before);
    await expect(RFDatabase.open({ url: ":memory:", encryptionKey: "k" })).rejects.toThrow(ConfigError);
  });

  it("works read-only too", async () => {
    const dir = fresh();
    const path = join(dir, "enc.db");
    const db = await RFDatabase.open({ url: `file:${path}`, encryptionKey: "k1" });
    await db.experiments.create({ experimentName: SECRET, numActors: 1 });
    await db.close();
    const ro = await RFDatabase.open({ url: `file:${path}`, encryptionKey: "k1", readOnly: true });
    expect(await ro.experiments.listNames()).toEqual([SECRET]);
    await ro.close();
  });
});
