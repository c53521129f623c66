"""The request bodies of data sets, versions and pushes; what they answer is
`services/data/views.py`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from aicc.api.schemas.common import Body, Name
from aicc.core.text import LINE, PROSE

Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Tag = Annotated[str, Field(min_length=1, max_length=64), LINE]
Size = Annotated[int, Field(gt=0, le=4 * 1024 * 1024)]
Visibility = Literal["private", "org", "public"]


class DatasetIn(Body):
    name: Name
    project: Annotated[str | None, Field(max_length=200)] = None
    visibility: Visibility = "private"
    description: Annotated[str, Field(max_length=4000), PROSE] = ""
    licence: Annotated[str, Field(max_length=128), LINE] = ""
    source: Annotated[str, Field(max_length=1024), LINE] = ""
    tags: Annotated[list[Tag], Field(max_length=32)] = Field(default_factory=list)


class DatasetPatch(Body):
    visibility: Visibility | None = None
    description: Annotated[str | None, Field(max_length=4000), PROSE] = None
    licence: Annotated[str | None, Field(max_length=128), LINE] = None
    source: Annotated[str | None, Field(max_length=1024), LINE] = None
    tags: Annotated[list[Tag] | None, Field(max_length=32)] = None
    # data sovereignty (docs/federation.md): a jurisdiction such as CN-GD; "" clears it
    region: Annotated[str | None, Field(pattern=r"^([A-Z]{2}(-[A-Z0-9]{1,3})?)?$")] = None


class UploadIn(Body):
    """The chunks of the version to push (each once); the answer lists those to send."""

    project: Annotated[str | None, Field(max_length=200)] = None
    chunks: Annotated[list[Digest], Field(max_length=2_000_000)]
    sizes: Annotated[list[int] | None, Field(max_length=2_000_000)] = None  # bytes, per chunk
    create: DatasetIn | None = None  # make the set first when it does not exist


class CommitIn(Body):
    """The manifest (`core.datasets.Manifest.encode()`), uploaded as chunks like any file."""

    manifest_chunks: Annotated[
        list[tuple[Digest, Annotated[int, Field(gt=0)]]], Field(max_length=100_000)
    ]
    message: Annotated[str, Field(max_length=4000), PROSE] = ""


class QueryIn(Body):
    sql: Annotated[str, Field(min_length=1, max_length=100_000)]
    max_rows: Annotated[int, Field(ge=1, le=10_000)] = 1000


class CleanIn(Body):
    """A cleaning job over a version; its outputs become the next version of `into`."""

    into: Name
    project: Annotated[str | None, Field(max_length=200)] = None
    version: Annotated[int | None, Field(ge=1)] = None
    steps: Annotated[str, Field(max_length=200)] = "dedup,near_dup,filter,pii"
    text_column: Annotated[str, Field(min_length=1, max_length=200), LINE] = "text"
    min_chars: Annotated[int, Field(ge=0, le=10**9)] = 0
    max_chars: Annotated[int | None, Field(ge=1, le=10**9)] = None
    lang: Annotated[str | None, Field(max_length=200)] = None
    threshold: Annotated[float, Field(gt=0, le=1)] = 0.8
    queue: Annotated[str | None, Field(max_length=64)] = None
