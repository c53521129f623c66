"""A replica's logs and a job's outputs, read through the executor that ran it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from aicc.executors.base import Executor, Stream
from aicc.services import jobs
from aicc.services.common import NotFound
from aicc.store.tables import JobRow, NodeRow, ReplicaRow


def replica_of(session: Session, job: JobRow, index: int) -> ReplicaRow:
    reps = jobs.replicas(session, job)
    if not reps:
        raise NotFound(
            f"job {job.id} has not started yet, so it has no logs; see `aicc job explain`"
        )
    for rep in reps:
        if rep.index == index:
            return rep
    raise NotFound(f"job {job.id} has replicas 0 to {len(reps) - 1}; there is no replica {index}")


def executor_of(session: Session, rep: ReplicaRow, executors: dict[str, Executor]) -> Executor:
    node = session.get(NodeRow, rep.node_id)
    executor = executors.get(node.executor if node else "")
    if executor is None:
        raise NotFound("the executor that ran this replica is not attached to this server")
    return executor


def read(
    session: Session,
    job: JobRow,
    executors: dict[str, Executor],
    *,
    index: int,
    stream: Stream,
    tail: int | None,
) -> str:
    rep = replica_of(session, job, index)
    if rep.handle is None:
        return ""
    return executor_of(session, rep, executors).logs(rep.handle, stream, tail)


def outputs_dir(job: JobRow, executors: dict[str, Executor]) -> Path:
    for executor in executors.values():
        path = executor.outputs_dir(job.id)
        if path is not None and path.is_dir():
            return path
    raise NotFound(f"job {job.id} has no outputs on this server (yet)")
