"""A replica's logs and a job's outputs, read through the executor that ran it."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from aicc.core.states import JobState
from aicc.core.tenancy import Principal
from aicc.executors.base import Executor
from aicc.executors.base import Stream as Stream  # re-exported: the API names the stream too
from aicc.services import jobs
from aicc.services.common import NotFound
from aicc.store.db import Database
from aicc.store.tables import NodeRow


def replica_of(job: jobs.Job, index: int) -> jobs.Replica:
    reps = job.replicas
    if not reps:
        raise NotFound(
            f"job {job.id} has not started yet, so it has no logs; see `aicc job explain`"
        )
    for rep in reps:
        if rep.index == index:
            return rep
    raise NotFound(f"job {job.id} has replicas 0 to {len(reps) - 1}; there is no replica {index}")


def executor_of(session: Session, rep: jobs.Replica, executors: dict[str, Executor]) -> Executor:
    node = session.get(NodeRow, rep.node_id)
    executor = executors.get(node.executor if node else "")
    if executor is None:
        raise NotFound("the executor that ran this replica is not attached to this server")
    return executor


def read(
    session: Session,
    job: jobs.Job,
    executors: dict[str, Executor],
    *,
    index: int,
    stream: Stream,
    tail: int | None,
) -> str:
    rep = replica_of(job, index)
    if rep.handle is None:
        return ""
    return executor_of(session, rep, executors).logs(rep.handle, stream, tail)


def outputs_dir(session: Session, job: jobs.Job, executors: dict[str, Executor]) -> Path:
    for rep in job.replicas:
        if rep.handle:
            path = executor_of(session, rep, executors).outputs_dir(job.id, rep.handle)
            if path is not None and path.is_dir():
                return path
    raise NotFound(f"job {job.id} has no outputs on this server (yet)")


@dataclass(frozen=True)
class OutputFile:
    path: str  # relative to `$AICC_OUTPUT_DIR`, with '/'
    size: int


def output_files(root: Path) -> list[OutputFile]:
    """The regular files under `root`, sorted by path; symbolic links are left out (a job could
    point one anywhere on the node)."""
    return [
        OutputFile(path.relative_to(root).as_posix(), path.stat().st_size)
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    ]


def outputs_archive(root: Path) -> bytes:
    """A tar.gz of `output_files(root)`, built in memory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for item in output_files(root):
            archive.add(root / item.path, arcname=item.path, recursive=False)
    return buffer.getvalue()


def follow_step(
    db: Database,
    executors: dict[str, Executor],
    who: Principal,
    job_id: str,
    index: int,
    stream: Stream,
    tail: int | None,
    sent: int | None,
) -> tuple[str, int | None, bool]:
    """One poll while following a log: (new text, bytes sent so far, whether the job ended).

    Only what was written since the last poll is read, so following a long log stays cheap."""
    with db.reader() as session:
        job = jobs.get(session, who, job_id)
        done = JobState(job.state).is_terminal()
        rep = next((r for r in job.replicas if r.index == index), None)
        if rep is None or not rep.handle:
            return "", sent, done
        executor = executor_of(session, rep, executors)
    size = executor.log_size(rep.handle, stream)
    if sent is None:
        return executor.logs(rep.handle, stream, tail), size, done
    if size > sent:
        return executor.logs(rep.handle, stream, size - sent), size, done
    return "", sent, done
