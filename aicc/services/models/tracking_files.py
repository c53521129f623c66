"""MLflow runs' artifacts and registered models (docs/interop.md, "MLflow"): what the stock
client's artifact proxy (`mlflow-artifacts:/EXPERIMENT/RUN/artifacts/PATH`) and
`mlflow.register_model` reach through `/mlflow`.

A run logged from outside the center keeps its artifacts on the server's disk,
`$AICC_HOME/mlflow/PROJECT/RUN/`: a PUT is streamed by the router to a temporary file there
within `limits.max_upload_mib`, then put in place (`place`). A job's run keeps them in the job's
outputs (`mlruns/EXP/RUN/artifacts`), read-only from here. Every path a tenant gives is checked
before anything is opened (relative, no `..` or `.`, no empty part, no backslash, NUL or other
control character; a percent-encoding is decoded once by the router, so `%2e%2e` is `..` and
refused), and every read goes through the guard of job-written files: no link is followed,
only regular files are read, sizes and entries capped.

A registered model is an AICC model (a data set of kind `model`) of the caller's default
project, and a model version made from a run's artifact folder is the next version of it, with
the run and, for a job's run, the job and the data sets it mounted as its lineage.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from aicc.core import datasets as core
from aicc.core.tenancy import Principal
from aicc.executors import jobfiles
from aicc.services.common import Conflict, Invalid, NotFound
from aicc.services.data import datasets
from aicc.services.data.datasets import MODEL
from aicc.services.jobs import jobs, logs
from aicc.services.models import models, tracking
from aicc.services.models.views import Model, ModelVersion, TrackedFile
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables.models import MlflowRunRow

MAX_FILES = 10_000  # a run's artifacts logged through the server
ARTIFACTS = "artifacts"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

OutputsOf = Callable[[jobs.Job], Path]


@dataclass(frozen=True)
class Target:
    """Where an artifact path of a run is: `root` the run's artifacts folder, `rel` in it
    ("" the folder itself); `job` says the run is a job's (read-only)."""

    run_id: str
    root: Path
    rel: str
    job: bool


def _rel(path: str) -> str:
    if path == "":
        return ""
    if _CONTROL.search(path):
        raise Invalid("artifact path: no control characters")
    try:
        return core.check_path(path)
    except core.DatasetError as e:
        raise Invalid("artifact path: {problem}", problem=str(e)) from None


def split(path: str) -> tuple[str, str, str]:
    """`EXPERIMENT/RUN/artifacts[/PATH]` as (experiment, run, PATH)."""
    parts = path.strip("/").split("/", 3)
    if len(parts) < 3 or parts[2] != ARTIFACTS:
        raise Invalid(
            "artifact path {path!r}: EXPERIMENT/RUN/artifacts/PATH, as a run's artifact_uri says",
            path=path[:200],
        )
    return parts[0], parts[1], _rel(parts[3] if len(parts) == 4 else "")


def server_root(home: Path, row: MlflowRunRow) -> Path:
    return home / "mlflow" / row.project_id / row.id


def _job_root(session: Session, who: Principal, row: MlflowRunRow, outputs_of: OutputsOf) -> Path:
    job = jobs.get(session, who, row.job_id or "")
    outputs = outputs_of(job)
    store = jobfiles.JobFiles(outputs).subdir(tracking.RUNS)
    for exp_dir in store.names():
        if row.id in store.names(exp_dir):
            return store.root / exp_dir / row.id / ARTIFACTS
    raise NotFound("run {run_id} has no artifacts", run_id=row.id)


def target(
    session: Session,
    who: Principal,
    home: Path,
    path: str,
    outputs_of: OutputsOf,
    *,
    write: bool = False,
) -> Target:
    """The run and folder an artifact path names, if the caller may read it (`write`: put a
    file there; a job's run: refused)."""
    experiment_id, run_id, rel = split(path)
    row = tracking._run_row(session, who, run_id, write=write)
    if row.experiment_id != experiment_id:
        raise NotFound("run {run_id} not found", run_id=run_id)
    if row.job_id is not None:
        with logs.refusals():
            return Target(row.id, _job_root(session, who, row, outputs_of), rel, True)
    return Target(row.id, server_root(home, row), rel, False)


def partial(t: Target) -> Path:
    """A new temporary file for an upload to `t` (in the run's folder: one rename puts it)."""
    if not t.rel:
        raise Invalid("artifact path: name a file under artifacts/")
    t.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    count = sum(len(files) for _, _, files in os.walk(t.root))
    if count >= MAX_FILES:
        raise Invalid("a run holds at most {most} artifact files", most=MAX_FILES)
    return t.root / f".partial-{uuid.uuid4().hex}"


def place(t: Target, written: Path) -> None:
    """The uploaded file at its path (a folder in the way, or a file where a folder must be:
    Invalid)."""
    dest = t.root.joinpath(*t.rel.split("/"))
    try:
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if dest.is_symlink() or dest.is_dir():
            raise IsADirectoryError
        os.replace(written, dest)
    except (NotADirectoryError, IsADirectoryError, FileExistsError):
        written.unlink(missing_ok=True)
        raise Invalid(
            "artifact path {path!r}: a folder and a file cannot share a name", path=t.rel
        ) from None


def open_file(t: Target) -> BinaryIO:
    """The artifact file, read through the guard (missing: NotFound)."""
    if not t.rel:
        raise Invalid("artifact path: name a file under artifacts/")
    with logs.refusals():
        try:
            return jobfiles.JobFiles(t.root, label=ARTIFACTS).open(t.rel)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound("artifact {path!r} not found", path=t.rel) from None


def listing(t: Target) -> list[TrackedFile]:
    """The entries of the folder `t` names ([] for a file or nothing there), as MLflow lists
    them: each name in that folder."""
    with logs.refusals():
        try:
            files = jobfiles.JobFiles(t.root, label=ARTIFACTS)
            if t.rel:
                files = files.subdir(t.rel)
            walked = files.walk()
        except (FileNotFoundError, NotADirectoryError):
            return []
    entries: dict[str, TrackedFile] = {}
    for item in walked:
        head, _, rest = item.path.partition("/")
        if head.startswith(".partial-"):
            continue
        if rest:
            entries.setdefault(head, TrackedFile(path=head, is_dir=True, file_size=None))
        else:
            entries[head] = TrackedFile(path=head, is_dir=False, file_size=item.size)
    return [entries[name] for name in sorted(entries)]


# -- the registry ------------------------------------------------------------------------------


def create_registered_model(session: Session, who: Principal, name: str) -> Model:
    """A new, empty model of the caller's default project (one there already: Conflict)."""
    try:
        core.check_name(name)
    except core.DatasetError as e:
        raise Invalid("name: {problem}", problem=str(e)) from None
    try:
        models.get(session, who, name)
    except NotFound:
        datasets.create_if_missing(session, who, name, None, kind=MODEL)
        return models.get(session, who, name)
    raise Conflict("registered model {name!r} already exists", name=name)


def source_of(source: str, run_id: str) -> tuple[str, str]:
    """(run, folder of its artifacts) a model version's `source` names: `runs:/RUN/PATH` or the
    run's own `mlflow-artifacts:/EXPERIMENT/RUN/artifacts/PATH`; anything else is refused."""
    if source.startswith("runs:/"):
        run, _, rel = source.removeprefix("runs:/").strip("/").partition("/")
        found = (run, _rel(rel))
    elif source.startswith("mlflow-artifacts:/"):
        _, run, rel = split(source.removeprefix("mlflow-artifacts:").lstrip("/"))
        found = (run, rel)
    else:
        raise Invalid(
            "source {source!r}: a run's artifacts, `runs:/RUN/PATH` or the run's "
            "`mlflow-artifacts:/` URI; other stores are not read",
            source=source[:200],
        )
    if run_id and found[0] != run_id:
        raise Invalid("source names run {run}, not run_id {run_id}", run=found[0], run_id=run_id)
    return found


def create_model_version(
    session: Session,
    who: Principal,
    store: ChunkStore,
    home: Path,
    outputs_of: OutputsOf,
    *,
    name: str,
    source: str,
    run_id: str = "",
) -> ModelVersion:
    """The run's artifact folder as the next version of model `name` (made when missing), with
    the run, and a job's run's job and data sets, as lineage."""
    run_id, rel = source_of(source, run_id)
    row = tracking._run_row(session, who, run_id)
    if row.job_id is not None:
        job = jobs.get(session, who, row.job_id)
        outputs = outputs_of(job)
        root = _job_root(session, who, row, outputs_of)
        path = str(root.relative_to(outputs)) + (f"/{rel}" if rel else "")
        return models.register_job(
            session, who, store, name, job, outputs, path=path, format="mlflow", run=row.id
        )
    folder = server_root(home, row).joinpath(*rel.split("/")) if rel else server_root(home, row)
    if not folder.is_dir():
        raise NotFound("run {run_id} has no artifact folder {path!r}", run_id=row.id, path=rel)
    lineage: dict[str, Any] = {"mlflow_run": row.id, "job_id": None, "datasets": [], "path": rel}
    return models.register_directory(
        session, who, store, name, folder, format="mlflow", lineage=lineage
    )
