"""`aicc data ...`: data sets (CONTRACTS.md §9), pushed and pulled by chunk with progress bars."""

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aicc.cli.nouns import CREATED, PROJECT, Json, Noun, ProjectOption, ScopeOption
from aicc.cli.output import (
    Column,
    JsonFlag,
    client,
    col,
    confirm,
    handle_errors,
    local_time,
    plain,
    print_fields,
    print_json,
    print_table,
)
from aicc.cli.submit import UploadBar

if TYPE_CHECKING:
    from aicc.sdk.client import Client
    from aicc.services.data.views import Committed, Dataset, DatasetVersion

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


DATASETS = Noun(
    "data set",
    [
        col("NAME", "name"),
        PROJECT,
        col("VISIBILITY", "visibility"),
        col("LATEST", "latest"),
        col("FILES", "file_count"),
        col("SIZE", "logical_bytes", size_text),
        col("STORED", "stored_bytes", size_text),
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
        col("LATEST", "latest"),
        col("FILES", "file_count"),
        col("SIZE", "logical_bytes", size_text),
        col("STORED", "stored_bytes", size_text),
        CREATED,
    ],
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
Ref = Annotated[str, typer.Argument(help="NAME, NAME@VERSION or ORG/PROJECT/NAME@VERSION.")]
Name = Annotated[str, typer.Argument(help="Data set name.")]
Visibility = Annotated[
    str | None, typer.Option(help="private (the project), org, or public (the open catalog).")
]


@DATASETS.list(app)
def data_list(
    api: "Client",
    project: ProjectOption = None,
    scope: ScopeOption = None,
) -> "list[Dataset]":
    """Data sets of a project, all you may read, or the open data catalog."""
    return api.datasets.list(project=project, scope=scope)


@DATASETS.get(app)
def data_get(api: "Client", ref: Ref, project: ProjectOption = None) -> "Dataset":
    """One data set: its metadata, size and stored bytes."""
    return api.datasets.get(ref, project=project)


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


@VERSIONS.list(app, "versions")
def data_versions(api: "Client", ref: Ref, project: ProjectOption = None) -> "list[DatasetVersion]":
    """A data set's versions, newest first."""
    return api.datasets.versions(ref, project=project)


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
    bar = UploadBar(PHASES)
    try:
        create = {"visibility": visibility} if visibility else None
        pushed = api.datasets.push(
            name, directory, project=project, message=message, create=create, progress=bar
        )
        return pushed
    finally:
        bar.close()


def _pulled(answer: Json) -> str:
    return f"{answer['ref']}: {answer['fetched']} of {answer['files']} files fetched"


@VERSIONS.action(app, "pull", _pulled)
def data_pull(
    api: "Client",
    ref: Ref,
    directory: Annotated[Path, typer.Argument(help="Where to write the files.")],
    project: ProjectOption = None,
) -> Json:
    """Write a version's files into DIRECTORY; files already there are kept."""
    bar = UploadBar(PHASES)
    try:
        return api.datasets.pull(ref, directory, project=project, progress=bar)
    finally:
        bar.close()


@DATASETS.delete(app, "rm")
def data_rm(api: "Client", name: Name, project: ProjectOption = None) -> Json:
    """Delete a data set and all its versions."""
    return api.datasets.delete(name, project=project)


# --- looking inside, and cleaning ----------------------------------------------------------------


def _rows_table(answer: Json, as_json: bool, title: str | None = None) -> None:
    """Rows of a preview or a query: one column per column of the answer."""
    if as_json:
        print_json(answer)
        return
    found = answer.get("columns") or []
    columns = [Column(f"{c['name']} ({c['type']})", _at(i)) for i, c in enumerate(found)]
    print_table(answer.get("rows", []), columns, title=title, empty="no rows")


def _at(i: int) -> Callable[[Any], Any]:
    return lambda row: row[i] if i < len(row) else None


@app.command("preview")
@handle_errors
def data_preview(
    ref: Ref,
    path: Annotated[str | None, typer.Option(help="The file; default the first table.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows to show.")] = 20,
    project: ProjectOption = None,
    as_json: JsonFlag = False,
) -> None:
    """The first rows of a table file (CSV, Parquet, JSON Lines), without downloading it."""
    with client() as api:
        answer = plain(api.datasets.preview(ref, path=path, limit=limit, project=project))
    _rows_table(answer, as_json, title=f"{answer.get('path')} ({answer.get('format')})")


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


@app.command("profile")
@handle_errors
def data_profile(
    ref: Ref,
    path: Annotated[str, typer.Option(help="The table file.")],
    project: ProjectOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Per column of a table file: type, nulls, distinct, min, max and a histogram."""
    with client() as api:
        answer = plain(api.datasets.profile(ref, path, project=project))
    if as_json:
        print_json(answer)
        return
    print_table(answer["columns"], PROFILE, title=f"{answer['path']}: {answer['rows']} rows")


@app.command("query")
@handle_errors
def data_query(
    ref: Ref,
    sql: Annotated[str, typer.Argument(help="One SELECT; each table file is a view.")],
    max_rows: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    project: ProjectOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Read-only SQL over a version's table files (DuckDB), with time and memory limits."""
    with client() as api:
        answer = plain(api.datasets.query(ref, sql, max_rows=max_rows, project=project))
    more = " (more rows not shown)" if answer.get("truncated") else ""
    _rows_table(answer, as_json, title=f"{len(answer['rows'])} rows{more}")


@app.command("diff")
@handle_errors
def data_diff(
    name: Name,
    old: Annotated[int, typer.Argument(help="The older version.")],
    new: Annotated[int, typer.Argument(help="The newer version.")],
    path: Annotated[str | None, typer.Option(help="A table file: rows added, removed.")] = None,
    project: ProjectOption = None,
    as_json: JsonFlag = False,
) -> None:
    """What changed between two versions: files, and a table's rows."""
    with client() as api:
        answer = plain(api.datasets.diff(name, old, new, path=path, project=project))
    if as_json:
        print_json(answer)
        return
    rows = [{"change": k, "path": p} for k in ("added", "removed", "changed") for p in answer[k]]
    print_table(rows, [col("CHANGE", "change"), col("PATH", "path")], empty="no file changed")
    if answer.get("table"):
        t = answer["table"]
        counts = [("rows added", t["rows_added"]), ("rows removed", t["rows_removed"])]
        print_fields([("table", t["path"]), *counts])


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
