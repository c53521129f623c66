"""Data sets mounted into jobs: pinned at submit, served to the nodes' data caches, and where
each node's cache holds what (data locality for placement).

A job's `datasets` resolve for its submitter when it is submitted and are pinned to the exact
versions found then (`JobRow.datasets`; the stored spec names them `NAME@N`), so a later push
never changes a queued job's data. The executors' node caches (`executors/datacache.py`) read
manifests and chunks through `StoredData`, by version id: the job was allowed to read them when
it was submitted. Pods that fetch their own (Kubernetes) read them through the API with the
job's data grant (`grant`, `mounted*` below).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import distinct, func, insert, select
from sqlalchemy.orm import Session

from aicc.core import datasets as core
from aicc.core.states import JobState
from aicc.core.tenancy import Principal, can_read
from aicc.services.common import Invalid, NotFound
from aicc.services.data import chunks, datasets
from aicc.services.data.datasets import MODEL
from aicc.services.data.views import Mounted, MountedFiles, MountingJob
from aicc.services.nodes import census
from aicc.services.tenancy import directory, tenancy
from aicc.store import group_commit
from aicc.store.chunkstore import ChunkMissing, ChunkStore
from aicc.store.db import Database
from aicc.store.sealing import Sealer, SealError
from aicc.store.tables.base import table
from aicc.store.tables.data import (
    DatasetChunkRow,
    DatasetMountRow,
    DatasetRow,
    DatasetVersionRow,
    NodeDataRow,
)


def pin(
    session: Session, who: Principal, refs: Iterable[str], *, project_id: str
) -> tuple[list[str], list[dict[str, Any]], list[Mount]]:
    """Resolve a spec's `datasets` for the submitter, in the job's project first, then among
    the sets shared with the submitter: (the refs as stored, `NAME@N`, or `ORG/PROJECT/NAME@N`
    for another project's set; the pinned versions; the mounts the job's submit records). A ref
    the submitter cannot read is a 404 naming it; a malformed one, or two sets under one name,
    a 422."""
    stored: list[str] = []
    pinned: list[dict[str, Any]] = []
    mounts: list[Mount] = []
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
        try:
            row, version = datasets.version_row(session, who, ref, project=where)
        except NotFound as missing:  # a model version mounts as a data set does (deployments)
            try:
                row, version = datasets.version_row(session, who, ref, project=where, kind=MODEL)
            except NotFound:
                raise missing from None
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
        mounts.append(Mount(row.id, version.id))
    return stored, pinned, mounts


@dataclass(frozen=True)
class Mount:
    """A data set version a job mounts: (the set's id, the version's)."""

    dataset_id: str
    version_id: str


_INSERT_MOUNT = insert(table(DatasetMountRow))


def record(session: Session, job_id: str, mounts: Iterable[Mount]) -> None:
    """The job's mounts, written with its submit (with a batch's others: `group_commit`)."""
    for mount in mounts:
        row = {"job_id": job_id, "version_id": mount.version_id, "dataset_id": mount.dataset_id}
        group_commit.insert(session, _INSERT_MOUNT, row)


def _names(session: Session, project_id: str) -> tuple[str, str]:
    prj = directory.project(session, project_id)
    assert prj is not None  # a data set's project
    return tenancy.org_name(session, prj.org_id), prj.name


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


def cached_bytes(session: Session, jobs: Iterable[Any]) -> dict[str, dict[str, int]]:
    """Per job with data sets, the bytes of them each node's cache holds: {job: {node: bytes}}.
    `jobs`: job rows, or rows of their `id` and `datasets` columns."""
    wanted = {j.id: {d["version_id"] for d in j.datasets or ()} for j in jobs if j.datasets}
    versions = set().union(*wanted.values()) if wanted else set()
    if not versions:
        return {}
    per_version: dict[str, dict[str, int]] = {}
    named = census.names().subquery()
    query = (
        select(NodeDataRow.version_id, named.c.name, NodeDataRow.bytes)
        .join(named, named.c.id == NodeDataRow.node_id)
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


def uses(session: Session, dataset_ids: Iterable[str]) -> dict[str, int]:
    """How many jobs mounted each of the data sets `dataset_ids` (any version, any tenant's
    job; those never mounted are left out), by the mounts' index (`record`)."""
    wanted = list(dataset_ids)
    if not wanted:
        return {}
    query = (
        select(DatasetMountRow.dataset_id, func.count(distinct(DatasetMountRow.job_id)))
        .where(DatasetMountRow.dataset_id.in_(wanted))
        .group_by(DatasetMountRow.dataset_id)
    )
    return {dataset_id: int(n) for dataset_id, n in session.execute(query)}


# --- what a job mounts, read back through the API ---
#
# A node whose cache the server cannot fill itself (a Kubernetes pod's init container) fetches
# its job's data sets through the API with a **data grant**: a credential sealed with the
# server's key that names one attempt of one job. It reads only that job's pinned versions and
# their chunks, and only while that attempt holds its place, so nothing needs revoking: when the
# job ends or is retried, its grants stop working. People who may read the job read the same
# routes with their own token, and also need to read the data set itself now.

GRANT_PREFIX = "aiccdata_"


def grant(sealer: Sealer, job_id: str, attempt: int) -> str:
    """A data grant for this attempt of this job (handed to its replicas at launch)."""
    return GRANT_PREFIX + sealer.seal(json.dumps({"job": job_id, "attempt": attempt}))


def is_grant(credential: str) -> bool:
    return credential.startswith(GRANT_PREFIX)


class BadGrant(ValueError):
    """Not a data grant this server sealed (the API answers 401)."""


Reader = Principal | str  # a person's principal, or a data grant


def open_grant(sealer: Sealer, grant: str) -> tuple[str, int]:
    """The job and attempt a data grant names; BadGrant when this server did not seal it."""
    try:
        note = json.loads(sealer.open(grant.removeprefix(GRANT_PREFIX)))
        return str(note["job"]), int(note["attempt"])
    except (SealError, ValueError, KeyError, TypeError):
        raise BadGrant("not a data grant of this server") from None


def mounted(
    sealer: Sealer, reader: Reader, job_id: str, found: MountingJob | None
) -> list[Mounted]:
    """The data sets the job mounts, for someone who may read the job, or the job's own grant.
    Anyone else: NotFound, the same as for a job that does not exist. `found`: the job as jobs
    hands it over (`jobs.mounting`), None where there is none."""
    return list(_job_for(sealer, reader, job_id, found).datasets)


def mounted_manifest(
    session: Session,
    sealer: Sealer,
    reader: Reader,
    job_id: str,
    name: str,
    found: MountingJob | None,
) -> MountedFiles:
    """One mounted data set with its files. A person must also be able to read the set now."""
    job = _job_for(sealer, reader, job_id, found)
    item = next((d for d in job.datasets if d.name == name), None)
    if item is None:
        raise NotFound("job {job_id} mounts no data set {name}", job_id=job_id, name=name)
    if isinstance(reader, Principal):
        datasets.version_row(session, reader, item.ref, project=job.project_id)
    version = session.get(DatasetVersionRow, item.version_id)
    if version is None:
        raise NotFound("data set {ref} no longer exists", ref=item.ref)
    manifest = datasets.manifest_of(version)
    return MountedFiles(
        **item.model_dump(),
        digest=manifest.digest,
        files=datasets.files_of(manifest),
    )


def mounted_chunk(
    session: Session,
    sealer: Sealer,
    store: ChunkStore,
    reader: Reader,
    job_id: str,
    digest: str,
    found: MountingJob | None,
) -> bytes:
    """A chunk of a data set the job mounts, checked; NotFound unless one of them uses it."""
    job = _job_for(sealer, reader, job_id, found)
    sets = select(DatasetVersionRow.dataset_id).where(
        DatasetVersionRow.id.in_([d.version_id for d in job.datasets])
    )
    allowed = set(session.scalars(sets))
    if isinstance(reader, Principal):  # and only sets the person may still read
        allowed &= {
            datasets.version_row(session, reader, d.ref, project=job.project_id)[0].id
            for d in job.datasets
        }
    used = session.scalar(
        select(DatasetChunkRow.digest).where(
            DatasetChunkRow.dataset_id.in_(allowed), DatasetChunkRow.digest == digest
        )
    )
    if used is None:
        raise NotFound(
            "chunk {digest} is not part of a data set job {job_id} mounts",
            digest=digest,
            job_id=job_id,
        )
    return chunks.reader(session, store, [digest]).get(digest)


def _job_for(sealer: Sealer, reader: Reader, job_id: str, job: MountingJob | None) -> MountingJob:
    missing = NotFound("job {job_id} not found", job_id=job_id)
    if job is not None and job.id != job_id:
        job = None  # another job's facts: never this one's
    if isinstance(reader, Principal):
        if job is None or not can_read(reader, org_id=job.org_id, project_id=job.project_id):
            raise missing
        return job
    granted = open_grant(sealer, reader)
    if granted[0] != job_id or job is None:
        raise missing
    if granted[1] != job.attempt or not JobState(job.state).holds_resources():
        raise NotFound(
            "job {job_id} attempt {attempt} holds no place now: its data grant has ended",
            job_id=job_id,
            attempt=granted[1],
        )
    return job
