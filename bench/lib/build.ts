/**
 * The code the fresh processes run, built once per bench run into
 * bench/.work/build/ with esbuild (a devDependency; tsup, which builds dist/,
 * is esbuild with the same settings):
 *
 * - `pkg/index.js`: the package as users import it — src/index.ts bundled
 *   as ESM for Node 20 with every dependency left external (tsup's default),
 *   so importing it costs what importing `rf-inferno-db` from dist/ costs, not
 *   what on-the-fly TypeScript compilation (tsx) would add;
 * - `child.mjs`: bench/child/main.ts (the workloads, the raw replays), which
 *   imports the package bundle by path at run time.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

export interface Built {
  pkg: string;
  child: string;
  ms: number;
}

export async function buildChildren(root: string, workDir: string): Promise<Built> {
  const t0 = performance.now();
  const dir = join(workDir, "build");
  mkdirSync(dir, { recursive: true });
  const common = {
    bundle: true,
    format: "esm" as const,
    platform: "node" as const,
    target: "node20",
    packages: "external" as const,
    logLevel: "error" as const,
    absWorkingDir: root,
  };
  await build({ ...common, entryPoints: [join(root, "src/index.ts")], outfile: join(dir, "pkg", "index.js") });
  await build({ ...common, entryPoints: [join(root, "bench/child/main.ts")], outfile: join(dir, "child.mjs") });
  return { pkg: join(dir, "pkg", "index.js"), child: join(dir, "child.mjs"), ms: performance.now() - t0 };
}
