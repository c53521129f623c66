"""A replica's logs and a job's outputs, read through the executor that ran it.

Logs are served with the job's secrets masked, as GitHub Actions masks a workflow's: the values
of the secrets the job named, and a notebook's JupyterLab token, read as `***`. A job may well
print its environment; its log must not then hand the values to every reader of the project.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.jobspec import JobKind
from aicc.core.states import JobState
from aicc.core.tenancy import Principal
from aicc.executors import jobfiles
from aicc.executors.base import Executor
from aicc.executors.base import Stream as Stream  # re-exported: the API names the stream too
from aicc.services.common import Invalid, NotFound, ServiceError, TooLarge
from aicc.services.jobs import jobs, notebooks
from aicc.services.nodes import census as node_census
from aicc.services.tenancy import secrets
from aicc.store.db import Database
from aicc.store.sealing import Sealer
from aicc.store.tables.jobs import JobRow


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
    node = node_census.listed(session, ids=[rep.node_id]) if rep.node_id else []
    executor = executors.get(node[0].executor if node else "")
    if executor is None:
        raise NotFound("the executor that ran this replica is not attached to this server")
    return executor


def _seen(session: Session, sealer: Sealer, job_id: str) -> list[str]:
    """The values of the secrets the job's attempts were launched with."""
    sealed = session.scalar(select(JobRow.secrets_seen).where(JobRow.id == job_id))
    return [sealer.open(value) for value in sealed or ()]


MASK = "***"
MIN_MASKED = 4  # characters: a shorter value, or less of one at a cut, would mask plain text


def secret_values(session: Session, sealer: Sealer, job: jobs.Job) -> list[str]:
    """What a log of `job` must not show: the values of the secrets it named, those its
    attempts were launched with and those they have now (a value replaced after the job ran is
    still the one its logs may show), each line of a value of several, and a notebook's tokens;
    longest first, so a value inside another is masked with it."""
    names = job.spec.get("secrets") or []
    opened = secrets.environment(session, sealer, project_id=job.project_id, names=names)
    values = set(opened.values()) | set(_seen(session, sealer, job.id))
    values |= {line for value in list(values) for line in value.splitlines()}
    if job.kind == JobKind.NOTEBOOK.value:
        values |= {notebooks.token(sealer, job.id, n) for n in range(job.attempt + 1)}
    return sorted((v for v in values if len(v.strip()) >= MIN_MASKED), key=len, reverse=True)


def mask(text: str, values: list[str], *, cut_before: bool, cut_after: bool) -> str:
    """Each value as `***`; and where `text` is cut from what the log held before it (a tail, a
    followed piece) or after it (a replica still writing), a value the cut splits, when at least
    MIN_MASKED characters of it show."""
    for value in values:
        text = text.replace(value, MASK)
    for value in values:
        for n in range(len(value) - 1, MIN_MASKED - 1, -1) if cut_before else ():
            if text.startswith(value[-n:]):
                text = MASK + text[n:]
                break
        for n in range(len(value) - 1, MIN_MASKED - 1, -1) if cut_after else ():
            if text.endswith(value[:n]):
                text = text[:-n] + MASK
                break
    return text


def read(
    session: Session,
    sealer: Sealer,
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
    with refusals():  # a job may replace its log by a link or a FIFO (without a sandbox)
        text = executor_of(session, rep, executors).logs(rep.handle, stream, tail)
    running = not JobState(job.state).is_terminal()
    values = secret_values(session, sealer, job)
    return mask(text, values, cut_before=tail is not None, cut_after=running)


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """Whatever the guard of job-written files refuses (`executors/jobfiles.py`) as the service
    error the API answers with: 422 for a name that may not be there (a link, a FIFO), 413 for
    too big or too many; the message names the file."""
    try:
        yield
    except jobfiles.Refused as e:
        error: type[ServiceError] = TooLarge if e.status == 413 else Invalid
        raise error(e.template, **e.params) from None


def outputs_dir(session: Session, job: jobs.Job, executors: dict[str, Executor]) -> Path:
    """Where the job's `$AICC_OUTPUT_DIR` is kept. Read what is there only through
    `job_files` (or `jobfiles.JobFiles`): the job wrote it."""
    for rep in job.replicas:
        if rep.handle:
            path = executor_of(session, rep, executors).outputs_dir(job.id, rep.handle)
            if path is not None:
                with refusals():
                    if jobfiles.JobFiles(path).is_dir():
                        return path
    raise NotFound(f"job {job.id} has no outputs on this server (yet)")


def job_files(session: Session, job: jobs.Job, executors: dict[str, Executor]) -> jobfiles.JobFiles:
    """The job's outputs, behind the guard."""
    return jobfiles.JobFiles(outputs_dir(session, job, executors))


@dataclass(frozen=True)
class OutputFile:
    path: str  # relative to `$AICC_OUTPUT_DIR`, with '/'
    size: int


def output_files(root: Path) -> list[OutputFile]:
    """The regular files under `root`, sorted by path. A symbolic link, a hard link, a FIFO or
    another special file there, or more files or bytes than the guard reads, is refused (422,
    413) naming it: a job could point a link anywhere on the node."""
    with refusals():
        return [OutputFile(f.path, f.size) for f in jobfiles.JobFiles(root).walk()]


_READ_BYTES = 1 << 20  # read and compressed at a time: a download holds about this much


def outputs_archive(root: Path) -> Iterator[bytes]:
    """A tar.gz of the files under `root`, as the pieces of a stream (a job may write tens of
    GiB: the server never holds more than about a MiB of it). The whole tree is checked by the
    guard (`JobFiles.walk`) before this returns, so a link, a FIFO or too many files is the
    ServiceError (422, 413) of `output_files`, raised before the first byte is sent; each file
    is opened through the guard again when its turn comes, and a refusal then ends the stream
    short (the client's archive is incomplete, never the wrong file)."""
    files = jobfiles.JobFiles(root)  # the guard's caps, as every reader of the outputs
    with refusals():
        listing = files.walk()
    return (piece for piece in _tar_gz(files, listing) if piece)


def _tar_gz(files: jobfiles.JobFiles, listing: list[jobfiles.JobFile]) -> Iterator[bytes]:
    """The tar stream (PAX headers, as `tarfile` writes them) of `listing`, gzipped as it goes.
    A file that changed size since it was opened is cut or padded with zeros to the size in its
    header, so the archive stays whole."""
    gzip = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip member
    written = 0

    def put(data: bytes) -> bytes:
        nonlocal written
        written += len(data)
        return gzip.compress(data)

    for item in listing:
        with refusals(), files.open(item.path) as f:
            st = os.fstat(f.fileno())
            info = tarfile.TarInfo(item.path)
            info.size, info.mtime, info.mode = st.st_size, int(st.st_mtime), st.st_mode & 0o755
            yield put(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
            left = st.st_size
            while left and (chunk := f.read(min(_READ_BYTES, left))):
                left -= len(chunk)
                yield put(chunk)
        left += -st.st_size % tarfile.BLOCKSIZE  # what shrank meanwhile, then a whole block
        while left:
            zeros = min(_READ_BYTES, left)
            left -= zeros
            yield put(bytes(zeros))
    end = 2 * tarfile.BLOCKSIZE
    end += -(written + end) % tarfile.RECORDSIZE
    yield put(bytes(end)) + gzip.flush()


def follow_step(
    db: Database,
    sealer: Sealer,
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
        values = secret_values(session, sealer, job)
    size = executor.log_size(rep.handle, stream)
    with refusals():
        if sent is None:
            text = executor.logs(rep.handle, stream, tail)
            return mask(text, values, cut_before=tail is not None, cut_after=not done), size, done
        if size > sent:
            text = executor.logs(rep.handle, stream, size - sent)
            return mask(text, values, cut_before=True, cut_after=not done), size, done
    return "", sent, done


TAIL_LINES = 40  # of stderr, under a failed job's cause
_TAIL_BYTES = 64 * 1024  # read to find them: enough for 40 long lines, never a whole log


@dataclass(frozen=True)
class Failure:
    """Why a job ended without succeeding, as its page, the run page and the CLI open on it
    (issue 37): its reason and message, the last event when it says more, and the last lines
    of stderr of the replica that failed (a traceback's `ModuleNotFoundError` is there, while
    stdout is often empty)."""

    state: str
    reason: str
    message: str
    exit_code: int | None
    event: str  # the last event's message, when it is not the job's own ('' otherwise)
    replica: int  # whose stderr `stderr` is
    stderr: str  # its last TAIL_LINES lines, masked as its log is ('' when it wrote none)


def failure(
    session: Session,
    sealer: Sealer,
    who: Principal,
    job: jobs.Job,
    executors: dict[str, Executor],
    *,
    lines: int = TAIL_LINES,
) -> Failure | None:
    """The cause of `job`'s failure; None unless it ended failed (a cancel is the user's)."""
    if job.state != JobState.FAILED.value:
        return None
    history = jobs.events(session, who, job.id)
    last = history[-1].message if history else ""
    failed = [r for r in job.replicas if r.exit_code not in (None, 0) or r.state == "failed"]
    replica = (failed or job.replicas)[0].index if job.replicas else 0
    text = ""
    if job.replicas:
        try:
            text = read(
                session, sealer, job, executors, index=replica, stream="stderr", tail=_TAIL_BYTES
            )
        except (ServiceError, OSError):  # gone with its node, refused by the guard: no tail
            text = ""
    return Failure(
        state=job.state,
        reason=job.reason,
        message=job.message,
        exit_code=job.exit_code,
        event="" if last in ("", job.message) else last,
        replica=replica,
        stderr=last_lines(text, lines),
    )


def last_lines(text: str, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of `text`, without the trailing newline."""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:]) if text.strip() else ""
