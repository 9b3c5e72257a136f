import { defineConfig } from "tsup";

/**
 * Three library entry points and the CLI. Dependencies stay external (the
 * user's install provides them); `web` must pull in nothing from Node, which
 * tests/package.test.ts checks on an esbuild browser bundle of it.
 */
export default defineConfig([
  {
    entry: { index: "src/index.ts", web: "src/web.ts", "schema/index": "src/schema/index.ts" },
    format: "esm",
    dts: true,
    sourcemap: true,
    target: "node20",
    splitting: true,
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
  },
]);
