"""A project's images: its repositories in the center registry, their tags and sizes, who may
pull them, deleting them, and what a job's `image:` resolves to.

Another tenant's private repository is a 404 (and a job naming it a 422 that does not say
whether it exists). Sizes are what the registry's manifests declare; storage counts each blob
once per project, the registry stores it once for the center.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from aicc.config import RegistrySettings
from aicc.core import images as refs
from aicc.core.tenancy import Principal, can_write
from aicc.services.common import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServiceError,
    from_row,
    utcnow,
)
from aicc.services.images import tokens
from aicc.services.images.distribution import Registry, RegistryError
from aicc.services.images.keys import registry_folder, signing_key
from aicc.services.images.views import (
    ActingJob,
    Image,
    ImageStorage,
    ImageTag,
    ImageUse,
    JobImage,
    RegistryReference,
)
from aicc.services.tenancy import audit, directory, tenancy
from aicc.services.tenancy.views import Project
from aicc.store.tables.images import (
    ImageBlobRow,
    ImageRepositoryRow,
    ImageStorageLevelRow,
    ImageTagRow,
)


class RegistryDown(ServiceError):
    """The registry did not answer, or not as its API says: nothing changed. A 409 (the
    center's state stops the request, try again), not a 5xx, which is the server's own fault."""

    status = 409


def host_of(url: str) -> str:
    """The registry's `host:port` as references name it."""
    return urlparse(url).netloc or url


def owner_path(session: Session, project: Project) -> str:
    found = directory.org(session, project.org_id)
    org = found.name if found is not None else ""
    path = refs.owner_path(org, project.name)
    if path is None:
        raise Invalid(
            "project {project!r} of {org!r}: an image repository needs lowercase letters, digits "
            "and '.', '_', '-' in both names",
            project=project.name,
            org=org,
        )
    return path


def _view(session: Session, row: ImageRepositoryRow, path: str, host: str) -> Image:
    tags = session.scalars(
        select(ImageTagRow).where(ImageTagRow.repository_id == row.id).order_by(ImageTagRow.tag)
    ).all()
    return from_row(
        Image,
        row,
        repository=f"{path}/{row.name}",
        reference=f"{host}/{path}/{row.name}",
        tags=[ImageTag.model_validate(t, from_attributes=True) for t in tags],
        size_bytes=_distinct_bytes(session, ImageBlobRow.repository_id == row.id),
    )


def _distinct_bytes(session: Session, where: object) -> int:
    held = (
        select(ImageBlobRow.blob_digest, ImageBlobRow.size_bytes)
        .distinct()
        .join(ImageRepositoryRow, ImageRepositoryRow.id == ImageBlobRow.repository_id)
        .where(where)  # type: ignore[arg-type]
        .subquery()
    )
    return int(session.scalar(select(func.coalesce(func.sum(held.c.size_bytes), 0))) or 0)


def list_images(session: Session, who: Principal, *, project: str | None, host: str) -> list[Image]:
    prj = tenancy.resolve_project(session, who, project)
    path = owner_path(session, prj)
    rows = session.scalars(
        select(ImageRepositoryRow)
        .where(ImageRepositoryRow.project_id == prj.id)
        .order_by(ImageRepositoryRow.name)
    ).all()
    return [_view(session, row, path, host) for row in rows]


def used_prefix(
    session: Session, who: Principal, *, project: str | None, host: str
) -> tuple[str, str]:
    """(the project's id, the prefix of its images' references): what the jobs naming one of
    its images start their image with (jobs' `census.images_named` finds them)."""
    prj = tenancy.resolve_project(session, who, project)
    return prj.id, f"{host}/{owner_path(session, prj)}/"


def uses(named: list[JobImage]) -> list[ImageUse]:
    """The project's jobs that named one of its images (`used_prefix`, newest first, as jobs
    hands them over) as the portal's "used by" (jobs of other projects that pulled a shared
    image are theirs to know, not this one's)."""
    found = []
    for job in named:
        parsed = refs.parse(job.image)
        tag = parsed.tag or parsed.digest or refs.DEFAULT_TAG
        found.append(
            ImageUse(
                repository=parsed.repository,
                tag=tag,
                job_id=job.job_id,
                job_name=job.job_name,
                state=job.state,
                created_at=job.created_at,
            )
        )
    return found


def _repository(
    session: Session, who: Principal, project: str | None, name: str
) -> tuple[Project, ImageRepositoryRow]:
    prj = tenancy.resolve_project(session, who, project)
    row = session.scalar(
        select(ImageRepositoryRow).where(
            ImageRepositoryRow.project_id == prj.id, ImageRepositoryRow.name == name
        )
    )
    if row is None:
        raise NotFound("image {name!r} not found in project {project}", name=name, project=prj.name)
    return prj, row


def get_image(
    session: Session, who: Principal, *, project: str | None, name: str, host: str
) -> Image:
    prj, row = _repository(session, who, project, name)
    return _view(session, row, owner_path(session, prj), host)


def set_visibility(
    session: Session, who: Principal, *, project: str | None, name: str, visibility: str, host: str
) -> Image:
    """Share a repository with the organization (`org`), everybody (`public`), or nobody else."""
    if visibility not in refs.VISIBILITIES:
        raise Invalid("visibility {v!r}: one of private, org, public", v=visibility)
    prj, row = _repository(session, who, project, name)
    if not can_write(who, org_id=prj.org_id, project_id=prj.id):
        raise Forbidden("viewers cannot share images")
    row.visibility, row.updated_at = visibility, utcnow()
    detail = {"visibility": visibility}
    audit.record(session, who, "image.share", "image", row.id, org_id=prj.org_id, detail=detail)
    return _view(session, row, owner_path(session, prj), host)


def delete_image(
    session: Session,
    who: Principal,
    registry: Registry,
    *,
    project: str | None,
    name: str,
    tag: str | None,
) -> None:
    """Delete one tag, or the whole repository, in the registry and here. The registry deletes
    manifests, not tags: a tag whose manifest other tags share is refused (409) naming them.
    The blobs leave the disk at the registry's next garbage collection."""
    prj, row = _repository(session, who, project, name)
    if not can_write(who, org_id=prj.org_id, project_id=prj.id):
        raise Forbidden("viewers cannot delete images")
    repository = f"{owner_path(session, prj)}/{row.name}"
    tags = session.scalars(select(ImageTagRow).where(ImageTagRow.repository_id == row.id)).all()
    if tag is not None:
        chosen = [t for t in tags if t.tag == tag]
        if not chosen:
            raise NotFound("tag {tag!r} not found in image {name!r}", tag=tag, name=name)
        others = sorted(t.tag for t in tags if t.digest == chosen[0].digest and t.tag != tag)
        if others:
            raise Conflict(
                "tag {tag!r} shares its manifest with {others}: delete those tags too, "
                "or the image",
                tag=tag,
                others=", ".join(others),
            )
        digests = [chosen[0].digest]
    else:
        digests = sorted({t.digest for t in tags})
    try:
        for digest in digests:
            registry.delete_manifest(repository, digest)
    except RegistryError as err:
        raise RegistryDown(
            "the center registry did not delete it ({err}); nothing changed, try again later",
            err=str(err),
        ) from None
    forget(session, row, digests)
    if tag is None:
        session.execute(delete(ImageBlobRow).where(ImageBlobRow.repository_id == row.id))
        session.execute(delete(ImageTagRow).where(ImageTagRow.repository_id == row.id))
        session.delete(row)
    session.flush()
    level(session, prj.id)
    detail = {"repository": repository, "tag": tag}
    audit.record(session, who, "image.delete", "image", row.id, org_id=prj.org_id, detail=detail)


def forget(session: Session, row: ImageRepositoryRow, digests: list[str]) -> None:
    """Drop the tags on these manifests and the manifests' blobs from the books."""
    session.execute(
        delete(ImageTagRow).where(
            ImageTagRow.repository_id == row.id, ImageTagRow.digest.in_(digests)
        )
    )
    session.execute(
        delete(ImageBlobRow).where(
            ImageBlobRow.repository_id == row.id, ImageBlobRow.manifest_digest.in_(digests)
        )
    )


def project_bytes(session: Session, project_id: str) -> int:
    """The distinct blobs the project's repositories refer to, in bytes (quota and billing)."""
    return _distinct_bytes(session, ImageRepositoryRow.project_id == project_id)


def level(session: Session, project_id: str) -> int:
    """Append the project's image storage level when it changed (the meter's GiB-days)."""
    now_bytes = project_bytes(session, project_id)
    last = session.scalar(
        select(ImageStorageLevelRow.bytes)
        .where(ImageStorageLevelRow.project_id == project_id)
        .order_by(ImageStorageLevelRow.at.desc(), ImageStorageLevelRow.id.desc())
        .limit(1)
    )
    if (last or 0) != now_bytes:
        session.add(ImageStorageLevelRow(project_id=project_id, bytes=now_bytes, at=utcnow()))
    return now_bytes


def level_starts(before: datetime) -> Select[str, datetime]:
    """Each project's first image storage level before `before`, as (project_id, first): a
    select for the meter's own query, which joins the projects' organizations to it."""
    at = ImageStorageLevelRow.at
    return (
        select(ImageStorageLevelRow.project_id, func.min(at).label("first"))
        .where(at < before)
        .group_by(ImageStorageLevelRow.project_id)
    )


def level_steps(
    session: Session, project_id: str, since: datetime, until: datetime
) -> list[tuple[datetime, int]]:
    """The project's image storage level in force at `since` (0 before any), then each change
    in (since, until), in order: the stretches the meter records."""
    levels = ImageStorageLevelRow
    held = session.scalar(
        select(levels.bytes)
        .where(levels.project_id == project_id, levels.at <= since)
        .order_by(levels.at.desc(), levels.id.desc())
        .limit(1)
    )
    changes = session.execute(
        select(levels.at, levels.bytes)
        .where(levels.project_id == project_id, levels.at > since, levels.at < until)
        .order_by(levels.at, levels.id)
    )
    return [(since, held or 0), *((at, int(n)) for at, n in changes)]


def storage(session: Session, who: Principal, *, project: str | None) -> ImageStorage:
    prj = tenancy.resolve_project(session, who, project)
    count = session.scalar(
        select(func.count())
        .select_from(ImageRepositoryRow)
        .where(ImageRepositoryRow.project_id == prj.id)
    )
    return ImageStorage(
        project_id=prj.id, bytes=project_bytes(session, prj.id), repositories=count or 0
    )


def _parsed(image: str) -> refs.Reference:
    """The image name `image` parsed, else a 422 that says what is wrong with it."""
    try:
        return refs.parse(image)
    except refs.BadReference as err:
        raise Invalid("image: {problem}", problem=str(err)) from None


def resolve(
    session: Session, who: Principal, image: str, *, host: str, project: str | None = None
) -> str:
    """The full reference a job's `image:` names: `NAME[:TAG]` is in the job's project, and
    `ORG/PROJECT/NAME[:TAG]` or `HOST/ORG/PROJECT/NAME[:TAG]` in the center registry; an image
    of another registry is returned as given. One of the center registry that the caller may not
    pull, or that nobody pushed, is a 422 that says both alike."""
    ref = _parsed(image)
    if ref.registry is not None and ref.registry != host:
        return str(ref)
    repository = _repository_of(session, who, ref, image, project)
    found = tokens.owner(session, repository)
    unknown = Invalid(
        "image {image!r}: not in the center registry, or not yours to pull (`aicc image list`)",
        image=image,
    )
    if found is None or not tokens.may_pull(who, found):
        raise unknown
    row = session.scalar(
        select(ImageRepositoryRow).where(
            ImageRepositoryRow.project_id == found.project_id,
            ImageRepositoryRow.name == "/".join(repository.split("/")[2:]),
        )
    )
    if row is None:
        raise unknown
    if ref.digest is None:
        tag = ref.tag or refs.DEFAULT_TAG
        known = session.scalar(
            select(ImageTagRow.tag).where(
                ImageTagRow.repository_id == row.id, ImageTagRow.tag == tag
            )
        )
        if known is None:
            raise Invalid(
                "image {image!r}: no tag {tag!r} (`aicc image list`)", image=image, tag=tag
            )
    return str(
        refs.Reference(
            host, repository, ref.tag if ref.digest else ref.tag or refs.DEFAULT_TAG, ref.digest
        )
    )


def pull_credential(
    session: Session,
    job_or_principal: Principal | ActingJob,
    reference: str,
    *,
    registry: RegistrySettings,
    home: Path,
) -> str:
    """A short-lived credential that pulls this one image and nothing else, for a job's node
    (`job_or_principal`: a job, as jobs hands it over, whose user and project decide, or a
    caller). The image is
    resolved as `resolve` does (a 422 where it may not be pulled); one of another registry has
    no credential of ours (Invalid).

    It is a JWT signed like the registry's tokens, valid `registry.pull_credential_ttl_s`, and
    works two ways: as the password of `podman pull --creds aicc:CREDENTIAL` (or an `--authfile`
    whose `auths["HOST:PORT"].auth` is base64 of `aicc:CREDENTIAL`), which the token endpoint
    exchanges for a pull token of this repository only; or directly as a registry bearer token.
    It never pushes, and another repository's scope gets no actions."""
    host = host_of(registry.address())
    project: str | None = None
    if isinstance(job_or_principal, ActingJob):
        job = job_or_principal
        acting = tenancy.principal_by_id(session, job.user_id)
        if acting is None:
            raise NotFound("job {job} not found", job=job.id)
        who, project = acting, job.project_id
    else:
        who = job_or_principal
    full = refs.parse(resolve(session, who, reference, host=host, project=project))
    if full.registry != host:
        raise Invalid("image {image!r}: not in the center registry", image=reference)
    access = [tokens.Access("repository", full.repository, ("pull",))]
    issued = tokens.issue(
        signing_key(registry_folder(home)),
        service=registry.service,
        subject=who.name,
        access=access,
        ttl_s=registry.pull_credential_ttl_s,
        now=utcnow(),
        extra={tokens.PULL_CREDENTIAL: True},
    )
    return issued.token


PUSHES = "aicc_push"  # the claim that marks a build's credential: it may push its target


def push_credential(
    session: Session,
    job: ActingJob,
    target: str,
    *,
    pulls: list[str],
    registry: RegistrySettings,
    home: Path,
) -> str:
    """A build's short-lived credential: push (and pull) of its one `target` repository, which
    the job's user must still be able to write, and pull of each of its FROM images (`pulls`,
    full references of the center registry), each checked as `resolve` does. Nothing else: the
    token endpoint narrows what it is asked to these (`credential_access`)."""
    acting = tenancy.principal_by_id(session, job.user_id)
    if acting is None:
        raise NotFound("job {job} not found", job=job.id)
    who = acting
    host = host_of(registry.address())
    full = refs.parse(target)
    found = tokens.owner(session, full.repository) if full.registry == host else None
    if found is None or not tokens.may_write(who, found):
        raise Invalid("build: {image} is no longer yours to push", image=target)
    if not tokens.has_room(session, found):
        raise Invalid("build: the project of {image} is at its image storage quota", image=target)
    access = [tokens.Access("repository", full.repository, ("pull", "push"))]
    for image in pulls:
        ref = refs.parse(resolve(session, who, image, host=host, project=job.project_id))
        if ref.registry == host:
            access.append(tokens.Access("repository", ref.repository, ("pull",)))
    issued = tokens.issue(
        signing_key(registry_folder(home)),
        service=registry.service,
        subject=who.name,
        access=access,
        ttl_s=max(registry.pull_credential_ttl_s, BUILD_CREDENTIAL_TTL_S),
        now=utcnow(),
        extra={tokens.PULL_CREDENTIAL: True, PUSHES: True},
    )
    return issued.token


BUILD_CREDENTIAL_TTL_S = 3600  # a build may take a while before its push


def credential_access(
    credential: dict[str, object], asked: list[refs.ScopeRequest]
) -> list[tokens.Access]:
    """What a job's credential grants of `asked`: a pull credential pulls its repositories; a
    build's (`push_credential`) also pushes its target. Never another repository, never more."""
    if not credential.get(PUSHES):
        return tokens.narrowed(credential, asked)
    held: dict[object, set[str]] = {}
    for entry in credential.get("access") or ():  # type: ignore[attr-defined]
        if isinstance(entry, dict) and entry.get("type") == "repository":
            held.setdefault(entry.get("name"), set()).update(entry.get("actions") or ())
    return [
        tokens.Access(
            s.type,
            s.name,
            tuple(a for a in s.actions if a in ("pull", "push") and a in held.get(s.name, ())),
        )
        for s in asked
    ]


def reference(
    session: Session, who: Principal, image: str, *, url: str, project: str | None = None
) -> RegistryReference:
    """What an image name means for a push or a pull, without asking whether it exists or the
    caller may use it (the registry's tokens decide that): `NAME[:TAG]` in the caller's
    project, `ORG/PROJECT/NAME[:TAG]` as given, in the center registry."""
    host = host_of(url)
    ref = _parsed(image)
    if ref.registry is not None and ref.registry != host:
        raise Invalid(
            "image {image!r}: not the center registry ({host}); use ORG/PROJECT/NAME[:TAG]",
            image=image,
            host=host,
        )
    repository = _repository_of(session, who, ref, image, project)
    tag = ref.tag or refs.DEFAULT_TAG
    full = refs.Reference(host, repository, tag, ref.digest)
    return RegistryReference(reference=str(full), repository=repository, tag=tag, registry_url=url)


def _repository_of(
    session: Session, who: Principal, ref: refs.Reference, image: str, project: str | None
) -> str:
    """The center registry's ORG/PROJECT/NAME a name of it means: a short NAME in `project`
    (the caller's default), else the path as given."""
    if len(ref.parts) >= 3:
        return ref.repository
    if ref.registry is not None:
        raise Invalid(
            "image {image!r}: the center registry's images are ORG/PROJECT/NAME", image=image
        )
    prj = tenancy.resolve_project(session, who, project)
    return f"{owner_path(session, prj)}/{ref.repository}"


def center_of(registry: RegistrySettings | None) -> str | None:
    """The center registry's HOST:PORT, or None where there is none (not embedded, no url)."""
    if registry is None or not (registry.embedded or registry.url):
        return None
    return host_of(registry.address())


def job_image(
    session: Session,
    who: Principal,
    image: str,
    *,
    registry: RegistrySettings | None,
    project: str | None = None,
) -> str:
    """What a job spec's `image:` runs, checked at submit: a full reference of the center
    registry that the submitter may pull (`resolve`), or one of the registries the site lets
    jobs name (`registry.external`). The center has a registry where one is embedded or its
    `url` is set; `registry` None: the defaults (none, and `localhost` only)."""
    center = center_of(registry)
    ref = _parsed(image)
    external = registry.external if registry is not None else ["localhost"]
    if ref.registry is not None and ref.registry != center:
        if ref.registry not in external:
            raise Invalid(
                "image {image!r}: jobs run images of the center registry ({center}) or of "
                "{external} only",
                image=image,
                center=center or "none here",
                external=", ".join(external) or "no other",
            )
        return str(ref)
    if center is None:
        raise Invalid(
            "image {image!r}: this center has no registry; name the image with its registry",
            image=image,
        )
    return resolve(session, who, image, host=center, project=project)


@dataclass(frozen=True)
class Pulls:
    """What gives a launching replica its image's pull credential (`ReplicaLaunch.
    image_pull_token`): the center registry's settings and the home its signing key lives in."""

    registry: RegistrySettings
    home: Path

    def credential(self, session: Session, job: ActingJob, reference: str) -> str | None:
        """A pull-only credential of the job's image, asked again at every launch (access is
        the registry's answer today, not at submit); None for an image of another registry,
        which the node pulls as it is. Invalid where the job's tenant may no longer pull it."""
        if refs.parse(reference).registry != host_of(self.registry.address()):
            return None
        return pull_credential(session, job, reference, registry=self.registry, home=self.home)
