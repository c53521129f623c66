"""Cleaning jobs (数据清洗): a pipeline that runs on the scheduler like any job and whose outputs
become the next version of a data set, with lineage to its input. A job whose outputs become a
version is this context's (as a template run's and a batch prediction's): the promise it writes
with the submit (`JobOutputRow`) is models', delivered by `outputs.deliver`.

The job runs `python -m aicc.cleaning` (`aicc/cleaning`, which imports nothing else of AICC) from
a working directory holding only that package, so it runs wherever a job runs, on any executor,
with its input mounted read-only at `$AICC_DATA_DIR/NAME`. When it succeeds, `deliver` pushes
its outputs as a version of the target set; the report the program writes
(`_aicc_clean_report.json`) becomes the version's lineage (records in and out, what each step
removed, what PII it masked), not a file of the set.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from sqlalchemy.orm import Session

import aicc.cleaning
from aicc.cleaning import REPORT, STEPS, Filter, Options, Pipeline, parse_steps
from aicc.core import datasets as core
from aicc.core.jobspec import JobSpec
from aicc.core.tenancy import Principal
from aicc.executors import jobfiles
from aicc.services.common import Invalid, NotFound, utcnow
from aicc.services.data import datasets, uploads
from aicc.services.data.views import DatasetRef
from aicc.services.jobs import jobs, logs, workdirs
from aicc.services.jobs.views import Job
from aicc.services.tenancy import tenancy
from aicc.store.blobs import BlobStore
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables.models import JobOutputRow

REPORT_BYTES = 16 * 1024 * 1024  # the job's report.json, parsed whole


def program() -> bytes:
    """The cleaning package as a deterministic .tar.gz working directory (`aicc/cleaning/*.py`
    under an empty `aicc` package), the same bytes for the same code."""
    source = Path(aicc.cleaning.__file__).parent
    files = [("aicc/__init__.py", b"")]
    files += [(f"aicc/cleaning/{f.name}", f.read_bytes()) for f in sorted(source.glob("*.py"))]
    return workdirs.pack(files)


def options_of(
    steps: str, *, min_chars: int, max_chars: int | None, lang: str | None, threshold: float
) -> Options:
    """The pipeline's options, checked now so that a bad one is a 422, not a failed job."""
    try:
        langs = frozenset(x.strip() for x in lang.split(",") if x.strip()) if lang else None
        options = Options(parse_steps(steps), Filter(min_chars, max_chars, langs), threshold)
        Pipeline(options)
    except ValueError as e:
        raise Invalid("{problem}", problem=str(e)) from None
    return options


def submit(
    session: Session,
    who: Principal,
    blobs: BlobStore,
    *,
    ref: str,
    into: str,
    project: str | None = None,
    steps: str = ",".join(STEPS),
    text_column: str = "text",
    min_chars: int = 0,
    max_chars: int | None = None,
    lang: str | None = None,
    threshold: float = 0.8,
    queue: str | None = None,
    cpu: str = "1",
    memory: str = "2Gi",
) -> jobs.Job:
    """Submit a cleaning job of `ref` whose outputs become the next version of `into` (made in
    the caller's project when missing)."""
    options_of(steps, min_chars=min_chars, max_chars=max_chars, lang=lang, threshold=threshold)
    version, _ = datasets.open_version(session, who, ref, project=project)
    source = datasets.resolve(session, who, core.Ref(version.name, version.number))
    target = _target(session, who, into, project)
    sha256 = workdirs.keep(session, who, blobs, program())
    words = ["python", "-m", "aicc.cleaning", "--steps", steps, "--text-column", text_column]
    words += ["--threshold", str(threshold), "--min-chars", str(min_chars)]
    words += ["--max-chars", str(max_chars)] if max_chars is not None else []
    words += ["--lang", lang] if lang else []
    # the mount and the output folder are the replica's own: the shell fills them in
    where = f'--input "$AICC_DATA_DIR/{version.name}" --output "$AICC_OUTPUT_DIR"'
    qualified = f"{source.project}/{version.name}@{version.number}"
    spec = JobSpec.model_validate(
        {
            "name": f"clean-{version.name}-{version.number}",
            "project": _project_name(session, who, project),
            "queue": queue,
            "command": f"{shlex.join(words)} {where}",
            "workdir_sha256": sha256,
            "datasets": [qualified],
            "resources": {"cpu": cpu, "memory": memory},
            "labels": {"aicc.io/clean-into": target.name},
        }
    )
    job, _ = jobs.submit(session, who, spec, idempotency_key=None)
    session.add(
        JobOutputRow(
            job_id=job.id,
            kind="dataset",
            target_id=target.id,
            lineage={"job_id": job.id, "datasets": [qualified], "steps": list(parse_steps(steps))},
            state="pending",
            result="",
            created_at=utcnow(),
        )
    )
    return job


def _project_name(session: Session, who: Principal, project: str | None) -> str:
    return tenancy.resolve_project(session, who, project).name


def _target(session: Session, who: Principal, into: str, project: str | None) -> DatasetRef:
    try:
        return datasets.resolve(session, who, into, project, to_write=True)
    except NotFound:
        datasets.create(session, who, project=project, name=into)
        return datasets.resolve(session, who, into, project, to_write=True)


def ingest_outputs(
    session: Session, store: ChunkStore, who: Principal, job: Job, out: JobOutputRow, root: Path
) -> str:
    """A cleaning job's outputs as the next version of its target set (`outputs.deliver` calls
    it when the job succeeded): its report becomes the version's lineage."""
    row = datasets.ref_by_id(session, out.target_id)
    if row is None:
        raise NotFound("the data set is gone")
    files = jobfiles.JobFiles(root)
    with logs.refusals():  # the job's outputs: links, FIFOs, sizes checked by the guard
        try:
            report = json.loads(files.capped(REPORT_BYTES).read_bytes(REPORT))
        except FileNotFoundError:
            report = {}
        lineage = {**out.lineage, "report": report}
        committed = uploads.ingest_into(
            session,
            who,
            store,
            row,
            files.contents(leave_out=frozenset({REPORT})),
            f"cleaned by job {job.id}",
            lineage=lineage,
        )
    return committed.version.ref
