/**
 * The README's quick start is code a newcomer pastes: run it as written
 * (against the source, on a temp embedded default database).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { RFDatabase } from "../src/index";

const root = join(import.meta.dirname, "..");

it("the README quick start runs as written on the embedded default", async () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Quick start"));
  const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
  const hot = /\*\*Hot path\.\*\*[\s\S]*?```ts\n([\s\S]*?)```/.exec(section)![1]!;
  const dir = join(root, ".tmp", `readme-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const home = mkdtempSync(join(tmpdir(), "rf-db-readme-"));
  try {
    // Run the hot-path lines inside the quick start, before it closes the database.
    const program = code
      .replace('from "rf-inferno-db"', `from ${JSON.stringify(join(root, "src/index.ts"))}`)
      .replace("await db.close();", `{\nconst actorId = 1, shardId = 1;\n${hot}\n}\nawait db.close();`);
    writeFileSync(join(dir, "quick-start.ts"), program);
    const r = spawnSync(process.execPath, ["--import", "tsx", join(dir, "quick-start.ts")], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, RF_DB_PATH: home, RF_DB_URL: "" },
      timeout: 60_000,
    });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toContain("[]"); // listRunning printed after the task completed
    const db = await RFDatabase.open({ url: `file:${join(home, "rapidfire.db")}` });
    const exp = await db.experiments.getByName("llama-sweep");
    expect(exp?.status).toBe("completed");
    const [pipeline] = await db.pipelines.list(exp!.experimentId);
    expect(pipeline).toMatchObject({ shardsCompleted: 2, totalSamplesProcessed: 1024 });
    expect((await db.icOperations.listAll())[0]?.status).toBe("completed");
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
});
