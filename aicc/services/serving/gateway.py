"""What the gateway (`/v1`, the `aicc/gateway` package) reads from and writes to the store:
the key behind a secret, a deployment's ready replicas, the request log. The gateway caches the
reads briefly and batches the writes, so a request costs no query of its own beyond its log
row."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Dialect, func, insert, select
from sqlalchemy.orm import Session

from aicc.core import periods
from aicc.core.states import DeploymentState
from aicc.core.tenancy import Principal
from aicc.services.common import from_row, read
from aicc.services.serving import adapters, deployments, lifecycle
from aicc.services.serving.views import GatewayRequest
from aicc.services.tenancy import tenancy
from aicc.store.db import Database, begin_immediate
from aicc.store.tables.serving import ApiKeyRow, DeploymentRow, GatewayRequestRow

ROUTES = ("chat", "completions", "embeddings", "moderations", "predict")
# The request log's `key_id` of a request the portal's playground sent as a signed-in person
# (no API key): this prefix and the person's user id (docs/gateway.md).
PERSON = "user:"


@dataclass(frozen=True)
class Grant:
    """A usable key, as the gateway needs it per request."""

    key_id: str
    name: str
    org_id: str
    project_id: str
    deployments: frozenset[str] | None  # None: every deployment of the project
    rpm: int | None
    tokens_per_month: int | None
    tokens_used: int  # this billing month, as the store knew when the key was read
    tier: int = 2  # 1 served first .. 3 (gateway/tiers.py)

    def may_call(self, deployment: str) -> bool:
        return self.deployments is None or deployment in self.deployments


@dataclass(frozen=True)
class Target:
    """A deployment and the replicas that may take a request now (`ready`)."""

    deployment_id: str
    name: str
    # (job id, http://HOST:PORT or the absolute path of its Unix socket: Endpoint.address)
    urls: tuple[tuple[str, str], ...]
    waits: bool = True  # without a ready replica, one is coming: hold a request (not stopped)
    # address -> the replica's token, sent with every request to it (Endpoint.headers): a secret
    tokens: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # the adapters attached to a deployment of a model, by name (None: a command's, whose
    # replica decides which adapters it has)
    adapters: Mapping[str, adapters.Source] | None = None


@dataclass(frozen=True)
class Model:
    name: str
    created_at: datetime


@dataclass(frozen=True)
class RequestRecord:
    """One request's log row and metering, as the gateway writes it (`record`)."""

    id: str
    org_id: str
    project_id: str
    deployment_id: str
    key_id: str
    route: str
    status: int
    stream: bool
    billable: bool
    prompt_tokens: int
    completion_tokens: int
    latency_us: int
    attempts: int
    replica: str | None
    at: datetime
    adapter: str | None = None  # the LoRA adapter asked for (`model: "BASE:NAME"`)
    tier: int = 2  # its key's service tier


def billable_calls(
    session: Session,
    key_id: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    """The billable requests made with one key, within [start, end) where given: what an
    offer's use and its invoice line count (services/needs)."""
    query = select(func.count()).where(
        GatewayRequestRow.key_id == key_id, GatewayRequestRow.billable.is_(True)
    )
    if start is not None:
        query = query.where(GatewayRequestRow.at >= start)
    if end is not None:
        query = query.where(GatewayRequestRow.at < end)
    return int(session.scalar(query) or 0)


def grant(session: Session, digest: str, *, now: datetime, zone: str) -> Grant | None:
    """The usable key whose secret has this SHA-256 (`api_keys.digest`), or None (unknown or
    revoked), with the tokens it was charged this billing month."""
    row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.secret_hash == digest))
    if row is None or row.revoked_at is not None:
        return None
    used: int | None = 0
    if row.tokens_per_month is not None:
        start, _ = periods.month_bounds(periods.month_of(now, zone), zone)
        used = session.scalar(
            select(
                func.coalesce(
                    func.sum(GatewayRequestRow.prompt_tokens + GatewayRequestRow.completion_tokens),
                    0,
                )
            ).where(
                GatewayRequestRow.key_id == row.id,
                GatewayRequestRow.at >= start,
                GatewayRequestRow.billable.is_(True),
            )
        )
    return read(
        Grant,
        row,
        key_id=row.id,
        deployments=None if row.deployments is None else frozenset(row.deployments),
        tokens_used=int(used or 0),
    )


def target(session: Session, project_id: str, name: str) -> Target | None:
    """The project's deployment `name` and its ready replicas; None if there is none."""
    row = session.scalar(
        select(DeploymentRow).where(
            DeploymentRow.project_id == project_id, DeploymentRow.name == name
        )
    )
    if row is None:
        return None
    live = [e for e in lifecycle.endpoints_of(session, row.id) if e.ready]
    ready = tuple((e.job_id, e.address) for e in live)
    tokens = {e.address: e.token for e in live if e.token}
    waits = row.state not in (DeploymentState.STOPPED, DeploymentState.FAILED)
    attached = None if row.model_id is None else adapters.sources(session, row.id, project_id)
    return Target(row.id, row.name, ready, waits=waits, tokens=tokens, adapters=attached)


def target_of(session: Session, deployment_id: str) -> Target | None:
    """Deployment `deployment_id` (whatever its project) and its ready replicas: the
    classifier an operator's content-safety policy names (docs/gateway.md)."""
    row = session.get(DeploymentRow, deployment_id)
    return None if row is None else target(session, row.project_id, row.name)


def aliased(session: Session, project_id: str, name: str) -> tuple[str, str] | None:
    """The (deployment, adapter) the project's adapter alias `name` calls, or None."""
    return adapters.aliased(session, project_id, name)


def models(session: Session, key: Grant) -> list[Model]:
    """The deployments this key may call, by name, each followed by its attached adapters
    (`DEPLOYMENT:NAME`) and their aliases."""
    query = select(DeploymentRow).where(DeploymentRow.project_id == key.project_id)
    rows = [r for r in session.scalars(query.order_by(DeploymentRow.name)) if key.may_call(r.name)]
    attached: dict[str, list[tuple[str, str]]] = {}
    for deployment, name, alias in adapters.aliases(session, key.project_id):
        attached.setdefault(deployment, []).append((name, alias))
    out = []
    for r in rows:
        out.append(Model(r.name, r.created_at))
        for name, alias in attached.get(r.name, []):
            out.append(Model(f"{r.name}:{name}", r.created_at))
            if alias:
                out.append(Model(alias, r.created_at))
    return out


def record(db: Database, records: list[RequestRecord]) -> None:
    """Append requests to the log: one statement in a transaction of its own (the gateway
    batches them), without an ORM session, as it runs for every request."""
    if records:
        with db.engine.connect() as connection:
            append(connection, records)


def append(connection: Connection, records: list[RequestRecord]) -> None:
    """`record` on a connection the caller keeps (the gateway's log writer holds one, and
    saves a checkout from the pool per batch). On SQLite the rows go to the driver itself,
    in a transaction of their own: SQLAlchemy's execution of a statement and of its BEGIN
    cost the request twice what SQLite's work does (BENCHMARKS.md); the values are converted
    by the columns' own bind processors, so the rows are those SQLAlchemy would write."""
    if connection.dialect.name != "sqlite":
        with connection.begin():
            connection.execute(insert(GatewayRequestRow), [r.__dict__ for r in records])
        return
    sql, processors = _sqlite_insert(connection.dialect)
    rows = [
        tuple(
            v if p is None else p(v) for p, v in zip(processors, r.__dict__.values(), strict=True)
        )
        for r in records
    ]
    driver = connection.connection.driver_connection
    assert driver is not None
    begin_immediate(driver)  # as the store's writers take the lock: up front
    try:
        driver.executemany(sql, rows)
        driver.execute("COMMIT")
    except BaseException:
        if driver.in_transaction:
            driver.execute("ROLLBACK")
        raise


_FIELDS = [f.name for f in fields(RequestRecord)]


@functools.cache
def _sqlite_insert(dialect: Dialect) -> tuple[str, list[Callable[[Any], Any] | None]]:
    """The log's INSERT for SQLite, compiled once, and each value's conversion, in
    `RequestRecord`'s field order."""
    compiled = insert(GatewayRequestRow).compile(dialect=dialect, column_keys=_FIELDS)
    assert compiled.positiontup == _FIELDS
    columns = [GatewayRequestRow.__table__.c[name] for name in _FIELDS]
    return str(compiled), [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]


def recent(
    session: Session,
    who: Principal,
    *,
    project: str | None,
    deployment: str | None = None,
    limit: int = 100,
) -> list[GatewayRequest]:
    """The project's latest requests (newest first), of one deployment if named."""
    prj = tenancy.resolve_project(session, who, project)
    names: dict[str, str] = {
        i: n
        for i, n in session.execute(
            select(DeploymentRow.id, DeploymentRow.name).where(DeploymentRow.project_id == prj.id)
        )
    }
    query = select(GatewayRequestRow).where(GatewayRequestRow.project_id == prj.id)
    if deployment is not None:
        one = deployments.get(session, who, deployment, project=project)
        query = query.where(GatewayRequestRow.deployment_id == one.id)
    rows = list(
        session.scalars(
            query.order_by(GatewayRequestRow.at.desc(), GatewayRequestRow.id.desc()).limit(limit)
        )
    )
    keys: dict[str, str] = {
        i: n
        for i, n in session.execute(
            select(ApiKeyRow.id, ApiKeyRow.name).where(ApiKeyRow.id.in_({r.key_id for r in rows}))
        )
    }
    people = {r.key_id[len(PERSON) :] for r in rows if r.key_id.startswith(PERSON)}
    if people:
        found = tenancy.user_names(session, people)
        keys.update({PERSON + i: PERSON + n for i, n in found.items()})
    return [
        from_row(
            GatewayRequest,
            r,
            deployment=names.get(r.deployment_id, r.deployment_id),
            key=keys.get(r.key_id, r.key_id),
            latency_ms=r.latency_us / 1000,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Minute:
    """One minute of a deployment's requests: how many, how many failed (5xx, or 429 from the
    gateway), their latency percentiles (ms, None without requests) and tokens."""

    at: datetime  # the minute's start (UTC)
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    tokens: int


def traffic(
    session: Session,
    who: Principal,
    *,
    project: str | None,
    deployment: str,
    minutes: int = 30,
    now: datetime,
) -> list[Minute]:
    """A deployment's requests of the last `minutes` whole minutes and the current one (`now`
    is aware, UTC), a bucket a minute (oldest first, empty minutes included), from the request
    log; authorized like `recent` (another tenant's deployment: 404)."""
    deployment_id = deployments.get(session, who, deployment, project=project).id
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes + 1)
    rows = session.execute(
        select(
            GatewayRequestRow.at,
            GatewayRequestRow.status,
            GatewayRequestRow.latency_us,
            GatewayRequestRow.prompt_tokens + GatewayRequestRow.completion_tokens,
        ).where(
            GatewayRequestRow.deployment_id == deployment_id,
            GatewayRequestRow.at >= start,
            GatewayRequestRow.at < end,
        )
    )
    buckets: list[list[tuple[int, int, int]]] = [[] for _ in range(minutes + 1)]
    for at, status, latency_us, tokens in rows:
        index = int((at - start).total_seconds() // 60)
        if 0 <= index <= minutes:
            buckets[index].append((status, latency_us, tokens))
    return [
        Minute(
            at=start + timedelta(minutes=i),
            requests=len(bucket),
            errors=sum(1 for s, _, _ in bucket if s >= 500 or s == 429),
            p50_ms=_percentile(sorted(lat for _, lat, _ in bucket), 0.50),
            p95_ms=_percentile(sorted(lat for _, lat, _ in bucket), 0.95),
            tokens=sum(t for _, _, t in bucket),
        )
        for i, bucket in enumerate(buckets)
    ]


def _percentile(ordered: list[int], q: float) -> float | None:
    """The nearest-rank percentile of latencies in µs, in ms."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] / 1000
