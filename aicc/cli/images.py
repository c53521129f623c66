"""`aicc image list | get | push | pull | share | rm | build`: a project's images in the center
registry. Push and pull speak the registry's API from the SDK (no podman needed), with a bar;
a build is a job (`kind: build`) whose context is uploaded as its workdir."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from aicc.cli.data import size_text
from aicc.cli.nouns import CREATED, Json, Noun, ProjectOption
from aicc.cli.output import JsonFlag, byte_bar, client, col, handle_errors, print_json, status

if TYPE_CHECKING:
    from rich.progress import TaskID

    from aicc.sdk.client import Client
    from aicc.services.images.views import Image, RegistryReference

app = typer.Typer(
    help="Images in the center registry: list, push, pull, share, rm, build.",
    no_args_is_help=True,
)


def _tags(tags: Any) -> str:
    return ", ".join(t.get("tag", "") for t in tags or []) or "-"


IMAGES = Noun(
    "image",
    [
        col("NAME", "name"),
        col("TAGS", "tags", _tags),
        col("SIZE", "size_bytes", size_text, justify="right"),
        col("VISIBILITY", "visibility"),
        col("REFERENCE", "reference"),
        CREATED,
    ],
    empty="no images yet: `aicc image push NAME:TAG OCI_DIR`",
    sdk="images",
)
Name = Annotated[str, typer.Argument(help="The image's NAME in the project (no tag).")]
Image_ = Annotated[
    str, typer.Argument(help="NAME[:TAG] in your project, or ORG/PROJECT/NAME[:TAG].")
]


@IMAGES.list(app)
def image_list(api: Client, project: ProjectOption = None) -> list[Image]:
    """A project's images, their tags and sizes."""
    return api.images.list(project=project)


@IMAGES.get(app)
def image_get(api: Client, name: Name, project: ProjectOption = None) -> Image:
    """One image: tags, digests, size, visibility."""
    return api.images.get(name, project=project)


class _Bar:
    """The SDK's `progress(done, total)` as a bar of bytes on stderr."""

    def __init__(self, what: str) -> None:
        self.what, self.bar = what, byte_bar()
        self.task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=total)
        self.bar.update(self.task, completed=done, total=total)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.bar.stop()


def _moved(verb: str) -> Any:
    return lambda answer: f"{verb} {answer['reference']}"


@IMAGES.action(app, "push", _moved("pushed"))
def image_push(
    api: Client,
    image: Image_,
    source: Annotated[
        Path, typer.Argument(help="An OCI image layout directory, or an OCI archive.", exists=True)
    ],
    project: ProjectOption = None,
) -> RegistryReference:
    """Push an OCI image (`skopeo copy ... oci:DIR`, `podman save --format oci-dir`, `umoci`)
    to the center registry; blobs it holds already are not sent."""
    with _Bar(f"pushing {image}") as bar:
        return api.images.push(image, source, project=project, progress=bar)


@IMAGES.action(app, "pull", _moved("pulled"))
def image_pull(
    api: Client,
    image: Image_,
    dest: Annotated[Path, typer.Argument(help="The OCI image layout directory to write.")],
    project: ProjectOption = None,
) -> RegistryReference:
    """Pull an image into an OCI image layout directory; blobs already there are kept."""
    with _Bar(f"pulling {image}") as bar:
        return api.images.pull(image, dest, project=project, progress=bar)


def _shared(answer: Json) -> str:
    return f"image {answer['name']} is {answer['visibility']}"


@IMAGES.action(app, "share", _shared)
def image_share(
    api: Client,
    name: Name,
    visibility: Annotated[
        Literal["private", "org", "public"],
        typer.Argument(help="private, org (your organization pulls it) or public."),
    ],
    project: ProjectOption = None,
) -> Image:
    """Who else may pull an image."""
    return api.images.share(name, visibility, project=project)


@IMAGES.delete(app, "rm")
def image_rm(
    api: Client,
    name: Name,
    tag: Annotated[str | None, typer.Option(help="Only this tag (else the whole image).")] = None,
    project: ProjectOption = None,
) -> Json:
    """Delete a tag, or an image with all its tags, from the registry."""
    return api.images.delete(name, tag=tag, project=project)


@app.command("build")
@handle_errors
def image_build(
    image: Image_,
    context: Annotated[
        Path,
        typer.Argument(help="The context: its Containerfile and what it copies.", exists=True),
    ],
    file: Annotated[
        str, typer.Option("--file", "-f", help="The Containerfile, relative to the context.")
    ] = "Containerfile",
    project: ProjectOption = None,
    cpu: Annotated[float | None, typer.Option(help="CPUs for the build (e.g. 2).")] = None,
    memory: Annotated[str | None, typer.Option(help="Memory for the build (e.g. 4GiB).")] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the build's log; exit 0 only once pushed.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Build an image from a Containerfile as a job on the center's nodes and push it to your
    repository. Prints the job id on stdout; with --wait, its log, then what it pushed."""
    from rich.markup import escape

    from aicc.cli.submit import follow_and_wait, raise_outcome, upload_workdir

    if not context.is_dir():
        raise typer.BadParameter(f"{context} is not a directory", param_hint="DIR")
    resources: dict[str, Any] = {}
    if cpu is not None:
        resources["cpu"] = cpu
    if memory is not None:
        resources["memory"] = memory
    spec: dict[str, Any] = {"kind": "build", "build": {"image": image, "containerfile": file}}
    if project is not None:
        spec["project"] = project
    if resources:
        spec["resources"] = resources
    with client() as api:
        spec["workdir_sha256"] = upload_workdir(api, context.resolve())
        job = api.jobs.submit(spec).model_dump(mode="json")
        if not as_json:
            typer.echo(job["id"])
        status(f"building {escape(job['spec']['build']['target'])} as job {job['id']}")
        if not wait:
            if as_json:
                print_json(job)
            return
        import sys

        final = follow_and_wait(api, job["id"], sys.stderr if as_json else sys.stdout)
    if as_json:
        print_json(final)
    raise_outcome(final)
    status(f"pushed {escape(final['spec']['build']['target'])}")
