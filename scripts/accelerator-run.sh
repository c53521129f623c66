#!/usr/bin/env bash
# Issue 42 on a lent GPU machine (the workplace's device tool), from the repository's root:
# what AICC needs beside the image's python3 and torch comes as wheels in .whl/ (cp312, fetched
# as .library/device/README.md says), bubblewrap and its libraries in .gpu/ (copied from a Debian
# machine); then benchmarks/accelerator.py writes its findings under $OUT.
#   carry: [".whl", ".gpu"]   command: bash scripts/accelerator-run.sh
set -u
OUT=${OUT:-/tmp/accelerator-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/run.log") 2>&1
echo "== machine"; date -u; uname -r; nproc; free -g | head -2; nvidia-smi -L; python3 -V
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH-}"; ldconfig -p | grep -m2 libcuda.so
if ! python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir "${WHEELS:-.whl}"/*.whl; then
    echo "== the image's environment is read-only: a target folder instead"
    python3 -m pip install -q --no-index --no-deps --no-compile --target /opt/aicc-site "${WHEELS:-.whl}"/*.whl
    export PYTHONPATH=/opt/aicc-site  # the server's; a job's python will not see these
fi
if ! command -v bwrap >/dev/null; then
    install -m 0755 "${TOOLS:-.gpu}"/bwrap /usr/local/bin/bwrap
    if ldd /usr/local/bin/bwrap | grep -q "not found"; then
        cp -n "${TOOLS:-.gpu}"/lib/* /usr/local/lib/ && ldconfig
    fi
fi
bwrap --ro-bind / / --dev /dev true && echo "bwrap runs" || echo "bwrap FAILS"
env -i PATH=/usr/bin:/bin "$(command -v python3)" -c \
    'import torch; print("CUDA in a clean environment:", torch.cuda.is_available())'
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
timeout "${DEADLINE:-480}" python3 benchmarks/accelerator.py --out "$OUT" \
    --deadline-s "$(( ${DEADLINE:-480} - 30 ))" "$@"
echo "== rc=$?"; date -u
