"""`aicc admin backup` of a running center and `aicc admin restore` into a fresh home (SQLite and
PostgreSQL): the restored server, with the old home gone, shows every job with its state, logs
and outputs, every data set and model version byte for byte, and the same issued invoice; a
damaged archive and a home in use are refused."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.sdk.client import Client
from aicc.testing.jobs import submit, tar_gz, wait_state
from aicc.testing.postgres import PostgresServer
from aicc.testing.servers import over_http

SCRIPT = b"""echo "hello from $1"
cat data.txt
echo "to stderr" >&2
printf 'weights-%s' "$1" > "$AICC_OUTPUT_DIR/model.bin"
"""


def contents(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def outputs(http: httpx.Client, job_id: str) -> dict[str, bytes]:
    answer = http.get(f"/api/v1/jobs/{job_id}/outputs")
    assert answer.status_code == 200, answer.text
    with tarfile.open(fileobj=io.BytesIO(answer.content), mode="r:gz") as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar
            if m.isfile()
        }


def center_as_seen(url: str, token: str, tmp: Path) -> dict[str, Any]:
    """What users of this center can read back: jobs, logs, outputs, data, models, bills."""
    seen: dict[str, Any] = {}
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=auth, timeout=30) as http, Client(url, token) as sdk:
        jobs = http.get("/api/v1/jobs", params={"limit": 100}).json()["items"]
        for job in sorted(jobs, key=lambda j: j["id"]):
            logs = http.get(f"/api/v1/jobs/{job['id']}/logs").text
            errors = http.get(f"/api/v1/jobs/{job['id']}/logs", params={"stream": "stderr"}).text
            made = outputs(http, job["id"]) if job["state"] == "succeeded" else {}
            seen[job["id"]] = (job["state"], job["exit_code"], logs, errors, made)
        for number in (1, 2):
            where = tmp / f"pulled-{len(seen)}-{number}"
            sdk.datasets.pull(f"corpus@{number}", where)
            seen[f"corpus@{number}"] = contents(where)
        where = tmp / f"pulled-model-{len(seen)}"
        sdk.models.pull("scorer@1", where)
        seen["scorer@1"] = contents(where)
        seen["invoices"] = http.get("/api/v1/invoices").json()["items"]
        month = seen["invoices"][0]["period"]
        seen["bill"] = http.get("/api/v1/bills", params={"month": month}).json()
    return seen


@pytest.fixture
def fresh_db(db_url: str | None, request: pytest.FixtureRequest) -> str | None:
    """A second, empty database of the same kind to restore into."""
    if db_url is None:
        return None
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"restored{os.getpid()}_{abs(hash(db_url)) % 10**6}")


def test_a_center_restored_into_a_fresh_home_reads_back_everything(
    tmp_path: Path, db_url: str | None, fresh_db: str | None
) -> None:
    home, archive = tmp_path / "home", tmp_path / "center.tar"
    data = tmp_path / "corpus"
    data.mkdir()
    runner = CliRunner()
    with over_http(home, db_url, limits={"grace_s": 1.0}) as (url, token, _):
        auth = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(base_url=url, headers=auth, timeout=30) as http,
            Client(url, token) as sdk,
        ):
            workdir = tar_gz({"run.sh": SCRIPT, "data.txt": b"input rows\n"})
            sha = hashlib.sha256(workdir).hexdigest()
            stored = http.post(
                "/api/v1/workdirs",
                content=workdir,
                headers={"Content-Type": "application/gzip", "X-Content-SHA256": sha},
            )
            assert stored.status_code in (200, 201), stored.text
            good = submit(http, {"command": ["sh", "run.sh", "one"], "workdir_sha256": sha})
            bad = submit(http, {"command": "echo broken; echo why >&2; exit 3"})
            assert wait_state(http, good["id"], {"succeeded", "failed"})["state"] == "succeeded"
            assert wait_state(http, bad["id"], {"succeeded", "failed"})["state"] == "failed"

            (data / "a.txt").write_text("first\n")
            (data / "big.bin").write_bytes(os.urandom(300_000))
            sdk.datasets.push("corpus", data)
            (data / "a.txt").write_text("second\n")
            (data / "rows.csv").write_text("x,y\n1,2\n")
            assert sdk.datasets.push("corpus", data).version.number == 2
            sdk.models.register("scorer", good["id"], metrics={"auc": 0.9})

            org = http.get("/api/v1/me").json()["org"]["id"]
            month = http.get("/api/v1/bills").json()["period"]
            fix = {"org_id": org, "month": month, "amount": "12.34", "description": "setup fee"}
            assert http.post("/api/v1/bills/adjustments", json=fix).status_code == 201
            issued = http.post("/api/v1/bills/issue", json={"org_id": org, "month": month})
            assert issued.status_code == 200, issued.text

        before = center_as_seen(url, token, tmp_path)
        # taken while the server runs
        args = ["--home", str(home), *(["--db", db_url] if db_url else [])]
        taken = runner.invoke(app, ["admin", "backup", str(archive), *args])
        assert taken.exit_code == 0, taken.output
        assert "jobs" in taken.stdout and "invoices" in taken.stdout
    assert before[good["id"]][0] == "succeeded" and "hello from one" in before[good["id"]][2]
    assert before[good["id"]][4] == {"model.bin": b"weights-one"}
    assert before[bad["id"]][:2] == ("failed", 3) and "why" in before[bad["id"]][3]
    assert before["bill"]["totals"]["net"] == "12.34"
    shutil.rmtree(home)  # nothing may come from the old home

    # a flipped byte in one workdir: refused before anything is written, the member named
    damaged = tmp_path / "damaged.tar"
    raw = bytearray(archive.read_bytes())
    with tarfile.open(archive) as tar:
        blob = next(m for m in tar if m.name.startswith("blobs/"))
    raw[blob.offset_data + 10] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    target_db = ["--db", fresh_db] if fresh_db else []
    unused = ["--home", str(tmp_path / "unused"), *target_db]
    refused = runner.invoke(app, ["admin", "restore", str(damaged), *unused])
    assert refused.exit_code == 1
    assert f"member {blob.name} is corrupt" in " ".join(refused.stderr.split())
    assert not (tmp_path / "unused").exists()

    new_home = tmp_path / "restored"
    args = ["--home", str(new_home), *target_db]
    restored = runner.invoke(app, ["admin", "restore", str(archive), *args])
    assert restored.exit_code == 0, restored.output
    again = runner.invoke(app, ["admin", "restore", str(archive), *args])
    assert again.exit_code == 1 and "is not empty" in again.stderr and "--force" in again.stderr

    with over_http(new_home, fresh_db) as (url, _, _):
        token = (new_home / "admin.token").read_text().strip()
        after = center_as_seen(url, token, tmp_path)
    assert after == before
