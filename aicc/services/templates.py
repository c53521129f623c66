"""The marketplace's templates (预置行业算法): the built-in catalog, which of them fit a data set
and why not, and a run: a training job of the template on a data set whose model is registered
when it succeeds (带着数据来、拿着成果走).

Built-in templates are the directories of `aicc/templates` (`core/templates.py` says what they
hold). A run ships the template's files, the shared runtime and the run's `params.json` as the
job's working directory, mounts the data set at `$AICC_DATA_DIR/NAME` (without one, the job
first writes the template's example data), and promises a model version (`JobOutputRow`
kind `model`): `ingest_outputs` registers the job's outputs with the template's `predict.py`,
so the downloaded model runs as it is.
"""

from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

import aicc
from aicc.core import datasets as data_core
from aicc.core import template_search as search_core
from aicc.core import templates as core
from aicc.core.jobspec import JobSpec
from aicc.core.tenancy import Principal
from aicc.executors.base import Executor
from aicc.services import jobs, logs, models, template_search, tenancy, workdirs
from aicc.services.common import Invalid, NotFound, utcnow
from aicc.services.data import datasets, uploads
from aicc.services.data.datasets import MODEL
from aicc.store.blobs import BlobStore
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables import DatasetRow, JobOutputRow, JobRow, ProjectRow

ROOT = Path(aicc.__file__).parent / "templates"
RUNTIME = "aicc_template.py"
PARAMS = "params.json"
SCRIPTS = ("train.py", "predict.py", "example.py", "template.yaml")
# Shipped with every model (its predict.py may import train.py), beside its outputs.
SHIPPED = ("predict.py", "train.py", RUNTIME, "template.yaml")


@dataclass(frozen=True)
class Template:
    """A template as the marketplace shows it."""

    name: str
    manifest: core.Manifest
    source: str  # "builtin"

    @property
    def metric(self) -> dict[str, Any]:
        m = self.manifest.metric
        return {"name": m.name, "goal": m.goal, "expected": m.expected}


@dataclass(frozen=True)
class Fitting:
    """Whether a data set version fits a template, and why not."""

    template: Template
    fit: core.Fit


@functools.cache
def _builtin() -> dict[str, Template]:
    found = {}
    for path in sorted(ROOT.glob("*/template.yaml")):
        manifest = core.parse(yaml.safe_load(path.read_text("utf-8")))
        if manifest.name != path.parent.name:
            raise core.TemplateError(f"{path}: name {manifest.name} is not its directory's")
        found[manifest.name] = Template(manifest.name, manifest, "builtin")
    return found


def list_templates(
    *, industry: str | None = None, task: str | None = None, q: str | None = None
) -> list[Template]:
    """The catalog, filtered by industry, task, and words of the name, title or summary."""
    words = (q or "").lower().split()
    out = []
    for t in _builtin().values():
        m = t.manifest
        text = " ".join(
            [m.name, m.title.en, m.title.zh_CN, m.summary.en, m.summary.zh_CN, m.task, m.industry]
        ).lower()
        if industry and m.industry != industry:
            continue
        if task and m.task != task:
            continue
        if all(w in text for w in words):
            out.append(t)
    return out


def get(name: str) -> Template:
    found = _builtin().get(name)
    if found is None:
        raise NotFound("template {name} not found; `aicc template list` shows them", name=name)
    return found


def fits(
    session: Session,
    who: Principal,
    ref: str,
    *,
    project: str | None = None,
    columns: dict[str, str] | None = None,
) -> list[Fitting]:
    """Every template, and whether the data set version `ref` fits it (with the reason)."""
    version, manifest = datasets.open_version(session, who, data_ref(ref), project=project)
    paths = [f.path for f in manifest.files]
    return [
        Fitting(t, core.fit(t.manifest, paths, version.tables, columns)) for t in list_templates()
    ]


def data_ref(text: str) -> data_core.Ref:
    """The data set a caller names (`NAME@N`, `ORG/PROJECT/NAME@N`); a malformed one is a 422
    naming the field, not an error of the server."""
    try:
        return data_core.parse_ref(text)
    except data_core.DatasetError as e:
        raise Invalid("data: {problem}", problem=str(e)) from None


def program(template: Template, params: dict[str, Any]) -> bytes:
    """The run's working directory: the template's files, the runtime, and `params.json`."""
    folder = ROOT / template.name
    files = [(f.name, f.read_bytes()) for f in sorted(folder.iterdir()) if f.name in SCRIPTS]
    files.append((RUNTIME, (ROOT / RUNTIME).read_bytes()))
    files.append((PARAMS, json.dumps(params, sort_keys=True).encode()))
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
) -> jobs.Job:
    """Submit a training job of template `name` on data set `data` (its example data when
    None), whose model becomes the next version of `model` (default: the template's name) when
    it succeeds. With `search` (values to try by hyperparameter; `trials` to draw that many
    combinations), the job is a search whose replicas are its trials (services/template_search.py).
    Bad hyperparameters, a data set that does not fit, a model name taken by a data set: a 4xx
    naming what to fix, and nothing submitted."""
    template = get(name)
    manifest = template.manifest
    points = None
    try:
        hp = core.check_params(manifest, params or {})
        if search or trials is not None:
            points = search_core.trials(manifest, params or {}, search or {}, trials)
    except core.TemplateError as e:
        raise Invalid("{problem}", problem=str(e)) from None
    target = _model_row(session, who, model or name, project)
    pinned: list[str] = []
    dataset_versions: list[str] = []
    table = None
    if data is not None:
        row, stored = datasets.version_row(session, who, data_ref(data), project=project)
        version = datasets.version_of(stored, row.name)
        paths = [f.path for f in datasets.manifest_of(stored).files]
        found = core.fit(manifest, paths, version.tables, columns)
        if not found.ok:
            raise Invalid(
                "{ref} does not fit template {name}: {reason}",
                ref=version.ref,
                name=name,
                reason=found.reason,
            )
        table, columns = found.table, dict(found.columns or columns or {})
        prj = session.get(ProjectRow, row.project_id)
        assert prj is not None
        pinned.append(f"{datasets.qualified(session, prj)}/{version.ref}")
        dataset_versions.append(stored.id)
        where = f'"$AICC_DATA_DIR/{version.name}"'
        command = ""
    else:
        where = "example"
        command = "python example.py example && "
    doc: dict[str, Any] = {
        "hyperparameters": hp,
        "input": {"table": table, "columns": columns or {}},
    }
    output = '"$AICC_OUTPUT_DIR"'
    if points is not None:
        doc["trials"] = points
        output = template_search.OUTPUT
    sha256 = workdirs.keep(session, who, blobs, program(template, doc))
    train = ["python", "train.py", "--params", PARAMS, "--output"]
    command += f"{shlex.join(train)} {output} --data {where}"
    resources = manifest.resources
    wanted = resources.gpus if gpus is None else gpus
    spec = JobSpec.model_validate(
        {
            "name": f"train-{name}",
            "project": _project_name(session, who, project),
            "queue": queue,
            "command": command,
            "replicas": len(points) if points else 1,
            "workdir_sha256": sha256,
            "datasets": pinned,
            "resources": {
                "cpu": resources.cpu if cpu is None else cpu,
                "memory": resources.memory.replace(" ", ""),
                **({"accelerator": {"count": wanted}} if wanted else {}),
            },
            "labels": {"aicc.io/template": name, "aicc.io/model": target.name},
        }
    )
    job, _ = jobs.submit(session, who, spec, idempotency_key=None)
    lineage = {
        "job_id": job.id,
        "datasets": pinned,
        "dataset_versions": dataset_versions,
        "template": name,
        "params": hp,
        **({"search": {"trials": points}} if points is not None else {}),
    }
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
    return job


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
    row = session.get(DatasetRow, out.target_id) if out and out.kind == "model" else None
    prj = session.get(ProjectRow, row.project_id) if row else None
    if out is None or row is None or prj is None:
        raise NotFound("job {job} is not a template's training run", job=job_id)
    template = str(out.lineage.get("template") or "")
    project = datasets.qualified(session, prj)
    return Run(job, template, row.name, project, out.state, out.result)


def run_curves(
    session: Session, who: Principal, executors: dict[str, Executor], job_id: str
) -> models.Curves:
    """The curves a run has logged so far (its `metrics.jsonl`, read while it trains)."""
    job = jobs.get(session, who, job_id)
    try:
        path = logs.outputs_dir(session, job, executors) / models.CURVES
        with path.open("rb") as f:
            data = f.read(models.MAX_CURVE_BYTES)
    except (NotFound, OSError):
        return models.Curves([], {})
    return models.parse_curves(data.decode("utf-8", errors="replace"))


def _project_name(session: Session, who: Principal, project: str | None) -> str:
    return tenancy.resolve_project(session, who, project).name


def _model_row(session: Session, who: Principal, name: str, project: str | None) -> DatasetRow:
    """The model a run's outputs go to, made now when missing (a data set of that name is a
    409 now, not a failed delivery after an hour of training)."""
    try:
        row, _ = datasets.find_writable(session, who, name, project, kind=MODEL)
    except NotFound:
        datasets.create(session, who, project=project, name=name, kind=MODEL)
        row, _ = datasets.find_writable(session, who, name, project, kind=MODEL)
    return row


def ingest_outputs(
    session: Session, store: ChunkStore, who: Principal, job: JobRow, out: JobOutputRow, root: Path
) -> str:
    """A template job's outputs as the next version of its model (`services/outputs.py` calls
    it when the job succeeded): metrics from `metrics.json`, the card from `report.json`, and
    the template's predict script beside the model."""
    row = session.get(DatasetRow, out.target_id)
    if row is None:
        raise NotFound("the model is gone")
    template = get(str(out.lineage.get("template")))
    manifest = template.manifest
    lineage = dict(out.lineage)
    if "search" in lineage:
        root, lineage = template_search.pick(manifest, root, lineage)
    metrics = _json(root / "metrics.json")
    report = _json(root / "report.json")
    if manifest.metric.name not in metrics:
        raise Invalid(
            "the job wrote no {metric} in metrics.json; no model was registered",
            metric=manifest.metric.name,
        )
    files = dict(uploads.files_under(root))
    for name in SHIPPED:
        source = ROOT / RUNTIME if name == RUNTIME else ROOT / template.name / name
        files.setdefault(name, source.read_bytes())
    version = models.register(
        session,
        who,
        store,
        row.name,
        sorted(files.items()),
        project=row.project_id,
        format=manifest.format,
        framework=manifest.framework,
        metrics={k: float(v) for k, v in metrics.items() if isinstance(v, int | float)},
        params=dict(lineage.get("params") or {}),
        card=card(template, report, metrics, lineage),
        lineage=lineage,
        licence=manifest.licence,
    )
    return version.ref


def _json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def card(
    template: Template, report: dict[str, Any], metrics: dict[str, Any], lineage: dict[str, Any]
) -> str:
    """The model card (Markdown): what it does, on what data, how good it is, how to use it."""
    m = template.manifest
    given = report.get("summary")
    summary: dict[str, Any] = given if isinstance(given, dict) else {}
    lines = [f"# {m.title.en} / {m.title.zh_CN}", ""]
    lines += [str(summary.get("en") or m.summary.en), ""]
    lines += [str(summary.get("zh-CN") or m.summary.zh_CN)]
    lines += ["", "## Metrics", ""]
    for key, value in sorted(metrics.items()):
        mark = " (the template's own metric)" if key == m.metric.name else ""
        lines.append(f"- {key}: {value}{mark}")
    lines += ["", "## Lineage", ""]
    lines.append(f"- template: {m.name} ({m.industry}, {m.task}, {m.framework})")
    lines.append(f"- job: {lineage.get('job_id')}")
    data = lineage.get("datasets") or ["the template's example data"]
    lines.append(f"- data: {', '.join(data)}")
    params = lineage.get("params") or {}
    lines.append(f"- hyperparameters: {json.dumps(params, sort_keys=True)}")
    use = "python predict.py --model model --input INPUT --output OUT"
    lines += template_search.card_lines(lineage)
    lines += ["", "## Use", "", "```", use, "```"]
    return "\n".join(lines) + "\n"
