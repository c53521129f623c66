"""Overhead from SlurmExecutor.launch() to the replica's process starting (median of N).

bash scripts/slurm-dev.sh start && source .slurm-dev/env.sh
.venv/bin/python benchmarks/slurm_overhead.py "$SLURM_CONF" 20 0   # N launches, gap seconds
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from aicc.executors.base import ReplicaLaunch
from aicc.executors.slurm import SlurmCommands, SlurmExecutor
from aicc.services.common import new_id

conf, n, gap = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
ex = SlurmExecutor(
    base_dir=Path(tempfile.mkdtemp()), commands=SlurmCommands(slurm_conf=conf), queue_max_age_s=0
)
ex.discover()
overheads, submits = [], []
for i in range(n):
    r = ReplicaLaunch(
        job_id=new_id("job"),
        attempt=0,
        index=0,
        argv=["/bin/sh", "-c", "date +%s.%N"],
        env={},
        node=f"n{i % 3 + 1}",
        device_indices=(0,),
        cpu_milli=1000,
        memory_mib=256,
        max_runtime_s=None,
    )
    t0 = time.time()
    h = ex.launch(r)
    submits.append(time.time() - t0)
    while ex.poll(h).phase not in ("exited", "lost"):
        time.sleep(0.05)
    overheads.append(float(ex.logs(h).strip()) - t0)
    time.sleep(gap)
q = statistics.quantiles(overheads, n=10)
print(
    f"n={n} gap={gap}s  launch->start median {statistics.median(overheads):.3f}s  "
    f"p10 {q[0]:.3f} p90 {q[-1]:.3f} min {min(overheads):.3f} max {max(overheads):.3f}  "
    f"launch() itself median {statistics.median(submits) * 1000:.0f} ms"
)
