"""Which node holds which image in its engine's storage, for image locality in placement: a job
in an image some nodes already pulled prefers them, as a job's data sets prefer the nodes whose
cache holds them (services/data/mounts.py; both feed the `data_locality` scorer through
services/jobs/snapshots.py).

A row is written when a replica in the image is launched on the node (the node pulled it then,
or had it). Rows of a removed node go with it (the foreign key cascades). A node that pruned an
image since is not told here: its next pull finds out, and the job pays that pull; the books
only make a node preferred, never required.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core import images as refs
from aicc.services.images import tokens
from aicc.services.nodes import census
from aicc.store.tables.images import ImageRepositoryRow, ImageTagRow, NodeImageRow


def booked(session: Session, reference: str) -> tuple[str | None, int]:
    """(manifest digest, bytes) of a reference by the center registry's books: its tag's, or the
    digest it names and the size of a tag at it; (digest or None, 0) for an image the books do
    not know (another registry's, a tag deleted since). Matched by repository path alone, as a
    job's reference was resolved at submit."""
    try:
        ref = refs.parse(reference)
    except refs.BadReference:
        return None, 0
    found = tokens.owner(session, ref.repository)
    if found is None:
        return ref.digest, 0
    query = (
        select(ImageTagRow.digest, ImageTagRow.size_bytes)
        .join(ImageRepositoryRow, ImageRepositoryRow.id == ImageTagRow.repository_id)
        .where(
            ImageRepositoryRow.project_id == found.project_id,
            ImageRepositoryRow.name == "/".join(ref.parts[2:]),
        )
    )
    if ref.digest is not None:
        query = query.where(ImageTagRow.digest == ref.digest)
    else:
        query = query.where(ImageTagRow.tag == (ref.tag or refs.DEFAULT_TAG))
    row = session.execute(query.limit(1)).first()
    if row is None:
        return ref.digest, 0
    return row.digest, int(row.size_bytes)


def held(
    session: Session,
    node_id: str,
    reference: str,
    bytes: int,
    now: datetime,
    *,
    digest: str | None = None,
) -> None:
    """Record that the node's engine now holds this image (a replica in it was launched there).
    `bytes` 0: of unknown size."""
    row = session.get(NodeImageRow, (node_id, reference))
    if row is None:
        row = NodeImageRow(node_id=node_id, reference=reference, bytes=bytes, digest=digest)
        session.add(row)
    elif bytes or digest:  # a tag pushed again since: the newer books
        row.bytes, row.digest = bytes, digest
    row.used_at = now


def launched(
    session: Session,
    node_id: str,
    reference: str,
    now: datetime,
    books: dict[str, tuple[str | None, int]] | None = None,
) -> None:
    """`held`, with the digest and size from the books (`booked`). `books`: what earlier calls
    of one pass found, kept by the caller (a gang's replicas share one image)."""
    books = {} if books is None else books
    if reference not in books:
        books[reference] = booked(session, reference)
    digest, size = books[reference]
    held(session, node_id, reference, size, now, digest=digest)


def cached_bytes(session: Session, jobs: Iterable[Any]) -> dict[str, dict[str, int]]:
    """Per job whose image some node holds, the bytes of it each holder holds (all of it):
    {job: {node: bytes}}, by node name. An image of unknown size counts as 1 byte, so a holder
    still scores above a node without it; an image no node holds is left out (every node fetches
    it alike). `jobs`: objects with `id` and `image` (a full reference, or None)."""
    wanted = {j.id: j.image for j in jobs if j.image}
    if not wanted:
        return {}
    holders: dict[str, dict[str, int]] = {}
    named = census.names().subquery()
    query = (
        select(NodeImageRow.reference, named.c.name, NodeImageRow.bytes)
        .join(named, named.c.id == NodeImageRow.node_id)
        .where(NodeImageRow.reference.in_(set(wanted.values())))
    )
    for reference, node, size in session.execute(query):
        holders.setdefault(reference, {})[node] = size
    out: dict[str, dict[str, int]] = {}
    for job_id, reference in wanted.items():
        nodes = holders.get(reference)
        if nodes:  # the books of one image may have been written at different sizes
            out[job_id] = dict.fromkeys(nodes, max(1, *nodes.values()))
    return out
