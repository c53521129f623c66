"""The marketplace's templates (预置行业算法): the built-in catalog, the templates tenants
publish, and which of them fit a data set and why not (带着数据来、拿着成果走).

Built-in templates are the directories of `aicc/templates` (`core/templates.py` says what they
hold). A tenant publishes its own (`publish`): stored like a model, as a row of `datasets` of
kind `template` whose versions are its files, with `TemplateVersionRow` holding the parsed
manifest and the per-use price; private, org or public as data sets are. A plain name is a
built-in's when one has it (a tenant cannot publish under a built-in's name, so no reference is
ever ambiguous), else the caller's template or one shared with it (`NAME`, `NAME@N`,
`ORG/PROJECT/NAME@N`). A run of a template is `template_runs.py`, its use and charge
`template_uses.py`, the model it makes `template_outputs.py`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session

import aicc
from aicc.core import datasets as data_core
from aicc.core import templates as core
from aicc.core.pricing import MAX_MONEY, ZERO, to_money
from aicc.core.tenancy import Principal, can_manage, can_write
from aicc.services.common import Conflict, Forbidden, Invalid, NotFound, utcnow
from aicc.services.data import chunks, datasets, lookups, uploads
from aicc.services.data.datasets import TEMPLATE
from aicc.services.data.views import DatasetRef
from aicc.services.models import grants
from aicc.services.tenancy import audit, tenancy
from aicc.services.tenancy.views import Project
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables.models import TemplateVersionRow

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
    version_id: str | None = None  # the stored files (its data set version) of a published one
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
    session: Session, who: Principal, row: DatasetRef, version_id: str, number: int
) -> Template:
    """Published version `number` (id `version_id`) of the template `row`."""
    extra = session.get(TemplateVersionRow, version_id)
    if extra is None:
        raise NotFound("template {name} has no published version", name=row.name)
    qualified = row.project
    price, currency = Decimal(extra.price), extra.currency
    if row.org_id != who.org_id:  # an accepted offer's own price for the caller's organization
        price, currency = grants.price(session, who.org_id, row.id) or (price, currency)
    return Template(
        row.name,
        core.parse(extra.manifest),
        qualified,
        ref=f"{qualified}/{row.name}@{number}",
        id=row.id,
        version=number,
        version_id=version_id,
        visibility=row.visibility,
        licence=row.licence,
        price=price,
        currency=currency,
        writable=can_write(who, org_id=row.org_id, project_id=row.project_id),
        org_id=row.org_id,
        project_id=row.project_id,
    )


def _shared(session: Session, who: Principal) -> list[Template]:
    """The latest version of every published template the caller reads or was granted."""
    ids = [d.id for d in datasets.list_datasets(session, who, scope="visible", kind=TEMPLATE)]
    ids += [g.template_id for g in grants.active(session, who.org_id) if g.template_id not in ids]
    out = []
    for dataset_id in dict.fromkeys(ids):
        row = datasets.ref_by_id(session, dataset_id)
        latest = lookups.numbered(session, dataset_id)
        if row is not None and latest is not None:
            out.append(_published(session, who, row, latest.id, latest.number))
    return out


def _granted(
    session: Session, who: Principal, ref: data_core.Ref
) -> tuple[DatasetRef, lookups.VersionRef] | None:
    """A template the caller's organization was granted (an accepted offer), named as any
    template is: NAME, NAME@N or ORG/PROJECT/NAME@N."""
    for found in grants.active(session, who.org_id):
        row = datasets.ref_by_id(session, found.template_id)
        if row is None or row.name != ref.name:
            continue
        if ref.org and f"{ref.org}/{ref.project}" != row.project:
            continue
        version = lookups.numbered(session, row.id, ref.version)
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
            found_ref, version = lookups.find(session, who, ref, project=project, kind=TEMPLATE)
        except NotFound:
            if project is None or ref.org:
                raise
            # the run's project is not the template's: one shared with the caller
            found_ref, version = lookups.find(session, who, ref, kind=TEMPLATE)
        version_id, number = version.id, version.number
        row = found_ref
    except NotFound:
        granted = _granted(session, who, ref)
        if granted is None:
            raise missing from None
        row, granted_version = granted
        version_id, number = granted_version.id, granted_version.number
    return _published(session, who, row, version_id, number)


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
    ref, prj = _publishing_row(
        session,
        who,
        manifest,
        project,
        visibility=visibility,
        licence=licence,
        description=description,
    )
    row = ref
    before = lookups.numbered(session, row.id)
    committed = uploads.ingest(
        session, who, store, row.name, prj.id, sorted(files.items()), "published", kind=TEMPLATE
    )
    version = lookups.numbered(session, row.id, committed.version.number)
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
    return _published(session, who, row, version.id, version.number)


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
) -> tuple[DatasetRef, Project]:
    """The template's data set in `project`, made on the first publish; a later publish
    changes its visibility and licence when given (widening to public takes an org admin)."""
    try:
        row, prj = lookups.find_writable(session, who, manifest.name, project, kind=TEMPLATE)
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
        row, prj = lookups.find_writable(session, who, manifest.name, project, kind=TEMPLATE)
    else:
        if visibility is not None and visibility not in data_core.VISIBILITIES:
            raise Invalid(
                "visibility {visibility!r}: one of private, org, public", visibility=visibility
            )
        widening = visibility == "public" and row.visibility != "public"
        if widening and not can_manage(who, org_id=prj.org_id):
            raise Forbidden("only organization admins publish templates to everyone")
        datasets.republish(session, row.id, visibility=visibility, licence=licence)
        changed = datasets.ref_by_id(session, row.id)  # as republished
        assert changed is not None
        row = changed
    return row, prj


def delete(session: Session, who: Principal, name: str, *, project: str | None = None) -> None:
    """Withdraw a published template (its runs and the models they made stay)."""
    datasets.delete(session, who, name, project=project, kind=TEMPLATE, extended=_drop_facts)


def _drop_facts(session: Session, versions: datasets.VersionIds) -> None:
    """A withdrawn template's versions' manifests and prices go with its versions."""
    session.execute(
        sql_delete(TemplateVersionRow).where(TemplateVersionRow.version_id.in_(versions))
    )


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


def scripts(name: str) -> list[tuple[str, bytes]]:
    """A built-in's files that a run ships (`SCRIPTS`), by name."""
    folder = ROOT / name
    return [(f.name, f.read_bytes()) for f in sorted(folder.iterdir()) if f.name in SCRIPTS]


def stored_files(session: Session, store: ChunkStore, version_id: str) -> list[tuple[str, bytes]]:
    """A published template version's files, read through the chunk store."""
    manifest = lookups.manifest(session, version_id)
    if manifest is None:
        raise NotFound("the template's version {id} is gone", id=version_id)
    entries = manifest.files
    reader = chunks.reader(session, store, [c.digest for f in entries for c in f.chunks])
    return [(f.path, b"".join(reader.get(c.digest) for c in f.chunks)) for f in entries]
