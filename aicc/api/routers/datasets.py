"""Data sets: the catalog (each set rated, with how many jobs mounted it), versions, manifests,
chunks, resumable pushes, what jobs mount, and ratings and reviews (docs/api.md).

A data set is named by `{name}` and, when it is not the caller's default project's, `?project=`
(a project name or id, or `ORG/PROJECT` for a set shared by another organization). A version is
`{number}` or `latest`.
"""

from __future__ import annotations

import pathlib
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from aicc.api import schemas
from aicc.api.deps import CurrentUser, DataReader, SessionDep, StateDep
from aicc.api.paging import PageArgs
from aicc.api.params import (
    NAME_RULE,
    AtVersion,
    ChunkDigest,
    DatasetName,
    Named,
    ProjectRef,
    Scope,
    Sort,
    VersionNumber,
)
from aicc.api.responses import OCTETS, chunk_answer
from aicc.api.reviews import add_review_routes
from aicc.core.datasets import Manifest, diff_files
from aicc.services.data import (
    chunks,
    datasets,
    mounts,
    previews,
    profiles,
    queries,
    tableviews,
    uploads,
    views,
)
from aicc.services.data.datasets import DATA
from aicc.services.jobs import jobs
from aicc.services.jobs import views as jobs_views
from aicc.services.models import catalog, cleaning

router = APIRouter(prefix="/api/v1", tags=["datasets"])


@router.get("/datasets", response_model=schemas.Page[views.Dataset])
def datasets_list(
    who: CurrentUser,
    session: SessionDep,
    paging: PageArgs,
    project: ProjectRef = None,
    scope: Scope = "project",
    sort: Sort = None,
) -> dict[str, object]:
    """`scope=project` (default): a project's sets; `visible`: all you may read; `public`: the
    open data catalog. Each with its rating and how many jobs mounted it; by name, or
    `sort=rating` or `use`."""
    found = catalog.dataset_listing(session, who, project=project, scope=scope, sort=sort)
    return paging.cut(found)


@router.post("/datasets", response_model=views.Dataset, status_code=201)
def datasets_create(body: schemas.DatasetIn, who: CurrentUser, session: SessionDep) -> Any:
    fields = body.model_dump(exclude={"project"})
    return datasets.create(session, who, project=body.project, **fields)


@router.get("/datasets/{name}", response_model=views.Dataset)
def datasets_get(who: CurrentUser, session: SessionDep, ref: Named) -> Any:
    target, where = ref
    return catalog.dataset(session, who, str(target), project=where)


@router.patch("/datasets/{name}", response_model=views.Dataset)
def datasets_update(
    name: DatasetName,
    body: schemas.DatasetPatch,
    who: CurrentUser,
    session: SessionDep,
    project: ProjectRef = None,
) -> Any:
    changes = body.model_dump(exclude_none=True)
    changed = datasets.update(session, who, name, project=project, changes=changes)
    return catalog.rated_datasets(session, [changed])[0]


@router.delete("/datasets/{name}", status_code=204)
def datasets_delete(
    name: DatasetName, who: CurrentUser, session: SessionDep, project: ProjectRef = None
) -> Response:
    datasets.delete(session, who, name, project=project)
    return Response(status_code=204)


@router.get("/datasets/{name}/versions", response_model=schemas.Page[views.DatasetVersion])
def datasets_versions(
    who: CurrentUser,
    session: SessionDep,
    ref: Named,
    paging: PageArgs,
) -> dict[str, object]:
    target, where = ref
    return paging.cut(datasets.versions(session, who, str(target), project=where))


@router.get("/datasets/{name}/versions/{number}", response_model=views.DatasetVersion)
def datasets_version(
    who: CurrentUser,
    session: SessionDep,
    ref: AtVersion,
) -> Any:
    target, where = ref
    return datasets.open_version(session, who, target, project=where)[0]


@router.get("/datasets/{name}/versions/{number}/manifest", response_model=views.Manifest)
def datasets_manifest(
    who: CurrentUser,
    session: SessionDep,
    ref: AtVersion,
) -> Any:
    """The version's files and their chunks, which `aicc data pull` fetches."""
    target, where = ref
    return datasets.version_manifest(session, who, target, project=where)


@router.get("/datasets/{name}/chunks/{digest}", response_class=Response, responses=OCTETS)
def datasets_chunk(
    name: DatasetName,
    digest: ChunkDigest,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    project: ProjectRef = None,
) -> Response:
    """One chunk of the set's versions, as bytes (immutable: cached for a year)."""
    target, where = datasets.reference(name, project=project)
    return chunk_answer(datasets.chunk(session, who, state.chunks, target, digest, project=where))


# --- what a job mounts: for the job's readers, and for its pods (with its data grant) ---


@router.get("/jobs/{job_id}/data", response_model=list[views.Mounted])
def jobs_data(job_id: str, reader: DataReader, session: SessionDep, state: StateDep) -> Any:
    """The data sets the job mounts at `$AICC_DATA_DIR/NAME`, as pinned when it was submitted."""
    return mounts.mounted(state.sealer, reader, job_id, jobs.mounting(session, job_id))


@router.get("/jobs/{job_id}/data/{name}", response_model=views.MountedFiles)
def jobs_data_files(
    job_id: str, name: DatasetName, reader: DataReader, session: SessionDep, state: StateDep
) -> Any:
    """One data set the job mounts, with its files and their chunks."""
    found = jobs.mounting(session, job_id)
    return mounts.mounted_manifest(session, state.sealer, reader, job_id, name, found)


@router.get("/jobs/{job_id}/chunks/{digest}", response_class=Response, responses=OCTETS)
def jobs_data_chunk(
    job_id: str,
    digest: ChunkDigest,
    reader: DataReader,
    session: SessionDep,
    state: StateDep,
) -> Response:
    """A chunk of a data set the job mounts, as bytes (immutable: cached for a year)."""
    found = jobs.mounting(session, job_id)
    return chunk_answer(
        mounts.mounted_chunk(session, state.sealer, state.chunks, reader, job_id, digest, found)
    )


@router.post("/datasets/{name}/uploads", response_model=views.UploadPlan, status_code=201)
def datasets_upload_begin(
    name: DatasetName, body: schemas.UploadIn, who: CurrentUser, session: SessionDep
) -> Any:
    """Start or resume a push: answers the chunks the server still needs from you."""
    create = body.create.model_dump(exclude={"name", "project"}) if body.create else None
    return uploads.begin(
        session,
        who,
        project=body.project,
        name=name,
        digests=body.chunks,
        sizes=body.sizes,
        create=create,
    )


@router.post("/uploads/{upload_id}/chunks", response_model=views.Received)
async def datasets_upload_chunks(
    upload_id: Annotated[str, Path(max_length=40)],
    request: Request,
    who: CurrentUser,
    state: StateDep,
) -> Any:
    """Body: chunks framed as 64 hex digest + 8-byte big-endian size + bytes, repeated."""
    body = await request.body()

    def receive() -> views.Received:
        with state.db.session() as session:
            return uploads.receive(session, who, state.chunks, upload_id, body)

    return await run_in_threadpool(receive)


@router.post("/uploads/{upload_id}/commit", response_model=views.Committed)
def datasets_upload_commit(
    upload_id: Annotated[str, Path(max_length=40)],
    body: schemas.CommitIn,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
) -> Any:
    """Make the version from the uploaded manifest; unchanged files make no new version."""
    return uploads.commit(
        session,
        who,
        state.chunks,
        upload_id,
        manifest_chunks=[list(c) for c in body.manifest_chunks],
        message=body.message,
    )


# --- looking inside a version (services/data/{previews,profiles,queries}.py) ---------------------

FilePath = Annotated[str | None, Query(max_length=1024)]


def _limits(state: StateDep, max_rows: int = 1000) -> tableviews.Limits:
    """The site's query limits (`data:` in config.yaml)."""
    return tableviews.Limits.of(state.settings.data, max_rows=max_rows)


@router.get("/datasets/{name}/versions/{number}/preview", response_model=views.Preview)
def datasets_preview(
    name: DatasetName,
    number: VersionNumber,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    project: ProjectRef = None,
    path: FilePath = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Any:
    """The first rows of a table file (CSV, TSV, Parquet, JSON Lines, JSON), the first lines of
    a text file, or an image; read from the file's first chunks, whatever its size."""
    manifest = files_of(session, who, name, project, number)
    return previews.preview(chunks.reader(session, state.chunks), manifest, path, limit)


@router.get("/datasets/{name}/versions/{number}/thumbnails", response_model=views.Thumbnails)
def datasets_thumbnails(
    name: DatasetName,
    number: VersionNumber,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    project: ProjectRef = None,
    folder: Annotated[str, Query(max_length=1024)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 24,
) -> Any:
    """An image folder as a grid, with the number of images per class (sub-folder)."""
    manifest = files_of(session, who, name, project, number)
    return previews.thumbnails(chunks.reader(session, state.chunks), manifest, folder, limit)


@router.get("/datasets/{name}/versions/{number}/profile", response_model=views.Profile)
def datasets_profile(
    name: DatasetName,
    number: VersionNumber,
    path: Annotated[str, Query(min_length=1, max_length=1024)],
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    project: ProjectRef = None,
) -> Any:
    """Per column of a table file: type, nulls, distinct values, min, max, a histogram."""
    manifest = files_of(session, who, name, project, number)
    return profiles.profile(
        chunks.reader(session, state.chunks),
        manifest,
        path,
        views=views_dir(state),
        limits=_limits(state),
    )


@router.post("/datasets/{name}/versions/{number}/query", response_model=views.QueryResult)
def datasets_query(
    name: DatasetName,
    number: VersionNumber,
    body: schemas.QueryIn,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    project: ProjectRef = None,
) -> Any:
    """One read-only SELECT over the version's table files (each a view named after its file),
    with a time and memory limit; nothing outside the version can be read."""
    manifest = files_of(session, who, name, project, number)
    return queries.query(
        chunks.reader(session, state.chunks),
        manifest,
        body.sql,
        views=views_dir(state),
        limits=_limits(state, body.max_rows),
    )


@router.get("/datasets/{name}/diff", response_model=views.Diff)
def datasets_diff(
    name: DatasetName,
    old: Annotated[int, Query(ge=1)],
    new: Annotated[int, Query(ge=1)],
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    project: ProjectRef = None,
    path: FilePath = None,
) -> views.Diff:
    """Files added, removed and changed between two versions; with `path`, a table file's rows
    added and removed."""
    a, where = datasets.reference(name, project=project, version=str(old))
    b, _ = datasets.reference(name, project=project, version=str(new))
    before, old_files = datasets.open_version(session, who, a, project=where)
    after, new_files = datasets.open_version(session, who, b, project=where)
    files = diff_files(old_files, new_files)
    table = None
    if path:
        table = queries.diff_tables(
            chunks.reader(session, state.chunks),
            old_files,
            new_files,
            path,
            views=views_dir(state),
            limits=_limits(state),
        )
    return views.Diff(
        old=before.ref,
        new=after.ref,
        added=list(files.added),
        removed=list(files.removed),
        changed=list(files.changed),
        table=table,
    )


def files_of(
    session: SessionDep, who: CurrentUser, name: str, project: str | None, number: str
) -> Manifest:
    """The manifest of the version a route names, which the caller may read."""
    target, where = datasets.reference(name, project=project, version=number)
    return datasets.open_version(session, who, target, project=where)[1]


def views_dir(state: StateDep) -> pathlib.Path:
    """Where versions' table files are assembled for queries (kept: the next query is fast)."""
    return tableviews.views_dir(state.settings.home)


# --- cleaning jobs (services/models/cleaning.py) ----------------------------------------------


@router.post("/datasets/{name}/clean", response_model=jobs_views.Job, status_code=201)
def datasets_clean(
    name: DatasetName, body: schemas.CleanIn, who: CurrentUser, state: StateDep
) -> jobs_views.Job:
    """Submit a cleaning job over a version; when it succeeds, its outputs become the next
    version of `into`, with lineage to the input and the job's report."""
    source = f"{name}@{body.version}" if body.version else name
    with state.db.session() as session:
        fields = body.model_dump(exclude={"version"})
        job = cleaning.submit(session, who, state.blobs, ref=source, **fields)
    return job


add_review_routes(
    router,
    "/datasets/{name}",
    kind=DATA,
    name_rule=NAME_RULE,
    rated_doc="A data set's rating (mean, count) and its reviews, newest first.",
)
