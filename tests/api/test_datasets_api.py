"""The data set routes as a client sees them: the push protocol step by step, another tenant's
private set as a 404, a public set read-only, and bad input as a clear 4xx that changes nothing.
On SQLite and PostgreSQL, but for what no query decides (`sqlite_only`): a role refused before
any lookup, and what a version's files and a stored pack's bytes answer."""

from __future__ import annotations

import json
import os

import pytest
from fastapi.testclient import TestClient

from aicc.api.state import AppState
from aicc.core import datasets as core
from aicc.services.data import mounts
from aicc.testing.datasets import OCTETS, push
from aicc.testing.jobs import submit, wait_state
from aicc.testing.tenants import Tenant

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_a_push_makes_versions_with_their_files(api: TestClient) -> None:
    v1 = push(api, "corpus", {"a.txt": b"hello\n", "dir/b.csv": b"x,y\n1,2\n"})
    assert v1["created"] and v1["version"]["ref"] == "corpus@1"
    same = push(api, "corpus", {"a.txt": b"hello\n", "dir/b.csv": b"x,y\n1,2\n"})
    assert same == {"version": v1["version"], "created": False}
    v2 = push(api, "corpus", {"a.txt": b"hello again\n"})
    assert v2["version"]["number"] == 2 and v2["version"]["file_count"] == 1

    manifest = api.get("/api/v1/datasets/corpus/versions/1/manifest").json()
    assert [f["path"] for f in manifest["files"]] == ["a.txt", "dir/b.csv"]
    digest = manifest["files"][0]["chunks"][0][0]
    chunk = api.get(f"/api/v1/datasets/corpus/chunks/{digest}")
    assert chunk.status_code == 200 and chunk.content == b"hello\n"
    got = api.get("/api/v1/datasets/corpus").json()
    assert got["latest"] == 2 and got["logical_bytes"] == len(b"hello again\n")
    listed = api.get("/api/v1/datasets").json()["items"]
    assert [d["name"] for d in listed] == ["corpus"]
    assert api.get("/api/v1/datasets/corpus/versions").json()["items"][0]["ref"] == "corpus@2"
    assert api.delete("/api/v1/datasets/corpus").status_code == 204
    assert api.get("/api/v1/datasets/corpus").status_code == 404


def test_another_tenant_sees_a_private_set_as_missing(api: TestClient, tenant_b: Tenant) -> None:
    v1 = push(api, "private-set", {"a.txt": b"secret rows\n"})
    digest = api.get("/api/v1/datasets/private-set/versions/1/manifest").json()["files"][0]
    b = tenant_b.headers
    for path in (
        "/api/v1/datasets/private-set",
        "/api/v1/datasets/private-set/versions",
        "/api/v1/datasets/private-set/versions/1/manifest",
        f"/api/v1/datasets/private-set/chunks/{digest['chunks'][0][0]}",
    ):
        assert api.get(path, headers=b).status_code == 404, path
    assert api.delete("/api/v1/datasets/private-set", headers=b).status_code == 404
    assert api.get("/api/v1/datasets?scope=visible", headers=b).json()["items"] == []
    assert v1["created"]
    # the same bytes pushed by tenant B must be sent again: nothing says A has them
    plan = api.post(
        "/api/v1/datasets/mine/uploads",
        json={"chunks": [digest["chunks"][0][0]], "create": {"name": "mine"}},
        headers=b,
    )
    assert plan.json()["missing"] == [digest["chunks"][0][0]]


def test_a_public_set_is_readable_by_all_and_writable_by_its_project(
    api: TestClient, tenant_b: Tenant
) -> None:
    push(api, "open-set", {"rows.csv": b"a,b\n1,2\n"}, visibility="public", licence="CC0")
    b = tenant_b.headers
    seen = api.get("/api/v1/datasets/open-set", headers=b).json()
    assert seen["latest"] == 1 and seen["writable"] is False and seen["licence"] == "CC0"
    catalog = api.get("/api/v1/datasets?scope=public", headers=b).json()["items"]
    assert [d["name"] for d in catalog] == ["open-set"]
    assert api.patch(
        "/api/v1/datasets/open-set", json={"description": "mine now"}, headers=b
    ).status_code in (403, 404)
    assert api.delete("/api/v1/datasets/open-set", headers=b).status_code in (403, 404)
    refused = api.post("/api/v1/datasets/open-set/uploads", json={"chunks": []}, headers=b)
    assert refused.status_code == 403
    assert "only its project's members" in refused.json()["detail"]
    assert api.get("/api/v1/datasets/open-set", headers=b).json()["latest"] == 1


# The role is refused before anything is looked up.
@sqlite_only
def test_a_member_cannot_publish_to_the_open_catalog(api: TestClient, tenant_b: Tenant) -> None:
    answer = api.post(
        "/api/v1/datasets", json={"name": "leak", "visibility": "public"}, headers=tenant_b.headers
    )
    assert answer.status_code == 403 and "admins publish" in answer.json()["detail"]


def test_bad_input_is_a_clear_4xx_that_changes_nothing(api: TestClient) -> None:
    push(api, "good", {"a.txt": b"keep me\n"})
    assert api.post("/api/v1/datasets", json={"name": "Bad Name"}).status_code == 422
    assert api.get("/api/v1/datasets/good/versions/0").status_code == 422
    assert api.get("/api/v1/datasets/good/versions/9").status_code == 404

    plan = api.post("/api/v1/datasets/good/uploads", json={"chunks": []}).json()
    upload = plan["upload_id"]
    # a chunk whose bytes do not match its digest
    wrong = b"".join(core.frame([(core.digest(b"one"), b"two")]))
    answer = api.post(f"/api/v1/uploads/{upload}/chunks", content=wrong, headers=OCTETS)
    assert answer.status_code == 422 and "does not match" in answer.json()["detail"]
    # a batch cut short
    cut_short = b"".join(core.frame([(core.digest(b"abc"), b"abc")]))[:-1]
    answer = api.post(f"/api/v1/uploads/{upload}/chunks", content=cut_short, headers=OCTETS)
    assert answer.status_code == 422 and "cut short" in answer.json()["detail"]

    def commit_manifest(doc: object) -> dict:
        raw = json.dumps(doc).encode()
        # named by a begin first: an upload takes only what its begin calls asked for
        api.post("/api/v1/datasets/good/uploads", json={"chunks": [core.digest(raw)]})
        api.post(
            f"/api/v1/uploads/{upload}/chunks",
            content=b"".join(core.frame([(core.digest(raw), raw)])),
            headers=OCTETS,
        )
        answer = api.post(
            f"/api/v1/uploads/{upload}/commit",
            json={"manifest_chunks": [[core.digest(raw), len(raw)]]},
        )
        return {"status": answer.status_code, "detail": answer.json()["detail"]}

    data = os.urandom(100)
    entry = [[core.digest(data), 100]]
    escaped = commit_manifest({"files": [{"path": "../etc/passwd", "size": 100, "chunks": entry}]})
    assert escaped["status"] == 422 and "inside the data set" in escaped["detail"]
    absolute = commit_manifest({"files": [{"path": "/etc/passwd", "size": 100, "chunks": entry}]})
    assert absolute["status"] == 422
    lying = commit_manifest({"files": [{"path": "a.bin", "size": 5, "chunks": entry}]})
    assert lying["status"] == 422 and "sum of its chunks" in lying["detail"]
    unsent = commit_manifest({"files": [{"path": "a.bin", "size": 100, "chunks": entry}]})
    assert unsent["status"] == 409 and "not uploaded" in unsent["detail"]
    assert commit_manifest(["not", "a", "manifest"])["status"] == 422
    assert (
        api.post("/api/v1/uploads/upl_nope/commit", json={"manifest_chunks": entry}).status_code
        == 404
    )
    after = api.get("/api/v1/datasets/good").json()
    assert after["latest"] == 1 and after["file_count"] == 1


# Previews, profiles, queries and diffs are read from the version's files (DuckDB), not the
# database; another tenant's 404 on PostgreSQL is the route walk's (test_authorization.py).
@sqlite_only
def test_look_inside_a_version_without_downloading_it(api: TestClient, tenant_b: Tenant) -> None:
    rows = "".join(f"{i},{'zh' if i % 3 else 'en'},{i * 1.5}\n" for i in range(1, 101))
    push(api, "table", {"train.csv": ("id,lang,score\n" + rows).encode(), "notes.txt": b"a\nb\n"})
    fewer = "".join(f"{i},{'zh' if i % 3 else 'en'},{i * 1.5}\n" for i in range(1, 91))
    extra = "101,en,151.5\n102,en,153.0\n"
    push(api, "table", {"train.csv": ("id,lang,score\n" + fewer + extra).encode()})

    seen = api.get("/api/v1/datasets/table/versions/1/preview?path=train.csv&limit=5").json()
    assert [c["name"] for c in seen["columns"]] == ["id", "lang", "score"]
    assert seen["rows"][0] == [1, "zh", 1.5] and len(seen["rows"]) == 5
    v1 = api.get("/api/v1/datasets/table/versions/1").json()
    assert v1["tables"]["train.csv"]["rows"] == 100  # described at commit

    profile = api.get("/api/v1/datasets/table/versions/1/profile?path=train.csv").json()
    by_name = {c["name"]: c for c in profile["columns"]}
    assert profile["rows"] == 100 and by_name["id"]["min"] == 1 and by_name["id"]["max"] == 100
    assert sum(b["count"] for b in by_name["score"]["histogram"]) == 100
    assert {t["value"]: t["count"] for t in by_name["lang"]["top"]} == {"zh": 67, "en": 33}

    answer = api.post(
        "/api/v1/datasets/table/versions/1/query",
        json={"sql": "SELECT lang, count(*) AS n FROM train GROUP BY lang ORDER BY lang"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == [["en", 33], ["zh", 67]]
    for sql in (
        "SELECT * FROM read_csv('/etc/passwd')",
        "COPY train TO '/tmp/leak.csv'",
        "ATTACH '/tmp/x.db'",
        "INSTALL httpfs",
    ):
        refused = api.post("/api/v1/datasets/table/versions/1/query", json={"sql": sql})
        assert refused.status_code == 422, sql

    diff = api.get("/api/v1/datasets/table/diff?old=1&new=2&path=train.csv").json()
    assert diff["removed"] == ["notes.txt"] and diff["changed"] == ["train.csv"]
    assert diff["table"]["rows_added"] == 2 and diff["table"]["rows_removed"] == 10

    # another tenant sees none of it
    b = tenant_b.headers
    assert api.get("/api/v1/datasets/table/versions/1/preview", headers=b).status_code == 404
    query = {"sql": "SELECT 1"}
    assert (
        api.post("/api/v1/datasets/table/versions/1/query", json=query, headers=b).status_code
        == 404
    )
    corrupt = push(api, "broken", {"bad.parquet": b"PAR1 this is not parquet PAR1"})
    assert corrupt["created"]
    answer = api.get("/api/v1/datasets/broken/versions/1/preview?path=bad.parquet")
    assert answer.status_code == 422 and "bad.parquet" in answer.json()["detail"]


def test_what_a_job_mounts_reads_with_its_grant_while_it_runs(
    server: tuple[TestClient, AppState], tenant_b: Tenant
) -> None:
    """The routes a Kubernetes pod fetches its data through: the job's own grant reads the sets
    the job mounts and nothing else, and only while the attempt holds its place; the job's
    readers read them with their own token; another tenant gets 404s."""
    api, state = server
    rows = os.urandom(300_000)
    push(api, "mounted", {"rows.bin": rows, "labels/a.txt": b"cat\n"})
    push(api, "unmounted", {"x.txt": b"not for this job\n"})
    other = api.get("/api/v1/datasets/unmounted/versions/1/manifest").json()["files"][0]
    job = submit(api, {"command": "sleep 120", "datasets": ["mounted"]})
    running = wait_state(api, job["id"], {"running"})
    grant = mounts.grant(state.sealer, job["id"], running["attempt"])
    pod = TestClient(api.app, headers={"Authorization": f"Bearer {grant}"})
    base = f"/api/v1/jobs/{job['id']}"

    listed = pod.get(f"{base}/data").json()
    assert [(m["name"], m["ref"], m["bytes"]) for m in listed] == [
        ("mounted", "mounted@1", len(rows) + 4)
    ]
    files = pod.get(f"{base}/data/mounted").json()
    assert [f["path"] for f in files["files"]] == ["labels/a.txt", "rows.bin"]
    got = b"".join(
        pod.get(f"{base}/chunks/{digest}").content for digest, _ in files["files"][1]["chunks"]
    )
    assert got == rows
    # Nothing else: a set the job does not mount, a chunk of it, another job's routes.
    assert pod.get(f"{base}/data/unmounted").status_code == 404
    assert pod.get(f"{base}/chunks/{other['chunks'][0][0]}").status_code == 404
    another = submit(api, {"command": "true"})
    assert pod.get(f"/api/v1/jobs/{another['id']}/data").status_code == 404
    assert pod.get(f"/api/v1/jobs/{another['id']}").status_code == 401  # not a person's token
    forged = TestClient(api.app, headers={"Authorization": "Bearer aiccdata_made-up"})
    assert forged.get(f"{base}/data").status_code == 401

    # The job's readers use their own token; another tenant sees no such job.
    assert api.get(f"{base}/data/mounted").json()["files"] == files["files"]
    chunk = files["files"][1]["chunks"][0][0]
    for path in (f"{base}/data", f"{base}/data/mounted", f"{base}/chunks/{chunk}"):
        assert api.get(path, headers=tenant_b.headers).status_code == 404, path

    # The grant ends with the attempt.
    api.post(f"{base}/cancel")
    wait_state(api, job["id"], {"cancelled"})
    ended = pod.get(f"{base}/data")
    assert ended.status_code == 404 and "data grant has ended" in ended.json()["detail"]
    assert api.get(f"{base}/data").status_code == 200


# The packs are files on either database: the checksum is checked on their bytes.
@sqlite_only
def test_a_damaged_chunk_fails_loudly_and_never_serves_wrong_bytes(
    server: tuple[TestClient, AppState],
) -> None:
    """A stored pack changed on disk (bit rot, a bad restore): every read of it says so with a
    checksum error instead of handing out the changed bytes (benchmarks/chaos.py's blob fault)."""
    api, state = server
    rows = b"hello world rows\n" * 100
    push(api, "rotting", {"rows.txt": rows})
    digest = api.get("/api/v1/datasets/rotting/versions/1/manifest").json()["files"][0]
    assert api.get(f"/api/v1/datasets/rotting/chunks/{digest['chunks'][0][0]}").content == rows
    home = state.settings.home
    (stored,) = [p for p in home.rglob("*") if p.is_file() and rows[:32] in p.read_bytes()]
    damaged = bytearray(stored.read_bytes())
    damaged[damaged.find(b"world")] ^= 0x20  # one flipped bit: "World"
    stored.write_bytes(bytes(damaged))
    for path in (
        f"/api/v1/datasets/rotting/chunks/{digest['chunks'][0][0]}",
        "/api/v1/datasets/rotting/versions/1/preview?path=rows.txt",
    ):
        answer = api.get(path)
        assert answer.status_code == 500, path
        assert "does not match its checksum" in answer.json()["detail"], path
        assert b"World" not in answer.content
