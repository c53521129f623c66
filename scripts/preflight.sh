#!/usr/bin/env bash
# What `make run` needs of the machine before it makes .venv: Python 3.11 or newer with its venv
# module (Debian ships that apart, as python3.X-venv). Stops with the exact command to run when
# one is missing; warns when bubblewrap is missing (jobs then run without a sandbox).
#
#   bash scripts/preflight.sh [PYTHON]
set -uo pipefail
PYTHON="${1:-python3}"

stop() {
  {
    echo "################################################################################"
    echo "ERROR: $1"
    echo "ERROR: run:  $2"
    echo "ERROR: then: ${3:-make run}"
    echo "################################################################################"
  } >&2
  exit 1
}

as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then echo "$*"; else echo "sudo $*"; fi
}

command -v "$PYTHON" >/dev/null 2>&1 ||
  stop "$PYTHON is not installed" "$(as_root apt-get install -y python3 python3-venv)"

version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" ||
  stop "$PYTHON does not run" "$(as_root apt-get install -y python3 python3-venv)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  stop "AICC needs Python 3.11 or newer; $PYTHON is $version" \
    "$(as_root apt-get install -y python3.11 python3.11-venv)" "make run PYTHON=python3.11"

"$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 ||
  stop "$PYTHON has no venv module (Debian packages it apart)" \
    "$(as_root apt-get install -y "python$version-venv")"

if ! command -v bwrap >/dev/null 2>&1; then
  echo "WARNING: bubblewrap is missing: jobs will run without a sandbox, as this user." >&2
  echo "WARNING: for tenants' jobs, install it: $(as_root apt-get install -y bubblewrap)" >&2
fi
exit 0
