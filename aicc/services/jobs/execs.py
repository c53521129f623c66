"""`aicc job exec` and the portal's terminal: a command run inside a running job's replica.

Who may: whoever may cancel the job (a member of its project, its org's admins, the center's);
another tenant's job is a 404, a viewer's request a 403. What: an argv (never a shell string the
server reads), bounded in count and length; by default an interactive shell. Where: inside the
replica's sandbox and network namespace on its node (the executor enters them,
`executors/local/exec.py`); a job that is not running is a 409, an engine whose replicas the
server cannot enter a 422. Every session is audited when it opens (`job.exec`: who, the job,
the replica, the command, whether on a terminal) and when it ends (`job.exec.end`: its exit
status and length); what is typed and shown never is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from aicc.core.states import JobState
from aicc.core.tenancy import Principal, can_write
from aicc.executors.base import Executor
from aicc.executors.execs import ExecProcess, ExecRefused
from aicc.services.common import Conflict, Forbidden, Invalid
from aicc.services.jobs import jobs
from aicc.services.jobs.logs import executor_of, replica_of
from aicc.services.tenancy import audit
from aicc.services.tenancy.secrets import env_name

# bash when the job's system has it, else sh; interactive either way
DEFAULT_COMMAND = ("/bin/sh", "-c", 'exec "$(command -v bash || echo sh)" -i')
MAX_ARGS = 64
MAX_ARG_CHARS = 4096

__all__ = ["DEFAULT_COMMAND", "ExecProcess", "ExecSession", "finish", "open_session"]


@dataclass(frozen=True)
class ExecSession:
    """An opened exec: its process and what its end is audited with."""

    job_id: str
    org_id: str
    process: ExecProcess


def command_of(given: Sequence[str]) -> list[str]:
    """The argv to run: `DEFAULT_COMMAND` when none; Invalid naming what is wrong."""
    if not given:
        return list(DEFAULT_COMMAND)
    if len(given) > MAX_ARGS:
        raise Invalid("command: at most {most} arguments", most=MAX_ARGS)
    if "=" in given[0]:
        raise Invalid("command: the program's name may not contain `=`")
    for arg in given:
        if len(arg) > MAX_ARG_CHARS or "\0" in arg:
            raise Invalid(
                "command: each argument is at most {most} characters, without NUL",
                most=MAX_ARG_CHARS,
            )
    return list(given)


def open_session(
    session: Session,
    who: Principal,
    job_id: str,
    *,
    executors: dict[str, Executor],
    command: Sequence[str],
    tty: bool,
    replica: int = 0,
    cols: int = 80,
    rows: int = 24,
) -> ExecSession:
    """Start `command` in replica `replica` of the caller's running job, audited; the caller
    pumps the process and calls `finish`."""
    job = jobs.get(session, who, job_id)  # another tenant's: NotFound
    if not can_write(who, org_id=job.org_id, project_id=job.project_id):
        raise Forbidden("viewers cannot run commands in jobs")
    argv = command_of(command)
    if JobState(job.state) is not JobState.RUNNING:
        raise Conflict(
            "job {job} is {state}, not running: exec runs commands in a running job only",
            job=job.id,
            state=job.state,
        )
    rep = replica_of(job, replica)
    if rep.handle is None or rep.state != "running":
        raise Conflict("replica {replica} of job {job} is not running", replica=replica, job=job.id)
    executor = executor_of(session, rep, executors)
    if not executor.capabilities.exec_in_replica:
        raise Invalid(
            "exec is supported on local executor nodes; this job runs on {engine}",
            engine=executor.title,
        )
    withhold = frozenset(env_name(str(s)) for s in job.spec.get("secrets") or ())
    try:
        process = executor.exec(rep.handle, argv, tty=tty, withhold=withhold, cols=cols, rows=rows)
    except ExecRefused as err:
        raise Conflict("exec refused: {why}", why=str(err)) from None
    detail = {"replica": replica, "command": argv, "tty": tty}
    audit.record(session, who, "job.exec", "job", job.id, org_id=job.org_id, detail=detail)
    return ExecSession(job.id, job.org_id, process)


def finish(
    session: Session,
    who: Principal,
    opened: ExecSession,
    *,
    exit_code: int,
    seconds: float,
    why: str,
) -> None:
    """Audit the session's end: its exit status, length and why it ended (`exited`, `left`,
    `idle`, `too_long`)."""
    detail = {"exit_code": exit_code, "seconds": round(seconds, 1), "ended": why}
    audit.record(
        session, who, "job.exec.end", "job", opened.job_id, org_id=opened.org_id, detail=detail
    )
