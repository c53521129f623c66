"""A job's route to the server's S3 endpoint is hostile ground: a job of tenant A, on the real
server with the bubblewrap sandbox and its own network namespace (local executor), reads A's
data set byte for byte at `$AICC_S3_ENDPOINT` with A's key (boto3) and through a presigned URL
made outside for the server's own address, which works unchanged inside; without a key it is
403; through the route `/api/v1`, `/healthz`, `/metrics`, MLflow and the portal are 404 even
with the admin's token; B's key on A's bucket (A's project by its id) answers what it answers
outside, `NoSuchBucket`. A job that runs
code that may not be its owner's on its data (`egress: none`, a predictions label) gets no
route at all. The relay ends with the job: its namespace's holder is gone.

The job prints one `RESULT {json}` line; the test compares it with what it sees from outside.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from aicc import Client
from aicc.executors import serverroute
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

PROBES = """
import hashlib, http.client, json, os, urllib.request
from urllib.parse import urlsplit
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

out = {"endpoint": os.environ.get("AICC_S3_ENDPOINT")}
end, bucket, key = out["endpoint"], os.environ["BUCKET"], "corpus/1/data.bin"
def client(who):
    return boto3.client("s3", endpoint_url=end, aws_access_key_id=os.environ[who + "_KEY"],
        aws_secret_access_key=os.environ[who + "_SECRET"], region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
a = client("A")
out["buckets"] = [b["Name"] for b in a.list_buckets()["Buckets"]]
out["sha256"] = hashlib.sha256(a.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()
with urllib.request.urlopen(os.environ["PRESIGNED"], timeout=30) as answer:
    out["presigned"] = hashlib.sha256(answer.read()).hexdigest()
where = urlsplit(end)
def get(path, headers):
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    conn.request("GET", path, headers=headers)
    answer = conn.getresponse()
    body = answer.read().decode(errors="replace")
    conn.close()
    return [answer.status, body[:400]]
out["unsigned"] = get(f"/s3/{bucket}/{key}", {})
admin = {"Authorization": "Bearer " + os.environ["ADMIN_TOKEN"]}
for name, path in [("api", "/api/v1/jobs"), ("healthz", "/healthz"), ("metrics", "/metrics"),
                   ("portal", "/"), ("mlflow", "/mlflow/api/2.0/mlflow/experiments/search"),
                   ("beside", "/s3x/" + bucket)]:
    out[name] = get(path, admin)
try:
    client("B").get_object(Bucket=os.environ["A_PROJECT"], Key=key)
    out["other"] = "read"
except ClientError as err:
    said = err.response
    out["other"] = [said["ResponseMetadata"]["HTTPStatusCode"], said["Error"]["Code"]]
print("RESULT", json.dumps(out), flush=True)
"""

SEALED = """
import json, os, socket
port = int(os.environ["SERVER_PORT"])
try:
    socket.create_connection(("127.0.0.1", port), timeout=3).close()
    reached = True
except OSError:
    reached = False
print("RESULT", json.dumps({"endpoint": os.environ.get("AICC_S3_ENDPOINT"), "reached": reached}))
"""


@dataclass
class Site:
    url: str
    home: Path
    token: str
    admin: httpx.Client
    a_headers: dict[str, str]
    b_headers: dict[str, str]
    a_key: tuple[str, str]
    b_key: tuple[str, str]
    bucket: str
    project_id: str  # A's project's id: a bucket name that names it for anyone (S3 table)
    data: bytes


def s3_client(url: str, key: tuple[str, str]) -> BaseClient:
    config = Config(
        s3={"addressing_style": "path"}, retries={"max_attempts": 1}, signature_version="s3v4"
    )
    return boto3.client(
        "s3",
        endpoint_url=url + "/s3",
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        region_name="us-east-1",
        config=config,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("route")
    home = tmp / "home"
    with over_http(home) as (url, token, _state):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        a, b = make_tenant(admin, "route-a"), make_tenant(admin, "route-b")
        data = random.Random(60).randbytes(300_000)
        source = tmp / "corpus"
        source.mkdir()
        (source / "data.bin").write_bytes(data)
        with Client(server=url, token=a.token) as sdk:
            sdk.datasets.push("corpus", source)
        keys = []
        for tenant in (a, b):
            made = admin.post("/api/v1/s3-keys", json={"name": "job"}, headers=tenant.headers)
            assert made.status_code == 201, made.text
            keys.append((made.json()["access_key_id"], made.json()["secret"]))
        bucket = admin.get(f"/api/v1/projects/{a.project_id}").json()["name"]
        try:
            yield Site(
                url,
                home,
                token,
                admin,
                a.headers,
                b.headers,
                keys[0],
                keys[1],
                bucket,
                a.project_id,
                data,
            )
        finally:
            admin.close()


def _result(site: Site, job_id: str) -> dict[str, object]:
    done = wait_state(site.admin, job_id, {"succeeded", "failed"}, timeout=120)
    log = site.admin.get(f"/api/v1/jobs/{job_id}/logs").text
    errors = site.admin.get(f"/api/v1/jobs/{job_id}/logs", params={"stream": "stderr"}).text
    assert done["state"] == "succeeded", (log, errors)
    line = next(line for line in log.splitlines() if line.startswith("RESULT "))
    result: dict[str, object] = json.loads(line.removeprefix("RESULT "))
    return result


def _holder_ended(home: Path, job_id: str) -> bool:
    """Whether the holder of the job's namespace (netns.py), which relays the route, is gone
    within 10 s."""
    holder = next((home / "runs" / job_id / "net").glob("*/holder.json"))
    pid = json.loads(holder.read_text())["pid"]
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not Path(f"/proc/{pid}").exists()


def test_a_job_reaches_the_s3_endpoint_alone_with_its_owners_key(site: Site) -> None:
    port = urlsplit(site.url).port
    assert port is not None
    outside = s3_client(site.url, site.a_key)
    presigned = outside.generate_presigned_url(
        "get_object", Params={"Bucket": site.bucket, "Key": "corpus/1/data.bin"}, ExpiresIn=600
    )
    assert presigned.startswith(site.url + "/s3/")  # the server's own address, as given outside
    env = {
        "BUCKET": site.bucket,
        "A_KEY": site.a_key[0],
        "A_SECRET": site.a_key[1],
        "B_KEY": site.b_key[0],
        "B_SECRET": site.b_key[1],
        "A_PROJECT": site.project_id,
        "PRESIGNED": presigned,
        "ADMIN_TOKEN": site.token,
    }
    spec = {"command": [sys.executable, "-c", PROBES], "env": env, "resources": {"cpu": 0.5}}
    job = submit(site.admin, spec, **site.a_headers)
    result = _result(site, job["id"])

    digest = hashlib.sha256(site.data).hexdigest()
    assert result["endpoint"] == f"http://127.0.0.1:{port}/s3"
    assert (result["buckets"], result["sha256"], result["presigned"]) == (
        [site.bucket],
        digest,
        digest,
    )
    unsigned = result["unsigned"]
    assert isinstance(unsigned, list) and unsigned[0] == 403 and "AccessDenied" in unsigned[1]
    for name in ("api", "healthz", "metrics", "portal", "mlflow", "beside"):
        answer = result[name]
        assert isinstance(answer, list) and answer[0] == 404, (name, answer)
        assert "answers its S3 endpoint alone" in answer[1], (name, answer)
    with pytest.raises(ClientError) as refused:
        s3_client(site.url, site.b_key).get_object(Bucket=site.project_id, Key="corpus/1/data.bin")
    seen = refused.value.response
    assert result["other"] == [seen["ResponseMetadata"]["HTTPStatusCode"], seen["Error"]["Code"]]
    assert result["other"] == [404, "NoSuchBucket"]
    # the relay ended with the job: nothing of its namespace is left
    assert _holder_ended(site.home, job["id"])


def test_a_sealed_job_gets_no_route(site: Site) -> None:
    """A run of code that may not be its owner's on the owner's data (here labelled as a
    model's predictions, with `egress: none`) has no AICC_S3_ENDPOINT and nothing listens on
    the server's port inside its namespace."""
    port = str(urlsplit(site.url).port)
    spec = {
        "command": [sys.executable, "-c", SEALED],
        "env": {"SERVER_PORT": port},
        "labels": {"aicc.io/predictions": "x"},
        "egress": "none",
        "resources": {"cpu": 0.25},
    }
    job = submit(site.admin, spec, **site.a_headers)
    assert _result(site, job["id"]) == {"endpoint": None, "reached": False}


def test_the_job_socket_is_the_servers_accounts_alone(site: Site) -> None:
    """0600 in a 0700 directory of the server's home (which no sandbox shows)."""
    path = serverroute.socket_path(site.home, urlsplit(site.url).port or 0)
    sock, directory = os.stat(path), os.stat(path.parent)
    assert stat.S_ISSOCK(sock.st_mode) and stat.S_IMODE(sock.st_mode) == 0o600
    assert stat.S_IMODE(directory.st_mode) == 0o700
    assert (sock.st_uid, directory.st_uid) == (os.getuid(), os.getuid())
