"""The read models of data sets: what the data services return and the API answers as-is, the
portal shows and the SDK parses (`client.datasets.get()` is a `Dataset`).

One class per view of a resource, in the order of its REST fields, so that the JSON of a route
is this model's dump; a class has a docstring only where its REST schema had one (it is the
OpenAPI description). Only pydantic, the standard library, `aicc.core` and `services.common` (the
base `View`) are imported here: the SDK imports this module without the server's packages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from aicc.services.common import View

Visibility = Literal["private", "org", "public"]


# One immutable version of a data set (or of a model's or template's files)
class DatasetVersion(View):
    name: str
    number: int
    ref: str  # NAME@N
    manifest_digest: str
    file_count: int
    logical_bytes: int
    added_bytes: int  # the chunks this version stored that none before it had
    message: str
    lineage: dict[str, Any]
    tables: dict[str, Any]
    created_by: str
    created_at: datetime


# A data set with its latest version's size, its rating and how many jobs mounted it (the
# catalog's, services/models/catalog.py); `versions` only where one set is asked
class Dataset(View):
    id: str
    name: str
    project_id: str
    project: str  # ORG/PROJECT, the qualified prefix of its references
    visibility: Visibility
    description: str
    licence: str
    source: str
    tags: list[str]
    region: str | None = None  # its jobs run only at sites of this jurisdiction (federation)
    created_at: datetime
    updated_at: datetime
    latest: int | None
    file_count: int
    logical_bytes: int  # the latest version's files
    stored_bytes: int  # the distinct chunks of all its versions, each once
    writable: bool  # whether the caller may push to it
    rating: float | None = Field(None, description="the mean rating, 1 to 5")
    ratings: int = 0
    uses: int = Field(0, description="jobs that mounted one of its versions")
    versions: list[DatasetVersion]


# A data set as the contexts above data name it and write to it (no route answers it): what
# `datasets.resolve` and `datasets.ref_by_id` give them instead of the table's rows
class DatasetRef(View):
    id: str
    name: str
    kind: str  # dataset | model | template
    project_id: str
    project: str  # ORG/PROJECT, the qualified prefix of its references
    visibility: Visibility
    licence: str  # what a published template is shown under (services/models/templates.py)
    org_id: str  # its project's organization


class ManifestFile(View):
    path: str
    size: int
    chunks: list[tuple[str, int]]


# A version's files and their chunks, which pulls read
class Manifest(View):
    ref: str
    digest: str
    files: list[ManifestFile]


class Mounted(View):
    """A data set a job mounts at `$AICC_DATA_DIR/name`: the version pinned at submit."""

    name: str
    ref: str
    version_id: str
    bytes: int


class MountingJob(View):
    """What the mounts need of a job, handed over by jobs (which owns jobs) to the caller that
    asks for one (the data routes): whose it is, its attempt and state, what it mounts."""

    id: str
    org_id: str
    project_id: str
    attempt: int
    state: str
    datasets: list[Mounted]


class MountedFiles(Mounted):
    digest: str
    files: list[ManifestFile]


# A push begun or resumed: the chunks the server still needs, in the order asked
class UploadPlan(View):
    upload_id: str
    dataset: str
    missing: list[str]


class Received(View):
    chunks: int
    bytes: int


class Committed(View):
    version: DatasetVersion
    created: bool  # false: the manifest equals the latest version's, nothing was made


class Column(View):
    name: str
    type: str  # DuckDB's name for it: BIGINT, DOUBLE, VARCHAR, TIMESTAMP, ...


class Preview(View):
    path: str
    format: str  # csv, tsv, parquet, jsonl, json, text, image, images
    columns: list[Column]
    rows: list[list[Any]]  # JSON-ready values, in the order of `columns`


class Thumb(View):
    path: str
    label: str  # the class: the name of the image's folder
    data_uri: str | None  # a PNG as `data:image/png;base64,...`; None when it cannot be read


class Thumbnails(View):
    folder: str
    images: int  # all images under the folder
    classes: dict[str, int]  # images per class, all of them
    items: list[Thumb]  # `limit` of them, taken in turn from each class


class Bin(View):
    lo: float
    hi: float
    count: int


class TopValue(View):
    value: str
    count: int


class ColumnProfile(View):
    name: str
    type: str
    nulls: int
    distinct: int  # approximate (HyperLogLog)
    min: Any
    max: Any
    histogram: list[Bin]  # numbers: equal-width bins over the finite values
    top: list[TopValue]  # anything else: the most frequent values


class Profile(View):
    path: str
    format: str
    rows: int
    columns: list[ColumnProfile]


class QueryResult(View):
    columns: list[Column]
    rows: list[list[Any]]
    truncated: bool  # more rows than max_rows: only the first max_rows are here
    elapsed_ms: float


class TableDiff(View):
    path: str
    rows_added: int
    rows_removed: int
    columns: list[Column]  # the new version's
    sample_added: list[list[Any]]
    sample_removed: list[list[Any]]


class Diff(View):
    """Two versions compared: files added, removed and changed; for `path`, a table's rows."""

    old: str
    new: str
    added: list[str]
    removed: list[str]
    changed: list[str]
    table: TableDiff | None = None


# --- the S3 endpoint's view of data sets (services/data/objects.py, docs/interop.md) ---


class Bucket(View):
    """A project as an S3 bucket: its name in the caller's organization, else its id."""

    name: str
    created_at: datetime


class StoredObject(View):
    """A file of a version as an S3 object: `DATASET/VERSION/PATH`, and the chunks it is made
    of (what a range read picks from)."""

    key: str
    size: int
    etag: str  # the file's content digest (the digest of its chunk list)
    last_modified: datetime  # when its version was made
    chunks: list[tuple[str, int]] = Field(default_factory=list, exclude=True)


class ObjectPage(View):
    """One page of a listing: objects and common prefixes, in key order."""

    objects: list[StoredObject]
    prefixes: list[str]
    truncated: bool
    last: str | None  # the last key or prefix given: where the next page starts after
