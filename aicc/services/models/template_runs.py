"""A template's run: a training job of the template on a data set whose model is registered
when it succeeds.

A run ships the template's files, the shared runtime and the run's `params.json` as the job's
working directory, mounts the data set at `$AICC_DATA_DIR/NAME` (without one, the job first
writes the template's example data), and promises a model version (`JobOutputRow` kind
`model`), which `template_outputs.ingest` registers with the template's `predict.py`. Its use,
and the charge of another organization's paid template, are written with the job
(`template_uses.record`).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from aicc.core import template_search as search_core
from aicc.core import templates as core
from aicc.core.jobspec import JobSpec
from aicc.core.mistakes import first_problem
from aicc.core.tenancy import Principal
from aicc.executors.base import Executor
from aicc.services.common import Invalid, NotFound, utcnow
from aicc.services.data import datasets, lookups
from aicc.services.data.datasets import MODEL
from aicc.services.data.views import DatasetRef, DatasetVersion
from aicc.services.jobs import jobs, logs, workdirs
from aicc.services.models import models, template_runtime, template_search, template_uses, templates
from aicc.services.tenancy import directory, tenancy
from aicc.store.blobs import BlobStore
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables.models import JobOutputRow


def program(
    template: templates.Template,
    params: dict[str, Any],
    files: list[tuple[str, bytes]] | None = None,
) -> bytes:
    """The run's working directory: the template's files (a published one's `files`), the
    runtime, and `params.json`."""
    if files is None:
        files = templates.scripts(template.name)
    files = [(n, b) for n, b in files if n not in (templates.RUNTIME, templates.PARAMS)]
    files.append((templates.RUNTIME, (templates.ROOT / templates.RUNTIME).read_bytes()))
    files.append((templates.PARAMS, json.dumps(params, sort_keys=True).encode()))
    return workdirs.pack(files)


def run(
    session: Session,
    who: Principal,
    blobs: BlobStore,
    name: str,
    *,
    data: str | None = None,
    params: dict[str, Any] | None = None,
    model: str | None = None,
    columns: dict[str, str] | None = None,
    project: str | None = None,
    queue: str | None = None,
    gpus: int | None = None,
    cpu: float | None = None,
    search: Mapping[str, Sequence[object]] | None = None,
    trials: int | None = None,
    store: ChunkStore | None = None,
    zone: str = "UTC",
    idempotency_key: str | None = None,
    limits: jobs.SubmitLimits = jobs.SubmitLimits(),
    chat: bytes | None = None,
) -> tuple[jobs.Job, bool]:
    """Submit a training job of template `name` on data set `data` (its example data when
    None; `chat`: an OpenAI chat file shipped with the run, which a template with
    `chat_pairs.py` turns into its table inside the job), whose model becomes the next version
    of `model` (default: the template's name, a published one's NAME-model) when it succeeds.
    With `search` (values to try by hyperparameter; `trials` to draw that many combinations),
    the job is a search whose
    replicas are its trials (services/models/template_search.py). Bad hyperparameters, a data set
    that does not fit, a model name taken by a data set: a 4xx naming what to fix, and nothing
    submitted. The use, and for another organization's paid template its charge and credit
    (months of time zone `zone`), are written in the caller's transaction with the job. A
    retry with the same `idempotency_key` answers the run already submitted, charged once:
    (job, created) as `jobs.submit` does."""
    template = templates.get(name, session, who, project=project)
    manifest = template.manifest
    name = template.name
    if manifest.image is None and template_runtime.runs_here(session):  # an image has its own
        template_runtime.check_runtime(manifest)
    hp, points = hyperparameters(manifest, params, search, trials)
    # a published template's name is taken in its project (one name space): its model's is not
    default = name if template.version_id is None else f"{name}-model"
    target = _model_row(session, who, model or default, project, manifest.licence)
    if chat is not None:  # an OpenAI fine-tuning file, read by the job (fine_tuning.py)
        given = _CHAT_INPUT
    else:
        given = _run_input(session, who, template, data, columns, project, hp)
    sha256 = _workdir(session, who, blobs, store, template, given, hp, points, chat)
    output = '"$AICC_OUTPUT_DIR"' if points is None else template_search.OUTPUT
    train = ["python", "train.py", "--params", templates.PARAMS, "--output"]
    command = f"{given.command}{shlex.join(train)} {output} --data {given.where}"
    resources = manifest.resources
    wanted = resources.gpus if gpus is None else gpus
    spec = _run_spec(
        {
            "name": f"train-{name}",
            "project": _project_name(session, who, project),
            "queue": queue,
            "command": command,
            "replicas": len(points) if points else 1,
            "workdir_sha256": sha256,
            "datasets": given.pinned,
            "resources": {
                "cpu": resources.cpu if cpu is None else cpu,
                "memory": resources.memory.replace(" ", ""),
                **({"accelerator": {"count": wanted}} if wanted else {}),
            },
            "labels": {"aicc.io/template": name, "aicc.io/model": target.name},
            "egress": _egress(template, who, limits),
            # resolved and checked by the submit: one the caller may not pull is a 422
            **({"image": manifest.image} if manifest.image is not None else {}),
        }
    )
    job, created = jobs.submit(session, who, spec, idempotency_key=idempotency_key, limits=limits)
    if not created:
        return job, False
    _promise_model(session, template, job, target, given, hp, points)
    template_uses.record(session, who, template, job, zone)
    return job, True


def hyperparameters(
    manifest: core.Manifest,
    params: Mapping[str, object] | None,
    search: Mapping[str, Sequence[object]] | None,
    trials: int | None,
) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """The run's checked hyperparameters, and a search's trials (None for a single run); a
    bad value or a search too large is a 422 (`run` and its estimate alike)."""
    try:
        hp = core.check_params(manifest, params or {})
        if search or trials is not None:
            return hp, search_core.trials(manifest, params or {}, search or {}, trials)
    except core.TemplateError as e:
        raise Invalid("{problem}", problem=str(e)) from None
    return hp, None


def _workdir(
    session: Session,
    who: Principal,
    blobs: BlobStore,
    store: ChunkStore | None,
    template: templates.Template,
    given: _RunInput,
    hp: dict[str, Any],
    points: list[dict[str, Any]] | None,
    chat: bytes | None = None,
) -> str:
    """The sha256 of the run's working directory, kept as the job's (`program`); with `chat`,
    the chat file and the template's `chat_pairs.py` beside its scripts."""
    doc: dict[str, Any] = {
        "hyperparameters": hp,
        "input": {"table": given.table, "columns": given.columns or {}},
    }
    if points is not None:
        doc["trials"] = points
    files = None
    if template.version_id is not None:
        if store is None:
            raise Invalid(
                "template {ref} is published: its run needs the chunk store", ref=template.name
            )
        files = templates.stored_files(session, store, template.version_id)
    if chat is not None:
        folder = templates.ROOT / template.name
        if files is not None or not (folder / CHAT_SCRIPT).is_file():
            raise Invalid("template {name} does not learn from chat files", name=template.name)
        files = templates.scripts(template.name)
        files += [(CHAT_SCRIPT, (folder / CHAT_SCRIPT).read_bytes()), (CHAT_FILE, chat)]
    return workdirs.keep(session, who, blobs, program(template, doc, files))


@dataclass(frozen=True)
class _RunInput:
    """What a run reads: the data set version it pins (none: the template's example data, which
    the command first writes), its table and columns, and the `--data` argument."""

    pinned: list[str]
    dataset_versions: list[str]
    table: str | None
    columns: dict[str, str] | None
    where: str
    command: str


# A run on a chat file: `chat_pairs.py` writes its pairs to `pairs/` before training starts.
CHAT_FILE = "chat.jsonl"
CHAT_SCRIPT = "chat_pairs.py"
_CHAT_INPUT = _RunInput([], [], None, None, "pairs", f"python {CHAT_SCRIPT} {CHAT_FILE} pairs && ")


def _run_input(
    session: Session,
    who: Principal,
    template: templates.Template,
    data: str | None,
    columns: dict[str, str] | None,
    project: str | None,
    hp: Mapping[str, object],
) -> _RunInput:
    """The run's input; a data set that does not fit the template (with the run's
    hyperparameters: a longer horizon needs more history) is a 422 saying why."""
    if data is None:
        return _RunInput([], [], None, columns, "example", "python example.py example && ")
    row, stored = lookups.find(session, who, templates.data_ref(data), project=project)
    version = stored.details
    paths = [f.path for f in stored.manifest.files]
    found = check_fit(template.manifest, template.name, version, paths, columns, params=hp)
    unchosen(found)
    prj = directory.project(session, row.project_id)
    assert prj is not None
    return _RunInput(
        pinned=[f"{datasets.qualified(session, prj)}/{version.ref}"],
        dataset_versions=[stored.id],
        table=found.table,
        columns=dict(found.columns or columns or {}),
        where=f'"$AICC_DATA_DIR/{version.name}"',
        command="",
    )


def check_fit(
    manifest: core.Manifest,
    name: str,
    version: DatasetVersion,
    paths: list[str],
    columns: dict[str, str] | None,
    *,
    params: Mapping[str, object] | None = None,
) -> core.Fit:
    """How data set `version` (its files `paths`) fits template `name`, its `columns` mapped
    to the data's and run with `params`; one that does not fit is a 422 saying why (`run` and
    its estimate alike)."""
    found = core.fit(manifest, paths, version.tables, columns, params=params)
    if not found.ok:
        raise Invalid(
            "{ref} does not fit template {name}: {reason}",
            ref=version.ref,
            name=name,
            reason=found.reason,
        )
    return found


def unchosen(found: core.Fit) -> None:
    """Refuse (422) a run whose data leaves a role of the template unchosen: which column to
    predict (or to read as the time, the text ...) is the caller's to say, with the columns
    that can be it."""
    for role, names in found.choose.items():
        listed = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
        if role == "target":
            raise Invalid(
                "choose the column to predict: --column target=COLUMN (one of: {columns})",
                columns=listed,
            )
        raise Invalid(
            "choose the column for {role}: --column {role}=COLUMN (one of: {columns})",
            role=role,
            columns=listed,
        )


def _promise_model(
    session: Session,
    template: templates.Template,
    job: jobs.Job,
    target: DatasetRef,
    given: _RunInput,
    hp: dict[str, Any],
    points: list[dict[str, Any]] | None,
) -> None:
    """The model version the run promises (`template_outputs.ingest` registers it), with its
    lineage."""
    lineage = {
        "job_id": job.id,
        "datasets": given.pinned,
        "dataset_versions": given.dataset_versions,
        "template": template.ref,
        "params": hp,
        **({"search": {"trials": points}} if points is not None else {}),
    }
    if template.version_id is not None:
        lineage["template_version"] = template.version_id
    session.add(
        JobOutputRow(
            job_id=job.id,
            kind="model",
            target_id=target.id,
            lineage=lineage,
            state="pending",
            result="",
            created_at=utcnow(),
        )
    )


def _egress(template: templates.Template, who: Principal, limits: jobs.SubmitLimits) -> str:
    """A run's egress (issue 35): a template published by another organization runs with
    none, whatever the center's default, unless an operator named it in `egress_templates`
    (NAME or ORG/PROJECT/NAME): its code would otherwise send the runner's data out. A
    built-in, or the runner's own organization's, gets the center's default."""
    foreign = template.org_id not in (None, who.org_id)
    approved = {template.name, template.ref, template.ref.split("@")[0]}
    if foreign and not approved & set(limits.egress_templates):
        return "none"
    return limits.egress


def _run_spec(data: dict[str, Any]) -> JobSpec:
    """The run's job spec, or a 422 naming the field the body got wrong (a resource the
    run's body sets, e.g. `resources.cpu`), never a 500."""
    try:
        return JobSpec.model_validate(data)
    except ValidationError as err:
        raise Invalid("{problem}", problem=first_problem(err)) from None


@dataclass(frozen=True)
class Run:
    """A template run as its page shows it: the job, the model it trains, and what became of
    its outputs (`pending` until the job ends; `done` with the version, or `failed` with why)."""

    job: jobs.Job
    template: str
    model: str
    project: str  # the model's, ORG/PROJECT
    state: str
    result: str


def run_of(session: Session, who: Principal, job_id: str) -> Run:
    """The run that job `job_id` is (another tenant's job, or one that is no run: NotFound)."""
    job = jobs.get(session, who, job_id)
    out = session.get(JobOutputRow, job.id)
    row = datasets.ref_by_id(session, out.target_id) if out and out.kind == "model" else None
    if out is None or row is None:
        raise NotFound("job {job} is not a template's training run", job=job_id)
    template = str(out.lineage.get("template") or "")
    return Run(job, template, row.name, row.project, out.state, out.result)


def run_curves(
    session: Session, who: Principal, executors: dict[str, Executor], job_id: str
) -> models.Curves:
    """The curves a run has logged so far (its `metrics.jsonl`, read while it trains); a
    search's, each trial's side by side (`trial-i/metrics.jsonl`)."""
    job = jobs.get(session, who, job_id)
    out = session.get(JobOutputRow, job.id)
    trials = len((out.lineage.get("search") or {}).get("trials") or []) if out else 0
    try:
        root = logs.job_files(session, job, executors)
    except NotFound:
        return models.Curves([], {})
    files = [("", models.CURVES)]
    if trials:
        files = [
            (f"trial {i}", f"{template_search.trial_name(i)}/{models.CURVES}")
            for i in range(trials)
        ]
    found = []
    with logs.refusals():  # the job's files: a link or a FIFO there is a 422, never a hang
        for label, rel in files:
            try:
                found.append((label, root.read_bytes(rel, models.MAX_CURVE_BYTES)))
            except OSError:
                continue
    return models.merge_curves(found)


def _project_name(session: Session, who: Principal, project: str | None) -> str:
    return tenancy.resolve_project(session, who, project).name


def _model_row(
    session: Session, who: Principal, name: str, project: str | None, licence: str = ""
) -> DatasetRef:
    """The model a run's outputs go to, made now when missing (a data set of that name is a
    409 now, not a failed delivery after an hour of training)."""
    try:
        row, _ = lookups.find_writable(session, who, name, project, kind=MODEL)
    except NotFound:
        datasets.create(session, who, project=project, name=name, kind=MODEL, licence=licence)
        row, _ = lookups.find_writable(session, who, name, project, kind=MODEL)
    return row
