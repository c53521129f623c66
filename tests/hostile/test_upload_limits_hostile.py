"""Issue 35, what is left of point 3 at the chunks route: a tenant's concurrent chunk batches
each passed the storage check before any of them was counted, and an upload took any amount
whatever `begin` had declared. Against a real server in this process, on SQLite and PostgreSQL.

All would fail on 96613b0: on PostgreSQL more than 4 of 16 concurrent 1 MiB batches were kept
under a 4 MiB quota (check and count were two steps); on either database an upload that
declared 2 MiB took 6 MiB (quota or not), a manifest nested deep answered 500, and one listing a
chunk with two sizes committed.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aicc.core.datasets import MAX_CHUNK, Chunk, FileEntry, Manifest, cut, digest, frame, pieces
from aicc.server import ServerState
from aicc.services.data import storage
from aicc.testing.servers import in_process
from aicc.testing.tenants import Tenant, make_tenant

MiB = 1024 * 1024
OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def served(tmp_path: Path, db_url: str | None) -> Iterator[tuple[TestClient, ServerState]]:
    with in_process(tmp_path / "home", db_url) as pair:
        yield pair


def _begin(api: TestClient, who: Tenant, name: str, chunks: dict[str, bytes], **more: Any) -> Any:
    body = {"chunks": list(chunks), "create": {"name": name}, **more}
    return api.post(f"/api/v1/datasets/{name}/uploads", json=body, headers=who.headers)


def _send(api: TestClient, who: Tenant, upload: str, batch: dict[str, bytes]) -> Any:
    return api.post(
        f"/api/v1/uploads/{upload}/chunks",
        content=b"".join(frame(batch.items())),
        headers={**who.headers, **OCTETS},
    )


def test_concurrent_chunk_batches_stay_within_the_quota(
    served: tuple[TestClient, ServerState],
) -> None:
    """16 batches of 1 MiB sent at once under a quota that holds 4: 4 kept, 12 answered 413."""
    api, state = served
    acme = make_tenant(api, "acme")
    cap = 4 * MiB
    body = {"max": {"storage_gib": cap / storage.GIB}}
    assert api.put(f"/api/v1/projects/{acme.project_id}/quota", json=body).status_code == 200
    chunks = {digest(c): c for c in (os.urandom(MAX_CHUNK) for _ in range(16))}
    begun = _begin(api, acme, "race", chunks)  # no sizes: the quota is what holds
    assert begun.status_code == 201, begun.text
    upload = begun.json()["upload_id"]
    start = threading.Barrier(len(chunks))
    answers: list[Any] = []

    def send(name: str) -> None:
        start.wait()
        answers.append(_send(api, acme, upload, {name: chunks[name]}))

    threads = [threading.Thread(target=send, args=(name,)) for name in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 4 + [413] * 12, [a.text for a in answers if a.status_code != 413]
    assert all("storage_gib" in a.json()["detail"] for a in answers if a.status_code == 413)
    with state.db.reader() as session:
        assert storage.pending_bytes(session, acme.project_id) == cap


def test_an_upload_takes_no_more_than_its_begin_declared(
    served: tuple[TestClient, ServerState],
) -> None:
    api, _ = served
    acme = make_tenant(api, "acme")  # no quota at all
    declared = {digest(c): c for c in (os.urandom(MiB) for _ in range(2))}
    begun = _begin(api, acme, "bounded", declared, sizes=[MiB, MiB])
    assert begun.status_code == 201, begun.text
    upload = begun.json()["upload_id"]
    assert _send(api, acme, upload, declared).status_code == 200
    again = _send(api, acme, upload, declared)  # a resend after a broken connection: harmless
    assert again.status_code == 200, again.text
    extra = {digest(c): c for c in (os.urandom(MiB) for _ in range(4))}
    refused = _send(api, acme, upload, extra)
    assert refused.status_code == 413, refused.text
    detail = refused.json()["detail"]
    assert "2097152 bytes" in detail and "begin" in detail, detail
    # Without sizes, what begin named bounds it: at most the largest chunk each.
    named = {digest(c): c for c in (os.urandom(1000) for _ in range(3))}
    plain = _begin(api, acme, "plain", named).json()["upload_id"]
    assert _send(api, acme, plain, named).status_code == 200
    big = {digest(c): c for c in (os.urandom(MAX_CHUNK) for _ in range(3))}
    assert _send(api, acme, plain, big).status_code == 413
    # Begin again (a push resumed, or its next batch of digests) and the upload takes those too.
    more = _begin(api, acme, "bounded", extra, sizes=[MiB] * 4)
    assert more.status_code == 201 and more.json()["upload_id"] == upload
    assert _send(api, acme, upload, extra).status_code == 200
    # And the version commits as before.
    entries = [FileEntry(f"f{i}.bin", MiB, (c,)) for i, c in enumerate(_chunks(declared | extra))]
    encoded = Manifest.of(entries).encode()
    parts = {c.digest: data for c, data in pieces(encoded)}
    sizes = [len(p) for p in parts.values()]
    assert _begin(api, acme, "bounded", parts, sizes=sizes).status_code == 201
    assert _send(api, acme, upload, parts).status_code == 200
    done = api.post(
        f"/api/v1/uploads/{upload}/commit",
        json={"manifest_chunks": [[c.digest, c.size] for c in cut(encoded)]},
        headers=acme.headers,
    )
    assert done.status_code == 200, done.text
    assert done.json()["version"]["file_count"] == 6


def _chunks(named: dict[str, bytes]) -> list[Chunk]:
    return [Chunk(d, len(c)) for d, c in named.items()]


def _commit(
    api: TestClient, who: Tenant, name: str, manifest: bytes, held: dict[str, bytes]
) -> Any:
    """Upload `held` and `manifest` (as chunks) to `name` and commit; answers the commit."""
    parts = {c.digest: data for c, data in pieces(manifest)}
    upload = _begin(api, who, name, held | parts).json()["upload_id"]
    assert _send(api, who, upload, held | parts).status_code == 200
    return api.post(
        f"/api/v1/uploads/{upload}/commit",
        json={"manifest_chunks": [[c.digest, c.size] for c in cut(manifest)]},
        headers=who.headers,
    )


def test_a_manifest_nested_deep_or_sized_twice_is_a_422(
    served: tuple[TestClient, ServerState],
) -> None:
    """`[[[[...` (100 KB) answered 500 (the decoder's RecursionError); one stored 1 MiB chunk
    listed as 1 byte in a thousand files and once as its size committed, counted as 1,000
    bytes (plus its MiB) in the logical size the quota holds."""
    api, _ = served
    acme = make_tenant(api, "acme")
    deep = _commit(api, acme, "deep", b"[" * 100_000, {})
    assert deep.status_code == 422, deep.text
    assert "nested too deeply" in deep.json()["detail"]
    chunk = os.urandom(MiB)
    name = digest(chunk)
    files = [{"path": f"f{i}", "size": 1, "chunks": [[name, 1]]} for i in range(1000)]
    files.append({"path": "whole", "size": MiB, "chunks": [[name, MiB]]})
    doc = json.dumps({"files": files}, separators=(",", ":"), sort_keys=True).encode()
    twice = _commit(api, acme, "twice", doc, {name: chunk})
    assert twice.status_code == 422, twice.text
    assert f"chunk {name} is listed as {MiB} bytes and as 1" in twice.json()["detail"]
    assert api.get("/api/v1/datasets/twice", headers=acme.headers).json()["latest"] is None
