"""What a deployment's replicas run: a revision's settings (a model version or a command, its
image, resources, engine, environment) made into the `kind: service` job spec of each replica,
checked as a submit checks a job. Apart from the use cases (`deployments.py`) because it is the
one place a revision becomes a job, and adapters (`adapters.py`) resolve their model versions as
a revision does."""

from __future__ import annotations

import copy
import importlib.util
import shlex
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from aicc.config import RegistrySettings
from aicc.core import datasets as core
from aicc.core.jobspec import JobSpec
from aicc.core.mistakes import first_problem
from aicc.core.tenancy import Principal
from aicc.services.common import Conflict, Invalid, NotFound
from aicc.services.data import datasets, lookups
from aicc.services.data.datasets import MODEL
from aicc.services.data.views import DatasetRef
from aicc.services.images import images
from aicc.services.jobs import jobs, workdirs
from aicc.services.tenancy import directory
from aicc.services.tenancy.views import Project
from aicc.store.blobs import BlobStore

ENGINES = ("auto", "transformers", "predict", "vllm")
LABEL = "aicc.io/deployment"
ADAPTER_UPLOADS = ".adapters"  # in the replica's working directory, its own


def serving_program() -> bytes:
    """`aicc/serving` (whatever files it holds) as a deterministic .tar.gz working directory
    under an empty `aicc` package: a model's replica runs `python -m aicc.serving` from it,
    needing nothing else of AICC (as services/models/cleaning.py ships `aicc/cleaning`)."""
    found = importlib.util.find_spec("aicc.serving")
    if found is None or not found.submodule_search_locations:
        raise Conflict("this server has no model serving (aicc.serving); deploy a command instead")
    root = Path(next(iter(found.submodule_search_locations)))
    files = [("aicc/__init__.py", b"")]
    files += [
        (f"aicc/serving/{path.relative_to(root).as_posix()}", path.read_bytes())
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    return workdirs.pack(files)


def _checked(settings: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    """A revision's engine, readiness path and environment, each as the replicas take it."""
    if (settings.get("model") is None) == (settings.get("command") is None):
        raise Invalid("model: give a model (NAME@N) or a command, not both")
    engine = settings.get("engine") or "auto"
    if engine not in ENGINES:
        raise Invalid("engine {engine!r}: one of auto, transformers, predict, vllm", engine=engine)
    path = settings.get("readiness_path") or "/health"
    if not path.startswith("/") or any(c.isspace() for c in path):
        raise Invalid("readiness_path: a path on the replica, such as /health")
    env = dict(settings.get("env") or {})
    reserved = sorted(k for k in env if k in ("PORT", "AICC_MODEL_DIR", "AICC_SERVICE_HOST"))
    if reserved:
        raise Invalid("env: {name} is set by AICC for each replica", name=reserved[0])
    return engine, path, env


def build(
    session: Session,
    who: Principal,
    blobs: BlobStore,
    prj: Project,
    name: str,
    settings: dict[str, Any],
    registry: RegistrySettings | None = None,
    resolved: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any], str | None, int | None]:
    """The replica jobs' spec from a revision's settings, checked as a submit would check it:
    (spec, the settings as stored, the model's id and version number). An `image` is resolved
    in the center `registry` now, so a revision names what its replicas pull (a 422 for one
    the caller may not pull); each replica's submit checks it again. `resolved`: what the
    current revision's image resolved to, kept by an update that does not change it."""
    model, command = settings.get("model"), settings.get("command")
    engine, path, env = _checked(settings)
    sha256 = settings.get("workdir_sha256")
    model_id = version_number = None
    mounts: list[str] = []
    if model is not None:
        row, version, where = model_version(session, who, prj, str(model))
        model_id, version_number = row.id, version.number
        model = f"{datasets.qualified(session, where)}/{row.name}@{version.number}"
        mounts = [model]
        sha256 = workdirs.keep(session, who, blobs, serving_program())
        # --adapter-uploads: where the gateway hands it the adapters attached to the
        # deployment (services/serving/adapters.py), served where the engine can
        words = ["--name", name, "--adapter-uploads", ADAPTER_UPLOADS]
        words += ["--engine", engine] if engine != "auto" else []
        text = (
            f'export AICC_MODEL_DIR="$AICC_DATA_DIR/{row.name}"; exec python -m aicc.serving '
            '--model "$AICC_MODEL_DIR" --host "$AICC_SERVICE_HOST" --port "$PORT" '
            + shlex.join(words)
        )
    else:
        text = str(command)
        if not text.strip():
            raise Invalid("command: what the replica runs, listening on $PORT")
        if sha256 and not workdirs.uploaded(session, org_id=prj.org_id, sha256=sha256):
            raise Invalid(
                "workdir_sha256: no such upload in your organization; upload the workdir first"
            )
    spec: dict[str, Any] = {
        "name": name,
        "project": prj.id,
        "kind": "service",
        "command": text,
        "env": env,
        "resources": copy.deepcopy(settings.get("resources") or {}),
        "datasets": mounts,
        "labels": {LABEL: name},
    }
    if sha256:
        spec["workdir_sha256"] = sha256
    image = settings.get("image") or None
    if image is not None:
        spec["image"] = resolved or images.job_image(
            session, who, str(image), registry=registry, project=prj.id
        )
    try:
        checked = JobSpec.model_validate(spec)
    except ValidationError as err:
        raise Invalid(first_problem(err)) from None
    jobs.check_fits(session, checked)
    stored = {
        "model": model,
        "command": None if model is not None else text,
        "workdir_sha256": None if model is not None else sha256,
        **({"image": image} if image is not None else {}),  # older revisions have none
        "resources": copy.deepcopy(settings.get("resources") or {}),
        "env": env,
        "engine": engine,
        "readiness_path": path,
    }
    return spec, stored, model_id, version_number


def model_version(
    session: Session, who: Principal, prj: Project, ref: str
) -> tuple[DatasetRef, lookups.Version, Project]:
    """The model version a reference names, read by the caller: in the deployment's project
    first, then among the models shared with the caller."""
    try:
        parsed = core.parse_ref(ref)
    except core.DatasetError as err:
        raise Invalid("model: {problem}", problem=str(err)) from None
    try:
        row, version = lookups.find(session, who, parsed, project=prj.id, kind=MODEL)
    except NotFound:
        if parsed.org is not None:
            raise
        row, version = lookups.find(session, who, parsed, kind=MODEL)
    where = directory.project(session, row.project_id)
    assert where is not None
    return row, version, where
