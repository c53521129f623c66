"""Snakemake's S3 storage (snakemake-storage-plugin-s3, the real CLI in a subprocess, local
execution) against AICC's S3 endpoint, one server for the module: a three-step workflow reads a
committed data set version through `storage.s3(...)`, each step's output is a staged object
under `DATASET/new/` that the next step reads back (read-your-writes of the writer's staging),
and `_COMMIT` makes the outputs a version the SDK pulls byte for byte. Another member of the
project and another tenant never see the staging; DeleteObject drops a staged file only, and
what the plugin may call beyond that (CreateBucket, DeleteBucket) is refused in S3's shape.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from aicc import Client
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant
from aicc.testing.workflows import READS, REPORT, SNAKEFILE, SORTED, UPPER


def _snakemake() -> str | None:
    """The workflow venv's snakemake (`make install-test` makes it), $SNAKEMAKE, or on PATH."""
    made = Path(__file__).resolve().parents[2] / ".venv-workflow" / "bin" / "snakemake"
    found = os.environ.get("SNAKEMAKE") or (str(made) if made.exists() else None)
    return found or shutil.which("snakemake")


@dataclass
class Site:
    url: str
    a: Client  # tenant A's member, who runs the workflow
    writer: tuple[str, str]  # A's writable key
    reader: tuple[str, str]  # A's read-only key
    peer: tuple[str, str]  # another member of A's project, a writable key
    other: tuple[str, str]  # tenant B's writable key
    project_id: str
    tmp: Path
    runs: list[subprocess.CompletedProcess[str]]  # the workflow's steps


def _key(admin: httpx.Client, headers: dict[str, str], *, writable: bool) -> tuple[str, str]:
    made = admin.post("/api/v1/s3-keys", json={"name": "sm", "writable": writable}, headers=headers)
    assert made.status_code == 201, made.text
    return made.json()["access_key_id"], made.json()["secret"]


def _peer(admin: httpx.Client, org_id: str, project_id: str) -> dict[str, str]:
    """A second member of the project."""
    user = admin.post(
        "/api/v1/users", json={"name": "sm-peer", "role": "member", "org_id": org_id}
    ).json()
    added = admin.post(f"/api/v1/projects/{project_id}/members", json={"user_id": user["id"]})
    assert added.status_code < 300, added.text
    token = admin.post("/api/v1/tokens", json={"name": "t", "user_id": user["id"]}).json()
    return {"Authorization": f"Bearer {token['secret']}"}


def _workflow(url: str, key: tuple[str, str], base: Path) -> list[subprocess.CompletedProcess[str]]:
    """The workflow in two runs, the second in a fresh directory as each TES task is: it finds
    the first run's outputs in S3 only (HeadObject, ListObjects) and reads them from there."""
    command = _snakemake()
    assert command is not None
    runs = []
    for number, target in enumerate(["sort", "all"]):
        workdir = base / f"step{number}"
        workdir.mkdir()
        (workdir / "Snakefile").write_text(SNAKEFILE)
        runs.append(
            subprocess.run(
                [
                    command,
                    target,
                    "--cores",
                    "1",
                    "--default-storage-provider",
                    "s3",
                    "--default-storage-prefix",
                    "s3://default/flow/new",
                    "--storage-s3-endpoint-url",
                    url + "/s3",
                    "--storage-s3-access-key",
                    key[0],
                    "--storage-s3-secret-key",
                    key[1],
                    "--storage-s3-retries",
                    "1",
                ],
                cwd=workdir,
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, "HOME": str(workdir)},  # snakemake's caches stay here
            )
        )
        if runs[-1].returncode != 0:
            break
    return runs


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if _snakemake() is None:
        pytest.skip("snakemake is not installed: `make install-test` makes .venv-workflow")
    tmp = tmp_path_factory.mktemp("s3sm")
    with over_http(tmp / "home", loops=False) as (url, token, _state):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        a, b = make_tenant(admin, "s3sm-alpha"), make_tenant(admin, "s3sm-beta")
        sdk = Client(server=url, token=a.headers["Authorization"].removeprefix("Bearer "))
        seed = tmp / "seed"
        seed.mkdir()
        (seed / "reads.txt").write_bytes(READS)
        sdk.datasets.push("genome", seed)  # genome@1, the workflow's input
        writer = _key(admin, a.headers, writable=True)
        try:
            yield Site(
                url,
                sdk,
                writer,
                _key(admin, a.headers, writable=False),
                _key(admin, _peer(admin, a.org_id, a.project_id), writable=True),
                _key(admin, b.headers, writable=True),
                a.project_id,
                tmp,
                _workflow(url, writer, tmp),
            )
        finally:
            sdk.close()
            admin.close()


def s3_client(site: Site, key: tuple[str, str]) -> BaseClient:
    return boto3.client(
        "s3",
        endpoint_url=site.url + "/s3",
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def _refused(call: object, expected: str) -> ClientError:
    assert callable(call)
    with pytest.raises(ClientError) as err:
        call()
    assert err.value.response["Error"]["Code"] == expected, err.value.response
    return err.value


def _keys(s3: BaseClient, bucket: str, prefix: str, delimiter: str = "") -> list[str]:
    page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter=delimiter)
    found = [o["Key"] for o in page.get("Contents", [])]
    return found + [p["Prefix"] for p in page.get("CommonPrefixes", [])]


def test_a_three_step_workflow_reads_its_staged_outputs_and_commits_them(site: Site) -> None:
    for run in site.runs:
        assert run.returncode == 0, run.stderr[-4000:]
    assert len(site.runs) == 2
    second = site.runs[1].stderr
    for staged in ("upper", "sorted"):
        assert f"Retrieving from storage: s3://default/flow/new/{staged}.txt" in second, second
    assert "rule upper:" not in second and "rule sort:" not in second  # found in S3, not redone
    s3 = s3_client(site, site.writer)
    staged = "flow/new/report.txt"
    head = s3.head_object(Bucket="default", Key=staged)
    assert head["ContentLength"] == len(REPORT) and head["LastModified"] is not None
    assert head["ETag"] == f'"{hashlib.md5(REPORT).hexdigest()}"'  # as its PutObject answered
    assert s3.get_object(Bucket="default", Key=staged)["Body"].read() == REPORT
    ranged = s3.get_object(Bucket="default", Key=staged, Range="bytes=2-6")
    assert ranged["Body"].read() == REPORT[2:7] and ranged["ContentRange"].endswith(
        f"/{len(REPORT)}"
    )
    expected = ["flow/new/report.txt", "flow/new/sorted.txt", "flow/new/upper.txt"]
    assert _keys(s3, "default", "flow/new/") == expected
    assert _keys(s3, "default", "flow/", "/") == ["flow/new/"]
    assert "flow/" in _keys(s3, "default", "", "/")
    # the reader key of the same user reads the staging too (it is the user's, not the key's)
    assert (
        s3_client(site, site.reader).get_object(Bucket="default", Key=staged)["Body"].read()
        == REPORT
    )

    done = s3.put_object(Bucket="default", Key="flow/new/_COMMIT", Body=b"")
    assert done["ResponseMetadata"]["HTTPHeaders"]["x-aicc-version"] == "1"
    pulled = site.tmp / "pulled"
    site.a.datasets.pull("flow@1", pulled)
    assert (pulled / "report.txt").read_bytes() == REPORT
    assert (pulled / "upper.txt").read_bytes() == UPPER
    assert (pulled / "sorted.txt").read_bytes() == SORTED
    # the staging ended with the commit: its keys are gone, the version's are there
    _refused(lambda: s3.head_object(Bucket="default", Key=staged), "404")
    assert _keys(s3, "default", "flow/", "/") == ["flow/1/"]


def test_another_member_and_another_tenant_never_see_a_staging(site: Site) -> None:
    mine, peer = s3_client(site, site.writer), s3_client(site, site.peer)
    mine.put_object(Bucket=site.project_id, Key="private/new/a.txt", Body=b"mine\n")
    peer.put_object(Bucket=site.project_id, Key="private/new/b.txt", Body=b"theirs\n")
    _refused(lambda: peer.get_object(Bucket=site.project_id, Key="private/new/a.txt"), "NoSuchKey")
    _refused(lambda: peer.head_object(Bucket=site.project_id, Key="private/new/a.txt"), "404")
    assert _keys(peer, site.project_id, "private/") == ["private/new/b.txt"]
    assert _keys(mine, site.project_id, "private/") == ["private/new/a.txt"]
    # the peer's DeleteObject of A's key is S3's idempotent 204, and drops only its own staging
    peer.delete_object(Bucket=site.project_id, Key="private/new/a.txt")
    got = mine.get_object(Bucket=site.project_id, Key="private/new/a.txt")["Body"].read()
    assert got == b"mine\n"
    theirs = s3_client(site, site.other)
    _refused(
        lambda: theirs.get_object(Bucket=site.project_id, Key="private/new/a.txt"), "NoSuchBucket"
    )
    _refused(
        lambda: theirs.delete_object(Bucket=site.project_id, Key="private/new/a.txt"),
        "NoSuchBucket",
    )


def test_delete_object_drops_a_staged_file_and_versions_stay_immutable(site: Site) -> None:
    s3 = s3_client(site, site.writer)
    s3.put_object(Bucket="default", Key="scratch/new/keep.txt", Body=b"k")
    s3.put_object(Bucket="default", Key="scratch/new/drop.txt", Body=b"d")
    answer = s3.delete_object(Bucket="default", Key="scratch/new/drop.txt")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    s3.delete_object(Bucket="default", Key="scratch/new/drop.txt")  # again: still 204
    _refused(lambda: s3.head_object(Bucket="default", Key="scratch/new/drop.txt"), "404")
    assert _keys(s3, "default", "scratch/") == ["scratch/new/keep.txt"]
    err = _refused(
        lambda: s3.delete_object(Bucket="default", Key="genome/1/reads.txt"), "AccessDenied"
    )
    assert "immutable" in err.response["Error"]["Message"]
    reader = s3_client(site, site.reader)
    _refused(
        lambda: reader.delete_object(Bucket="default", Key="scratch/new/keep.txt"), "AccessDenied"
    )
    # what the plugin calls when a bucket is missing or left empty: refused, S3's shape
    _refused(lambda: s3.create_bucket(Bucket="fresh"), "AccessDenied")
    _refused(lambda: s3.delete_bucket(Bucket="default"), "AccessDenied")
    s3.put_object(Bucket="default", Key="scratch/new/_COMMIT", Body=b"")
    pulled = site.tmp / "scratch"
    site.a.datasets.pull("scratch@1", pulled)
    assert sorted(p.name for p in pulled.iterdir()) == ["keep.txt"]
