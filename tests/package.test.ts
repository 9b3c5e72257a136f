/**
 * What users receive: build, `npm pack`, install the tarball into empty
 * projects, and use every entry point (by `import` and by `require()`, on
 * every Node found: the one running the tests, and those
 * scripts/install-test-node.sh put under .tmp/nodes/), the types (ESM and
 * CommonJS), the `rf-db` bin, the shipped migrations and examples from there
 * — as a Node service or a deploy would.
 *
 * `drizzle-orm` is a peer dependency: the package is installed beside the
 * highest version it claims (the one this repository develops with) and
 * beside the lowest (the range's lower bound), and both consumers run and
 * type-check the same code.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");
const work = mkdtempSync(join(tmpdir(), "rf-db-pack-"));
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  peerDependencies: Record<string, string>;
};
/** The claimed range's ends: its lower bound, and the version this repository is developed and tested with. */
const drizzleRange = manifest.peerDependencies["drizzle-orm"]!;
const DRIZZLE = {
  lowest: /^>=\s*(\d+\.\d+\.\d+)/.exec(drizzleRange)?.[1] ?? "",
  highest: (
    JSON.parse(readFileSync(join(root, "node_modules/drizzle-orm/package.json"), "utf8")) as { version: string }
  ).version,
};
/** One consumer project per end of the peer range; `app` is the highest. */
const apps = { highest: join(work, "app"), lowest: join(work, "app-lowest") };
const app = apps.highest;
let tarball = "";

/** The Node binaries to run consumers with: this one, and any under .tmp/nodes/<major>/ (scripts/install-test-node.sh). */
function nodeBinaries(): string[] {
  const dir = join(root, ".tmp/nodes");
  const extra = existsSync(dir)
    ? readdirSync(dir).flatMap((major) => {
        const mods = join(dir, major, "node_modules");
        if (!existsSync(mods)) return [];
        return readdirSync(mods)
          .filter((m) => m.startsWith("node-linux-"))
          .map((m) => join(mods, m, "bin/node"))
          .filter((bin) => existsSync(bin));
      })
    : [];
  return [process.execPath, ...extra];
}
const NODES = nodeBinaries();
const versionOf = (bin: string) => execFileSync(bin, ["--version"], { encoding: "utf8" }).trim();

const run = (cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) => {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, ...env }, timeout: 180_000 });
  return { code: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}`, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
};

beforeAll(() => {
  expect(DRIZZLE.lowest, `peer range ${drizzleRange} has a >= lower bound`).toMatch(/^\d/);
  const b = run("npm", ["run", "build"], root);
  expect(b.code, b.out).toBe(0);
  const packed = execFileSync("npm", ["pack", "--json", "--pack-destination", work], { cwd: root, encoding: "utf8" });
  const info = JSON.parse(packed) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info[0]!.filename);
  writeFileSync(join(work, "files.json"), JSON.stringify(info[0]!.files.map((f) => f.path)));
  for (const [end, dir] of Object.entries(apps)) {
    execFileSync("mkdir", ["-p", dir]);
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({ name: `consumer-${end}`, private: true, type: "module" }),
    );
    const drizzle = `drizzle-orm@${DRIZZLE[end as keyof typeof DRIZZLE]}`;
    const i = run(
      "npm",
      ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--prefer-offline", tarball, drizzle],
      dir,
    );
    expect(i.code, i.out).toBe(0);
  }
  if (NODES.length === 1) console.log("package test: only this Node; scripts/install-test-node.sh adds Node 22");
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the packed package", () => {
  it("ships dist (ESM, CommonJS, types of both), migrations, examples and LICENSE, and nothing of src or tests", () => {
    const files = JSON.parse(readFileSync(join(work, "files.json"), "utf8")) as string[];
    for (const entry of ["index", "web", "schema/index"]) {
      for (const ext of [".js", ".d.ts", ".cjs", ".d.cts"]) expect(files).toContain(`dist/${entry}${ext}`);
    }
    for (const f of [
      "dist/cli/main.js",
      "dist/dashboard/page.html",
      "dist/dashboard/page.js",
      "dist/dashboard/actions.js",
      "examples/node-service.ts",
      "examples/edge-worker.ts",
      "dist/cli/demo-worker.js",
      "drizzle/meta/_journal.json",
      "README.md",
      "LICENSE",
      "package.json",
    ]) {
      expect(files).toContain(f);
    }
    expect(readFileSync(join(root, "LICENSE"), "utf8")).toMatch(/Apache License\s+Version 2\.0/);
    expect(files.some((f) => f.startsWith("drizzle/") && f.endsWith(".sql"))).toBe(true);
    expect(files.filter((f) => f.startsWith("src/") || f.startsWith("tests/"))).toEqual([]);
    // Every example the README points to is in the tarball.
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const linked = [...readme.matchAll(/\]\((examples\/[^)#\s]+)\)/g)].map((m) => m[1]!);
    expect(linked.length).toBeGreaterThan(0);
    for (const f of linked) expect(files, `README links ${f}`).toContain(f);
  });

  /** The same program for `import` and `require()`: every entry point, the run model, typed errors, schema queries. */
  const program = `
const db = await RFDatabase.open({ url: "file:" + process.argv[2] });
const e = await db.experiments.create({ experimentName: "packed", numActors: 2, numShards: 4 });
const p = await db.pipelines.create({ experimentId: e, pipelineName: "p", pipelineType: "t", configJson: { model: { t: 0.5 } } });
await db.pipelines.advanceProgress(p, { samples: 7 });
const task = await db.actorTasks.create({ experimentId: e, pipelineId: p, actorId: 0, shardId: 0 });
await db.actorTasks.start(task);
await db.actorTasks.complete(task);
const clone = await db.icOperations.create({ operation: "clone", experimentId: e, parentPipelineId: p, config: { model: { t: 0.9 } } });
const child = await db.icOperations.apply(clone);
const direct = await db.drizzle.select().from(pipelines).where(eq(pipelines.pipelineId, p));
let validation = null, notFound = null, web = null;
try { await db.experiments.setStatus(e, "nope"); } catch (err) { validation = err instanceof ValidationError && err instanceof RFDatabaseError; }
try { await db.experiments.setStatus(99999, "failed"); } catch (err) { notFound = err instanceof NotFoundError; }
try { await WebDatabase.open({ url: "file:/tmp/x.db" }); } catch (err) { web = err.name + ": " + err.message; }
console.log(JSON.stringify({ e, p, progress: direct[0].totalSamplesProcessed, created: direct[0].createdAt instanceof Date,
  validation, notFound, web, statuses: PIPELINE_STATUSES.length, table: typeof experiments,
  child: (await db.pipelines.get(child)).flattenedConfig, drizzle: JSON.parse(readFileSync("node_modules/drizzle-orm/package.json", "utf8")).version }));
await db.close();
`;
  const names = "RFDatabase, ValidationError, NotFoundError, RFDatabaseError, PIPELINE_STATUSES";
  const scripts = {
    "use.mjs": `import { readFileSync } from "node:fs";
import { ${names} } from "rf-inferno-db";
import { pipelines, experiments } from "rf-inferno-db/schema";
import { RFDatabase as WebDatabase } from "rf-inferno-db/web";
import { eq } from "drizzle-orm";
${program}`,
    "use.cjs": `const { readFileSync } = require("node:fs");
const { ${names} } = require("rf-inferno-db");
const { pipelines, experiments } = require("rf-inferno-db/schema");
const { RFDatabase: WebDatabase } = require("rf-inferno-db/web");
const { eq } = require("drizzle-orm");
(async () => {${program}})().catch((err) => { console.error(err); process.exit(1); });`,
  };

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

  const cases = NODES.flatMap((node) =>
    (["highest", "lowest"] as const).flatMap((end) =>
      Object.keys(scripts).map((script) => ({
        node,
        end,
        script,
        nodeVersion: versionOf(node),
        drizzle: DRIZZLE[end],
      })),
    ),
  );
  it.each(cases)(
    "$script on Node $nodeVersion beside drizzle-orm $drizzle: every entry point, writes, reads, typed errors",
    ({ node, end, script }) => {
      const dir = apps[end];
      writeFileSync(join(dir, script), scripts[script as keyof typeof scripts]);
      const file = join(work, `${end}-${script}-${cases.findIndex((c) => c.node === node)}.db`);
      const r = run(node, [script, file], dir);
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
        child: { "model.t": 0.9 },
        drizzle: DRIZZLE[end],
      });
      expect(out.web).toMatch(/^ConfigError: .*file:/);
    },
  );

  const typed = (from: string) => `
import { RFDatabase, type Pipeline, type ActorTaskStatus, InvalidTransitionError } from "rf-inferno-db";
import { actorTasks, pipelines } from "rf-inferno-db/schema";
import { RFDatabase as Web } from "rf-inferno-db/web";
import { and, eq, sql } from "drizzle-orm";
export async function f(): Promise<Pipeline[]> {
  const db = await RFDatabase.open({ url: ":memory:" });
  const s: ActorTaskStatus = "in_progress";
  const id: number = await db.experiments.create({ experimentName: "t", numActors: 1 });
  const progress: { shardsCompleted: number } = await db.pipelines.advanceProgress(1, { samples: 1 });
  void s; void progress; void actorTasks.status; void Web.open; void InvalidTransitionError;
  // The app's own query with its own drizzle-orm on the package's tables (one drizzle-orm: the peer).
  const mine: { id: number; n: number }[] = await db.drizzle
    .select({ id: pipelines.pipelineId, n: sql<number>\`\${pipelines.shardsCompleted} + 1\` })
    .from(pipelines)
    .where(and(eq(pipelines.experimentId, id), eq(pipelines.status, "ongoing")));
  void mine;
  // @ts-expect-error unknown status is a type error too
  await db.experiments.setStatus(id, "paused");
  return db.pipelines.list(id); // ${from}
}
`;
  it.each(["highest", "lowest"] as const)(
    "type-checks ESM and CommonJS consumers against the shipped .d.ts / .d.cts (NodeNext), drizzle-orm %s",
    (end) => {
      const dir = apps[end];
      writeFileSync(join(dir, "typed.ts"), typed("ESM: dist/*.d.ts"));
      writeFileSync(join(dir, "typed.cts"), typed("CommonJS: dist/*.d.cts"));
      writeFileSync(
        join(dir, "tsconfig.json"),
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
          files: ["typed.ts", "typed.cts"],
        }),
      );
      const r = run(join(root, "node_modules/.bin/tsc"), ["-p", "tsconfig.json", "--listFiles"], dir);
      expect(
        r.code,
        r.out
          .split("\n")
          .filter((l) => /error TS/.test(l))
          .join("\n"),
      ).toBe(0);
      // Each consumer got the declarations of its own module system.
      expect(r.stdout).toMatch(/node_modules\/rf-inferno-db\/dist\/index\.d\.ts$/m);
      expect(r.stdout).toMatch(/node_modules\/rf-inferno-db\/dist\/index\.d\.cts$/m);
    },
  );

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

  it("the installed rf-db dashboard serves its page from the package's files, and stops on Ctrl-C", async () => {
    const { spawn } = await import("node:child_process");
    const child = spawn(
      join(app, "node_modules/.bin/rf-db"),
      ["dashboard", "--port", "0", "--url", `file:${join(work, "dash.db")}`],
      { cwd: app, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (out += c));
    const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
    try {
      const deadline = Date.now() + 60_000;
      let url: string | undefined;
      while (!(url = /http:\/\/127\.0\.0\.1:\d+\//.exec(out)?.[0]) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect(url, out).toBeDefined();
      for (const path of ["", "page.js", "actions.js"]) expect((await fetch(`${url}${path}`)).status, path).toBe(200);
      expect(await (await fetch(url!)).text()).toContain('<script type="module" src="/page.js">');
    } finally {
      child.kill("SIGINT");
    }
    expect(await exited).toBe(130);
  }, 90_000);

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
