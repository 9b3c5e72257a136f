/**
 * What users receive: build, `npm pack`, install the tarball into an empty
 * project, and use every entry point, the types, the `rf-db` bin and the
 * shipped migrations from there — as a Node service or a deploy would.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");
const work = mkdtempSync(join(tmpdir(), "rf-db-pack-"));
const app = join(work, "app");
let tarball = "";

const run = (cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) => {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, ...env }, timeout: 180_000 });
  return { code: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}`, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
};

beforeAll(() => {
  const b = run("npm", ["run", "build"], root);
  expect(b.code, b.out).toBe(0);
  const packed = execFileSync("npm", ["pack", "--json", "--pack-destination", work], { cwd: root, encoding: "utf8" });
  const info = JSON.parse(packed) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info[0]!.filename);
  writeFileSync(join(work, "files.json"), JSON.stringify(info[0]!.files.map((f) => f.path)));
  execFileSync("mkdir", ["-p", app]);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  const i = run("npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--prefer-offline", tarball], app);
  expect(i.code, i.out).toBe(0);
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the packed package", () => {
  it("ships dist, types and migrations, and nothing of src or tests", async () => {
    const files = JSON.parse((await import("node:fs")).readFileSync(join(work, "files.json"), "utf8")) as string[];
    for (const f of [
      "dist/index.js",
      "dist/index.d.ts",
      "dist/web.js",
      "dist/web.d.ts",
      "dist/schema/index.js",
      "dist/schema/index.d.ts",
      "dist/cli/main.js",
      "dist/cli/demo-worker.js",
      "drizzle/meta/_journal.json",
      "README.md",
      "package.json",
    ]) {
      expect(files).toContain(f);
    }
    expect(files.some((f) => f.startsWith("drizzle/") && f.endsWith(".sql"))).toBe(true);
    expect(files.filter((f) => f.startsWith("src/") || f.startsWith("tests/"))).toEqual([]);
  });

  it("works from Node: open, write, read, typed errors, schema entry, web entry refuses file:", () => {
    writeFileSync(
      join(app, "use.mjs"),
      `
import { RFDatabase, ValidationError, NotFoundError, RFDatabaseError, ConfigError, PIPELINE_STATUSES } from "rf-inferno-db";
import { pipelines, experiments } from "rf-inferno-db/schema";
import { RFDatabase as WebDatabase } from "rf-inferno-db/web";
import { eq } from "drizzle-orm";
const db = await RFDatabase.open({ url: "file:" + process.argv[2] });
const e = await db.experiments.create({ experimentName: "packed", numActors: 2, numShards: 4 });
const p = await db.pipelines.create({ experimentId: e, pipelineName: "p", pipelineType: "t", modelConfig: { m: 1 }, samplingParams: [0.1] });
await db.pipelines.advanceProgress(p, { samples: 7 });
const direct = await db.drizzle.select().from(pipelines).where(eq(pipelines.pipelineId, p));
let validation = null, notFound = null, web = null;
try { await db.experiments.setStatus(e, "nope"); } catch (err) { validation = err instanceof ValidationError && err instanceof RFDatabaseError; }
try { await db.experiments.setStatus(99999, "failed"); } catch (err) { notFound = err instanceof NotFoundError; }
try { await WebDatabase.open({ url: "file:/tmp/x.db" }); } catch (err) { web = err.name + ": " + err.message; }
console.log(JSON.stringify({ e, p, progress: direct[0].totalSamplesProcessed, created: direct[0].createdAt instanceof Date,
  validation, notFound, web, statuses: PIPELINE_STATUSES.length, table: typeof experiments }));
await db.close();
`,
    );
    const r = run("node", ["use.mjs", join(work, "node.db")], app);
    expect(r.code, r.out).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
    expect(out).toMatchObject({
      e: 1,
      p: 1,
      progress: 7,
      created: true,
      validation: true,
      notFound: true,
      statuses: 6,
      table: "object",
    });
    expect(out.web).toMatch(/^ConfigError: .*file:/);
  });

  it("a local database never loads @libsql/client or drizzle-orm/libsql (start-up cost: BENCHMARKS.md)", () => {
    // Every module Node resolves is logged by a loader hook (it runs in its own thread: it appends to a file).
    const log = join(work, "resolved.log");
    writeFileSync(
      join(app, "hooks.mjs"),
      `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.RESOLVE_LOG, r.url + "\\n");
  return r;
}
`,
    );
    writeFileSync(
      join(app, "register.mjs"),
      `import { register } from "node:module"; register("./hooks.mjs", import.meta.url);`,
    );
    writeFileSync(
      join(app, "local.mjs"),
      `import { RFDatabase } from "rf-inferno-db";
const db = await RFDatabase.open({ url: "file:" + process.argv[2] });
const e = await db.experiments.create({ experimentName: "local", numActors: 1 });
await db.transaction(async (tx) => tx.experiments.setStatus(e, "completed"));
console.log(JSON.stringify(await db.experiments.get(e)));
await db.close();
`,
    );
    const r = run("node", ["--import", "./register.mjs", "local.mjs", join(work, "local.db")], app, {
      RESOLVE_LOG: log,
    });
    expect(r.code, r.out).toBe(0);
    expect(JSON.parse(r.stdout.trim().split("\n").pop()!)).toMatchObject({ status: "completed" });
    const resolved = readFileSync(log, "utf8").split("\n").filter(Boolean);
    expect(resolved.some((u) => u.includes("/node_modules/libsql/"))).toBe(true); // the hook saw the imports
    expect(resolved.filter((u) => /\/@libsql\/client\/|\/drizzle-orm\/libsql\/(index|driver)\.js$/.test(u))).toEqual(
      [],
    );
  });

  it("type-checks a consumer against the shipped .d.ts (NodeNext resolution of exports)", () => {
    writeFileSync(
      join(app, "typed.ts"),
      `
import { RFDatabase, type Pipeline, type ActorTaskStatus, InvalidTransitionError } from "rf-inferno-db";
import { actorTasks } from "rf-inferno-db/schema";
import { RFDatabase as Web } from "rf-inferno-db/web";
export async function f(): Promise<Pipeline[]> {
  const db = await RFDatabase.open({ url: ":memory:" });
  const s: ActorTaskStatus = "in_progress";
  const id: number = await db.experiments.create({ experimentName: "t", numActors: 1 });
  const progress: { shardsCompleted: number } = await db.pipelines.advanceProgress(1, { samples: 1 });
  void s; void progress; void actorTasks.status; void Web.open; void InvalidTransitionError;
  // @ts-expect-error unknown status is a type error too
  await db.experiments.setStatus(id, "paused");
  return db.pipelines.list(id);
}
`,
    );
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "NodeNext",
          moduleResolution: "NodeNext",
          target: "ES2022",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
        },
        files: ["typed.ts"],
      }),
    );
    const r = run(join(root, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], app);
    expect(r.code, r.out).toBe(0);
  });

  it("the rf-db bin applies the shipped migrations, then reports nothing to do", () => {
    const url = `file:${join(work, "bin.db")}`;
    const first = run(join(app, "node_modules/.bin/rf-db"), ["migrate", "--url", url], app);
    expect(first.code, first.out).toBe(0);
    expect(first.stdout).toMatch(/0000_initial_schema/);
    const second = run(join(app, "node_modules/.bin/rf-db"), ["migrate", "--url", url], app);
    expect(second.code, second.out).toBe(0);
    expect(second.stdout).not.toMatch(/applied /);
    expect(second.stdout).toMatch(/up to date/i);
  });

  it("the installed ./web entry bundles for a browser/worker target with no Node built-ins or native modules", async () => {
    const result = await build({
      stdin: { contents: `export { RFDatabase } from "rf-inferno-db/web";`, resolveDir: app, loader: "js" },
      bundle: true,
      write: false,
      platform: "browser",
      format: "esm",
      conditions: ["worker", "browser"],
      metafile: true,
      logLevel: "silent",
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((f) => f.includes("node_modules/libsql/") || f.endsWith(".node"))).toEqual([]);
    const code = result.outputFiles[0]!.text;
    expect(code).not.toMatch(/from\s*["']node:/);
    expect(code).not.toMatch(/require\(["'](fs|path|os|child_process|net|node:[a-z]+)["']\)/);
  });
});
