"""A data set's use count on a store of many jobs: the mounts' index against the jobs' pins.

The catalog shows how many jobs mounted each data set it lists (`data.mounts.uses`, on every
data set listing and page). It used to unpack every job's pinned versions at each listing
(`json_each` / `json_array_elements` over `jobs.datasets`), a cost that grew with all the jobs
the center ever ran; since migration 0049 each submit writes a row per version its job mounts
(`dataset_mounts`) and the count is read by its index. This measures both queries on one
database: a server built in-process (SQLite in a temporary home, no loops), one data set pushed,
one job submitted mounting it, then copied `--jobs` times in bulk (its row and its mount row;
`--bare-jobs` more copies mount nothing), and the count read `--rounds` times each way, plus
the listing (`GET /api/v1/datasets`) that shows it. Prints JSON; times are wall ms, a
query's first read (cold: it fills SQLite's cache) apart from the rounds after it.

    .venv/bin/python benchmarks/dataset_uses.py                 # 100,000 jobs, the recorded run
    .venv/bin/python benchmarks/dataset_uses.py --jobs 10000 --bare-jobs 100000
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import distinct, func, insert, select, true
from sqlalchemy.orm import Session

from aicc.config import Limits, Settings
from aicc.server import build
from aicc.services.data import mounts
from aicc.store.tables.data import DatasetMountRow, DatasetVersionRow
from aicc.store.tables.jobs import JobRow
from aicc.testing.datasets import push
from aicc.testing.servers import TEST_RATE_LIMIT

BATCH = 10_000  # rows a bulk insert takes at a time


def uses_by_pins(session: Session, dataset_ids: Iterable[str]) -> dict[str, int]:
    """The count as it was read before migration 0049 (ea93451^): every job's pinned versions
    unpacked by the database's own JSON function, then grouped by their data set."""
    wanted = list(dataset_ids)
    postgres = session.get_bind().dialect.name == "postgresql"
    unpack = func.json_array_elements if postgres else func.json_each
    pinned = unpack(JobRow.datasets).table_valued("value").alias("pinned")
    version = (
        pinned.c.value.op("->>")("version_id")
        if postgres
        else func.json_extract(pinned.c.value, "$.version_id")
    )
    query = (
        select(DatasetVersionRow.dataset_id, func.count(distinct(JobRow.id)))
        .select_from(JobRow)
        .join(pinned, true())
        .join(DatasetVersionRow, DatasetVersionRow.id == version)
        .where(DatasetVersionRow.dataset_id.in_(wanted))
        .group_by(DatasetVersionRow.dataset_id)
    )
    return {dataset_id: int(n) for dataset_id, n in session.execute(query)}


def copies(base: dict[str, Any], start: int, count: int, **changed: Any) -> list[dict[str, Any]]:
    """`count` copies of the job row `base`, each its own id and idempotency key."""
    return [
        base | {"id": f"job_x{i:08d}", "idempotency_key": f"x{i}", **changed}
        for i in range(start, start + count)
    ]


def timed(read: Callable[[], Any], rounds: int) -> tuple[list[float], Any]:
    """Wall ms of each of `rounds` calls, and what the last returned."""
    times, got = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        got = read()
        times.append(round(1000 * (time.perf_counter() - start), 1))
    return times, got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs mounting the set")
    parser.add_argument("--bare-jobs", type=int, default=0, help="jobs mounting no set")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        app, state = build(
            Settings(
                home=home,
                sandbox="off",
                limits=Limits.model_validate({"rate_limit": TEST_RATE_LIMIT}),
            )
        )
        client = TestClient(app)  # no lifespan: the loops stay off, the job stays queued
        client.headers["Authorization"] = "Bearer " + (home / "admin.token").read_text().strip()
        pushed = push(client, "corpus", {"train.txt": os.urandom(4096)})
        ref = f"corpus@{pushed['version']['number']}"
        job = client.post("/api/v1/jobs", json={"command": "true", "datasets": [ref]})
        job_id = job.raise_for_status().json()["id"]
        with state.db.engine.begin() as conn:
            base = dict(conn.execute(select(JobRow.__table__)).mappings().one())
            mount = dict(conn.execute(select(DatasetMountRow.__table__)).mappings().one())
            for at in range(0, args.jobs, BATCH):
                rows = copies(base, at, min(BATCH, args.jobs - at))
                conn.execute(insert(JobRow), rows)
                conn.execute(insert(DatasetMountRow), [mount | {"job_id": r["id"]} for r in rows])
            for at in range(args.jobs, args.jobs + args.bare_jobs, BATCH):
                count = min(BATCH, args.jobs + args.bare_jobs - at)
                conn.execute(insert(JobRow), copies(base, at, count, datasets=[]))
        dataset_id = mount["dataset_id"]
        out: dict[str, Any] = {"jobs": args.jobs + 1, "bare_jobs": args.bare_jobs}
        with state.db.reader() as session:
            for name, count in (("index", mounts.uses), ("pins", uses_by_pins)):
                read = functools.partial(count, session, [dataset_id])
                first, _ = timed(read, 1)  # a cold read
                times, got = timed(read, args.rounds)
                assert got == {dataset_id: args.jobs + 1}, got  # the submitted job and copies
                out[f"count_by_{name}_ms"] = {"first": first[0], "then": times}
        listing, got = timed(lambda: client.get("/api/v1/datasets"), args.rounds)
        used = {d["id"]: d["uses"] for d in got.raise_for_status().json()["items"]}
        assert used[dataset_id] == args.jobs + 1, used
        out["listing_ms"] = listing
        out["submitted_job"] = job_id
        print(json.dumps(out, indent=2))
        state.db.dispose()


if __name__ == "__main__":
    main()
