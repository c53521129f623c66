"""Data set storage on a real server (SQLite and PostgreSQL): a project is billed its distinct
chunks per GiB-day and the same chunk in another tenant's set is billed to each; a push over
the storage quota is refused before any byte is sent, nothing stored; the janitor deletes the
chunks of a deleted set but keeps those another set uses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from aicc.core.datasets import Chunk, FileEntry, Manifest, cut, frame
from aicc.loops import janitor
from aicc.server import ServerState
from aicc.services.billing.meter import Meter, PowerModel
from aicc.services.common import utcnow
from aicc.services.data import chunks, storage, uploads
from aicc.services.telemetry.samples import Measured
from aicc.store.tables.data import ChunkRow, UploadChunkRow
from aicc.testing.servers import in_process
from aicc.testing.tenants import Tenant, make_tenant

KiB = 1024


@pytest.fixture
def served(tmp_path: Path, db_url: str | None) -> Iterator[tuple[TestClient, ServerState]]:
    pricing = {"name": "center", "storage_gib_day": "0.50"}
    with in_process(tmp_path / "home", db_url, pricing=pricing) as pair:
        yield pair


def _pieces(data: bytes) -> dict[str, bytes]:
    out, at = {}, 0
    for c in cut(data):
        out[c.digest] = data[at : at + c.size]
        at += c.size
    return out


def push(
    api: TestClient, who: Tenant, name: str, files: dict[str, bytes], *, sizes: bool = True
) -> httpx.Response:
    """What `aicc data push` does, step by step: begin, send the missing chunks, commit."""
    manifest = Manifest.of(FileEntry(p, len(b), tuple(cut(b))) for p, b in files.items())
    encoded = manifest.encode()
    data = {d: b for content in (*files.values(), encoded) for d, b in _pieces(content).items()}
    body: dict[str, Any] = {"chunks": list(data), "create": {"name": name}}
    if sizes:
        body["sizes"] = [len(b) for b in data.values()]
    begun = api.post(f"/api/v1/datasets/{name}/uploads", json=body, headers=who.headers)
    if begun.status_code != 201:
        return begun
    plan = begun.json()
    sent = api.post(
        f"/api/v1/uploads/{plan['upload_id']}/chunks",
        content=b"".join(frame((d, data[d]) for d in plan["missing"])),
        headers={**who.headers, "Content-Type": "application/octet-stream"},
    )
    if sent.status_code != 200:
        return sent
    return api.post(
        f"/api/v1/uploads/{plan['upload_id']}/commit",
        json={"manifest_chunks": [[c.digest, c.size] for c in cut(encoded)]},
        headers=who.headers,
    )


def test_a_project_pays_for_its_distinct_chunks_per_gib_day(
    served: tuple[TestClient, ServerState],
) -> None:
    api, state = served
    acme, globex = make_tenant(api, "acme"), make_tenant(api, "globex")
    shared, own = os.urandom(60 * KiB), os.urandom(40 * KiB)
    assert push(api, acme, "one", {"a.bin": shared}).status_code == 200
    assert push(api, acme, "two", {"a.bin": shared, "b.bin": own}).status_code == 200
    assert push(api, globex, "mine", {"x.bin": shared}).status_code == 200
    with state.db.reader() as session:
        assert storage.project_bytes(session, acme.project_id) == len(shared) + len(own)
        assert storage.project_bytes(session, globex.project_id) == len(shared)

    later = utcnow() + timedelta(days=2)
    for _ in range(2):  # a second pass records nothing more
        with state.db.session() as session:
            Meter(
                session,
                zone=state.settings.site.timezone,
                power=PowerModel(),
                samples=Measured(session),
            ).datasets(later)
    records = api.get("/api/v1/usage", headers=acme.headers).json()["items"]
    stored = [r for r in records if r["kind"] == "storage"]
    # 300 KiB from the first push, then 500 KiB: the shared chunk counts once
    assert [r["storage_bytes"] for r in stored][-1] == len(shared) + len(own)
    assert {r["storage_bytes"] for r in stored} <= {len(shared), len(shared) + len(own)}
    assert {r["project_id"] for r in stored} == {acme.project_id}
    held = sum(r["duration_us"] for r in stored) / 86.4e9  # days, from the push to a midnight
    assert 0 < held <= 2
    bill = api.get(
        "/api/v1/bills", params={"month": stored[0]["period"]}, headers=acme.headers
    ).json()
    lines = [line for line in bill["lines"] if line["item"] == "datasets"]
    assert lines and {line["unit"] for line in lines} == {"storage_gib_day"}
    theirs = api.get("/api/v1/usage", headers=globex.headers).json()["items"]
    assert {r["storage_bytes"] for r in theirs if r["kind"] == "storage"} == {len(shared)}

    assert api.delete("/api/v1/datasets/two", headers=acme.headers).status_code == 204
    with state.db.reader() as session:
        assert storage.project_bytes(session, acme.project_id) == len(shared)


def test_a_push_over_the_storage_quota_is_refused_before_any_byte_is_sent(
    served: tuple[TestClient, ServerState],
) -> None:
    api, state = served
    acme = make_tenant(api, "acme")
    quota = {"max": {"storage_gib": 1 / 1024}}  # 1 MiB
    assert api.put(f"/api/v1/projects/{acme.project_id}/quota", json=quota).status_code == 200
    small = os.urandom(600 * KiB)
    assert push(api, acme, "small", {"a.bin": small}).status_code == 200
    with state.db.reader() as session:
        chunks_before = session.scalar(select(func.count()).select_from(ChunkRow))

    refused = push(api, acme, "big", {"b.bin": os.urandom(600 * KiB)})
    assert refused.status_code == 413
    detail = refused.json()["detail"]
    assert "0.001 GiB" in detail and "storage_gib" in detail and "aicc data rm" in detail
    with state.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(ChunkRow)) == chunks_before
        assert session.scalar(select(func.count()).select_from(UploadChunkRow)) == 0
    assert api.get("/api/v1/datasets/big", headers=acme.headers).status_code == 404

    # A client that declares no sizes is refused as its chunks arrive, none of them kept.
    late = push(api, acme, "big", {"b.bin": os.urandom(600 * KiB)}, sizes=False)
    assert late.status_code == 413
    assert api.get("/api/v1/datasets/big", headers=acme.headers).json()["latest"] is None
    # What adds nothing to the project is never refused: the same content in another set.
    with state.db.reader() as session:
        used = storage.project_bytes(session, acme.project_id)
    same = push(api, acme, "again", {"a.bin": small})
    assert same.status_code == 200 and same.json()["created"]
    with state.db.reader() as session:
        assert storage.project_bytes(session, acme.project_id) == used
    guaranteed = {"guaranteed": {"storage_gib": 1}}
    bad = api.put(f"/api/v1/orgs/{acme.org_id}/quota", json=guaranteed)
    assert bad.status_code == 422 and "max" in bad.text


def test_a_manifest_cannot_claim_other_chunk_sizes_than_were_stored(
    served: tuple[TestClient, ServerState],
) -> None:
    api, _ = served
    acme = make_tenant(api, "acme")
    data = os.urandom(60 * KiB)
    assert push(api, acme, "real", {"a.bin": data}).status_code == 200
    (chunk,) = cut(data)
    lying = Manifest.of([FileEntry("a.bin", 1, (Chunk(chunk.digest, 1),))])
    encoded = lying.encode()
    body = {"chunks": [c.digest for c in cut(encoded)] + [chunk.digest]}
    plan = api.post("/api/v1/datasets/real/uploads", json=body, headers=acme.headers).json()
    api.post(
        f"/api/v1/uploads/{plan['upload_id']}/chunks",
        content=b"".join(frame(_pieces(encoded).items())),
        headers={**acme.headers, "Content-Type": "application/octet-stream"},
    )
    done = api.post(
        f"/api/v1/uploads/{plan['upload_id']}/commit",
        json={"manifest_chunks": [[c.digest, c.size] for c in cut(encoded)]},
        headers=acme.headers,
    )
    assert done.status_code == 422 and f"is {len(data)} bytes, not 1" in done.json()["detail"]
    assert api.get("/api/v1/datasets/real", headers=acme.headers).json()["latest"] == 1


def test_the_janitor_deletes_the_chunks_of_a_deleted_set_but_keeps_shared_ones(
    served: tuple[TestClient, ServerState],
) -> None:
    api, state = served
    acme = make_tenant(api, "acme")
    shared, alone = os.urandom(60 * KiB), os.urandom(60 * KiB)
    assert push(api, acme, "keep", {"s.bin": shared}).status_code == 200
    assert push(api, acme, "drop", {"s.bin": shared, "a.bin": alone}).status_code == 200
    (kept,), (gone,) = cut(shared), cut(alone)
    with state.db.reader() as session:  # the packs the two chunks were stored in
        where = chunks.places(session, [kept.digest, gone.digest])
    packs = {where[kept.digest].pack, where[gone.digest].pack}
    assert len(packs) == 2  # two pushes, two packs: the shared chunk was not sent again
    assert api.delete("/api/v1/datasets/drop", headers=acme.headers).status_code == 204
    assert janitor.collect(state.db, state.chunks, utcnow()) == 0  # not stale yet
    assert state.chunks.has(packs) == packs

    deleted = janitor.collect(state.db, state.chunks, utcnow() + uploads.STALE * 2)
    assert deleted >= 1  # the dropped file's pack, and packs of past uploads' manifests
    assert state.chunks.has(packs) == {where[kept.digest].pack}
    pulled = api.get(f"/api/v1/datasets/keep/chunks/{kept.digest}", headers=acme.headers)
    assert pulled.status_code == 200 and pulled.content == shared
    with state.db.reader() as session:
        assert session.get(ChunkRow, gone.digest) is None
        assert session.get(ChunkRow, kept.digest) is not None
