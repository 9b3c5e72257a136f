import { cpSync, mkdirSync } from "node:fs";
import { defineConfig } from "tsup";
import { ASSET_FILES } from "./src/dashboard/assets";

/**
 * Three library entry points and the CLI. Dependencies (and the
 * `drizzle-orm` peer) stay external: the user's install provides them, so the
 * schema tables a user imports and the ones the repositories use are built on
 * the one `drizzle-orm` of the app. `web` must pull in nothing from Node,
 * which tests/package.test.ts checks on an esbuild browser bundle of it.
 *
 * The library is built twice: ESM (`.js`, with shared chunks) for `import`,
 * and CommonJS (`.cjs`, each entry self-contained: tsup's CommonJS code
 * splitting is experimental) for `require()` — a CommonJS app, or a tool such
 * as Jest, on any Node 20+ (Node's own `require(esm)` needs 20.19/22.12 and
 * no top-level await anywhere in the graph). tests/package.test.ts requires
 * every entry point from a packed install.
 */
export default defineConfig([
  {
    entry: { index: "src/index.ts", web: "src/web.ts", "schema/index": "src/schema/index.ts" },
    // splitting left to tsup's default: on for ESM, off for CommonJS (experimental there).
    format: ["esm", "cjs"],
    dts: true,
    sourcemap: true,
    target: "node20",
    treeshake: true,
  },
  {
    entry: { "cli/main": "src/cli/main.ts", "cli/demo-worker": "src/cli/demo-worker.ts" },
    format: "esm",
    sourcemap: true,
    target: "node20",
    platform: "node",
    splitting: false,
    banner: { js: "#!/usr/bin/env node" },
    // `rf-db dashboard` serves its page's files as written (no front-end build): they go beside
    // the CLI bundle, at dist/dashboard/ — `../dashboard/` from dist/cli/, as from src/cli/.
    async onSuccess() {
      mkdirSync("dist/dashboard", { recursive: true });
      for (const f of ASSET_FILES) cpSync(`src/dashboard/${f}`, `dist/dashboard/${f}`);
    },
  },
]);
