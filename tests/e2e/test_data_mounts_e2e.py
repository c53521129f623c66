"""Data sets mounted into jobs, end to end: a real server over HTTP, pushes through the SDK, jobs
run by the local executor in the bubblewrap sandbox. A training-like job sums the files under
`$AICC_DATA_DIR/corpus` into its outputs and cannot write to its mount; a second job on the same
node fetches no chunk again; another tenant's job finds neither the cache nor the first
tenant's view."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from aicc.executors.rundir import DATA
from aicc.sdk.client import Client
from aicc.server import ServerState
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import over_http

MiB = 1024 * 1024
ENDED = {"succeeded", "failed", "cancelled"}

TRAIN = """
import os, pathlib
data = pathlib.Path(os.environ["AICC_DATA_DIR"]) / "corpus"
total = sum(int(x) for f in sorted(data.rglob("*.txt")) for x in f.read_text().split())
size = (data / "big.bin").stat().st_size
tries = []
for attempt in (lambda: (data / "new.txt").write_text("1"),
                lambda: open(data / "nums" / "0.txt", "a").write("9"),
                lambda: os.chmod(data / "big.bin", 0o666),
                lambda: (data / "big.bin").unlink()):
    try:
        attempt()
        tries.append("wrote")
    except OSError:
        tries.append("denied")
out = pathlib.Path(os.environ["AICC_OUTPUT_DIR"]) / "sum.txt"
out.write_text(f"{total} {size} {' '.join(tries)}")
"""


@dataclass
class Center:
    url: str
    admin: httpx.Client
    state: ServerState
    home: Path


@pytest.fixture
def center(db_url: str | None, tmp_path: Path) -> Iterator[Center]:
    home = tmp_path / "home"
    with over_http(home, db_url, limits={"grace_s": 2.0}) as (url, token, state):
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as admin:
            yield Center(url, admin, state, home)


@dataclass
class Tenant:
    datasets: Any  # the SDK's data sets (push)
    http: httpx.Client  # the API as this tenant


def tenant(center: Center, name: str) -> Tenant:
    api = center.admin
    org = api.post("/api/v1/orgs", json={"name": name}).json()
    user = api.post(
        "/api/v1/users", json={"name": f"{name}-user", "role": "member", "org_id": org["id"]}
    ).json()
    secret = api.post("/api/v1/tokens", json={"name": "t", "user_id": user["id"]}).json()["secret"]
    headers = {"Authorization": f"Bearer {secret}"}
    http = httpx.Client(base_url=center.url, headers=headers, timeout=30)
    return Tenant(Client(center.url, secret).datasets, http)


def corpus(root: Path, scale: int = 1) -> int:
    """Numbers in text files, and a 6 MiB file of several chunks; returns the numbers' sum."""
    (root / "nums").mkdir(parents=True)
    total = 0
    for i in range(10):
        numbers = [scale * (i * 10 + k) for k in range(10)]
        (root / "nums" / f"{i}.txt").write_text(" ".join(map(str, numbers)) + "\n")
        total += sum(numbers)
    (root / "big.bin").write_bytes(os.urandom(6 * MiB))
    return total


def run(who: Tenant, spec: dict[str, Any]) -> dict[str, Any]:
    job = submit(who.http, spec)
    return wait_state(who.http, job["id"], ENDED, timeout=180)


def test_a_training_job_reads_its_data_set_read_only_and_a_second_fetches_nothing(
    center: Center, tmp_path: Path
) -> None:
    alice = tenant(center, "tenant-a")
    total = corpus(tmp_path / "v1")
    alice.datasets.push("corpus", tmp_path / "v1")
    spec = {"command": ["python", "-c", TRAIN], "datasets": ["corpus"]}
    cache = center.state.executors["local"].data

    first = run(alice, spec)
    assert first["state"] == "succeeded", first
    assert first["spec"]["datasets"] == ["corpus@1"]  # pinned at submit
    outputs = center.home / "runs" / first["id"] / "outputs"
    assert (outputs / "sum.txt").read_text() == f"{total} {6 * MiB} denied denied denied denied"
    fetched = cache.counters.chunks_fetched
    assert fetched >= 3 and cache.counters.chunks_cached == 0  # 6 MiB is several chunks

    second = run(alice, spec)
    assert second["state"] == "succeeded", second
    assert (
        (center.home / "runs" / second["id"] / "outputs" / "sum.txt")
        .read_text()
        .startswith(f"{total} ")
    )
    assert cache.counters.chunks_fetched == fetched  # nothing fetched again
    assert cache.counters.files_reused >= 11 and cache.counters.files_assembled == 11

    # The node's cache is recorded for placement: this node holds corpus@1.
    nodes = center.admin.get("/api/v1/nodes").json()["items"]
    assert len(nodes) == 1
    with center.state.db.session() as session:
        from aicc.services.data import mounts
        from aicc.store.tables.jobs import JobRow

        job = session.get(JobRow, second["id"])
        assert job is not None
        held = mounts.cached_bytes(session, [job])
    logical = total_bytes(tmp_path / "v1")
    assert held == {second["id"]: {nodes[0]["name"]: logical}}


def total_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_another_tenants_job_reads_neither_the_cache_nor_the_first_tenants_view(
    center: Center, tmp_path: Path
) -> None:
    alice, bob = tenant(center, "tenant-a"), tenant(center, "tenant-b")
    corpus(tmp_path / "a")
    (tmp_path / "a" / "secret.txt").write_text("tenant-a-data-secret\n")
    alice.datasets.push("corpus", tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "mine.txt").write_text("bob's own\n")
    bob.datasets.push("notes", tmp_path / "b")

    hold = {"command": "sleep 300", "datasets": ["corpus"]}
    job_a = submit(alice.http, hold)
    view_a = center.home / "runs" / job_a["id"] / "0" / "0" / DATA
    wait_state(alice.http, job_a["id"], {"running"})
    assert (view_a / "corpus" / "secret.txt").read_text() == "tenant-a-data-secret\n"

    targets = [
        center.home / "cache" / "data",
        view_a,
        view_a / "corpus" / "secret.txt",
    ]
    probe = "; ".join(
        f"if out=$(cat {p} 2>/dev/null || ls -AR {p} 2>/dev/null); "
        f'then echo "READ {p}: $out"; else echo "DENIED {p}"; fi'
        for p in map(str, targets)
    )
    probe += '; echo "OWN $(ls -A $AICC_DATA_DIR) $(cat $AICC_DATA_DIR/notes/mine.txt)"'
    probe += '; echo "CORPUS $(ls $AICC_DATA_DIR/corpus 2>&1 | head -1)"'
    try:
        done = run(bob, {"command": probe, "datasets": ["notes"]})
        log = bob.http.get(f"/api/v1/jobs/{done['id']}/logs").text
        assert done["state"] == "succeeded", (done, log)
        lines = log.splitlines()
        for path in targets:
            assert f"DENIED {path}" in lines, log
        assert "OWN notes bob's own" in lines, log
        assert "tenant-a-data-secret" not in log
        # Naming A's private set is a 404 that names it, never a mount.
        answer = bob.http.post("/api/v1/jobs", json={"command": "true", "datasets": ["corpus"]})
        assert answer.status_code == 404 and "corpus" in answer.text, answer.text
    finally:
        alice.http.post(f"/api/v1/jobs/{job_a['id']}/cancel")
