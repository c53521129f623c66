"""Data sets mounted into jobs: pinned at submit, served to the nodes' data caches, and where
each node's cache holds what (data locality for placement).

A job's `datasets` resolve for its submitter when it is submitted and are pinned to the exact
versions found then (`JobRow.datasets`; the stored spec names them `NAME@N`), so a later push
never changes a queued job's data. The executors' node caches (`executors/datacache.py`) read
manifests and chunks through `StoredData`, by version id: the job was allowed to read them when
it was submitted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core import datasets as core
from aicc.core.tenancy import Principal
from aicc.services.common import Invalid, NotFound
from aicc.services.data import chunks, datasets
from aicc.store.chunkstore import ChunkMissing, ChunkStore
from aicc.store.db import Database
from aicc.store.tables import (
    DatasetRow,
    DatasetVersionRow,
    JobRow,
    NodeDataRow,
    NodeRow,
    OrgRow,
    ProjectRow,
)


def pin(
    session: Session, who: Principal, refs: Iterable[str], *, project_id: str
) -> tuple[list[str], list[dict[str, Any]]]:
    """Resolve a spec's `datasets` for the submitter, in the job's project first, then among
    the sets shared with the submitter: (the refs as stored, `NAME@N`, or `ORG/PROJECT/NAME@N`
    for another project's set; the pinned versions). A ref the submitter cannot read is a 404
    naming it; a malformed one, or two sets under one name, a 422."""
    stored: list[str] = []
    pinned: list[dict[str, Any]] = []
    for text in refs:
        try:
            ref = core.parse_ref(text)
        except core.DatasetError as err:
            raise Invalid("datasets: {problem}", problem=str(err)) from None
        own = ref.org is None and session.scalar(
            select(DatasetRow.id).where(
                DatasetRow.project_id == project_id, DatasetRow.name == ref.name
            )
        )
        where = project_id if own else None
        row, version = datasets.version_row(session, who, ref, project=where)
        if any(p["name"] == row.name for p in pinned):
            raise Invalid(
                "datasets: {name} is named twice; each is mounted at $AICC_DATA_DIR/{name}",
                name=row.name,
            )
        exact = core.Ref(row.name, version.number)
        if row.project_id != project_id:  # another project's set: name it whole
            org, prj = _names(session, row.project_id)
            exact = core.Ref(row.name, version.number, org=org, project=prj)
        stored.append(str(exact))
        pinned.append(
            {
                "name": row.name,
                "ref": str(exact),
                "version_id": version.id,
                "bytes": version.logical_bytes,
            }
        )
    return stored, pinned


def _names(session: Session, project_id: str) -> tuple[str, str]:
    prj = session.get(ProjectRow, project_id)
    assert prj is not None  # a data set's project
    org = session.get(OrgRow, prj.org_id)
    return (org.name if org else prj.org_id), prj.name


class StoredData:
    """The server's data sets as the executors' node caches read them (`executors.base.
    Datasets`): a version's manifest by id, a chunk by digest."""

    def __init__(self, db: Database, chunks: ChunkStore) -> None:
        self.db = db
        self.chunks = chunks

    def manifest(self, version_id: str) -> core.Manifest:
        with self.db.session() as session:
            row = session.get(DatasetVersionRow, version_id)
            if row is None:
                raise KeyError(version_id)
            return datasets.manifest_of(row)

    def chunk(self, digest: str) -> bytes:
        """A chunk from its pack, checked; ChunkMissing (a KeyError) when none is stored."""
        with self.db.reader() as session:
            try:
                return chunks.reader(session, self.chunks, [digest]).get(digest)
            except NotFound:
                raise ChunkMissing(digest) from None


def held(
    session: Session, node_id: str, pinned: Iterable[Mapping[str, Any]], now: datetime
) -> None:
    """Record that the node's cache now holds these pinned versions (`JobRow.datasets`: a
    replica of the job was launched there with its data mounted)."""
    for item in pinned:
        row = session.get(NodeDataRow, (node_id, item["version_id"]))
        if row is None:
            row = NodeDataRow(node_id=node_id, version_id=item["version_id"], bytes=item["bytes"])
            session.add(row)
        row.used_at = now


def cached_bytes(session: Session, jobs: Iterable[JobRow]) -> dict[str, dict[str, int]]:
    """Per job with data sets, the bytes of them each node's cache holds: {job: {node: bytes}}."""
    wanted = {j.id: {d["version_id"] for d in j.datasets or ()} for j in jobs if j.datasets}
    versions = set().union(*wanted.values()) if wanted else set()
    if not versions:
        return {}
    per_version: dict[str, dict[str, int]] = {}
    query = (
        select(NodeDataRow.version_id, NodeRow.name, NodeDataRow.bytes)
        .join(NodeRow, NodeRow.id == NodeDataRow.node_id)
        .where(NodeDataRow.version_id.in_(versions))
    )
    for version_id, node, size in session.execute(query):
        per_version.setdefault(version_id, {})[node] = size
    out: dict[str, dict[str, int]] = {}
    for job_id, ids in wanted.items():
        nodes: dict[str, int] = {}
        for version_id in ids:
            for node, size in per_version.get(version_id, {}).items():
                nodes[node] = nodes.get(node, 0) + size
        if nodes:
            out[job_id] = nodes
    return out
