#!/usr/bin/env bash
# Builds the portal's front-end assets from the npm registry: `npm ci` installs exactly what
# package-lock.json names, then the files the portal serves are copied into
# aicc/portal/static/vendor/ (a build output, ignored by git). Nothing is fetched at run time, so
# the portal works in an offline data center. `make run` and `make test` call this; it does
# nothing when the vendored files are newer than the lock file. Any failure stops with an error.
set -euo pipefail
cd "$(dirname "$0")/.."

VENDOR=aicc/portal/static/vendor
STAMP="$VENDOR/.built"
# source in node_modules -> name under $VENDOR
FILES=(
  "node_modules/htmx.org/dist/htmx.min.js:htmx.min.js"
  "node_modules/echarts/dist/echarts.min.js:echarts.min.js"
)

fail() {
  {
    echo "################################################################################"
    echo "ERROR: the portal's front-end assets could not be built: $*"
    echo "ERROR: the portal needs them (htmx, ECharts). Install Node.js and npm, make sure the"
    echo "ERROR: npm registry is reachable (or a mirror is set in ~/.npmrc), then run:"
    echo "ERROR:   bash scripts/build-portal.sh"
    echo "################################################################################"
  } >&2
  exit 1
}

up_to_date() {
  [[ -f "$STAMP" && "$STAMP" -nt package-lock.json && -d node_modules/axe-core ]] || return 1
  local entry
  for entry in "${FILES[@]}"; do
    [[ -s "$VENDOR/${entry#*:}" ]] || return 1
  done
}

if up_to_date; then
  echo "portal assets: up to date ($VENDOR)"
  exit 0
fi

command -v npm >/dev/null 2>&1 || fail "npm is not installed"
echo "portal assets: npm ci (package-lock.json)"
npm ci --include=dev --no-audit --no-fund --ignore-scripts --loglevel=error || fail "npm ci failed"

mkdir -p "$VENDOR"
for entry in "${FILES[@]}"; do
  src="${entry%%:*}"
  dest="$VENDOR/${entry#*:}"
  [[ -s "$src" ]] || fail "$src is missing after npm ci"
  cp "$src" "$dest.tmp"
  mv "$dest.tmp" "$dest"
done
cp node_modules/htmx.org/LICENSE "$VENDOR/htmx.LICENSE"
cp node_modules/echarts/LICENSE "$VENDOR/echarts.LICENSE"
touch "$STAMP"
echo "portal assets: built into $VENDOR"
