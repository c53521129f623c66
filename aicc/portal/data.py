"""The data service's pages: the open data catalog (`/data`), each set with its rating and how
many jobs mounted it, sorted by name, rating or use, and a data set (`/data/{name}`) with its
versions, a file browser, previews, diffs, an upload from the browser, and its ratings and
reviews with the person's own (one each: a second replaces the first).

A set is named as the API names it: `{name}` plus `?project=` (a project of the caller's, or
`ORG/PROJECT` for a set another organization shares). The services decide who sees what: a
private set of another tenant is the 404 page, a shared one is read-only (its forms are not
shown, and the POST routes answer 403 or 404 as the API does).

The upload is a multipart form, chunked here by `uploads.ingest`: it streams past the request
body limit under `limits.max_upload_mib` instead (`api/limits.py` lets it through).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, BinaryIO
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from aicc.api import schemas
from aicc.api.deps import StateDep
from aicc.api.state import AppState
from aicc.core import datasets as core
from aicc.portal.auth import csrf_ok, signed_in_briefly
from aicc.portal.forms import Form as PageForm
from aicc.portal.forms import Posted, Rated, Rejected, parse, service_call, text_input
from aicc.portal.i18n import Message
from aicc.portal.marketplace import Link, data_link
from aicc.portal.page import Page, PageDep, PostingPage
from aicc.portal.rendering import PortalRoute, error_page
from aicc.services.common import Forbidden, Invalid, ServiceError, TooLarge
from aicc.services.data import (
    chunks,
    datasets,
    previews,
    profiles,
    queries,
    tablefiles,
    tableviews,
    uploads,
)
from aicc.services.data import views as data_views
from aicc.services.models import catalog, models, reviews
from aicc.services.models import views as model_views
from aicc.services.tenancy import tenancy
from aicc.services.tenancy.sessions import SignedIn

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

SCOPES = ("project", "visible", "public")
BROWSE_LIMIT = 500  # entries of one folder listed on the page
MAX_UPLOAD_FILES = 10_000  # files in one browser upload; `aicc data push` has no such limit
MIB = 1024 * 1024
DRAIN_TIMES = 4  # an upload up to this many times the limit is read to its end to say so
PREVIEW_ROWS = 20
QUERY_ROWS = 200  # rows of a query's answer shown; `aicc data query` gets up to 1000
THUMBNAILS = 24
TABLE_DIFFS = 5  # changed table files whose rows a diff counts
PROFILE_AUTO_BYTES = 16 * MIB  # a bigger table is profiled when asked (`?profile=1`): ~1 s
REVIEWS_SHOWN = 20  # the newest reviews on a set's page


# --- the catalog ---


def _matches(d: data_views.Dataset, words: str) -> bool:
    """Every word in the name, a tag, or the description (case-insensitive)."""
    text = " ".join([d.name, d.description, *d.tags]).lower()
    return all(word in text for word in words.lower().split())


def _catalog(
    page: Page,
    *,
    scope: str,
    project: str | None,
    q: str,
    sort: str | None = None,
    form: PageForm | None = None,
    status: int = 200,
) -> Response:
    scope = scope if scope in SCOPES else "project"
    sort = sort if sort in catalog.SORTS else None  # none: by name, as listed
    mine = page.own_projects()
    current_project = tenancy.resolve_project(page.session, page.me.who, project)  # another's: 404
    found = catalog.dataset_listing(
        page.session, page.me.who, project=current_project.id, scope=scope, sort=sort
    )
    return page.render(
        "data.html",
        nav="data",
        status=status,
        scope=scope,
        scopes=SCOPES,
        sort=sort or "name",
        sorts=catalog.SORTS,
        projects=mine,
        project=current_project,
        q=q,
        sets=[d for d in found if _matches(d, q)],
        total=len(found),
        form=form or PageForm("dataset", {"visibility": "private"}),
        visibilities=core.VISIBILITIES,
        deleted=page.query("deleted"),
    )


@router.get("/data")
def data_catalog(
    page: PageDep,
    scope: str = "project",
    project: str | None = None,
    q: str = "",
    sort: str | None = None,
) -> Response:
    return _catalog(page, scope=scope, project=project or None, q=q[:200], sort=sort)


def _tags(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _to_set(d: data_views.Dataset, **query: str | int) -> Response:
    params = urlencode({"project": d.project, **query})
    return RedirectResponse(f"/data/{d.name}?{params}", status_code=303)


class Card(Posted):
    """What a data set's card says, as both its forms post it."""

    visibility: str = text_input(20)
    description: str = text_input(8000)
    licence: str = text_input(400)
    source: str = text_input(2000)
    tags: str = text_input(4000)


class NewDataset(Card):
    """The catalog's form: a card, and the new set's project and name."""

    project: str = text_input(200)
    name: str = text_input(200)
    visibility: str = text_input(20, "private")


def _card(typed: dict[str, str]) -> dict[str, Any]:
    """What was typed as the API's request models take it: stripped, the tags a list."""
    data: dict[str, Any] = {k: v.strip() for k, v in typed.items() if k != "tags"}
    return {**data, "tags": _tags(typed["tags"])}


@router.post("/data")
def data_create(page: PostingPage, posted: Annotated[NewDataset, Form()]) -> Response:
    typed = posted.typed("name", *Card.model_fields)
    form = PageForm("dataset", typed)
    project = posted.project
    try:
        body = parse(form, schemas.DatasetIn, _card(typed), {})
        with service_call(page.session, form):
            made = datasets.create(
                page.session,
                page.me.who,
                project=project or None,
                **body.model_dump(exclude={"project"}),
            )
    except Rejected as refused:
        return _catalog(
            page,
            scope="project",
            project=project or None,
            q="",
            form=form,
            status=refused.status,
        )
    return _to_set(made, created="1")


# --- a data set ---


@dataclass(frozen=True)
class Entry:
    """A row of the file browser: a file, or a folder with what is under it."""

    name: str
    path: str
    folder: bool
    files: int
    size: int


def listing(manifest: core.Manifest, folder: str) -> list[Entry]:
    """What lies directly in `folder` ("" for the top, else "a/b/"): folders first."""
    folders: dict[str, list[int]] = {}
    files: list[Entry] = []
    for f in manifest.files:
        if not f.path.startswith(folder):
            continue
        rest = f.path[len(folder) :]
        head, slash, _ = rest.partition("/")
        if slash:
            count = folders.setdefault(head, [0, 0])
            count[0] += 1
            count[1] += f.size
        else:
            files.append(Entry(rest, f.path, False, 1, f.size))
    dirs = [Entry(n, f"{folder}{n}/", True, c, s) for n, (c, s) in sorted(folders.items())]
    return dirs + files


def _crumbs(folder: str) -> list[tuple[str, str]]:
    """("a", "a/"), ("b", "a/b/") for "a/b/"."""
    parts = [p for p in folder.split("/") if p]
    return [(p, "/".join(parts[: i + 1]) + "/") for i, p in enumerate(parts)]


def _version_number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and 0 < int(value) < 10**9 else None


def _opened(
    session: Session, me: SignedIn, name: str, project: str | None
) -> tuple[data_views.Dataset, str | None]:
    """The set a page names, rated (another tenant's private set: NotFound, the 404 page)."""
    target, where = datasets.reference(name, project=project)
    return catalog.dataset(session, me.who, str(target), project=where), where


def _dataset_page(
    page: Page,
    name: str,
    project: str | None,
    *,
    edit: PageForm | None = None,
    review: PageForm | None = None,
    upload_error: Message | str | None = None,
    status: int = 200,
) -> Response:
    d, where = _opened(page.session, page.me, name, project)
    rated = reviews.rated(page.session, d.id)
    query = page.request.query_params
    chosen = _version_number(query.get("version")) or d.latest
    version = manifest = None
    entries: list[Entry] = []
    trained: list[tuple[model_views.Model, model_views.ModelVersion]] = []
    folder = query.get("dir", "")
    folder = folder if folder.endswith("/") else (f"{folder}/" if folder else "")
    if chosen is not None:
        target, _ = datasets.reference(d.name, project=project, version=str(chosen))
        version, manifest = datasets.open_version(page.session, page.me.who, target, project=where)
        entries = listing(manifest, folder)
        trained = models.made_from(page.session, page.me.who, str(target), project=where)
    diff = None
    looks = Looks()
    old = _version_number(query.get("diff"))
    if manifest is not None:
        limits = tableviews.Limits.of(page.state.settings.data)
        views = tableviews.views_dir(page.state.settings.home)
        inside = Inside(chunks.reader(page.session, page.state.chunks), views, limits)
        asked = query.get("profile") == "1"
        looks = look(inside, manifest, folder, query.get("file"), profile=asked)
        sql = query.get("sql", "").strip()
        if sql and looks.tables:
            looks.sql = sql
            looks.answer = _tried(looks, "query", lambda: inside.query(manifest, sql))
        if old is not None and old != chosen:
            target, _ = datasets.reference(d.name, project=project, version=str(old))
            _, before = datasets.open_version(page.session, page.me.who, target, project=where)
            diff = core.diff_files(before, manifest)
            looks.table_diffs = table_diffs(inside, before, manifest, diff)
    return page.render(
        "dataset.html",
        nav="data",
        status=status,
        d=d,
        where=d.project,
        shown=version,
        folder=folder,
        crumbs=_crumbs(folder),
        entries=entries[:BROWSE_LIMIT],
        more_entries=max(0, len(entries) - BROWSE_LIMIT),
        diff=diff,
        diff_from=old,
        looks=looks,
        lineage_of=lineage_of,
        trained=trained,
        edit=edit or PageForm("edit", _edit_values(d)),
        reviews=rated.reviews[:REVIEWS_SHOWN],
        review=review or PageForm("review", _own_review(page.session, page.me, d.id)),
        visibilities=core.VISIBILITIES,
        max_upload_mib=page.state.settings.limits.max_upload_mib,
        max_upload_files=MAX_UPLOAD_FILES,
        upload_error=upload_error,
        flash={k: query.get(k, "") for k in ("created", "saved", "uploaded", "unchanged", "rated")},
    )


def _own_review(session: Session, me: SignedIn, about: str) -> dict[str, str]:
    """The rating form as the person last filled it (empty before their first review)."""
    mine = reviews.own(session, me.who, about)
    return {"rating": str(mine.rating), "text": mine.text} if mine else {"rating": "", "text": ""}


@dataclass
class Looks:
    """What the page shows of a version's contents, from `services/data/previews.py`; a file
    that cannot be read is a message in its place, never an error page."""

    tables: set[str] = field(default_factory=set)  # the version's table files
    file: str | None = None  # the table file previewed
    preview: data_views.Preview | None = None
    profile: data_views.Profile | None = None
    profile_waits: bool = False  # a big table: its profile is a click away
    names: list[str] = field(default_factory=list)  # what a query calls the tables
    sql: str = ""
    answer: data_views.QueryResult | None = None
    thumbnails: data_views.Thumbnails | None = None
    problems: dict[str, Message] = field(default_factory=dict)  # section -> why it is missing
    table_diffs: dict[str, data_views.TableDiff] = field(default_factory=dict)
    charts: list[dict[str, Any]] = field(default_factory=list)  # a profile's, one per column


def _tried(looks: Looks, section: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except ServiceError as err:
        looks.problems[section] = Message.of(err)
        return None


@dataclass(frozen=True)
class Inside:
    """What the page reads a version's contents with: its chunks, the folder where table files
    are assembled for DuckDB (the API's too), and the limits of one scan."""

    source: chunks.Chunks
    views: Path
    limits: tableviews.Limits

    def query(self, manifest: core.Manifest, sql: str) -> data_views.QueryResult:
        limits = replace(self.limits, max_rows=QUERY_ROWS)
        return queries.query(self.source, manifest, sql, views=self.views, limits=limits)


def look(
    inside: Inside,
    manifest: core.Manifest,
    folder: str,
    chosen: str | None,
    *,
    profile: bool = False,
) -> Looks:
    """The chosen table file (else the folder's first) previewed and profiled, and the
    folder's images as thumbnails with their classes. A preview reads the file's first chunks
    only; a profile scans it whole, so a big one waits until asked (`profile`)."""
    looks = Looks(tables={f.path for f in manifest.files if tablefiles.table_format(f.path)})
    looks.names = sorted(tablefiles.table_names(manifest), key=lambda n: ("/" in n or "." in n, n))
    here = [f.path for f in manifest.files if f.path.startswith(folder)]
    if chosen not in looks.tables:
        chosen = next((p for p in here if p in looks.tables), None)
    if chosen is not None:
        looks.file = chosen
        looks.preview = _tried(
            looks,
            "preview",
            lambda: previews.preview(inside.source, manifest, chosen, PREVIEW_ROWS),
        )
        entry = manifest.find(chosen)
        looks.profile_waits = entry is not None and entry.size > PROFILE_AUTO_BYTES and not profile
        if not looks.profile_waits:
            looks.profile = _tried(
                looks,
                "profile",
                lambda: profiles.profile(
                    inside.source, manifest, chosen, views=inside.views, limits=inside.limits
                ),
            )
        if looks.profile is not None:
            looks.charts = [column_chart(c) for c in looks.profile.columns]
    if any(PurePosixPath(p).suffix.lower() in previews.IMAGE_SUFFIXES for p in here):
        looks.thumbnails = _tried(
            looks,
            "thumbnails",
            lambda: previews.thumbnails(inside.source, manifest, folder, THUMBNAILS),
        )
    return looks


def column_chart(column: data_views.ColumnProfile) -> dict[str, Any]:
    """A column's histogram (numbers) or its most frequent values, as the portal's bars."""
    if column.histogram:
        categories = [_span(b.lo, b.hi) for b in column.histogram]
        values = [b.count for b in column.histogram]
    else:
        categories = [v.value[:24] for v in column.top]
        values = [v.count for v in column.top]
    return {
        "type": "bars",
        "integer": True,
        "legend": False,  # one series, named by the figure's caption
        "categories": categories,
        "series": [{"name": column.name, "values": values}],
    }


def _span(lo: float, hi: float) -> str:
    return f"{lo:.4g}" if lo == hi or (hi - lo == 1 and lo == int(lo)) else f"{lo:.4g}–{hi:.4g}"


def table_diffs(
    inside: Inside, old: core.Manifest, new: core.Manifest, diff: core.FileDiff
) -> dict[str, data_views.TableDiff]:
    """Rows added and removed in the first changed table files (unreadable ones are left out:
    the file list already says they changed)."""
    out: dict[str, data_views.TableDiff] = {}
    for path in [p for p in diff.changed if tablefiles.table_format(p)][:TABLE_DIFFS]:
        try:
            out[path] = queries.diff_tables(
                inside.source, old, new, path, views=inside.views, limits=inside.limits
            )
        except ServiceError:
            continue
    return out


@dataclass(frozen=True)
class Lineage:
    """Where a version came from, when a job made it: the job, and the versions it read."""

    job: str | None
    inputs: list[Link]  # each version read, and its page (none when it does not parse)


def lineage_of(version: data_views.DatasetVersion) -> Lineage:
    """`{"job_id", "datasets": [refs]}` as docs/contracts.md §9 writes a model's lineage (`job`
    and `inputs` read too)."""
    raw = version.lineage
    job = raw.get("job_id") or raw.get("job")
    inputs = [data_link(str(text)) for text in raw.get("datasets") or raw.get("inputs") or []]
    return Lineage(str(job) if job else None, inputs)


def _edit_values(d: data_views.Dataset) -> dict[str, str]:
    return {
        "description": d.description,
        "licence": d.licence,
        "source": d.source,
        "tags": ", ".join(d.tags),
        "visibility": d.visibility,
    }


@router.get("/data/{name}")
def data_set(page: PageDep, name: str, project: str | None = None) -> Response:
    return _dataset_page(page, name, project or None)


@router.post("/data/{name}/edit")
def data_edit(
    page: PostingPage, name: str, posted: Annotated[Card, Form()], project: str | None = None
) -> Response:
    d, _ = _opened(page.session, page.me, name, project)  # another tenant's private set: 404
    if not d.writable:  # a set shared with the caller: theirs to read only
        raise Forbidden(
            "data set {name} is read-only for you: only its project's members change it",
            name=d.name,
        )
    form = PageForm("edit", posted.typed())
    data = _card(posted.typed())
    data["visibility"] = data["visibility"] or None
    try:
        body = parse(form, schemas.DatasetPatch, data, {})
        with service_call(page.session, form):
            changed = datasets.update(
                page.session, page.me.who, d.name, project=d.project_id, changes=body.model_dump()
            )
    except Rejected as refused:
        return _dataset_page(
            page,
            name,
            project,
            edit=form,
            status=refused.status,
        )
    return _to_set(changed, saved="1")


@router.post("/data/{name}/reviews")
def data_review(
    page: PostingPage, name: str, posted: Annotated[Rated, Form()], project: str | None = None
) -> Response:
    """Rate and review a set the person reads (their earlier review replaced), then its page;
    a rating out of 1 to 5, or a review too long, is the page again saying why (422)."""
    d, _ = _opened(page.session, page.me, name, project)  # another tenant's private set: 404
    form = PageForm("review", posted.typed())
    typed = {**posted.typed(), "text": posted.text.strip()}
    try:
        body = parse(form, schemas.ReviewIn, typed, {})
        with service_call(page.session, form):
            reviews.review(page.session, page.me.who, d.id, body.rating, body.text)
    except Rejected as refused:
        return _dataset_page(page, name, project, review=form, status=refused.status)
    return _to_set(d, rated=body.rating)


@router.post("/data/{name}/delete")
def data_delete(page: PostingPage, name: str, project: str | None = None) -> Response:
    d, _ = _opened(page.session, page.me, name, project)
    datasets.delete(page.session, page.me.who, d.name, project=d.project_id)  # read-only: 403
    return RedirectResponse("/data?" + urlencode({"deleted": d.name}), status_code=303)


# --- the upload ---


def upload_paths(names: list[str]) -> list[str]:
    """The paths of a browser's files in the data set: a picked folder's own name is dropped
    (`photos/cats/1.jpg` -> `cats/1.jpg`), as `aicc data push photos` would store it."""
    heads = {n.split("/", 1)[0] for n in names}
    if len(heads) == 1 and all("/" in n for n in names):
        return [n.split("/", 1)[1] for n in names]
    return names


def _ingest(
    state: AppState,
    me: SignedIn,
    name: str,
    project: str | None,
    files: Iterable[tuple[str, BinaryIO]],
    message: str,
    keep: bool,
) -> Response:
    """The next version, then the set's page on it."""
    with state.db.session() as session:
        d, _ = _opened(session, me, name, project)
        done = uploads.ingest(
            session, me.who, state.chunks, d.name, d.project_id, files, message, keep=keep
        )
    number = done.version.number
    return _to_set(d, version=number, **{"uploaded" if done.created else "unchanged": number})


def _refused(
    request: Request, state: AppState, me: SignedIn, name: str, project: str | None, **kw: Any
) -> Response:
    with state.db.reader() as session:
        return _dataset_page(Page(request, session, state, me), name, project, **kw)


def check_size(declared: str, limit_mib: int) -> None:
    """Browsers declare a form's size (`Content-Length`), and the server holds a body to it."""
    if not declared.isdigit():
        raise TooLarge("an upload declares its size (Content-Length); send it from a browser")
    if int(declared) > limit_mib * MIB:
        raise TooLarge(
            "upload of {size} MiB exceeds the limit of {limit} MiB; push big data sets with "
            "`aicc data push`",
            size=round(int(declared) / MIB, 1),
            limit=limit_mib,
        )


def unreadable_form(problem: str) -> Invalid:
    return Invalid(
        "the upload cannot be read: {problem} (at most {count} files at once; push big folders "
        "with `aicc data push`)",
        problem=problem,
        count=MAX_UPLOAD_FILES,
    )


@router.post("/data/{name}/upload")
async def data_upload(
    request: Request, state: StateDep, name: str, project: str | None = None
) -> Response:
    """Files (a folder's too) as the next version. A little over the limit, the body is read and
    dropped before answering, so the browser shows the page instead of a broken connection;
    far over it, the answer comes at once."""
    me = await signed_in_briefly(request)
    declared, limit = (
        request.headers.get("content-length", ""),
        state.settings.limits.max_upload_mib,
    )
    try:
        check_size(declared, limit)
    except TooLarge as err:
        if declared.isdigit() and int(declared) <= DRAIN_TIMES * limit * MIB:
            async for _ in request.stream():
                pass
        return await run_in_threadpool(
            _refused, request, state, me, name, project, upload_error=Message.of(err), status=413
        )
    try:
        form = await request.form(max_files=MAX_UPLOAD_FILES, max_fields=MAX_UPLOAD_FILES + 16)
    except HTTPException as err:  # too many files, or a broken body
        problem = Message.of(unreadable_form(str(err.detail)))
        return await run_in_threadpool(
            _refused, request, state, me, name, project, upload_error=problem, status=400
        )
    try:
        if not csrf_ok(me, str(form.get("csrf", ""))):
            return await run_in_threadpool(error_page, request, 400, "csrf")
        picked = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
        paths = upload_paths([str(f.filename) for f in picked])
        message = str(form.get("message", ""))[:2000]
        keep = form.get("keep") == "1"
        try:
            answer = await run_in_threadpool(
                _ingest,
                state,
                me,
                name,
                project,
                [(p, f.file) for p, f in zip(paths, picked, strict=True)],
                message,
                keep,
            )
        except ServiceError as err:
            return await run_in_threadpool(
                _refused,
                request,
                state,
                me,
                name,
                project,
                upload_error=Message.of(err),
                status=err.status,
            )
    finally:
        await form.close()
    return answer
