"""The Philly job trace (Microsoft, 2017; the per-job CSV of the Sia artifact) as `TraceJob`s.

Columns: `timestamp` (submission, "YYYY-MM-DD HH:MM:SS"), `duration` (seconds of run time),
`num_gpus`, `gpu_time`, `cluster` (the virtual cluster: a tenant here). Rows without a
timestamp (the file ends with a blank line) are skipped.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from aicc.sim.jobs import TraceJob


def load(path: Path, start: datetime | None = None, end: datetime | None = None) -> list[TraceJob]:
    """The jobs submitted in [start, end), in submission order, numbered from 0.

    Raises ValueError naming the row and column when the file is not the Philly CSV."""
    jobs: list[TraceJob] = []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"timestamp", "duration", "num_gpus", "cluster"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        rows = []
        for line, row in enumerate(reader, start=2):
            if not row["timestamp"]:
                continue
            try:
                submitted = datetime.fromisoformat(row["timestamp"])
                duration = float(row["duration"])
                gpus = int(row["num_gpus"])
            except ValueError as exc:
                raise ValueError(f"{path}, line {line}: {exc}") from None
            if (start is None or submitted >= start) and (end is None or submitted < end):
                rows.append((submitted, duration, gpus, row["cluster"]))
    rows.sort(key=lambda r: r[0])
    for i, (submitted, duration, gpus, cluster) in enumerate(rows):
        jobs.append(TraceJob(f"j{i}", submitted, max(1.0, duration), gpus, cluster))
    return jobs
