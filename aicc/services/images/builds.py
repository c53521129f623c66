"""A build job (`kind: build`) at submit and at launch: what it pushes and what it pulls.

At submit the target must be a repository of the center registry in a project the submitter
may write, and every image its Containerfile pulls (FROM, `--from`) one the submitter may pull,
else a 422 that says which; both are stored resolved in the spec (`build.target`,
`build.from_images`), so the node pulls what was checked and nothing a short name could mean
elsewhere. The Containerfile is read from the uploaded workdir, which is hostile input: read
within a size bound, never unpacked here, and refused where the check and buildah could read
its instructions differently (containerfile.images_of: directives, a byte-order mark, control
characters, not UTF-8) or where it names a transport instead of a registry's image. At launch
the job gets one credential that pushes its target and pulls its FROM images
(`images.push_credential`), asked again then.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sqlalchemy.orm import Session

from aicc.config import RegistrySettings
from aicc.core import images as refs
from aicc.core.jobspec import BuildSpec, JobSpec
from aicc.core.tenancy import Principal
from aicc.executors import containerfile
from aicc.executors.base import BuildLaunch
from aicc.services.common import Invalid
from aicc.services.images import images, tokens
from aicc.services.images.views import ActingJob
from aicc.store.blobs import BlobStore

MAX_MEMBERS_READ = 100_000  # members looked through for the Containerfile


def check(
    session: Session,
    who: Principal,
    spec: JobSpec,
    *,
    registry: RegistrySettings | None,
    blobs: Path | None,
) -> JobSpec:
    """The build's spec with its target and FROM images resolved; a 422 saying what to fix
    where the submitter may not push the target or pull one of the images."""
    build = spec.build
    if build is None:
        return spec
    if registry is None or images.center_of(registry) is None:
        raise Invalid("build: this center has no registry to push the image to")
    try:
        named = refs.parse(build.image)
    except refs.BadReference as err:
        raise Invalid("build.image: {problem}", problem=str(err)) from None
    if named.digest is not None:
        raise Invalid("build.image {image!r}: name a tag to push, not a digest", image=build.image)
    where = images.reference(
        session, who, build.image, url=registry.address(), project=spec.project
    )
    found = tokens.owner(session, where.repository)
    if found is None or not tokens.may_write(who, found):
        raise Invalid(
            "build.image {image!r}: not a repository you may push to; name NAME[:TAG] in your "
            "project or ORG/PROJECT/NAME[:TAG] of a project you write",
            image=build.image,
        )
    if not tokens.has_room(session, found):
        raise Invalid(
            "build.image {image!r}: the project is at its image storage quota (storage_gib); "
            "delete images first",
            image=build.image,
        )
    data = _containerfile(spec, build, blobs)
    try:
        mentions = containerfile.images_of(containerfile.read_containerfile(data))
    except containerfile.BadContainerfile as err:
        raise Invalid("build.containerfile: {problem}", problem=str(err)) from None
    resolved: dict[str, str] = {}
    for mention in mentions:
        if mention.written not in resolved:
            resolved[mention.written] = images.job_image(
                session, who, mention.written, registry=registry, project=spec.project
            )
    if len(resolved) > 32:
        raise Invalid("build.containerfile: at most 32 images may be pulled by one build")
    return spec.model_copy(
        update={
            "build": build.model_copy(update={"target": where.reference, "from_images": resolved})
        }
    )


def _containerfile(spec: JobSpec, build: BuildSpec, blobs: Path | None) -> bytes:
    """The Containerfile's bytes, from the uploaded archive (a 422 if it is not there)."""
    if spec.workdir_sha256 is None or blobs is None:
        raise Invalid("build: upload the workdir (the build's context) first")
    path = BlobStore(blobs).path(spec.workdir_sha256)
    wanted = PurePosixPath(build.containerfile)
    try:
        with tarfile.open(path, mode="r|gz") as tar:
            for count, member in enumerate(tar):
                if count >= MAX_MEMBERS_READ:
                    break
                if PurePosixPath(member.name.removeprefix("./")) != wanted:
                    continue
                if not member.isfile():
                    break
                if member.size > containerfile.MAX_CONTAINERFILE_BYTES:
                    raise Invalid(
                        "build.containerfile: larger than {n} bytes",
                        n=containerfile.MAX_CONTAINERFILE_BYTES,
                    )
                handle = tar.extractfile(member)
                return handle.read() if handle is not None else b""
    except (OSError, tarfile.TarError):
        raise Invalid("build: the workdir's archive cannot be read; upload it again") from None
    raise Invalid(
        "build.containerfile: {name} is not a file in the workdir", name=build.containerfile
    )


@dataclass(frozen=True)
class Builds:
    """What gives a launching build its credential: the center registry and its key's home."""

    registry: RegistrySettings
    home: Path

    def launch(self, session: Session, job: ActingJob, spec: JobSpec) -> BuildLaunch | None:
        """The build's part of its launch; None for a job that is not a build. Invalid where
        its tenant may no longer push the target or pull a FROM image (`image_unavailable`)."""
        build = spec.build
        if build is None:
            return None
        if build.target is None:
            raise Invalid("build: accepted by an older server without its target; submit again")
        pulls = sorted(set(build.from_images.values()))
        center = images.host_of(self.registry.address())
        token = images.push_credential(
            session,
            job,
            build.target,
            pulls=[p for p in pulls if refs.parse(p).registry == center],
            registry=self.registry,
            home=self.home,
        )
        return BuildLaunch(
            target=build.target,
            containerfile=build.containerfile,
            from_images=dict(build.from_images),
            token=token,
        )
