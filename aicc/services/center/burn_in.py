"""Burn-in before service (issue 40, docs/burn-in.md): a node in `burn_in` runs
`python -m aicc.burnin` as a system job bound to it, and serves only once its figures pass.

The job is submitted in the center's own organization (`aicc-system`, made on first use, its
project `default`) by the first center admin, and bound to the node here, since the scheduler
places nothing on a node that is not ready. When it ends, its result file is read through the
guard of job-written files (size-capped, no links, regular files only), checked against the
schema, and each figure compared with its reference: `tolerance` times the median of the
earlier passes of nodes of the same kind, and the floor configured for the kind. A pass makes
the node `ready`; anything else (a figure below its reference, one missing where a reference
exists, the GPU diagnostic failing, the job failing or its result unreadable) makes it
`quarantined`, with the figures kept to show, until an operator acts. This module runs the job
and judges it; nodes keeps the burn-ins and moves the node (services/nodes/burn_ins.py).
"""

from __future__ import annotations

import json
import shlex
import statistics
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

import aicc.burnin
from aicc.burnin import FIGURES, RESULT, VERSION
from aicc.config import BurnInSettings
from aicc.core.jobspec import JobSpec
from aicc.core.states import JobState
from aicc.core.tenancy import Principal
from aicc.executors import jobfiles
from aicc.executors.base import Executor
from aicc.scheduler.snapshot import Bind, DevicePick, Placement
from aicc.services.common import NotFound, ServiceError
from aicc.services.jobs import binding, census, jobs, logs, workdirs
from aicc.services.jobs.views import Job
from aicc.services.nodes import burn_ins
from aicc.services.nodes import census as node_census
from aicc.services.nodes import nodes as node_service
from aicc.services.tenancy import tenancy
from aicc.store.blobs import BlobStore

SYSTEM_ORG = "aicc-system"  # the center's own organization: its burn-in jobs are metered there
RESULT_BYTES = 64 * 1024  # the result file, parsed whole: a few hundred bytes when honest
REFERENCE_PASSES = 20  # earlier passes of a kind whose median is the reference


def program() -> bytes:
    """The burn-in package as a working directory (`aicc/burnin/*.py` under an empty `aicc`),
    the same bytes for the same code."""
    source = Path(aicc.burnin.__file__).parent
    files = [("aicc/__init__.py", b"")]
    files += [(f"aicc/burnin/{f.name}", f.read_bytes()) for f in sorted(source.glob("*.py"))]
    return workdirs.pack(files)


def kind_of(labels: Mapping[str, Any], devices: list[str], label: str) -> str:
    """The kind a node's figures are compared within: its `label` (default `kind`), else its
    accelerator model, else `cpu`."""
    return str(labels.get(label) or (devices[0] if devices else "cpu"))


def any_ended(session: Session) -> bool:
    """Whether a running burn-in's job has ended (or is gone): one for `finish` to judge."""
    job_ids = [r.job_id for r in burn_ins.running(session)]
    found = census.states(session, [j for j in job_ids if j])
    return any(j is None or _ended(found.get(j)) for j in job_ids)


def _ended(state: str | None) -> bool:
    """A burn-in job that is gone (None) or in a terminal state."""
    return state is None or JobState(state).is_terminal()


def _system(session: Session) -> Principal:
    """The first center admin, acting in the center's own organization (made on first use)
    with its project `default` as the default: where burn-in jobs and their programs go."""
    who = tenancy.first_admin(session, enabled=True)
    if who is None:
        raise NotFound("no center admin to run burn-ins as")
    found = tenancy.project_named(session, SYSTEM_ORG, tenancy.DEFAULT)
    if found is None:  # a new organization comes with its project `default`
        tenancy.create_org(session, None, name=SYSTEM_ORG, display_name="AICC's own jobs (burn-in)")
        found = tenancy.project_named(session, SYSTEM_ORG, tenancy.DEFAULT)
        assert found is not None
    org_id, project_id = found
    return replace(who, org_id=org_id, default_project_id=project_id)


def start(
    session: Session,
    name: str,
    *,
    settings: BurnInSettings,
    blobs: BlobStore,
    peer: str | None,
    same_host: frozenset[str] = frozenset(),
) -> str:
    """Submit the node's burn-in job, bind it to the node and record the burn-in as running;
    its id. `peer`: HOST:PORT of the server's network sink as the node reaches it, or None."""
    node = node_census.named(session, name)
    if node is None:
        raise NotFound("node {name!r} not found; `aicc node list` shows the nodes", name=name)
    who = _system(session)
    shown = node_service.infos(session, [name], used=census.allocations(session))[0]
    # the node's real accelerators no replica holds, whole: the GPU check needs to see them
    gpus = [
        d for d in shown.devices if not (d.simulated or d.mig or d.allocated_milli or not d.healthy)
    ]
    words = ["python", "-m", "aicc.burnin", "--seconds", str(settings.duration_s)]
    words += ["--disk-mib", str(settings.disk_mib), "--network-mib", str(settings.network_mib)]
    words += ["--gpus", str(len(gpus)), "--scratch", "."] + (["--peer", peer] if peer else [])
    spec = JobSpec.model_validate(
        {
            "name": _job_name(name),
            "project": who.default_project_id,
            "command": f'{shlex.join(words)} --out "$AICC_OUTPUT_DIR/{RESULT}"',
            "workdir_sha256": workdirs.keep(session, who, blobs, program()),
            "resources": {"cpu": "1", "memory": "1Gi", "accelerator": {"count": len(gpus)}},
            "max_runtime_s": int(settings.timeout_s),
            "labels": {"aicc.io/burn-in": name[:63]},
        }
    )
    job, _ = jobs.submit(session, who, spec, idempotency_key=None)
    now = job.created_at
    picks = tuple(DevicePick(d.index, 1000) for d in gpus)
    binding.record_bind(session, Bind(job.id, (Placement(0, name, picks),)), now, same_host)
    models = [d.model for d in shown.devices]
    kind = kind_of(node.labels, models, settings.kind_label)
    return burn_ins.begin(session, name, job_id=job.id, kind=kind, at=now)


def _job_name(node: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-." else "-" for c in node.lower())
    return f"burn-in-{cleaned}"[:62].rstrip("-.") or "burn-in"


def finish(
    session: Session, executors: Mapping[str, Executor], settings: BurnInSettings, now: datetime
) -> list[str]:
    """Judge every running burn-in whose job ended; the names of the nodes it decided."""
    decided = []
    for running in burn_ins.running(session):
        job = jobs.find(session, running.job_id) if running.job_id else None
        if job is not None and not _ended(job.state):
            continue
        result, why = _result(session, job, executors)
        verdict = judge(session, running.kind, result, why, settings)
        name = burn_ins.conclude(session, running.id, verdict, at=now)
        if name is not None:
            decided.append(name)
    return decided


def _result(
    session: Session, job: Job | None, executors: Mapping[str, Executor]
) -> tuple[dict[str, Any] | None, str]:
    """The job's result, checked, or None and why not."""
    if job is None:
        return None, "its job is gone"
    if job.state != JobState.SUCCEEDED.value:
        return None, f"its job {job.id} ended {job.state}: {job.message}"[:500]
    try:
        root = logs.outputs_dir(session, job, dict(executors))
        raw = jobfiles.JobFiles(root).capped(RESULT_BYTES).read_bytes(RESULT)
        return parse(raw), ""
    except (ServiceError, jobfiles.Refused, OSError, ValueError) as err:
        return None, f"its result {RESULT} could not be read: {err}"[:500]


def parse(raw: bytes) -> dict[str, Any]:
    """The result file, checked against its schema: what a process wrote is hostile input.
    ValueError saying what is wrong."""
    doc = json.loads(raw.decode("utf-8"))
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        raise ValueError(f"not a burn-in result of version {VERSION}")
    figures, skipped, gpu = doc.get("figures"), doc.get("skipped", {}), doc.get("gpu", {})
    if not isinstance(figures, dict) or not isinstance(skipped, dict) or not isinstance(gpu, dict):
        raise ValueError("figures, skipped and gpu must be objects")
    out: dict[str, dict[str, Any]] = {}
    for name, figure in figures.items():
        if name not in FIGURES or not isinstance(figure, dict):
            raise ValueError(f"figure {str(name)[:40]!r} is not one the burn-in measures")
        value = figure.get("value")
        if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
            raise ValueError(f"figure {name}: its value must be a number, at least 0")
        if value > 1e15:
            raise ValueError(f"figure {name}: {value} is beyond any machine")
        out[name] = {"value": float(value), "unit": FIGURES[name]}
    return {
        "figures": out,
        "skipped": {str(k)[:40]: str(v)[:500] for k, v in list(skipped.items())[:20]},
        "gpu": {str(k)[:20]: str(v)[:2000] for k, v in list(gpu.items())[:5]},
    }


def references(session: Session, kind: str, settings: BurnInSettings) -> dict[str, float]:
    """figure -> the least it must reach on a node of `kind`: `tolerance` times the median of
    the last passes of that kind, or the floor configured for the kind (or `*`), the higher."""
    earlier = burn_ins.passed_figures(session, kind, REFERENCE_PASSES)
    out: dict[str, float] = {}
    for name in FIGURES:
        values = [f[name]["value"] for f in earlier if name in (f or {})]
        if values:
            out[name] = round(settings.tolerance * statistics.median(values), 3)
    floors: dict[str, float] = {}
    for floor in sorted(settings.floors, key=lambda f: f.kind != "*"):  # a kind's own last
        if floor.kind in ("*", kind):
            floors |= {n: v for n in FIGURES if (v := getattr(floor, n, None)) is not None}
    for name, least in floors.items():
        out[name] = max(out.get(name, 0.0), least)
    return out


def judge(
    session: Session,
    kind: str,
    result: dict[str, Any] | None,
    why: str,
    settings: BurnInSettings,
) -> burn_ins.Verdict:
    """The verdict of a burn-in of a node of `kind`: its figures (each with its reference and
    whether it reached it) and reason; `result` None: failed for `why`."""
    if result is None:
        return burn_ins.Verdict(state="failed", figures={}, checks={}, reason=why)
    wanted = references(session, kind, settings)
    figures, problems = {}, []
    for name, figure in result["figures"].items():
        reference = wanted.get(name)
        passed = None if reference is None else figure["value"] >= reference
        figures[name] = {**figure, "reference": reference, "passed": passed}
        if passed is False:
            unit = figure["unit"]
            problems.append(f"{name} {figure['value']:g} {unit} < {reference:g} {unit}")
    problems += [f"{name} not measured" for name in wanted if name not in figures]
    if result["gpu"].get("state") == "failed":
        problems.append(f"GPU check failed ({result['gpu'].get('tool') or 'gpu'})")
    return burn_ins.Verdict(
        state="failed" if problems else "passed",
        figures=figures,
        checks={"skipped": result["skipped"], "gpu": result["gpu"]},
        reason="; ".join(problems)[:2000],
    )
