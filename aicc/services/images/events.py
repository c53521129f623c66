"""The registry's notifications (`POST /api/v1/registry/events`) and the resync from its own
API: how pushes and deletions reach the books.

Events are hostile input (anybody who learns the secret header, or a registry answering what a
tenant pushed): their envelope is bounded and validated, a pushed manifest is read back from the
registry itself within its limits, and a repository path that names no project is ignored.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aicc.core import images as refs
from aicc.core.tenancy import Principal
from aicc.services.common import utcnow
from aicc.services.images import images, tokens
from aicc.services.images.distribution import MANIFEST_TYPES, Manifest, Registry, RegistryError
from aicc.services.images.views import Resynced
from aicc.services.tenancy import audit
from aicc.store.db import Database
from aicc.store.tables.images import ImageBlobRow, ImageRepositoryRow, ImageTagRow

log = logging.getLogger(__name__)
MAX_EVENTS = 1000  # Distribution sends a handful per envelope

Short = Annotated[str, Field(max_length=512)]


class Target(BaseModel):
    model_config = ConfigDict(extra="ignore")
    mediaType: Short = ""
    digest: Short = ""
    repository: Short = ""
    tag: Short = ""
    size: Annotated[int, Field(ge=0, le=1 << 50)] = 0


class Actor(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: Short = ""


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore")
    action: Short
    target: Target = Field(default_factory=Target)
    actor: Actor = Field(default_factory=Actor)


class Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")
    events: Annotated[list[Event], Field(max_length=MAX_EVENTS)] = Field(default_factory=list)


def _repository_name(text: str) -> str | None:
    try:
        return refs.check_repository(text)
    except refs.BadReference:
        return None


def receive(db: Database, registry: Registry, envelope: Envelope) -> int:
    """Book the pushes of tagged manifests and the deletions the envelope reports; what cannot
    be read back or names no project is skipped. The registry is asked outside any
    transaction. Returns how many events changed the books."""
    done = 0
    for event in envelope.events:
        target = event.target
        repository = _repository_name(target.repository)
        if repository is None:
            continue
        if event.action == "push" and target.tag and target.mediaType in MANIFEST_TYPES:
            if not refs.TAG.match(target.tag) or not refs.DIGEST.match(target.digest):
                continue
            with db.reader() as session:  # a path of no project: not worth asking the registry
                if tokens.owner(session, repository) is None:
                    continue
            try:
                manifest = registry.manifest(repository, target.digest)
            except RegistryError as err:
                log.warning("registry event for %s: %s", repository, err)
                continue
            if manifest is None:
                continue
            with db.session() as session:
                done += record_push(
                    session,
                    repository=repository,
                    tag=target.tag,
                    manifest=manifest,
                    actor=event.actor.name[:64] or None,
                )
        elif event.action == "delete" and refs.DIGEST.match(target.digest):
            with db.session() as session:
                done += record_delete(session, repository=repository, digest=target.digest)
    return done


def repository_id() -> str:
    """`img_` and 24 random hex digits. (core/ids.py has no `img` prefix yet; with one this is
    `new_id("img")`.)"""
    return "img_" + secrets.token_hex(12)


def _row(session: Session, repository: str, *, create: bool) -> ImageRepositoryRow | None:
    found = tokens.owner(session, repository)
    if found is None:
        return None
    name = "/".join(repository.split("/")[2:])
    row = session.scalar(
        select(ImageRepositoryRow).where(
            ImageRepositoryRow.project_id == found.project_id, ImageRepositoryRow.name == name
        )
    )
    if row is None and create:
        now = utcnow()
        row = ImageRepositoryRow(
            id=repository_id(),
            project_id=found.project_id,
            name=name,
            visibility="private",
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
    return row


def record_push(
    session: Session,
    *,
    repository: str,
    tag: str,
    manifest: Manifest,
    actor: str | None,
    at: datetime | None = None,
) -> int:
    """The tag now points at `manifest`; its blobs are the repository's. Idempotent."""
    row = _row(session, repository, create=True)
    if row is None:
        return 0
    now = at or utcnow()
    current = session.scalar(
        select(ImageTagRow).where(ImageTagRow.repository_id == row.id, ImageTagRow.tag == tag)
    )
    if current is None:
        session.add(
            ImageTagRow(
                repository_id=row.id,
                tag=tag,
                digest=manifest.digest,
                size_bytes=manifest.size,
                pushed_at=now,
                pushed_by=actor,
            )
        )
    else:
        current.digest, current.size_bytes = manifest.digest, manifest.size
        current.pushed_at, current.pushed_by = now, actor
    known = set(
        session.scalars(
            select(ImageBlobRow.blob_digest).where(
                ImageBlobRow.repository_id == row.id,
                ImageBlobRow.manifest_digest == manifest.digest,
            )
        )
    )
    for blob in manifest.blobs:
        if blob.digest not in known:
            session.add(
                ImageBlobRow(
                    repository_id=row.id,
                    manifest_digest=manifest.digest,
                    blob_digest=blob.digest,
                    size_bytes=blob.size,
                )
            )
    row.updated_at = now
    session.flush()
    _drop_untagged(session, row)
    images.level(session, row.project_id)
    return 1


def _drop_untagged(session: Session, row: ImageRepositoryRow) -> None:
    """A manifest no tag points at any more is not the project's storage (a moved tag)."""
    tagged = select(ImageTagRow.digest).where(ImageTagRow.repository_id == row.id)
    session.execute(
        delete(ImageBlobRow).where(
            ImageBlobRow.repository_id == row.id, ImageBlobRow.manifest_digest.not_in(tagged)
        )
    )


def record_delete(session: Session, *, repository: str, digest: str) -> int:
    row = _row(session, repository, create=False)
    if row is None:
        return 0
    images.forget(session, row, [digest])
    session.flush()
    images.level(session, row.project_id)
    return 1


def resync(db: Database, registry: Registry, who: Principal) -> Resynced:
    """Rebuild the books from the registry's catalog, tags and manifests (after notifications
    were lost: the registry was started before AICC, or AICC was down). Blocking; the registry
    is asked outside any transaction, each repository is written in one."""
    try:
        return _resync(db, registry, who)
    except RegistryError as err:
        raise images.RegistryDown(
            "the center registry did not answer ({err}); try again later", err=str(err)
        ) from None


def _resync(db: Database, registry: Registry, who: Principal) -> Resynced:
    repositories = tags = 0
    for repository in registry.catalog():
        with db.reader() as session:
            if tokens.owner(session, repository) is None:
                continue
        found: dict[str, Manifest] = {}
        for tag in registry.tags(repository):
            manifest = registry.manifest(repository, tag)
            if manifest is not None:
                found[tag] = manifest
        with db.session() as session:
            row = _row(session, repository, create=bool(found))
            if row is None:
                continue
            session.execute(
                delete(ImageTagRow).where(
                    ImageTagRow.repository_id == row.id, ImageTagRow.tag.not_in(list(found))
                )
            )
            for tag, manifest in found.items():
                record_push(session, repository=repository, tag=tag, manifest=manifest, actor=None)
            repositories, tags = repositories + 1, tags + len(found)
    done = Resynced(repositories=repositories, tags=tags)
    with db.session() as session:
        audit.record(
            session, who, "registry.resync", "registry", "catalog", detail=done.model_dump()
        )
    return done
