/**
 * `rf-db` and a legacy Python database at the embedded default path, run as a
 * child process the way a user runs it (`RF_DB_PATH` points at a temp dir):
 * `status`, `migrate` and `demo` fail with one line naming `rf-db import` and
 * leave the file byte for byte as it was; `rf-db import` moves it aside
 * (unchanged, the new name printed), imports it into a new database there,
 * and `rf-db status` then shows the experiments. A second run imports nothing.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { runImport } from "../../src/cli/import-command";
import { RFDatabase } from "../../src/index";
import { smallLegacyRows, writeLegacyDb } from "../support/legacy-db";
import { copyFixture, expected, fixturePath, sha256File, skipReason } from "../support/shared";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const MAIN = join(ROOT, "src/cli/main.ts");
const skip = skipReason();
if (skip) console.log(skip);

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `rf-db …` with the embedded default in `dir` and none of the caller's RF_DB_* settings. */
function rfdb(args: string[], dir: string, extra: Record<string, string> = {}): Promise<Result> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("RF_DB_")) env[k] = v;
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], {
    cwd: ROOT,
    env: { ...env, RF_DB_PATH: dir, ...extra },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(!!skip)("rf-db on a legacy database at the default path", () => {
  it("status, migrate and demo: one line naming `rf-db import`, exit 1, file unchanged", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rf-legacy-cli-"));
    dirs.push(dir);
    const path = copyFixture("rapidfire-6158eec.db", dir, "rapidfire.db");
    const before = sha256File(path);
    for (const args of [["status"], ["migrate"], ["demo", "--pipelines", "1", "--shards", "1", "--actors", "1"]]) {
      const r = await rfdb(args, dir);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(/^rf-db: [^\n]*Python module[^\n]*`npx rf-db import`[^\n]*\n$/);
      expect(sha256File(path)).toBe(before);
      expect(readdirSync(dir)).toEqual(["rapidfire.db"]);
    }
  });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "rf-legacy-cli-"));
  dirs.push(dir);
  return dir;
}

describe.skipIf(!!skip)("rf-db import", () => {
  it("with no file: renames the default database aside unchanged, imports it there; status shows it; twice is a no-op", async () => {
    const dir = tempDir();
    const path = copyFixture("rapidfire-6158eec.db", dir, "rapidfire.db");
    const original = sha256File(path);
    const r = await rfdb(["import"], dir);
    expect(r.code, r.stderr).toBe(0);
    const kept = /Kept the Python database, unchanged, as (\S+)/.exec(r.stdout)?.[1];
    expect(kept, r.stdout).toMatch(/rapidfire\.python-\d{8}-\d{6}\.db$/);
    expect(sha256File(kept!)).toBe(original);
    expect(r.stdout).toMatch(
      /experiments\s+3\n\s+contexts\s+3\n\s+pipelines\s+9\n\s+actor tasks\s+34\n\s+IC operations\s+4/,
    );
    expect(
      readdirSync(dir)
        .filter((f) => f.endsWith(".db"))
        .sort(),
    ).toEqual(["rapidfire.db", kept!.split("/").pop()].sort());

    const status = await rfdb(["status"], dir);
    expect(status.code, status.stderr).toBe(0);
    for (const name of expected()["rapidfire-6158eec.db"].experiment_names as string[])
      expect(status.stdout).toContain(name);

    const again = await rfdb(["import"], dir);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/Nothing to import: .* already holds .*python-/);
    const explicit = await rfdb(["import", kept!], dir);
    expect(explicit.code, explicit.stderr).toBe(0);
    expect(explicit.stdout).toMatch(/Already imported on .*: nothing to do/);
    expect(sha256File(kept!)).toBe(original);
  }, 60_000);

  it("a file in place into --url; a bad file and a missing default are one-line errors", async () => {
    const dir = tempDir();
    const target = `file:${join(dir, "target.db")}`;
    const r = await rfdb(["import", fixturePath("rapidfire-6dd53c1.db"), "--url", target, "--naive-times", "utc"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("schema 6dd53c1");
    expect(r.stdout).not.toContain("Kept the Python database");
    const db = await RFDatabase.open({ url: target });
    expect(await db.experiments.listNames()).toEqual(expect.arrayContaining(["sweep-0-29", "sweep-1-22"]));
    await db.close();

    writeFileSync(join(dir, "notes.txt"), "not a database ".repeat(20));
    const bad = await rfdb(["import", join(dir, "notes.txt")], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^rf-db: .*notes\.txt is not a SQLite database[^\n]*\n$/);
    const none = await rfdb(["import"], tempDir());
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^rf-db: no database written by RapidFire's Python module at [^\n]*\n$/);
    const usage = await rfdb(["import", "--naive-times", "gmt"], dir);
    expect(usage.code).toBe(2);
  }, 60_000);

  it("a bad row is found before anything moves; a failed write puts the Python database back", async () => {
    const dir = tempDir();
    const path = join(dir, "rapidfire.db");
    const rows = smallLegacyRows();
    rows.actor_tasks![0]!.status = "lost";
    writeLegacyDb(path, "6158eec", rows);
    const original = sha256File(path);
    const bad = await rfdb(["import"], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/actor_tasks row 1: unknown status "lost"/);
    expect(readdirSync(dir)).toEqual(["rapidfire.db"]);
    expect(sha256File(path)).toBe(original);

    const dir2 = tempDir();
    const path2 = join(dir2, "rapidfire.db");
    writeLegacyDb(path2, "6158eec", smallLegacyRows());
    const good = sha256File(path2);
    const saved = { path: process.env.RF_DB_PATH, url: process.env.RF_DB_URL };
    process.env.RF_DB_PATH = dir2;
    delete process.env.RF_DB_URL;
    try {
      const lines: string[] = [];
      const failing = async () => {
        throw new Error("disk full (simulated)");
      };
      await expect(runImport(undefined, {}, { print: (l) => lines.push(l), write: failing })).rejects.toThrow(
        /disk full \(simulated\) \(nothing was imported; the Python database is back at .*rapidfire\.db\)/,
      );
      expect(lines.join("\n")).toMatch(/Kept the Python database/);
    } finally {
      if (saved.path === undefined) delete process.env.RF_DB_PATH;
      else process.env.RF_DB_PATH = saved.path;
      if (saved.url !== undefined) process.env.RF_DB_URL = saved.url;
    }
    expect(readdirSync(dir2)).toEqual(["rapidfire.db"]);
    expect(sha256File(path2)).toBe(good);
  }, 60_000);
});
