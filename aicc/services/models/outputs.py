"""What a job promised to leave behind (`JobOutputRow`): a cleaning job's outputs become the
next version of a data set, a template job's a version of a model, a batch prediction's
predictions a version of a data set. `deliver` runs after each reconcile pass
(loops/outputs.py), once per job: a crash before it commits leaves the row pending, and the
next pass delivers it. The outputs are the job's: each `Ingest` reads them
through the guard of job-written files (`executors/jobfiles.py`), and what it refuses (a link,
a FIFO, too many or too big) fails the delivery with the guard's message. A context above this
one (a challenge's scoring, services/needs) adds its kind with `register`, and hears of a
delivery that failed (the job did not succeed, or its outputs were refused)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.states import TERMINAL
from aicc.core.tenancy import Principal
from aicc.services.common import NotFound, ServiceError, read, utcnow
from aicc.services.jobs import jobs, logs
from aicc.services.models import cleaning, predictions, template_outputs
from aicc.services.tenancy import directory, tenancy
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables.models import JobOutputRow

Ingest = Callable[[Session, ChunkStore, Principal, jobs.Job, JobOutputRow, Path], str]
KINDS: dict[str, Ingest] = {
    "dataset": cleaning.ingest_outputs,
    "model": template_outputs.ingest,
    predictions.KIND: predictions.ingest_outputs,
}


@dataclass(frozen=True)
class Output:
    """What a context above this one (`register`) hears of a job's promised output."""

    job_id: str
    kind: str
    target_id: str
    lineage: dict[str, Any]
    result: str  # why it failed, for `Failed`


Delivered = Callable[[Session, ChunkStore, Principal, jobs.Job, Output, Path], str]
Failed = Callable[[Session, jobs.Job, Output], None]  # out.result says why
FAILED: dict[str, Failed] = {}


def register(kind: str, ingest: Delivered, failed: Failed) -> None:
    """Deliver outputs of `kind` with `ingest`; `failed` hears of those that made nothing."""

    def read(
        session: Session,
        store: ChunkStore,
        who: Principal,
        job: jobs.Job,
        out: JobOutputRow,
        root: Path,
    ) -> str:
        return ingest(session, store, who, job, _output(out), root)

    KINDS[kind] = read
    FAILED[kind] = failed


def expect(
    session: Session, *, job_id: str, kind: str, target_id: str, lineage: dict[str, Any]
) -> None:
    """Promise that job `job_id` leaves an output of `kind` (one `register`ed) for `target_id`:
    `deliver` hands it over once the job ended. Written in the caller's transaction."""
    session.add(
        JobOutputRow(
            job_id=job_id,
            kind=kind,
            target_id=target_id,
            lineage=lineage,
            state="pending",
            result="",
            created_at=utcnow(),
        )
    )


def _output(row: JobOutputRow) -> Output:
    return read(Output, row, lineage=dict(row.lineage or {}))


def deliver(
    session: Session, store: ChunkStore, outputs_of: Callable[[jobs.Job], Path]
) -> list[str]:
    """Turn the outputs of jobs that ended since the last pass into what they promised (or say
    why not); returns what each did, for the log."""
    done: list[str] = []
    waiting = session.scalars(select(JobOutputRow).where(JobOutputRow.state == "pending"))
    for out in list(waiting):
        job = jobs.find(session, out.job_id)
        if job is None or job.state not in TERMINAL:
            continue
        out.done_at = utcnow()
        if job.state != "succeeded":
            out.state, out.result = "failed", f"the job ended {job.state}; nothing was made"
            _failed(session, job, out)
            done.append(f"{job.id}: {out.result}")
            continue
        try:
            user = directory.user(session, job.user_id) if job.user_id else None
            if user is None:
                raise NotFound("the job's owner is gone")
            who = tenancy.principal_of(session, user)
            root = outputs_of(jobs.get(session, who, job.id))
            with logs.refusals():
                made = KINDS[out.kind](session, store, who, job, out, root)
        except (ServiceError, OSError, ValueError) as e:
            out.state, out.result = "failed", str(e)[:2000]
            _failed(session, job, out)
        else:
            out.state, out.result = "done", made
        done.append(f"{job.id}: {out.state} {out.result}")
    return done


def _failed(session: Session, job: jobs.Job, out: JobOutputRow) -> None:
    hook = FAILED.get(out.kind)
    if hook is not None:
        hook(session, job, _output(out))
