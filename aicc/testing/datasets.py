"""Pushing a data set by hand, as the SDK does but one request at a time (begin, the missing
chunks, commit), for tests that watch each step or build a tenant's data through a TestClient."""

from __future__ import annotations

from typing import Any

from aicc.core import datasets as core

OCTETS = {"Content-Type": "application/octet-stream"}


def pieces_of(files: dict[str, bytes]) -> tuple[bytes, dict[str, bytes]]:
    """The manifest's bytes and every chunk (the files' and the manifest's) by digest."""
    entries: list[core.FileEntry] = []
    pieces: dict[str, bytes] = {}
    for path, data in files.items():
        cut = core.pieces(data)
        pieces |= {c.digest: piece for c, piece in cut}
        entries.append(core.FileEntry(path, len(data), tuple(c for c, _ in cut)))
    manifest = core.Manifest.of(entries).encode()
    pieces |= {c.digest: piece for c, piece in core.pieces(manifest)}
    return manifest, pieces


def begin_and_send(
    client: Any,
    name: str,
    files: dict[str, bytes],
    headers: dict[str, str] | None = None,
    *,
    project: str | None = None,
    **create: object,
) -> tuple[str, list[list[Any]]]:
    """Begin a push of `files` to `name` and send what the server lacks; returns the upload's id
    and the manifest's chunks, for a commit."""
    manifest, pieces = pieces_of(files)
    plan = client.post(
        f"/api/v1/datasets/{name}/uploads",
        json={"chunks": list(pieces), "project": project, "create": {"name": name, **create}},
        headers=headers,
    )
    assert plan.status_code == 201, plan.text
    upload = plan.json()["upload_id"]
    body = b"".join(core.frame((d, pieces[d]) for d in plan.json()["missing"]))
    sent = client.post(
        f"/api/v1/uploads/{upload}/chunks", content=body, headers={**OCTETS, **(headers or {})}
    )
    assert sent.status_code == 200, sent.text
    return upload, [[c.digest, c.size] for c in core.cut(manifest)]


def push(
    client: Any,
    name: str,
    files: dict[str, bytes],
    headers: dict[str, str] | None = None,
    *,
    project: str | None = None,
    **create: object,
) -> dict[str, Any]:
    """The whole push: `{"version", "created"}`."""
    upload, manifest_chunks = begin_and_send(
        client, name, files, headers, project=project, **create
    )
    done = client.post(
        f"/api/v1/uploads/{upload}/commit",
        json={"manifest_chunks": manifest_chunks},
        headers=headers,
    )
    assert done.status_code == 200, done.text
    answer: dict[str, Any] = done.json()
    return answer
