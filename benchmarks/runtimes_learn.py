"""What the scheduling loop's runtime predictor costs (services/jobs/runtimes.py): its first
`learn` on a store of N succeeded jobs (it reads the latest 20,000), then passes with nothing
new. CPU ms of each call; the store is SQLite in a temporary folder, its jobs inserted in bulk.

    .venv/bin/python benchmarks/runtimes_learn.py --jobs 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select

from aicc.config import Settings
from aicc.core.jobspec import JobSpec
from aicc.server import build
from aicc.services.common import utcnow
from aicc.services.jobs import jobs
from aicc.services.jobs.runtimes import Runtimes
from aicc.store.tables.jobs import JobRow
from aicc.testing.servers import admin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        _app, state = build(Settings(home=home, sandbox="off"))
        who = admin(state, home)
        spec = JobSpec.model_validate({"command": "true", "max_runtime": "1h"})
        with state.db.session() as session:
            jobs.submit(session, who, spec, idempotency_key="k-0")
        end = utcnow()
        with state.db.engine.begin() as conn:  # copies of that job, ended a second apart
            base = dict(conn.execute(select(JobRow.__table__)).mappings().one())
            conn.execute(
                insert(JobRow),
                [
                    base
                    | {"id": f"job_x{i:08d}", "idempotency_key": f"x{i}", "state": "succeeded"}
                    | {"started_at": end - timedelta(seconds=60 + i % 500 + i)}
                    | {"ended_at": end - timedelta(seconds=i)}
                    for i in range(args.jobs)
                ],
            )
        runtimes = Runtimes()
        for n in range(1 + args.passes):
            with state.db.reader() as session:
                cpu = time.process_time()
                learned = runtimes.learn(session)
                cpu = time.process_time() - cpu
            label = "first learn" if n == 0 else "a pass with nothing new"
            print(f"{label}: {learned} jobs learned, {cpu * 1000:.1f} ms of CPU")
        state.db.dispose()


if __name__ == "__main__":
    main()
