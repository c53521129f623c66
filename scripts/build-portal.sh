#!/usr/bin/env bash
# The portal's front-end files, pinned by package-lock.json, in aicc/portal/static/vendor/ (a
# build output, ignored by git; inside the wheel). Nothing is fetched at run time, so the portal
# works in an offline data center.
#
#   bash scripts/build-portal.sh               # what the portal serves: Python only, no Node.js
#   bash scripts/build-portal.sh --test-tools  # and node_modules for the tests (axe-core): npm ci
#
# `make run` calls the first, `make test` the second. Each part does nothing when its output is
# newer than the lock file. Any failure stops with the command to run.
set -euo pipefail
cd "$(dirname "$0")/.."

VENDOR=aicc/portal/static/vendor
PYTHON="${PYTHON:-python3}"

fail() {
  {
    echo "################################################################################"
    echo "ERROR: $*"
    echo "################################################################################"
  } >&2
  exit 1
}

vendored() {
  [[ -f "$VENDOR/.built" && "$VENDOR/.built" -nt package-lock.json ]] || return 1
  local name
  for name in htmx.min.js echarts.min.js xterm.js xterm.css xterm-addon-fit.js; do
    [[ -s "$VENDOR/$name" ]] || return 1
  done
}

if vendored; then
  echo "portal assets: up to date ($VENDOR)"
else
  "$PYTHON" scripts/fetch_portal_assets.py
fi

if [[ "${1:-}" == "--test-tools" ]]; then
  if [[ -d node_modules/axe-core && node_modules/axe-core -nt package-lock.json ]]; then
    echo "test tools: up to date (node_modules)"
    exit 0
  fi
  command -v npm >/dev/null 2>&1 ||
    fail "the portal's tests need npm (axe-core, the OIDC test provider): apt-get install npm"
  echo "test tools: npm ci (package-lock.json)"
  npm ci --include=dev --no-audit --no-fund --ignore-scripts --loglevel=error ||
    fail "npm ci failed; make sure the npm registry is reachable (or set a mirror in ~/.npmrc)"
  touch node_modules/axe-core
fi
