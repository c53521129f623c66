"""Issue 35, the bytes a tenant sends: the manifest bomb, the dedup bomb, chunks that are never
committed, and workdir archives cut short or with a NUL in a name, each against a real server
(in this process, so its memory is this process's), on SQLite and PostgreSQL.

Each test would fail on ccef210: the manifest bomb grew the server by ~870 MB and answered 422;
the dedup bomb committed under a 20 MiB quota and its profile wrote 1,000 MiB of views; the
chunks route kept 105 MiB past that quota for two days; both archives were accepted (201).
"""

from __future__ import annotations

import gc
import gzip
import io
import os
import tarfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from aicc.core.datasets import MAX_CHUNK, Chunk, FileEntry, Manifest, cut, digest, frame, pieces
from aicc.loops import janitor
from aicc.server import ServerState
from aicc.services.common import utcnow
from aicc.services.data import storage, uploads
from aicc.store.tables.data import ChunkRow, UploadChunkRow, UploadRow
from aicc.testing.servers import in_process
from aicc.testing.tenants import Tenant, make_tenant

MiB = 1024 * 1024
OCTETS = {"Content-Type": "application/octet-stream"}
VIEW_MAX = 2 * MiB  # data.view_max_gib of this server
VIEWS_TOTAL = 3 * MiB  # data.views_total_gib


@pytest.fixture
def served(tmp_path: Path, db_url: str | None) -> Iterator[tuple[TestClient, ServerState]]:
    data = {"view_max_gib": VIEW_MAX / 2**30, "views_total_gib": VIEWS_TOTAL / 2**30}
    with in_process(tmp_path / "home", db_url, data=data) as pair:
        yield pair


def _quota(api: TestClient, who: Tenant, gib: float, scope: str = "project") -> None:
    body = {"max": {"storage_gib": gib}}
    where = f"projects/{who.project_id}" if scope == "project" else f"orgs/{who.org_id}"
    assert api.put(f"/api/v1/{where}/quota", json=body).status_code == 200


def _begin(api: TestClient, who: Tenant, name: str, digests: list[str], **more: Any) -> str:
    body = {"chunks": digests, "create": {"name": name}, **more}
    begun = api.post(f"/api/v1/datasets/{name}/uploads", json=body, headers=who.headers)
    assert begun.status_code == 201, begun.text
    return str(begun.json()["upload_id"])


def _send(api: TestClient, who: Tenant, upload: str, batch: dict[str, bytes]) -> Any:
    return api.post(
        f"/api/v1/uploads/{upload}/chunks",
        content=b"".join(frame(batch.items())),
        headers={**who.headers, **OCTETS},
    )


def _bomb(api: TestClient, who: Tenant, name: str, chunk: bytes, repeats: int) -> Any:
    """Push one stored chunk and a manifest whose one file lists it `repeats` times; answers
    the commit."""
    piece = Chunk(digest(chunk), len(chunk))
    entry = FileEntry("t.csv", piece.size * repeats, (piece,) * repeats)
    encoded = Manifest.of([entry]).encode()
    parts = {c.digest: data for c, data in pieces(encoded)}
    upload = _begin(api, who, name, [piece.digest, *parts])
    assert _send(api, who, upload, {piece.digest: chunk, **parts}).status_code == 200
    return api.post(
        f"/api/v1/uploads/{upload}/commit",
        json={"manifest_chunks": [[c.digest, c.size] for c in cut(encoded)]},
        headers=who.headers,
    )


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def test_a_manifest_of_one_chunk_repeated_is_refused_before_it_is_read(
    served: tuple[TestClient, ServerState],
) -> None:
    api, _ = served
    acme = make_tenant(api, "acme")
    chunk = os.urandom(MAX_CHUNK)
    upload = _begin(api, acme, "bomb", [digest(chunk)])
    assert _send(api, acme, upload, {digest(chunk): chunk}).status_code == 200
    before = _rss()
    bomb = {"manifest_chunks": [[digest(chunk), MAX_CHUNK]] * 300}  # 300 MiB from a 23 KB body
    answer = api.post(f"/api/v1/uploads/{upload}/commit", json=bomb, headers=acme.headers)
    grown = _rss() - before
    assert answer.status_code == 413, answer.text
    detail = answer.json()["detail"]
    assert "314572800 bytes in 300 chunks" in detail and "several data sets" in detail
    assert grown < 50 * MiB, f"the server grew by {grown / MiB:.0f} MiB"


def test_the_dedup_bomb_counts_its_repeats_and_its_views_stay_capped(
    served: tuple[TestClient, ServerState],
) -> None:
    api, state = served
    acme, open_ = make_tenant(api, "acme"), make_tenant(api, "open")
    _quota(api, acme, 0.02)
    line = b"1,2,3\n"
    chunk = b"a,b,c\n" + line * ((MAX_CHUNK - 6) // len(line))
    refused = _bomb(api, acme, "dedup", chunk, 1000)  # 1 MiB stored, 1,000 MiB listed
    assert refused.status_code == 413, refused.text
    detail = refused.json()["detail"]
    assert "would list" in detail and "storage_gib" in detail and "0.977 GiB" in detail
    assert api.get("/api/v1/datasets/dedup", headers=acme.headers).json()["latest"] is None
    # Under no quota the version is made, but what a profile or query assembles is capped.
    assert _bomb(api, open_, "dedup", chunk, 1000).status_code == 200
    views = state.settings.home / "data" / "views"
    url = "/api/v1/datasets/dedup/versions/latest"
    profile = api.get(f"{url}/profile", params={"path": "t.csv"}, headers=open_.headers)
    assert profile.status_code == 413, profile.text
    assert "data.view_max_gib" in profile.json()["detail"]
    query = api.post(f"{url}/query", json={"sql": "SELECT count(*) FROM t"}, headers=open_.headers)
    assert query.status_code == 413 and "data.view_max_gib" in query.json()["detail"]
    assert _tree_bytes(views) == 0
    # Honest tables are assembled, and the least recently used are evicted past the total.
    rows = range(100_000)
    tables = [b"x,y\n" + b"".join(b"%d,%d\n" % (i, k) for i in rows) for k in range(5)]
    for k, table in enumerate(tables):
        _bomb(api, open_, f"t{k}", table, 1)
        asked = api.post(
            f"/api/v1/datasets/t{k}/versions/latest/query",
            json={"sql": "SELECT count(*) FROM t"},
            headers=open_.headers,
        )
        assert asked.status_code == 200, asked.text
        assert _tree_bytes(views) <= VIEWS_TOTAL
    kept = [p.name for p in views.iterdir() if not p.name.startswith(".")]
    assert 1 <= len(kept) < len(tables)  # the newest stay, the oldest went


@pytest.mark.parametrize("scope", ["project", "organization"])
def test_uncommitted_chunks_count_against_the_quota_and_are_swept_in_hours(
    served: tuple[TestClient, ServerState], scope: str
) -> None:
    api, state = served
    acme = make_tenant(api, "acme")
    _quota(api, acme, 0.02, scope)  # 20.5 MiB
    batches = [{digest(c): c for c in (os.urandom(MAX_CHUNK) for _ in range(4))} for _ in range(27)]
    every = [d for batch in batches for d in batch]
    declared = {"sizes": [MAX_CHUNK] * 40}
    refused = api.post(
        "/api/v1/datasets/park/uploads",
        json={"chunks": every[:40], "create": {"name": "park"}, **declared},
        headers=acme.headers,
    )
    assert refused.status_code == 413  # as before: the declared 40 MiB
    upload = _begin(api, acme, "park", every)  # declaring nothing, then sending 108 MiB
    answers = [_send(api, acme, upload, batch).status_code for batch in batches]
    assert answers[:5] == [200] * 5 and set(answers[5:]) == {413}
    last = _send(api, acme, upload, batches[-1])
    assert "storage_gib" in last.json()["detail"] and scope in last.json()["detail"]
    with state.db.reader() as session:
        pending = storage.pending_bytes(session, acme.project_id)
    assert pending == 20 * MiB
    # What is parked counts for the next push of the project, of any set.
    other = os.urandom(MiB)
    late = api.post(
        "/api/v1/datasets/other/uploads",
        json={"chunks": [digest(other)], "sizes": [MiB], "create": {"name": "other"}},
        headers=acme.headers,
    )
    assert late.status_code == 413 and "0.020 GiB stored" in late.json()["detail"]
    # Hours later (not days) the upload is swept: its chunks gone, no longer counted.
    chunk_files = state.settings.home / "data" / "chunks"
    stored = _tree_bytes(chunk_files)
    assert stored >= 20 * MiB
    assert janitor.collect(state.db, state.chunks, utcnow() + timedelta(hours=5)) == 0
    assert janitor.collect(state.db, state.chunks, utcnow() + timedelta(hours=7)) == 5
    assert _tree_bytes(chunk_files) <= stored - 20 * MiB
    with state.db.reader() as session:
        assert storage.pending_bytes(session, acme.project_id) == 0
        assert session.scalar(select(func.count()).select_from(UploadRow)) == 0
        assert session.scalar(select(func.count()).select_from(UploadChunkRow)) == 0
        assert session.scalar(select(func.count()).select_from(ChunkRow)) == 0
    again = api.post(
        "/api/v1/datasets/other/uploads",
        json={"chunks": [digest(other)], "sizes": [MiB], "create": {"name": "other"}},
        headers=acme.headers,
    )
    assert again.status_code == 201
    assert timedelta(hours=6) >= uploads.STALE


def _tar(members: list[tuple[bytes, bytes]]) -> bytes:
    """A tar written block by block, so a name may hold a NUL (tarfile would never write it)."""
    out = bytearray()
    for name, data in members:
        info = tarfile.TarInfo("placeholder")
        info.size, info.mode = len(data), 0o644
        block = bytearray(info.tobuf(format=tarfile.USTAR_FORMAT))
        block[0:100] = name.ljust(100, b"\0")
        block[148:156] = b" " * 8
        block[148:156] = b"%06o\0 " % sum(block)
        out += block + data.ljust(-(-len(data) // 512) * 512, b"\0")
    return bytes(out + b"\0" * 1024)


def test_a_workdir_cut_short_or_with_a_nul_in_a_name_is_refused(
    served: tuple[TestClient, ServerState],
) -> None:
    api, state = served
    acme = make_tenant(api, "acme")
    headers = {**acme.headers, **OCTETS}
    whole = gzip.compress(_tar([(b"train.py", os.urandom(20_000)), (b"run.sh", b"echo hi\n")]))
    assert api.post("/api/v1/workdirs", content=whole, headers=headers).status_code == 201
    for cut_at in (len(whole) - 5, len(whole) // 2):
        answer = api.post("/api/v1/workdirs", content=whole[:cut_at], headers=headers)
        assert answer.status_code == 422, answer.text
        assert "cut short" in answer.json()["detail"]
    evil = gzip.compress(_tar([(b"ok.py", b"x"), (b"train.py\0/../../escape", b"x")]))
    with tarfile.open(fileobj=io.BytesIO(evil), mode="r:gz") as plain:
        assert "train.py" in plain.getnames()  # what the old check saw: the name cut at NUL
    answer = api.post("/api/v1/workdirs", content=evil, headers=headers)
    assert answer.status_code == 422, answer.text
    assert "NUL byte" in answer.json()["detail"] and "train.py" in answer.json()["detail"]
    kept = list(state.blobs.root.glob("*/*.tar.gz"))
    assert len(kept) == 1  # the whole archive alone
