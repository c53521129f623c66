"""Data sets, versions and pushes (`services.data`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from aicc.api.schemas.common import Body, Name

Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Tag = Annotated[str, Field(min_length=1, max_length=64)]
Size = Annotated[int, Field(gt=0, le=4 * 1024 * 1024)]
Visibility = Literal["private", "org", "public"]


class DatasetIn(Body):
    name: Name
    project: Annotated[str | None, Field(max_length=200)] = None
    visibility: Visibility = "private"
    description: Annotated[str, Field(max_length=4000)] = ""
    licence: Annotated[str, Field(max_length=128)] = ""
    source: Annotated[str, Field(max_length=1024)] = ""
    tags: Annotated[list[Tag], Field(max_length=32)] = Field(default_factory=list)


class DatasetPatch(Body):
    visibility: Visibility | None = None
    description: Annotated[str | None, Field(max_length=4000)] = None
    licence: Annotated[str | None, Field(max_length=128)] = None
    source: Annotated[str | None, Field(max_length=1024)] = None
    tags: Annotated[list[Tag] | None, Field(max_length=32)] = None
    # data sovereignty (docs/federation.md): a jurisdiction such as CN-GD; "" clears it
    region: Annotated[str | None, Field(pattern=r"^([A-Z]{2}(-[A-Z0-9]{1,3})?)?$")] = None


class DatasetVersion(BaseModel):
    name: str
    number: int
    ref: str
    manifest_digest: str
    file_count: int
    logical_bytes: int
    added_bytes: int
    message: str
    lineage: dict[str, Any]
    tables: dict[str, Any]
    created_by: str
    created_at: datetime


class Dataset(BaseModel):
    id: str
    name: str
    project_id: str
    project: str
    visibility: Visibility
    description: str
    licence: str
    source: str
    tags: list[str]
    region: str | None = None
    created_at: datetime
    updated_at: datetime
    latest: int | None
    file_count: int
    logical_bytes: int
    stored_bytes: int
    writable: bool
    versions: list[DatasetVersion]


class ManifestFile(BaseModel):
    path: str
    size: int
    chunks: list[tuple[str, int]]


class Manifest(BaseModel):
    ref: str
    digest: str
    files: list[ManifestFile]


class Mounted(BaseModel):
    """A data set a job mounts at `$AICC_DATA_DIR/name`: the version pinned at submit."""

    name: str
    ref: str
    version_id: str
    bytes: int


class MountedFiles(Mounted):
    digest: str
    files: list[ManifestFile]


class UploadIn(Body):
    """The chunks of the version to push (each once); the answer lists those to send."""

    project: Annotated[str | None, Field(max_length=200)] = None
    chunks: Annotated[list[Digest], Field(max_length=2_000_000)]
    sizes: Annotated[list[int] | None, Field(max_length=2_000_000)] = None  # bytes, per chunk
    create: DatasetIn | None = None  # make the set first when it does not exist


class UploadPlan(BaseModel):
    upload_id: str
    dataset: str
    missing: list[str]


class Received(BaseModel):
    chunks: int
    bytes: int


class CommitIn(Body):
    """The manifest (`core.datasets.Manifest.encode()`), uploaded as chunks like any file."""

    manifest_chunks: Annotated[
        list[tuple[Digest, Annotated[int, Field(gt=0)]]], Field(max_length=100_000)
    ]
    message: Annotated[str, Field(max_length=4000)] = ""


class Committed(BaseModel):
    version: DatasetVersion
    created: bool


class Column(BaseModel):
    name: str
    type: str


class Preview(BaseModel):
    path: str
    format: str
    columns: list[Column]
    rows: list[list[Any]]


class Thumb(BaseModel):
    path: str
    label: str
    data_uri: str | None


class Thumbnails(BaseModel):
    folder: str
    images: int
    classes: dict[str, int]
    items: list[Thumb]


class Bin(BaseModel):
    lo: float
    hi: float
    count: int


class TopValue(BaseModel):
    value: str
    count: int


class ColumnProfile(BaseModel):
    name: str
    type: str
    nulls: int
    distinct: int
    min: Any
    max: Any
    histogram: list[Bin]
    top: list[TopValue]


class Profile(BaseModel):
    path: str
    format: str
    rows: int
    columns: list[ColumnProfile]


class QueryIn(Body):
    sql: Annotated[str, Field(min_length=1, max_length=100_000)]
    max_rows: Annotated[int, Field(ge=1, le=10_000)] = 1000


class QueryResult(BaseModel):
    columns: list[Column]
    rows: list[list[Any]]
    truncated: bool
    elapsed_ms: float


class TableDiff(BaseModel):
    path: str
    rows_added: int
    rows_removed: int
    columns: list[Column]
    sample_added: list[list[Any]]
    sample_removed: list[list[Any]]


class Diff(BaseModel):
    """Two versions compared: files added, removed and changed; for `path`, a table's rows."""

    old: str
    new: str
    added: list[str]
    removed: list[str]
    changed: list[str]
    table: TableDiff | None = None


class CleanIn(Body):
    """A cleaning job over a version; its outputs become the next version of `into`."""

    into: Name
    project: Annotated[str | None, Field(max_length=200)] = None
    version: Annotated[int | None, Field(ge=1)] = None
    steps: Annotated[str, Field(max_length=200)] = "dedup,near_dup,filter,pii"
    text_column: Annotated[str, Field(min_length=1, max_length=200)] = "text"
    min_chars: Annotated[int, Field(ge=0, le=10**9)] = 0
    max_chars: Annotated[int | None, Field(ge=1, le=10**9)] = None
    lang: Annotated[str | None, Field(max_length=200)] = None
    threshold: Annotated[float, Field(gt=0, le=1)] = 0.8
    queue: Annotated[str | None, Field(max_length=64)] = None
