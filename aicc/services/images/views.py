"""The images context's read models: what the API answers, the CLI prints and the SDK parses."""

from __future__ import annotations

from datetime import datetime

from aicc.services.common import View


class ImageTag(View):
    tag: str
    digest: str
    size_bytes: int  # config and layers, as the manifest declares them
    pushed_at: datetime
    pushed_by: str | None


class Image(View):
    """A repository of the center registry."""

    id: str
    name: str  # NAME, within its project
    repository: str  # ORG/PROJECT/NAME
    reference: str  # REGISTRY/ORG/PROJECT/NAME, what a job's `image:` and `podman pull` take
    project_id: str
    visibility: str  # private | org | public
    tags: list[ImageTag]
    size_bytes: int  # the distinct blobs of its tags' manifests
    created_at: datetime


class ImageStorage(View):
    """A project's image storage as quota and billing count it: each blob its repositories
    refer to once, whoever else also refers to it (the registry keeps it once for all)."""

    project_id: str
    bytes: int
    repositories: int


class ImageUse(View):
    """A job of the project that ran in one of its images: the portal's "used by"."""

    repository: str  # ORG/PROJECT/NAME
    tag: str
    job_id: str
    job_name: str
    state: str
    created_at: datetime


class JobImage(View):
    """A job and the image its spec names, as jobs hands it over (images reads no job)."""

    job_id: str
    job_name: str
    state: str
    created_at: datetime
    image: str


class ActingJob(View):
    """A job whose credential is asked for, as jobs hands it over: its user and its project
    decide what the credential may pull or push."""

    id: str
    user_id: str
    project_id: str


class RegistryToken(View):
    """Distribution's token answer (`token` and, for OAuth clients, the same `access_token`)."""

    token: str
    access_token: str
    expires_in: int
    issued_at: datetime


class Resynced(View):
    repositories: int
    tags: int


class RegistryReference(View):
    """Where an image name points: its full reference and the registry's URL (the SDK pushes
    and pulls there itself)."""

    reference: str
    repository: str
    tag: str
    registry_url: str
