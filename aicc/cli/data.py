"""`aicc data ...`: data sets (CONTRACTS.md §9), pushed and pulled by chunk with progress bars."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aicc.cli.nouns import CREATED, PROJECT, Json, Noun, ProjectOption
from aicc.cli.output import col, local_time
from aicc.cli.submit import UploadBar

if TYPE_CHECKING:
    from aicc.sdk.client import Client

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
    scope: Annotated[
        str | None, typer.Option(help="project (default), visible (all you read), or public.")
    ] = None,
) -> Json:
    """Data sets of a project, all you may read, or the open data catalog."""
    return api.datasets.list(project=project, scope=scope)


@DATASETS.get(app)
def data_get(api: "Client", ref: Ref, project: ProjectOption = None) -> Json:
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
) -> Json:
    """An empty data set; `aicc data push` fills it."""
    fields = {"description": description, "licence": licence, "source": source, "tags": tag}
    return api.datasets.create(name, project, visibility=visibility, **fields)


@VERSIONS.list(app, "versions")
def data_versions(api: "Client", ref: Ref, project: ProjectOption = None) -> Json:
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
) -> Json:
    """Push DIRECTORY as the next version of NAME (made when missing); only chunks the server
    lacks are sent, and an interrupted push resumes."""
    bar = UploadBar(PHASES)
    try:
        create = {"visibility": visibility} if visibility else None
        return api.datasets.push(
            name, directory, project=project, message=message, create=create, progress=bar
        )
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
