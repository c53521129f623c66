"""The LoRA adapters a deployment serves over its base without merging (docs/deployments.md,
"Adapters"): a model version holding peft's files (`adapter_config.json` and its weights, at
the version's root or under `model/` for a template-trained one) attached under a name, called
as `DEPLOYMENT:NAME` or by its alias alone.

An adapter is attached from the deployment's project, or from a model shared with the caller
(the registry's visibility: `org` for the organization's projects, `public` for everyone);
any other model is a 404, as one that does not exist. Its `base_model_name_or_path` must name
the deployment's model (`base_matches`), else a 422 naming both.

Attaching writes a row, nothing more: the gateway hands an attached adapter's files to a
replica the first time it routes a request for it there (`files`), so a running replica serves
one attached after it started, without a restart. The files reach the replica as they are; the
server reads only `adapter_config.json`, capped as a job's metrics are."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aicc.core.datasets import Manifest
from aicc.core.tenancy import Principal
from aicc.services.common import Conflict, Invalid, NotFound, from_row, new_id, utcnow
from aicc.services.data import chunks, datasets, lookups
from aicc.services.serving import access, replica_spec
from aicc.services.serving.views import DeploymentAdapter
from aicc.services.tenancy import directory
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables.serving import DeploymentAdapterRow, DeploymentRow

CONFIG = "adapter_config.json"
WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")  # as aicc/serving/adapters.py
VERSION_HEADER = "x-aicc-adapter-version"  # the version handed in (aicc/serving/adapters.py)
MAX_CONFIG_BYTES = 64 * 1024  # an adapter_config.json is a few hundred bytes
NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")  # a name in `DEPLOYMENT:NAME`


@dataclass(frozen=True)
class Source:
    """What the gateway needs to hand an attached adapter to a replica: where the replica keeps
    it (OWNER/NAME, OWNER the deployment's project, the tenant the gateway names) and which
    model version's files (`version_id`: a new attachment under the same name replaces it)."""

    key: str
    version_id: str
    files: tuple[tuple[str, str], ...]  # (path in the version, name in the adapter's folder)


def _inner(paths: set[str]) -> str:
    """The folder of the adapter's files in a version: `model/` for a template-trained one
    (template.yaml beside it, as aicc/serving/choose.py reads it), else the root."""
    return "model/" if "template.yaml" in paths and f"model/{CONFIG}" in paths else ""


def base_matches(base: str, model: str) -> bool:
    """Whether an adapter's `base_model_name_or_path` names the deployment's model `model`
    (ORG/PROJECT/NAME@N): as a reference (NAME, NAME@N, ORG/PROJECT/NAME[@N]), or as a path
    or hub name whose last part is NAME (case aside): where a job that trained over the
    model found it (`$AICC_DATA_DIR/NAME`, `.../NAME/model` for a template's)."""
    qualified, _, number = model.partition("@")
    name = qualified.rsplit("/", 1)[-1]
    said = base.strip().rstrip("/")
    if said in {model, qualified, name, f"{name}@{number}"}:
        return True
    parts = [p.lower() for p in said.split("/") if p]
    if parts and parts[-1] == "model" and len(parts) > 1:
        parts.pop()
    return bool(parts) and parts[-1] in {name.lower(), f"{name}@{number}".lower()}


def _view(session: Session, row: DeploymentAdapterRow, deployment: str) -> DeploymentAdapter:
    model = datasets.ref_by_id(session, row.model_id)
    ref = (
        f"{model.project}/{model.name}@{row.model_version}"
        if model is not None
        else f"{row.model_id}@{row.model_version}"  # the model was deleted since
    )
    return from_row(DeploymentAdapter, row, deployment=deployment, model=ref)


def _base_of(session: Session, store: ChunkStore, manifest: Manifest, ref: str) -> str:
    """The adapter's `base_model_name_or_path`; a version without peft's files is a 422."""
    paths = {f.path for f in manifest.files}
    inner = _inner(paths)
    if f"{inner}{CONFIG}" not in paths or not any(f"{inner}{w}" in paths for w in WEIGHTS):
        raise Invalid(
            "model: {ref} is not a LoRA adapter; it needs adapter_config.json and "
            "adapter_model.safetensors (as peft saves one)",
            ref=ref,
        )
    entry = manifest.find(f"{inner}{CONFIG}")
    assert entry is not None
    if entry.size > MAX_CONFIG_BYTES:
        raise Invalid("model: {ref}'s adapter_config.json is too large to be peft's", ref=ref)
    reader = chunks.reader(session, store, [c.digest for c in entry.chunks])
    raw = b"".join(reader.get(c.digest) for c in entry.chunks)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        doc = None
    base = doc.get("base_model_name_or_path") if isinstance(doc, dict) else None
    if not isinstance(base, str) or not base.strip():
        raise Invalid(
            "model: {ref}'s adapter_config.json names no base_model_name_or_path", ref=ref
        )
    return base.strip()[:512]


def attach(
    session: Session,
    who: Principal,
    store: ChunkStore,
    deployment: str,
    *,
    model: str,
    name: str | None = None,
    alias: str | None = None,
    project: str | None = None,
) -> DeploymentAdapter:
    """Serve the adapter model version `model` (`NAME@N`, `NAME` for the latest, or
    ORG/PROJECT/NAME@N shared with the caller) on the deployment as `name` (the model's name
    by default), and as `alias` alone where given. Attaching a name again replaces it."""
    row = access.writable(session, who, deployment, project)
    served = access.current(session, row).settings.get("model")
    if not served:
        raise Invalid(
            "deployment {name} runs a command; adapters attach to a deployment of a model",
            name=row.name,
        )
    prj = directory.project(session, row.project_id)
    assert prj is not None
    found, version, where = replica_spec.model_version(session, who, prj, model)
    ref = f"{datasets.qualified(session, where)}/{found.name}@{version.number}"
    name = found.name if name is None else name
    if not NAME.match(name):
        raise Invalid(
            "name {name!r}: lowercase letters, digits, '.', '_' or '-' (it follows the ':')",
            name=name,
        )
    if alias is not None:
        if not NAME.match(alias):
            raise Invalid(
                "alias {alias!r}: lowercase letters, digits, '.', '_' or '-'", alias=alias
            )
        taken = select(DeploymentRow.id).where(
            DeploymentRow.project_id == row.project_id, DeploymentRow.name == alias
        )
        if session.scalar(taken) is not None:
            raise Conflict("alias {alias}: a deployment of this project has that name", alias=alias)
        other = session.scalar(
            select(DeploymentAdapterRow).where(
                DeploymentAdapterRow.project_id == row.project_id,
                DeploymentAdapterRow.alias == alias,
            )
        )
        if other is not None and (other.deployment_id, other.name) != (row.id, name):
            raise Conflict("alias {alias} is taken in this project", alias=alias)
    manifest = version.manifest
    base = _base_of(session, store, manifest, ref)
    if not base_matches(base, str(served)):
        raise Invalid(
            "model: {ref} is an adapter of {base}, not of {served}, which deployment {name} serves",
            ref=ref,
            base=base,
            served=served,
            name=row.name,
        )
    session.execute(
        delete(DeploymentAdapterRow).where(
            DeploymentAdapterRow.deployment_id == row.id, DeploymentAdapterRow.name == name
        )
    )
    attached = DeploymentAdapterRow(
        id=new_id("dad"),
        deployment_id=row.id,
        project_id=row.project_id,
        name=name,
        alias=alias,
        model_id=found.id,
        model_version=version.number,
        base=base,
        bytes=sum(f.size for f in manifest.files),
        created_by=who.user_id,
        created_at=utcnow(),
    )
    session.add(attached)
    access.written(session, who, row, "deployment.adapter.attach")
    return _view(session, attached, row.name)


def list_adapters(
    session: Session, who: Principal, deployment: str, *, project: str | None = None
) -> list[DeploymentAdapter]:
    """The adapters the deployment serves, by name."""
    row = access.find(session, who, deployment, project)
    found = session.scalars(
        select(DeploymentAdapterRow)
        .where(DeploymentAdapterRow.deployment_id == row.id)
        .order_by(DeploymentAdapterRow.name)
    )
    return [_view(session, a, row.name) for a in found]


def detach(
    session: Session, who: Principal, deployment: str, name: str, *, project: str | None = None
) -> None:
    """Stop serving adapter `name`: the gateway answers its requests 404 from now on."""
    row = access.writable(session, who, deployment, project)
    found = session.scalar(
        select(DeploymentAdapterRow).where(
            DeploymentAdapterRow.deployment_id == row.id, DeploymentAdapterRow.name == name
        )
    )
    if found is None:
        raise NotFound(
            "deployment {deployment} serves no adapter {name}", deployment=row.name, name=name
        )
    session.delete(found)
    access.written(session, who, row, "deployment.adapter.detach")


def forget(session: Session, deployment_id: str) -> None:
    """A deleted deployment's attachments go with it."""
    session.execute(
        delete(DeploymentAdapterRow).where(DeploymentAdapterRow.deployment_id == deployment_id)
    )


# --- the gateway's side (no caller: the gateway found the deployment by the key's project)


def sources(session: Session, deployment_id: str, project_id: str) -> dict[str, Source]:
    """The adapters the deployment serves, by name, as the gateway hands them to replicas."""
    out = {}
    for row in session.scalars(
        select(DeploymentAdapterRow).where(DeploymentAdapterRow.deployment_id == deployment_id)
    ):
        found = lookups.numbered_manifest(session, row.model_id, row.model_version)
        if found is None:  # the model version was deleted since: nothing to serve
            continue
        version_id, manifest = found
        paths = {f.path for f in manifest.files}
        inner = _inner(paths)
        wanted = [f"{inner}{CONFIG}", *(f"{inner}{w}" for w in WEIGHTS)]
        files = tuple((p, p[len(inner) :]) for p in wanted if p in paths)
        out[row.name] = Source(f"{project_id}/{row.name}", version_id, files)
    return out


def aliased(session: Session, project_id: str, alias: str) -> tuple[str, str] | None:
    """The (deployment, adapter name) an alias of the project calls, or None."""
    found = session.execute(
        select(DeploymentRow.name, DeploymentAdapterRow.name)
        .join(DeploymentRow, DeploymentRow.id == DeploymentAdapterRow.deployment_id)
        .where(DeploymentAdapterRow.project_id == project_id, DeploymentAdapterRow.alias == alias)
    ).first()
    return None if found is None else (found[0], found[1])


def aliases(session: Session, project_id: str) -> list[tuple[str, str, str]]:
    """The project's attached adapters as (deployment, name, alias or ""), for `/v1/models`."""
    rows = session.execute(
        select(DeploymentRow.name, DeploymentAdapterRow.name, DeploymentAdapterRow.alias)
        .join(DeploymentRow, DeploymentRow.id == DeploymentAdapterRow.deployment_id)
        .where(DeploymentAdapterRow.project_id == project_id)
        .order_by(DeploymentRow.name, DeploymentAdapterRow.name)
    )
    return [(d, n, a or "") for d, n, a in rows]


def files(session: Session, store: ChunkStore, source: Source) -> list[tuple[str, bytes]]:
    """An attached adapter's files as the replica keeps them: (name, bytes)."""
    manifest = lookups.manifest(session, source.version_id)
    if manifest is None:
        return []
    out = []
    for path, dest in source.files:
        entry = manifest.find(path)
        if entry is None:
            continue
        reader = chunks.reader(session, store, [c.digest for c in entry.chunks])
        out.append((dest, b"".join(reader.get(c.digest) for c in entry.chunks)))
    return out
