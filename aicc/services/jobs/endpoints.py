"""Where a listening job's replicas answer (`kind: service` or `notebook`): the scheduler gave
each a `PORT` on its node at bind, and the reconciler knows which of them run. The gateway
and the notebook proxy reach replicas only through this; they authorize the caller first.

A sandboxed replica of this machine (the local executor) listens inside its job's network
namespace, reached through a Unix socket in its run directory (`socket`, executors/netns.py):
no TCP port answers for it, so no process of the machine but the server's reaches it. A
sandboxed replica on another machine (Slurm, Ray) is reached on TCP at its node's address, where
its forwarder answers only a connection whose first request carries the replica's token
(`TOKEN_HEADER`): read here from its run directory (`RUN_DIR/service/token`, on the file system
the nodes and the server share), and sent by every caller (`Endpoint.headers`). A token that
cannot be read makes the endpoint unreachable for now (not running, not ready), never one
without a token. Which way a replica is reached is decided before its handle is recorded (the
socket's directory, or the token, is made first), so an endpoint with a handle never goes from
one to the other. The token is never logged nor shown: `repr` leaves it out, and no read model
carries it."""

from __future__ import annotations

import contextlib
import http.cookiejar
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.executors import netns, replicaforward
from aicc.store.tables.jobs import JobRow, ReplicaRow

TOKEN_HEADER = replicaforward.TOKEN_HEADER  # the replica's token, on every request to one on TCP


@dataclass(frozen=True)
class Endpoint:
    """One replica's address: `url` is `http://HOST:PORT`, as the replica knows itself (the
    Host it is asked as), reachable from the server on TCP unless `socket` is set: then the
    server connects to that Unix socket instead (`netns.reachable` dials a long path), and
    with `token` every request carries it (`headers`)."""

    job_id: str
    attempt: int
    replica: int
    url: str
    running: bool
    ready: bool  # its readiness check passed, and it has not failed one since
    revision: int | None = None  # a deployment's replica: the revision it serves
    socket: str | None = None  # the forwarder's Unix socket, when it is reached through one
    token: str | None = field(default=None, repr=False)  # the forwarder's on TCP: a secret

    @property
    def headers(self) -> dict[str, str]:
        """What every request to the replica carries: its token, where it has one."""
        return headers(self.token)

    @property
    def address(self) -> str:
        """What names the replica to a caller that keeps counts per replica: its socket's path
        (absolute) or its URL (two sockets' replicas may share a PORT: no TCP port is held)."""
        return self.socket or self.url


def of_job(session: Session, job_id: str) -> list[Endpoint]:
    """The endpoints of the job's current attempt, by replica index (none before it is bound,
    or for a job that does not listen)."""
    job = session.get(JobRow, job_id)
    if job is None:
        return []
    rows = session.scalars(
        select(ReplicaRow)
        .where(ReplicaRow.job_id == job_id, ReplicaRow.attempt == job.attempt)
        .order_by(ReplicaRow.index)
    )
    found = []
    for row in rows:
        if "PORT" not in (row.rendezvous or {}):
            continue
        way = _way(row.handle)
        running = row.state == "running" and way is not None
        found.append(
            Endpoint(
                job_id=job_id,
                attempt=row.attempt,
                replica=row.index,
                url=f"http://{row.rendezvous['AICC_SERVICE_HOST']}:{row.rendezvous['PORT']}",
                running=running,
                ready=running and row.ready_at is not None,
                socket=way[0] if way else None,
                token=way[1] if way else None,
            )
        )
    return found


@dataclass(frozen=True)
class Readiness:
    """The running replica of a job's attempt: since when it runs, since when it is ready
    (None: not, or no longer), as the deployments' probes decide (services/serving)."""

    started_at: datetime | None
    ready_at: datetime | None


def _running(session: Session, job_id: str, attempt: int) -> ReplicaRow | None:
    return session.scalar(
        select(ReplicaRow).where(
            ReplicaRow.job_id == job_id,
            ReplicaRow.attempt == attempt,
            ReplicaRow.state == "running",
        )
    )


def readiness(session: Session, job_id: str, attempt: int) -> Readiness | None:
    """The running replica of this attempt, or None where none runs."""
    rep = _running(session, job_id, attempt)
    return None if rep is None else Readiness(rep.started_at, rep.ready_at)


def set_ready(session: Session, job_id: str, attempt: int, at: datetime | None) -> None:
    """Mark the running replica of this attempt ready since `at` (None: not ready); the
    gateway routes only to ready replicas. Nothing where none runs."""
    rep = _running(session, job_id, attempt)
    if rep is not None:
        rep.ready_at = at


def unready(session: Session, job_id: str) -> None:
    """Out of routing: none of the job's replicas is ready (a drain, an end)."""
    for rep in session.scalars(select(ReplicaRow).where(ReplicaRow.job_id == job_id)):
        rep.ready_at = None


def headers(token: str | None) -> dict[str, str]:
    """The header that lets a request through a replica's forwarder on TCP (none without)."""
    return {TOKEN_HEADER: token} if token else {}


def run_dir_of(handle: str | None) -> Path | None:
    """The run directory a launched replica's handle names: the handle itself (the local
    executor's) or what follows its second `:` (`slurm:JOB:DIR`, `ray:ID:DIR`); None before
    the launch or for an engine without run directories (`k8s:...`)."""
    if not handle:
        return None
    parts = handle.split(":", 2)
    found = Path(handle if handle.startswith("/") else parts[2] if len(parts) == 3 else "")
    return found if found.is_absolute() and ".." not in found.parts else None


def _way(handle: str | None) -> tuple[str | None, str | None] | None:
    """How the server reaches a replica: (its Unix socket, None) on this machine, (None, its
    token) on TCP at another, (None, None) on TCP as it binds its port itself (no sandbox, or
    another engine); None while its token cannot be read (not reachable now)."""
    run_dir = run_dir_of(handle)
    if run_dir is None or not (run_dir / netns.SERVICE_DIR).is_dir():
        return None, None  # not launched, no sandbox (no forwarder), or no run directory
    if handle and handle.startswith("/"):
        return str(netns.service_socket(run_dir)), None
    try:
        return None, netns.read_token(netns.service_token(run_dir))
    except (OSError, ValueError):
        return None


def reachable(socket: str) -> contextlib.AbstractContextManager[str]:
    """`socket` as a path that a Unix socket's address holds (107 bytes), valid until the
    block ends: through a descriptor of its directory (netns.reachable). OSError when the
    directory is gone (the replica's run directory purged)."""
    return netns.reachable(socket)


@contextlib.contextmanager
def unix_client(socket: str, timeout: float | httpx.Timeout = 5.0) -> Iterator[httpx.Client]:
    """A client whose every request goes through the Unix socket `socket` (`Endpoint.socket`;
    ask for `Endpoint.url` + path). Plain HTTP: `verify=False` loads no CA store. It keeps no
    cookies: what a replica sets is not for the next request. OSError when the socket's
    directory is gone."""
    no_cookies = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    with reachable(socket) as path:
        transport = httpx.HTTPTransport(uds=path, verify=False)
        with httpx.Client(
            transport=transport, timeout=timeout, cookies=no_cookies, trust_env=False
        ) as client:
            yield client
