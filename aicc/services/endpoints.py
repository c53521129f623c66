"""Where a listening job's replicas answer (`kind: service` or `notebook`): the scheduler gave
each a `PORT` on its node at bind, and the reconciler knows which of them run. The gateway
and the notebook proxy reach replicas only through this; they authorize the caller first.

A sandboxed replica of this machine (the local executor) listens inside its job's network
namespace, reached through a Unix socket in its run directory (`socket`, executors/netns.py):
no TCP port answers for it, so no process of the machine but the server's reaches it. Which
way a replica is reached is decided before its handle is recorded (the socket's directory is
made first), so an endpoint with a handle never goes from one to the other."""

from __future__ import annotations

import contextlib
import http.cookiejar
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.executors import netns
from aicc.store.tables import DeploymentReplicaRow, JobRow, ReplicaRow


@dataclass(frozen=True)
class Endpoint:
    """One replica's address: `url` is `http://HOST:PORT`, as the replica knows itself (the
    Host it is asked as), reachable from the server on TCP unless `socket` is set: then the
    server connects to that Unix socket instead (`netns.reachable` dials a long path)."""

    job_id: str
    attempt: int
    replica: int
    url: str
    running: bool
    ready: bool  # its readiness check passed, and it has not failed one since
    revision: int | None = None  # a deployment's replica: the revision it serves
    socket: str | None = None  # the forwarder's Unix socket, when it is reached through one

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
    return [
        Endpoint(
            job_id=job_id,
            attempt=row.attempt,
            replica=row.index,
            url=f"http://{row.rendezvous['AICC_SERVICE_HOST']}:{row.rendezvous['PORT']}",
            running=row.state == "running",
            ready=row.state == "running" and row.ready_at is not None,
            socket=socket_of(row.handle),
        )
        for row in rows
        if "PORT" in (row.rendezvous or {})
    ]


def socket_of(handle: str | None) -> str | None:
    """The Unix socket a launched replica is reached through, or None (on TCP): a handle that
    is a run directory (the local executor's) whose `service/` directory its launch made."""
    if not handle or not handle.startswith("/"):
        return None  # not launched yet, or another engine's handle (`slurm:...`, `ray:...`)
    path = netns.service_socket(Path(handle))
    return str(path) if path.parent.is_dir() else None


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


def of_deployment(session: Session, deployment_id: str) -> list[Endpoint]:
    """The endpoints of a deployment's replica jobs (every revision, oldest job first): the
    gateway routes to those `ready`."""
    links = session.scalars(
        select(DeploymentReplicaRow)
        .where(DeploymentReplicaRow.deployment_id == deployment_id)
        .order_by(DeploymentReplicaRow.created_at, DeploymentReplicaRow.job_id)
    )
    return [
        replace(endpoint, revision=link.revision)
        for link in links
        for endpoint in of_job(session, link.job_id)
    ]
