"""What a pod's `data` init container does (aicc/executors/kubernetes/fetch.py), against a real
AICC server over a socket: the program itself, as the pod runs it, lays out the job's data sets
read-only; a second pod on the node fetches no chunk again; two pods at once share the node's
cache; a grant that ended mounts nothing and says why."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from aicc.executors.datacache import DataError
from aicc.executors.kubernetes.fetch import ApiDatasets, fetch
from aicc.services.data import mounts
from aicc.testing.datasets import push
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import over_http

ROWS = os.urandom(700_000)
FILES = {"rows.bin": ROWS, "labels/cat.txt": b"cat\n", "labels/dog.txt": b"dog\n"}


@dataclass(frozen=True)
class Running:
    """A server with a running job that mounts `corpus`, and that job's data grant."""

    url: str
    admin: httpx.Client
    job_id: str
    grant: str


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with (
        over_http(tmp_path / "home") as (url, token, state),
        httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}) as api,
    ):
        push(api, "corpus", FILES)
        job = submit(api, {"command": "sleep 120", "datasets": ["corpus"]})
        attempt = wait_state(api, job["id"], {"running"})["attempt"]
        yield Running(url, api, job["id"], mounts.grant(state.sealer, job["id"], attempt))
        api.post(f"/api/v1/jobs/{job['id']}/cancel")


def pod_env(job: Running, volume: Path, cache: Path | None) -> dict[str, str]:
    """The environment the init container's manifest gives it."""
    return {
        **os.environ,
        "AICC_API_URL": job.url,
        "AICC_JOB_ID": job.job_id,
        "AICC_DATA_GRANT": job.grant,
        "AICC_DATA_VOLUME": str(volume),
        "AICC_DATA_CACHE": str(cache or ""),
        "AICC_DATA_CACHE_GIB": "1",
    }


FETCH = [sys.executable, "-m", "aicc.executors.kubernetes.fetch"]


def run_fetch(job: Running, volume: Path, cache: Path | None) -> str:
    """The init container's command, as the pod runs it."""
    done = subprocess.run(
        FETCH,
        env=pod_env(job, volume, cache),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def view_of(volume: Path) -> dict[str, bytes]:
    root = volume / "view" / "corpus"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_pods_on_one_node_fetch_each_chunk_once(running: Running, tmp_path: Path) -> None:
    cache = tmp_path / "node-cache"
    first = run_fetch(running, tmp_path / "pod-1", cache)
    assert view_of(tmp_path / "pod-1") == FILES
    assert "3 file(s) assembled" in first and "0 from the cache" in first
    # Read-only for the job (its container mounts the view read-only too).
    data = tmp_path / "pod-1" / "view" / "corpus"
    assert not os.access(data / "rows.bin", os.W_OK) or os.geteuid() == 0
    assert (data / "labels").stat().st_mode & 0o222 == 0

    second = run_fetch(running, tmp_path / "pod-2", cache)
    assert view_of(tmp_path / "pod-2") == FILES
    assert "0 chunk(s) fetched (0 bytes)" in second and "3 from the node's cache" in second


def test_two_pods_at_once_share_the_cache(running: Running, tmp_path: Path) -> None:
    pods = [
        subprocess.Popen(
            FETCH,
            env=pod_env(running, tmp_path / f"pod-{i}", tmp_path / "node-cache"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in pods]
    assert [p.returncode for p in pods] == [0, 0, 0], outs
    for i in range(3):
        assert view_of(tmp_path / f"pod-{i}") == FILES
    fetched = [out for out, _ in outs if "0 chunk(s) fetched" not in out]
    assert len(fetched) == 1, outs  # one pod fetched; the others found it all in the cache


def test_without_a_node_cache_the_pod_keeps_only_its_view(running: Running, tmp_path: Path) -> None:
    volume = tmp_path / "pod"
    run_fetch(running, volume, None)
    assert view_of(volume) == FILES
    assert sorted(p.name for p in volume.iterdir()) == ["view"]


def test_a_grant_that_ended_or_was_forged_mounts_nothing(running: Running, tmp_path: Path) -> None:
    def mount_with(credential: str) -> None:
        headers = {"Authorization": f"Bearer {credential}"}
        with httpx.Client(timeout=60, base_url=running.url, headers=headers) as client:
            fetch(ApiDatasets(client, running.job_id), tmp_path / "pod", cache=None, cache_gib=1)

    with pytest.raises(DataError, match="401: invalid data grant"):
        mount_with(running.grant[:-4] + "AAAA")
    running.admin.post(f"/api/v1/jobs/{running.job_id}/cancel")
    wait_state(running.admin, running.job_id, {"cancelled"})
    with pytest.raises(DataError, match="data grant has ended"):
        mount_with(running.grant)
    assert not (tmp_path / "pod" / "view").exists()
    # In the pod: exit 1, and the reason as its last line (the pod's termination message).
    failed = subprocess.run(
        FETCH, env=pod_env(running, tmp_path / "pod", None), capture_output=True, text=True
    )
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1].startswith("data sets not mounted: ")


def test_a_server_that_restarts_midway_is_retried(tmp_path: Path) -> None:
    """The network drops twice, then answers: the fetch waits and carries on."""
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise httpx.ConnectError("connection refused", request=request)
        if calls["n"] == 3:
            return httpx.Response(503, json={"detail": "restarting"})
        return httpx.Response(200, json=[])

    slept: list[float] = []
    with httpx.Client(base_url="http://aicc", transport=httpx.MockTransport(flaky)) as client:
        source = ApiDatasets(client, "job_x", sleep=slept.append)
        assert source.mounts() == []
    assert slept == [0.5, 1.0, 2.0]
