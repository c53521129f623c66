"""`aicc data ...`: data sets (docs/contracts.md §9), pushed and pulled by chunk with progress bars,
listed with their ratings and use, rated and reviewed."""

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from aicc.cli.nouns import (
    BY_REF,
    CREATED,
    PROJECT,
    SHAREABLE,
    Json,
    Noun,
    ProjectOption,
    Ref,
    shows,
)
from aicc.cli.output import (
    Column,
    JsonFlag,
    Row,
    client,
    col,
    confirm,
    handle_errors,
    local_time,
    plain,
    print_fields,
    print_table,
)
from aicc.cli.submit import UploadBar

if TYPE_CHECKING:
    from aicc.sdk.client import Client
    from aicc.services.data.views import Committed, Dataset, Diff, Preview, Profile, QueryResult
    from aicc.services.models.views import Reviews

app = typer.Typer(
    help="Data sets: push a directory as a version, pull it, look inside.", no_args_is_help=True
)


def size_text(n: object) -> str | None:
    if not isinstance(n, int):
        return None
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return None


def rating_text(row: Row) -> str | None:
    """A catalog entry's rating in a table: `4.5 (2)`, the mean of that many; `-` before one."""
    mean = row.get("rating")
    return None if mean is None else f"{mean:g} ({row.get('ratings', 0)})"


#: What the catalogs' tables and fields show of their entries' ratings and use (data sets here,
#: templates in cli/models.py).
RATING = Column("RATING", rating_text, justify="right")
USES = col("USES", "uses", justify="right")
RATED_FIELDS = [col("RATING", "rating", lambda r: f"{r:g} of 5"), col("RATINGS", "ratings"), USES]

#: What a set holds, in its row of `list` and its fields in `get`: its latest version, files,
#: their size and what storing them takes.
_HOLDS = [
    col("LATEST", "latest"),
    col("FILES", "file_count"),
    col("SIZE", "logical_bytes", size_text),
    col("STORED", "stored_bytes", size_text),
]
DATASETS = Noun(
    "data set",
    [
        col("NAME", "name"),
        PROJECT,
        col("VISIBILITY", "visibility"),
        *_HOLDS,
        RATING,
        USES,
        col("UPDATED", "updated_at", local_time),
    ],
    empty="no data sets yet: `aicc data push NAME DIR` makes one",
    fields=[
        col("NAME", "name"),
        col("ID", "id"),
        PROJECT,
        col("VISIBILITY", "visibility"),
        col("DESCRIPTION", "description"),
        col("LICENCE", "licence"),
        col("SOURCE", "source"),
        col("TAGS", "tags", lambda tags: ", ".join(tags or []) or None),
        col("REGION", "region"),
        *_HOLDS,
        *RATED_FIELDS,
        CREATED,
    ],
    sdk="datasets",
)
VERSIONS = Noun(
    "version",
    [
        col("REF", "ref"),
        col("FILES", "file_count"),
        col("SIZE", "logical_bytes", size_text),
        col("ADDED", "added_bytes", size_text),
        col("MESSAGE", "message"),
        CREATED,
    ],
    empty="no versions yet: `aicc data push NAME DIR`",
)
PHASES = {"hash": "hashing", "upload": "uploading", "download": "downloading"}
Name = Annotated[str, typer.Argument(help="Data set name.")]
Visibility = Annotated[
    str | None, typer.Option(help="private (the project), org, or public (the open catalog).")
]
SortOption = Annotated[
    str | None,
    typer.Option(help="name (default), rating (the best rated first) or use (the most used)."),
]


DATASETS.list(app)(
    DATASETS.call(
        "list",
        "Data sets of a project, all you may read, or the open data catalog, with their ratings "
        "and how many jobs mounted each.",
        **SHAREABLE,
        sort=SortOption,
    )
)
DATASETS.get(app)(
    DATASETS.call("get", "One data set: its metadata, size and stored bytes.", **BY_REF)
)


@DATASETS.create(app)
def data_create(
    api: "Client",
    name: Name,
    project: ProjectOption = None,
    visibility: Visibility = None,
    description: Annotated[str | None, typer.Option(help="What is in it.")] = None,
    licence: Annotated[str | None, typer.Option(help="e.g. CC-BY-4.0.")] = None,
    source: Annotated[str | None, typer.Option(help="Where it comes from.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="A tag (repeat).")] = None,
) -> "Dataset":
    """An empty data set; `aicc data push` fills it."""
    fields = {"description": description, "licence": licence, "source": source, "tags": tag}
    return api.datasets.create(name, project, visibility=visibility, **fields)


@DATASETS.action(app, "region", lambda d: f"data set {d['name']}: region {d['region'] or 'none'}")
def data_region(
    api: "Client",
    name: Name,
    region: Annotated[
        str, typer.Argument(help="A jurisdiction such as CN-GD, or '' to clear the tag.")
    ],
    project: ProjectOption = None,
) -> "Dataset":
    """Tag a data set to a region: jobs that mount it run only at sites of that jurisdiction."""
    return api.datasets.update(name, project, region=region)


VERSIONS.list(app, "versions")(
    DATASETS.call("versions", "A data set's versions, newest first.", **BY_REF)
)


def _pushed(answer: Json) -> str:
    version = answer["version"]
    if not answer.get("created"):
        return f"{version['ref']} unchanged: nothing to push"
    return f"pushed {version['ref']} ({size_text(version['added_bytes'])} new)"


@VERSIONS.action(app, "push", _pushed)
def data_push(
    api: "Client",
    name: Name,
    directory: Annotated[
        Path, typer.Argument(help="The directory to push.", exists=True, file_okay=False)
    ],
    project: ProjectOption = None,
    message: Annotated[str, typer.Option("--message", "-m", help="What changed.")] = "",
    visibility: Visibility = None,
) -> "Committed":
    """Push DIRECTORY as the next version of NAME (made when missing); only chunks the server
    lacks are sent, and an interrupted push resumes."""
    create = {"visibility": visibility} if visibility else None
    with UploadBar(PHASES) as bar:
        return api.datasets.push(
            name, directory, project=project, message=message, create=create, progress=bar
        )


#: Where `data pull` and `model pull` write a version's files.
Into = Annotated[Path, typer.Argument(help="Where to write the files.")]


def pulled(answer: Json) -> str:
    """What `data pull` and `model pull` say: how many of the version's files were fetched."""
    return f"{answer['ref']}: {answer['fetched']} of {answer['files']} files fetched"


def pull_version(pull: Callable[..., Json], ref: str, directory: Path, project: str | None) -> Json:
    """A data set's or a model's `pull` (the SDK's method) with the download bar on stderr."""
    with UploadBar(PHASES) as bar:
        return pull(ref, directory, project=project, progress=bar)


@VERSIONS.action(app, "pull", pulled)
def data_pull(api: "Client", ref: Ref, directory: Into, project: ProjectOption = None) -> Json:
    """Write a version's files into DIRECTORY; files already there are kept."""
    return pull_version(api.datasets.pull, ref, directory, project)


DATASETS.delete(app, "rm")(
    DATASETS.call(
        "delete", "Delete a data set and all its versions.", name=Name, project=ProjectOption
    )
)


# --- ratings and reviews (services/models/reviews.py) -------------------------------------------

#: What `data review` and `template review` take besides the object.
Rating = Annotated[int, typer.Argument(min=1, max=5, help="1 to 5.")]
ReviewText = Annotated[str, typer.Option(help="What you found (at most 2000 characters).")]
Shared = Annotated[str, typer.Argument(help="NAME or ORG/PROJECT/NAME (a set shared with you).")]
REVIEWS = [
    col("USER", "user"),
    col("RATING", "rating", justify="right"),
    col("REVIEW", "text"),
    col("UPDATED", "updated_at", local_time),
]


def rate(send: Callable[["Client"], Any], name: str, rating: int, as_json: bool) -> None:
    """What `data review` and `template review` do: send the review (`send(api)`), then say
    `rated NAME N of 5`, or print the review's JSON."""
    with client() as api:
        done = plain(send(api))
    confirm(done, f"rated {escape(name)} {rating} of 5", as_json=as_json)


@app.command("review")
@handle_errors
def data_review(
    name: Shared,
    rating: Rating,
    text: ReviewText = "",
    project: ProjectOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Rate and review a data set you may read; a second review of yours replaces the first."""
    rate(
        lambda api: api.datasets.review(name, rating, text, project=project), name, rating, as_json
    )


def print_reviews(answer: Json) -> None:
    """A `Reviews` answer (of a data set or a need): its mean rating as the title, then each
    review."""
    mean, count = answer.get("rating"), answer.get("ratings", 0)
    title = f"rating {mean:g} of 5 ({count} ratings)" if mean is not None else None
    print_table(answer.get("reviews") or [], REVIEWS, title=title, empty="no reviews yet")


@shows(app, "reviews", print_reviews)
def data_reviews(api: "Client", name: Shared, project: ProjectOption = None) -> "Reviews":
    """A data set's rating (mean and count) and its reviews, newest first."""
    return api.datasets.reviews(name, project=project)


# --- looking inside, and cleaning ----------------------------------------------------------------


def _rows_table(answer: Json, title: str) -> None:
    """Rows of a preview or a query: one column per column of the answer."""
    found = answer.get("columns") or []
    columns = [Column(f"{c['name']} ({c['type']})", _at(i)) for i, c in enumerate(found)]
    print_table(answer.get("rows", []), columns, title=title, empty="no rows")


def _at(i: int) -> Callable[[Any], Any]:
    return lambda row: row[i] if i < len(row) else None


def _preview(answer: Json) -> None:
    _rows_table(answer, f"{answer.get('path')} ({answer.get('format')})")


@shows(app, "preview", _preview)
def data_preview(
    api: "Client",
    ref: Ref,
    path: Annotated[str | None, typer.Option(help="The file; default the first table.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows to show.")] = 20,
    project: ProjectOption = None,
) -> "Preview":
    """The first rows of a table file (CSV, Parquet, JSON Lines), without downloading it."""
    return api.datasets.preview(ref, path=path, limit=limit, project=project)


def _histogram(column: Json) -> str:
    bars = "▁▂▃▄▅▆▇█"
    counts = [b["count"] for b in column.get("histogram") or []]
    if counts:
        top = max(counts) or 1
        return "".join(bars[min(7, round(7 * c / top))] for c in counts)
    return ", ".join(f"{t['value']} ({t['count']})" for t in (column.get("top") or [])[:3])


PROFILE = [
    col("COLUMN", "name"),
    col("TYPE", "type"),
    col("NULLS", "nulls", justify="right"),
    col("DISTINCT", "distinct", justify="right"),
    col("MIN", "min"),
    col("MAX", "max"),
    Column("HISTOGRAM / TOP", _histogram),
]


def _profile(answer: Json) -> None:
    print_table(answer["columns"], PROFILE, title=f"{answer['path']}: {answer['rows']} rows")


@shows(app, "profile", _profile)
def data_profile(
    api: "Client",
    ref: Ref,
    path: Annotated[str, typer.Option(help="The table file.")],
    project: ProjectOption = None,
) -> "Profile":
    """Per column of a table file: type, nulls, distinct, min, max and a histogram."""
    return api.datasets.profile(ref, path, project=project)


def _queried(answer: Json) -> None:
    more = " (more rows not shown)" if answer.get("truncated") else ""
    _rows_table(answer, f"{len(answer['rows'])} rows{more}")


@shows(app, "query", _queried)
def data_query(
    api: "Client",
    ref: Ref,
    sql: Annotated[str, typer.Argument(help="One SELECT; each table file is a view.")],
    max_rows: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    project: ProjectOption = None,
) -> "QueryResult":
    """Read-only SQL over a version's table files (DuckDB), with time and memory limits."""
    return api.datasets.query(ref, sql, max_rows=max_rows, project=project)


def _diff(answer: Json) -> None:
    rows = [{"change": k, "path": p} for k in ("added", "removed", "changed") for p in answer[k]]
    print_table(rows, [col("CHANGE", "change"), col("PATH", "path")], empty="no file changed")
    if answer.get("table"):
        t = answer["table"]
        counts = [("rows added", t["rows_added"]), ("rows removed", t["rows_removed"])]
        print_fields([("table", t["path"]), *counts])


@shows(app, "diff", _diff)
def data_diff(
    api: "Client",
    name: Name,
    old: Annotated[int, typer.Argument(help="The older version.")],
    new: Annotated[int, typer.Argument(help="The newer version.")],
    path: Annotated[str | None, typer.Option(help="A table file: rows added, removed.")] = None,
    project: ProjectOption = None,
) -> "Diff":
    """What changed between two versions: files, and a table's rows."""
    return api.datasets.diff(name, old, new, path=path, project=project)


@app.command("clean")
@handle_errors
def data_clean(
    ref: Ref,
    into: Annotated[str, typer.Option(help="The data set the cleaned version goes to.")],
    steps: Annotated[str, typer.Option(help="dedup,near_dup,filter,pii")] = (
        "dedup,near_dup,filter,pii"
    ),
    text_column: Annotated[str, typer.Option(help="The text field of JSONL/CSV/Parquet.")] = (
        "text"
    ),
    min_chars: Annotated[int, typer.Option(min=0)] = 0,
    max_chars: Annotated[int | None, typer.Option(min=1)] = None,
    lang: Annotated[str | None, typer.Option(help="Keep only these: zh,en,...")] = None,
    threshold: Annotated[float, typer.Option(min=0.01, max=1.0)] = 0.8,
    project: ProjectOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Clean a version as a job (dedup, near-dup, filters, PII masking); when the job succeeds
    its outputs become the next version of --into, with lineage."""
    with client() as api:
        options = {"steps": steps, "text_column": text_column, "min_chars": min_chars}
        options |= {"max_chars": max_chars, "lang": lang, "threshold": threshold}
        job = plain(api.datasets.clean(ref, into, project=project, **options))
    confirm(job, f"submitted cleaning job {job['id']}: `aicc job get {job['id']}`", as_json=as_json)
