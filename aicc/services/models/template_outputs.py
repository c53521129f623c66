"""A template run's outputs as the next version of its model: metrics, the model card, and
the template's own `predict.py` shipped beside the model, so the downloaded model runs as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from aicc.core import templates as core
from aicc.core.tenancy import Principal
from aicc.executors import jobfiles
from aicc.services.common import Invalid, NotFound
from aicc.services.data import datasets
from aicc.services.jobs import logs
from aicc.services.jobs.views import Job
from aicc.services.models import model_reports, models, template_search, templates
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables.models import JobOutputRow, TemplateVersionRow


def ingest(
    session: Session, store: ChunkStore, who: Principal, job: Job, out: JobOutputRow, root: Path
) -> str:
    """A template job's outputs as the next version of its model (`services/models/outputs.py` calls
    it when the job succeeded): metrics from `metrics.json`, the card from `report.json`, and
    the template's predict script beside the model."""
    row = datasets.ref_by_id(session, out.target_id)
    if row is None:
        raise NotFound("the model is gone")
    pinned = out.lineage.get("template_version")
    if pinned:
        extra = session.get(TemplateVersionRow, str(pinned))
        if extra is None:
            raise NotFound("the template's version {id} is gone", id=str(pinned))
        manifest = core.parse(extra.manifest)
        template = templates.Template(manifest.name, manifest, "published")
        stored = dict(templates.stored_files(session, store, str(pinned)))
    else:
        template = templates.get(str(out.lineage.get("template")))
        manifest = template.manifest
        stored = {
            n: (templates.ROOT / template.name / n).read_bytes()
            for n in templates.SHIPPED
            if n != templates.RUNTIME
        }
    stored[templates.RUNTIME] = (templates.ROOT / templates.RUNTIME).read_bytes()
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
        shipped = {
            n: data for n, data in stored.items() if n in templates.SHIPPED and n not in written
        }

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
    template: templates.Template,
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
