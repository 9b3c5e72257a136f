/**
 * `rf-db` on a legacy Python database at the embedded default path, run as a
 * child process the way a user runs it (`RF_DB_PATH` points at a temp dir):
 * `status`, `migrate` and `demo` fail with one line naming `rf-db import` and
 * leave the file byte for byte as it was.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { copyFixture, sha256File, skipReason } from "../support/shared";

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
