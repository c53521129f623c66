"""The marketplace's templates (预置行业算法): the built-in catalog, which of them fit a data set
and why not, and a run: a training job of the template on a data set whose model is registered
when it succeeds (带着数据来、拿着成果走).

Built-in templates are the directories of `aicc/templates` (`core/templates.py` says what they
hold). A tenant publishes its own (`publish`): stored like a model, as a row of `datasets` of
kind `template` whose versions are its files, with `TemplateVersionRow` holding the parsed
manifest and the per-use price; private, org or public as data sets are. A plain name is a
built-in's when one has it (a tenant cannot publish under a built-in's name, so no reference is
ever ambiguous), else the caller's template or one shared with it (`NAME`, `NAME@N`,
`ORG/PROJECT/NAME@N`). Every run is a use (`TemplateUseRow`); a run of another organization's
paid template charges the runner's organization and credits the publisher's, as two billing
adjustments written in the transaction that submits the job, so a crash loses or doubles
neither. A run ships the template's files, the shared runtime and the run's `params.json` as the
job's working directory, mounts the data set at `$AICC_DATA_DIR/NAME` (without one, the job
first writes the template's example data), and promises a model version (`JobOutputRow`
kind `model`): `ingest_outputs` registers the job's outputs with the template's `predict.py`,
so the downloaded model runs as it is.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import aicc
from aicc.core import datasets as data_core
from aicc.core import periods
from aicc.core import template_search as search_core
from aicc.core import templates as core
from aicc.core.jobspec import JobSpec, first_problem
from aicc.core.pricing import MAX_MONEY, ZERO, to_money
from aicc.core.tenancy import Principal, can_manage
from aicc.executors import jobfiles
from aicc.executors.base import Executor
from aicc.services.common import Conflict, Forbidden, Invalid, NotFound, new_id, utcnow
from aicc.services.data import chunks, datasets, uploads
from aicc.services.data.datasets import MODEL, TEMPLATE
from aicc.services.data.views import DatasetVersion
from aicc.services.jobs import jobs, logs, workdirs
from aicc.services.models import grants, model_reports, models, template_search
from aicc.services.tenancy import audit, tenancy
from aicc.store.blobs import BlobStore
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables import (
    AdjustmentRow,
    DatasetRow,
    DatasetVersionRow,
    InvoiceRow,
    JobOutputRow,
    JobRow,
    NodeRow,
    OrgRow,
    ProjectRow,
    TemplateUseRow,
    TemplateVersionRow,
)

ROOT = Path(aicc.__file__).parent / "templates"
RUNTIME = "aicc_template.py"
PARAMS = "params.json"
SCRIPTS = ("train.py", "predict.py", "example.py", "template.yaml")
# Shipped with every model (its predict.py may import train.py), beside its outputs.
SHIPPED = ("predict.py", "train.py", RUNTIME, "template.yaml")
MAX_FILES = 64  # files of a published template
MAX_BYTES = 4 * 1024 * 1024  # all of them together: code, not data


@dataclass(frozen=True)
class Template:
    """A template as the marketplace shows it: a built-in, or a version of a published one."""

    name: str
    manifest: core.Manifest
    source: str  # "builtin", or the publisher's project ORG/PROJECT
    ref: str = ""  # how a run names it: NAME (built-in) or ORG/PROJECT/NAME@N
    id: str = ""  # what reviews and uses are about: builtin:NAME, or the template's datasets id
    version: int | None = None
    version_id: str | None = None  # the stored files (DatasetVersionRow) of a published one
    visibility: str = "public"
    licence: str = ""
    price: Decimal = ZERO  # per run, charged to other organizations
    currency: str = "CNY"
    writable: bool = False
    org_id: str | None = None  # the publisher's organization, credited for paid runs
    project_id: str | None = None

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
        found[manifest.name] = Template(
            manifest.name,
            manifest,
            "builtin",
            ref=manifest.name,
            id=f"builtin:{manifest.name}",
            licence=manifest.licence,
        )
    return found


def _published(
    session: Session, who: Principal, row: DatasetRow, prj: ProjectRow, version: DatasetVersionRow
) -> Template:
    extra = session.get(TemplateVersionRow, version.id)
    if extra is None:
        raise NotFound("template {name} has no published version", name=row.name)
    qualified = datasets.qualified(session, prj)
    price, currency = Decimal(extra.price), extra.currency
    if prj.org_id != who.org_id:  # an accepted offer's own price for the caller's organization
        price, currency = grants.price(session, who.org_id, row.id) or (price, currency)
    return Template(
        row.name,
        core.parse(extra.manifest),
        qualified,
        ref=f"{qualified}/{row.name}@{version.number}",
        id=row.id,
        version=version.number,
        version_id=version.id,
        visibility=row.visibility,
        licence=row.licence,
        price=price,
        currency=currency,
        writable=datasets.writable(who, prj),
        org_id=prj.org_id,
        project_id=prj.id,
    )


def _shared(session: Session, who: Principal) -> list[Template]:
    """The latest version of every published template the caller reads or was granted."""
    ids = [d.id for d in datasets.list_datasets(session, who, scope="visible", kind=TEMPLATE)]
    ids += [g.template_id for g in grants.active(session, who.org_id) if g.template_id not in ids]
    out = []
    for dataset_id in dict.fromkeys(ids):
        row = session.get(DatasetRow, dataset_id)
        prj = session.get(ProjectRow, row.project_id) if row is not None else None
        latest = datasets.latest_row(session, dataset_id)
        if row is not None and prj is not None and latest is not None:
            out.append(_published(session, who, row, prj, latest))
    return out


def _granted(
    session: Session, who: Principal, ref: data_core.Ref
) -> tuple[DatasetRow, DatasetVersionRow] | None:
    """A template the caller's organization was granted (an accepted offer), named as any
    template is: NAME, NAME@N or ORG/PROJECT/NAME@N."""
    for found in grants.active(session, who.org_id):
        row = session.get(DatasetRow, found.template_id)
        prj = session.get(ProjectRow, row.project_id) if row is not None else None
        if row is None or prj is None or row.name != ref.name:
            continue
        if ref.org and f"{ref.org}/{ref.project}" != datasets.qualified(session, prj):
            continue
        if ref.version is None:
            version = datasets.latest_row(session, row.id)
        else:
            version = datasets.numbered_row(session, row.id, ref.version)
        return (row, version) if version is not None else None
    return None


def list_templates(
    session: Session | None = None,
    who: Principal | None = None,
    *,
    industry: str | None = None,
    task: str | None = None,
    q: str | None = None,
) -> list[Template]:
    """The catalog, filtered by industry, task, and words of the name, title or summary: the
    built-ins, then (given the caller) the published templates it reads."""
    words = (q or "").lower().split()
    out = []
    shared = _shared(session, who) if session is not None and who is not None else []
    for t in [*_builtin().values(), *shared]:
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


def get(
    name: str,
    session: Session | None = None,
    who: Principal | None = None,
    *,
    project: str | None = None,
) -> Template:
    """A built-in by its name, else (given the caller) a published template it reads:
    `NAME` (its latest version), `NAME@N` or `ORG/PROJECT/NAME@N`."""
    found = _builtin().get(name)
    if found is not None:
        return found
    missing = NotFound("template {ref} not found; `aicc template list` shows them", ref=name)
    if session is None or who is None:
        raise missing
    try:
        ref = data_core.parse_ref(name)
    except data_core.DatasetError:
        raise missing from None
    if project is not None:
        tenancy.resolve_project(session, who, project)  # one the caller may not read: a 404
    try:
        try:
            row, version = datasets.version_row(session, who, ref, project=project, kind=TEMPLATE)
        except NotFound:
            if project is None or ref.org:
                raise
            # the run's project is not the template's: one shared with the caller
            row, version = datasets.version_row(session, who, ref, kind=TEMPLATE)
    except NotFound:
        granted = _granted(session, who, ref)
        if granted is None:
            raise missing from None
        row, version = granted
    prj = session.get(ProjectRow, row.project_id)
    assert prj is not None
    return _published(session, who, row, prj, version)


def publish(
    session: Session,
    who: Principal,
    store: ChunkStore,
    files: dict[str, bytes],
    *,
    project: str | None = None,
    visibility: str | None = None,
    licence: str | None = None,
    price: Decimal | None = None,
    description: str = "",
) -> Template:
    """The next version of the template these files make (template.yaml, train.py, predict.py,
    example.py, and any module they import), in the caller's project, made when missing. Files
    equal to the latest version's make no new version; its price and visibility still change."""
    manifest = _manifest(files)
    if price is not None and not ZERO <= price <= MAX_MONEY:
        raise Invalid("price: 0 to {max} CNY per run", max=MAX_MONEY)
    project = tenancy.resolve_project(session, who, project).id  # never a shared one's
    row, prj = _publishing_row(
        session,
        who,
        manifest,
        project,
        visibility=visibility,
        licence=licence,
        description=description,
    )
    before = datasets.latest_row(session, row.id)
    committed = uploads.ingest(
        session, who, store, row.name, prj.id, sorted(files.items()), "published", kind=TEMPLATE
    )
    version = datasets.numbered_row(session, row.id, committed.version.number)
    assert version is not None
    extra = session.get(TemplateVersionRow, version.id)
    if extra is None:
        kept = session.get(TemplateVersionRow, before.id) if before is not None else None
        extra = TemplateVersionRow(
            version_id=version.id,
            manifest=manifest.model_dump(mode="json", by_alias=True),
            price=kept.price if kept is not None and price is None else "0.00",
            currency="CNY",
            updated_at=utcnow(),
        )
        session.add(extra)
    if price is not None:
        extra.price, extra.updated_at = str(to_money(price)), utcnow()
    session.flush()
    audit.record(session, who, "template.publish", "template", row.id, org_id=prj.org_id)
    return _published(session, who, row, prj, version)


def _manifest(files: dict[str, bytes]) -> core.Manifest:
    """The manifest of the files a tenant publishes, or a 422 naming what they lack or got
    wrong; a built-in's name is a 409 (no plain name may ever mean two templates)."""
    lacking = [n for n in SCRIPTS if n not in files]
    if lacking:
        raise Invalid("files: a template needs {names}", names=", ".join(lacking))
    if len(files) > MAX_FILES or sum(len(b) for b in files.values()) > MAX_BYTES:
        raise Invalid("files: at most {n} files and 4 MiB in all", n=MAX_FILES)
    try:
        doc = yaml.safe_load(files["template.yaml"])
    except yaml.YAMLError as e:
        raise Invalid("template.yaml: not YAML ({problem})", problem=str(e)[:200]) from None
    try:
        manifest = core.parse(doc)
    except core.TemplateError as e:
        raise Invalid("template.yaml: {problem}", problem=str(e)) from None
    if manifest.name in _builtin():
        raise Conflict(
            "template {name} is a built-in's name; publish yours under another name",
            name=manifest.name,
        )
    return manifest


def _publishing_row(
    session: Session,
    who: Principal,
    manifest: core.Manifest,
    project: str,
    *,
    visibility: str | None,
    licence: str | None,
    description: str,
) -> tuple[DatasetRow, ProjectRow]:
    """The template's data set row in `project`, made on the first publish; a later publish
    changes its visibility and licence when given (widening to public takes an org admin)."""
    try:
        row, prj = datasets.find_writable(session, who, manifest.name, project, kind=TEMPLATE)
    except NotFound:
        datasets.create(
            session,
            who,
            project=project,
            name=manifest.name,
            kind=TEMPLATE,
            visibility=visibility or "private",
            licence=licence if licence is not None else manifest.licence,
            description=description,
        )
        row, prj = datasets.find_writable(session, who, manifest.name, project, kind=TEMPLATE)
    else:
        if visibility is not None and visibility not in data_core.VISIBILITIES:
            raise Invalid(
                "visibility {visibility!r}: one of private, org, public", visibility=visibility
            )
        widening = visibility == "public" and row.visibility != "public"
        if widening and not can_manage(who, org_id=prj.org_id):
            raise Forbidden("only organization admins publish templates to everyone")
        row.visibility = visibility or row.visibility
        row.licence = licence if licence is not None else row.licence
        row.updated_at = utcnow()
    return row, prj


def delete(session: Session, who: Principal, name: str, *, project: str | None = None) -> None:
    """Withdraw a published template (its runs and the models they made stay)."""
    datasets.delete(session, who, name, project=project, kind=TEMPLATE)


def uses(session: Session, targets: Iterable[str]) -> dict[str, int]:
    """How many runs each template (`Template.id`) has had."""
    wanted = list(targets)
    query = (
        select(TemplateUseRow.target, func.count())
        .where(TemplateUseRow.target.in_(wanted))
        .group_by(TemplateUseRow.target)
    )
    return {target: int(n) for target, n in session.execute(query)}


# The generic templates, for any data of their kind (`industry: general`: a table, a series,
# texts, images) whose roles the person chooses, the most asked for first; the others are an
# industry's presets. Wizard and `aicc model train` offer them in this order.
GENERIC_ORDER = (
    "table-prediction",
    "series-forecast",
    "text-classification",
    "image-classification",
)


def generic(template: Template) -> bool:
    return bool(template.manifest.industry == "general")


def generic_rank(template: Template) -> tuple[bool, int]:
    """Generic ones first, in GENERIC_ORDER; `sorted` keeps the catalog's order among equals."""
    name = template.name
    rank = GENERIC_ORDER.index(name) if name in GENERIC_ORDER else len(GENERIC_ORDER)
    return (not generic(template), rank)


def fits(
    session: Session,
    who: Principal,
    ref: str,
    *,
    project: str | None = None,
    columns: dict[str, str] | None = None,
    only: str | None = None,
) -> list[Fitting]:
    """Every template (or the one named `only`), and whether the data set version `ref` fits
    it, its `columns` mapped to the data's (with the reason when not). Across the catalog, a
    template takes the roles of `columns` it has (`target=weather` is no role of an image
    template); the one named `only` takes them all (a role it lacks is a reason)."""
    version, manifest = datasets.open_version(session, who, data_ref(ref), project=project)
    paths = [f.path for f in manifest.files]
    chosen = [get(only, session, who, project=project)] if only else list_templates(session, who)
    out = []
    for t in chosen:
        given = columns
        if columns and not only:
            roles = {c.name for c in t.manifest.input.columns}
            given = {role: name for role, name in columns.items() if role in roles}
        out.append(Fitting(t, core.fit(t.manifest, paths, version.tables, given)))
    return out


def data_ref(text: str) -> data_core.Ref:
    """The data set a caller names (`NAME@N`, `ORG/PROJECT/NAME@N`); a malformed one is a 422
    naming the field, not an error of the server."""
    try:
        return data_core.parse_ref(text)
    except data_core.DatasetError as e:
        raise Invalid("data: {problem}", problem=str(e)) from None


def stored_files(session: Session, store: ChunkStore, version_id: str) -> list[tuple[str, bytes]]:
    """A published template version's files, read through the chunk store."""
    version = session.get(DatasetVersionRow, version_id)
    if version is None:
        raise NotFound("the template's version {id} is gone", id=version_id)
    entries = datasets.manifest_of(version).files
    reader = chunks.reader(session, store, [c.digest for f in entries for c in f.chunks])
    return [(f.path, b"".join(reader.get(c.digest) for c in f.chunks)) for f in entries]


def program(
    template: Template, params: dict[str, Any], files: list[tuple[str, bytes]] | None = None
) -> bytes:
    """The run's working directory: the template's files (a published one's `files`), the
    runtime, and `params.json`."""
    if files is None:
        folder = ROOT / template.name
        files = [(f.name, f.read_bytes()) for f in sorted(folder.iterdir()) if f.name in SCRIPTS]
    files = [(n, b) for n, b in files if n not in (RUNTIME, PARAMS)]
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
    template = get(name, session, who, project=project)
    manifest = template.manifest
    name = template.name
    if manifest.image is None and runs_here(session):  # an image brings its own libraries
        check_runtime(manifest)
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
    train = ["python", "train.py", "--params", PARAMS, "--output"]
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
    _use(session, who, template, job, zone)
    return job, True


# What a manifest's `requirements` (distributions) are imported as, where the names differ.
_MODULES = {"scikit-learn": "sklearn", "pyyaml": "yaml", "pillow": "PIL", "opencv-python": "cv2"}
_DIST = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@functools.cache
def _extra() -> frozenset[str]:
    """What pyproject's `templates` extra installs (`pip install 'aicc[templates]'`), read from
    the installed package's metadata; torch is left to the node (a CPU or a CUDA build)."""
    try:
        wanted = importlib.metadata.requires("aicc") or []
    except importlib.metadata.PackageNotFoundError:
        return frozenset()
    return frozenset(
        found.group(1).lower()
        for line in wanted
        if 'extra == "templates"' in line and (found := _DIST.match(line))
    )


def runs_here(session: Session) -> bool:
    """Whether a run's job would run on this server's own Python: every node of the center is
    on the local executor, whose replicas' `python` is the server's (`executors/environment.py`).
    A remote engine (Slurm, Ray, Kubernetes) brings its own runtime, which is not checked."""
    engines = set(session.scalars(select(NodeRow.executor).distinct()))
    return engines == {"local"}


def missing(manifest: core.Manifest) -> list[tuple[str, str]]:
    """(module, distribution) of each library the manifest's `requirements` name that this
    Python cannot import (`importlib.util.find_spec`, nothing imported)."""
    out = []
    for requirement in manifest.requirements:
        found = _DIST.match(requirement)
        if not found:
            continue
        dist = found.group(1)
        module = _MODULES.get(dist.lower(), dist.replace("-", "_").replace(".", "_"))
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            out.append((module, dist))
    return out


def install_command(dists: Iterable[str]) -> str:
    """The one command that installs `dists`: the templates' extra, and what it lacks by name."""
    wanted = list(dict.fromkeys(dists))
    extra = _extra()
    named = ["'aicc[templates]'"] if any(d.lower() in extra for d in wanted) else []
    return " ".join(["pip", "install", *named, *(d for d in wanted if d.lower() not in extra)])


def check_runtime(manifest: core.Manifest) -> None:
    """Refuse (422) a run whose template imports a library this server's Python lacks, before
    anything is submitted: its job would fail at once with a `ModuleNotFoundError` in stderr
    (issue 37). The message names the modules and the one command that installs them."""
    lacking = missing(manifest)
    if not lacking:
        return
    raise Invalid(
        "template {name} needs Python modules this server lacks: {modules}; install them with "
        "`{command}` where the server runs (from a checkout of AICC: `make templates`) and try "
        "again (only this server's Python is checked: a remote engine's runtime is not)",
        name=manifest.name,
        modules=", ".join(module for module, _ in lacking),
        command=install_command(dist for _, dist in lacking),
    )


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
    template: Template,
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
        files = stored_files(session, store, template.version_id)
    if chat is not None:
        folder = ROOT / template.name
        if files is not None or not (folder / CHAT_SCRIPT).is_file():
            raise Invalid("template {name} does not learn from chat files", name=template.name)
        files = [(f.name, f.read_bytes()) for f in sorted(folder.iterdir()) if f.name in SCRIPTS]
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
    template: Template,
    data: str | None,
    columns: dict[str, str] | None,
    project: str | None,
    hp: Mapping[str, object],
) -> _RunInput:
    """The run's input; a data set that does not fit the template (with the run's
    hyperparameters: a longer horizon needs more history) is a 422 saying why."""
    if data is None:
        return _RunInput([], [], None, columns, "example", "python example.py example && ")
    row, stored = datasets.version_row(session, who, data_ref(data), project=project)
    version = datasets.version_of(stored, row.name)
    paths = [f.path for f in datasets.manifest_of(stored).files]
    found = check_fit(template.manifest, template.name, version, paths, columns, params=hp)
    unchosen(found)
    prj = session.get(ProjectRow, row.project_id)
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
    template: Template,
    job: jobs.Job,
    target: DatasetRow,
    given: _RunInput,
    hp: dict[str, Any],
    points: list[dict[str, Any]] | None,
) -> None:
    """The model version the run promises (`ingest_outputs` registers it), with its lineage."""
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


def _egress(template: Template, who: Principal, limits: jobs.SubmitLimits) -> str:
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


def _use(session: Session, who: Principal, template: Template, job: jobs.Job, zone: str) -> None:
    """Count the run and, for another organization's paid template, charge the runner's
    organization and credit the publisher's: adjustments on the month's invoices, in the
    job's transaction, so each is written exactly once with it."""
    runner = session.get(ProjectRow, job.project_id)
    assert runner is not None
    now = utcnow()
    use = TemplateUseRow(
        job_id=job.id,
        target=template.id,
        org_id=runner.org_id,
        price=str(to_money(template.price)),
        currency=template.currency,
        created_at=now,
    )
    paid = template.price > ZERO and template.org_id not in (None, runner.org_id)
    if paid:
        assert template.org_id is not None
        month = periods.month_of(now, zone)
        org = session.get(OrgRow, runner.org_id)
        charged, credited = (
            _open(session, runner.org_id, month),
            _open(session, template.org_id, month),
        )
        amount = to_money(template.price)
        adjustment = functools.partial(_adjustment, who, template.currency, now)
        charge = adjustment(
            runner.org_id, runner.id, charged, amount, f"template {template.ref}: run {job.id}"
        )
        credit = adjustment(
            template.org_id,
            template.project_id,
            credited,
            -amount,
            f"template {template.ref}: used by {org.name if org else runner.org_id} (run {job.id})",
        )
        session.add_all([charge, credit])
        use.charge_id, use.credit_id = charge.id, credit.id
    session.add(use)
    session.flush()


def _adjustment(
    who: Principal,
    currency: str,
    now: datetime,
    org_id: str,
    project_id: str | None,
    period: str,
    amount: Decimal,
    description: str,
) -> AdjustmentRow:
    """One side of a paid run on an organization's invoice of `period`: the runner's charge
    (`amount` > 0) or the publisher's credit (< 0)."""
    return AdjustmentRow(
        id=new_id("adj"),
        org_id=org_id,
        project_id=project_id,
        period=period,
        amount=str(amount),
        currency=currency,
        description=description,
        created_at=now,
        created_by=who.user_id,
    )


def _open(session: Session, org_id: str, month: str) -> str:
    """`month`, or the first later month whose invoice of `org_id` is not issued yet: an
    adjustment on an issued month would never be billed."""
    while session.scalar(
        select(InvoiceRow.id).where(InvoiceRow.org_id == org_id, InvoiceRow.period == month)
    ):
        month = periods.next_month(month)
    return month


def _project_name(session: Session, who: Principal, project: str | None) -> str:
    return tenancy.resolve_project(session, who, project).name


def _model_row(
    session: Session, who: Principal, name: str, project: str | None, licence: str = ""
) -> DatasetRow:
    """The model a run's outputs go to, made now when missing (a data set of that name is a
    409 now, not a failed delivery after an hour of training)."""
    try:
        row, _ = datasets.find_writable(session, who, name, project, kind=MODEL)
    except NotFound:
        datasets.create(session, who, project=project, name=name, kind=MODEL, licence=licence)
        row, _ = datasets.find_writable(session, who, name, project, kind=MODEL)
    return row


def ingest_outputs(
    session: Session, store: ChunkStore, who: Principal, job: JobRow, out: JobOutputRow, root: Path
) -> str:
    """A template job's outputs as the next version of its model (`services/models/outputs.py` calls
    it when the job succeeded): metrics from `metrics.json`, the card from `report.json`, and
    the template's predict script beside the model."""
    row = session.get(DatasetRow, out.target_id)
    if row is None:
        raise NotFound("the model is gone")
    pinned = out.lineage.get("template_version")
    if pinned:
        extra = session.get(TemplateVersionRow, str(pinned))
        if extra is None:
            raise NotFound("the template's version {id} is gone", id=str(pinned))
        manifest = core.parse(extra.manifest)
        template = Template(manifest.name, manifest, "published")
        stored = dict(stored_files(session, store, str(pinned)))
    else:
        template = get(str(out.lineage.get("template")))
        manifest = template.manifest
        stored = {n: (ROOT / template.name / n).read_bytes() for n in SHIPPED if n != RUNTIME}
    stored[RUNTIME] = (ROOT / RUNTIME).read_bytes()
    lineage = dict(out.lineage)
    with logs.refusals():  # the job's outputs: links, FIFOs, sizes checked by the guard
        files = jobfiles.JobFiles(root)
        if "search" in lineage:
            files, lineage = template_search.pick(manifest, files, lineage)
        metrics = _json(files, "metrics.json")
        report = _json(files, "report.json")
        described = model_reports.describe(files, report, manifest)
        if manifest.metric.name not in metrics:
            raise Invalid(
                "the job wrote no {metric} in metrics.json; no model was registered",
                metric=manifest.metric.name,
            )
        written = {f.path for f in files.walk()}
        shipped = {n: data for n, data in stored.items() if n in SHIPPED and n not in written}

        def contents() -> Iterable[tuple[str, bytes | BinaryIO]]:
            """The job's files (opened in turn, read a block at a time) and the template's
            shipped ones it did not write, by path."""
            job_files = iter(files.contents())
            for name in sorted(written | set(shipped)):
                yield (name, shipped[name]) if name in shipped else next(job_files)

        version = models.register(
            session,
            who,
            store,
            row.name,
            contents(),
            project=row.project_id,
            format=manifest.format,
            framework=manifest.framework,
            metrics={k: float(v) for k, v in metrics.items() if isinstance(v, int | float)},
            params=dict(lineage.get("params") or {}),
            card=card(template, report, metrics, lineage, described),
            lineage=lineage,
            licence=manifest.licence,
            **described.fields(),
        )
    return version.ref


def _json(files: jobfiles.JobFiles, rel: str) -> dict[str, Any]:
    """A JSON object the job wrote ({} when missing or none), read through the guard."""
    try:
        doc = json.loads(files.capped(models.MAX_JSON_BYTES).read_bytes(rel))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def card(
    template: Template,
    report: dict[str, Any],
    metrics: dict[str, Any],
    lineage: dict[str, Any],
    described: model_reports.Described | None = None,
) -> str:
    """The model card (Markdown): what it does, on what data (the facts its job reported), how
    good it is, what it takes, how to use it."""
    m = template.manifest
    given = report.get("summary")
    summary: dict[str, Any] = given if isinstance(given, dict) else {}
    lines = [f"# {m.title.en} / {m.title.zh_CN}", ""]
    lines += [str(summary.get("en") or m.summary.en), ""]
    lines += [str(summary.get("zh-CN") or m.summary.zh_CN)]
    if described is not None:
        lines += model_reports.card_lines(described.facts, described.input_schema)
        if described.notes:
            lines += ["", "## Notes / 说明", "", *(f"- {note}" for note in described.notes)]
    lines += ["", "## Metrics / 指标", ""]
    for key, value in sorted(metrics.items()):
        mark = " (the template's own metric)" if key == m.metric.name else ""
        shown = f"{value:.4g}" if isinstance(value, int | float) else value
        lines.append(f"- {key}: {shown}{mark}")
    lines += ["", "## Lineage / 来源", ""]
    lines.append(f"- template: {m.name} ({m.industry}, {m.task}, {m.framework})")
    lines.append(f"- job: {lineage.get('job_id')}")
    data = lineage.get("datasets") or ["the template's example data"]
    lines.append(f"- data: {', '.join(data)}")
    params = lineage.get("params") or {}
    lines.append(f"- hyperparameters: {json.dumps(params, sort_keys=True)}")
    use = "python predict.py --model model --input INPUT --output OUT"
    lines += template_search.card_lines(lineage)
    lines += ["", "## Use / 用法", "", "```", use, "```"]
    return "\n".join(lines) + "\n"
