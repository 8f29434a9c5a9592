#!/usr/bin/env bash
# Installs the lint tools (their own TypeScript 6 for typescript-eslint) when missing or stale.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
