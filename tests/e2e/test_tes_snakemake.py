"""A three-step Snakemake workflow through AICC's TES endpoint, end to end: the real CLI of
.venv-workflow (snakemake, the unmodified TES executor plugin and S3 storage plugin) against a
server with the local executor, bubblewrap and the jobs' route to its S3 endpoint. Each rule is
a TES task on `python:3.12`, a generic base, which runs with the site environment the operator
offers such tasks (`generic_base_environment`): the workflow venv first on PATH and its
wheelhouse for the task's offline `pip install --target` of the S3 plugin. The first step reads
a committed data set version at `s3://PROJECT/DATASET/1/PATH`; the outputs are staged under
`DATASET/new/`, the final one is read back byte for byte there and, after `_COMMIT`, from the
version the SDK pulls; the tasks' jobs are metered and billed to the tenant. The plugin waits
40 s before its first status check (not settable): the test takes 70 to 95 s.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from aicc import Client
from aicc.config import DEFAULT_PRICING
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant
from aicc.testing.workflows import READS, REPORT, SNAKEFILE, SORTED

pytestmark = pytest.mark.slow

VENV = Path(__file__).resolve().parents[2] / ".venv-workflow"


def _site_environment() -> dict[str, object]:
    """The workflow venv as an operator offers it: shown read-only, its bin first on PATH, its
    wheelhouse for pip without an index (the Makefile's `.venv-workflow/wheels`)."""
    venv = str(VENV.resolve())
    return {
        "paths": [venv],
        "path": [f"{venv}/bin"],
        "env": {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": f"{venv}/wheels"},
    }


def test_a_snakemake_workflow_runs_through_tes_and_is_billed(tmp_path: Path) -> None:
    if not (VENV / "bin" / "snakemake").exists() or not (VENV / "wheels").is_dir():
        pytest.skip(
            "NO .venv-workflow WITH ITS WHEELHOUSE: `make install-test` makes .venv-workflow "
            "(snakemake, its TES and S3 plugins, wheels/); the TES workflow is not tested"
        )
    settings: dict[str, Any] = {
        "site_environments": {"workflow": _site_environment()},
        "generic_base_environment": "workflow",
        "pricing": DEFAULT_PRICING.model_dump(mode="json"),
    }
    with over_http(tmp_path / "home", **settings) as (url, token, _state):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        tenant = make_tenant(admin, "tessm")
        user_token = tenant.headers["Authorization"].removeprefix("Bearer ")
        seed = tmp_path / "seed"
        seed.mkdir()
        (seed / "reads.txt").write_bytes(READS)
        sdk = Client(server=url, token=user_token)
        sdk.datasets.push("genome", seed)  # genome@1
        made = admin.post(
            "/api/v1/s3-keys", json={"name": "sm", "writable": True}, headers=tenant.headers
        )
        assert made.status_code == 201, made.text
        key, secret = made.json()["access_key_id"], made.json()["secret"]
        flow = tmp_path / "flow"
        flow.mkdir()
        (flow / "Snakefile").write_text(SNAKEFILE)
        run = subprocess.run(
            [
                str(VENV / "bin" / "snakemake"),
                "--executor",
                "tes",
                "--tes-url",
                f"{url}/ga4gh/tes",
                "--tes-token",
                user_token,
                "--container-image",
                "python:3.12",
                "--jobs",
                "1",
                "--default-storage-provider",
                "s3",
                "--default-storage-prefix",
                "s3://default/flow/new",
                "--storage-s3-endpoint-url",
                f"{url}/s3",
                "--storage-s3-access-key",
                key,
                "--storage-s3-secret-key",
                secret,
                "--storage-s3-retries",
                "1",
                "--seconds-between-status-checks",
                "1",
                "--latency-wait",
                "1",
            ],
            cwd=flow,
            capture_output=True,
            text=True,
            timeout=480,
            env={**os.environ, "HOME": str(flow)},
        )
        assert run.returncode == 0, run.stderr[-6000:]
        s3 = boto3.client(
            "s3",
            endpoint_url=f"{url}/s3",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )
        got = s3.get_object(Bucket="default", Key="flow/new/report.txt")["Body"].read()
        assert got == REPORT
        s3.put_object(Bucket="default", Key="flow/new/_COMMIT", Body=b"")  # flow@1
        sdk.datasets.pull("flow@1", tmp_path / "pulled")
        assert (tmp_path / "pulled" / "report.txt").read_bytes() == REPORT
        assert (tmp_path / "pulled" / "sorted.txt").read_bytes() == SORTED
        sdk.close()

        tasks = tenant_get(admin, tenant.headers, "/ga4gh/tes/v1/tasks?view=BASIC")["tasks"]
        assert len(tasks) == 3 and {t["state"] for t in tasks} == {"COMPLETE"}, tasks
        # the task's pip found the plugin in the site environment's wheelhouse, not on PyPI
        full = tenant_get(admin, tenant.headers, f"/ga4gh/tes/v1/tasks/{tasks[0]['id']}?view=FULL")
        [log] = full["logs"]
        stdout = log["logs"][0]["stdout"]
        assert f"Looking in links: {VENV.resolve()}/wheels" in stdout, stdout
        assert "Successfully installed" in stdout and "snakemake-storage-plugin-s3-0.3.6" in stdout
        for task in tasks:
            usage = tenant_get(admin, tenant.headers, f"/api/v1/usage?job={task['id']}")
            assert any(u["kind"] == "compute" and u["seconds"] > 0 for u in usage["items"])
        bill = tenant_get(admin, tenant.headers, "/api/v1/bills")  # this month's draft
        lines = bill["lines"]
        # priced lines of each task's job (a few seconds of a core round to a zero amount)
        billed = {
            line["job_id"]
            for line in lines
            if float(line["quantity"]) > 0 and float(line["unit_price"]) > 0
        }
        assert {t["id"] for t in tasks} <= billed, lines
        assert not bill["unpriced"], bill
        admin.close()


def tenant_get(admin: httpx.Client, headers: dict[str, str], path: str) -> dict[str, Any]:
    got = admin.get(path, headers=headers)
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body
