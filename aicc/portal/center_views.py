"""What the operators' pages show: the center overview, the device heat map, the tenant
directory and the audit log, gathered from the services with the operator's principal.

Every figure comes from the store through a service (`usage.center_history` for anything over
time, `records.energy_by_org` for metered energy, `nodes` for devices, `tenancy`, `audit`); this
module only groups and formats. Simulated devices are kept apart from real ones everywhere
(CONTRACTS.md §8): they never add to capacity.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from aicc.api import schemas
from aicc.core import catalog
from aicc.core.tenancy import Principal
from aicc.core.topology import NodeState
from aicc.portal.views import RUNNING, WAITING
from aicc.services import audit, nodes, tenancy, usage
from aicc.services import overview as overview_service
from aicc.services.billing import records

# The windows the overview offers, in hours, and how many buckets each is cut into.
WINDOWS = {1: 60, 6: 72, 24: 96}
DEFAULT_WINDOW = 24
AUDIT_PAGE = 50


def pflops_of(model: str) -> float:
    try:
        return catalog.lookup(model).pflops
    except KeyError:
        return 0.0


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile: a value that was observed, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


# --- the overview ---


@dataclass(frozen=True)
class ModelCapacity:
    model: str
    real: int  # devices
    simulated: int
    pflops_each: float


@dataclass(frozen=True)
class TenantLine:
    org_id: str
    name: str
    running: int
    waiting: int
    devices_now: float  # whole devices held now (real and simulated)
    pflops_now: float
    device_hours: float  # real devices, over the window
    simulated_device_hours: float
    pflops_hours: float
    cpu_hours: float
    energy_kwh: float | None  # None: no metered record of real devices in the window


@dataclass(frozen=True)
class Overview:
    hours: int
    models: list[ModelCapacity]
    pflops_real: float
    pflops_simulated: float
    devices_real: int
    devices_simulated: int
    allocated_pct: dict[bool, float | None]  # simulated? -> now; None: no such devices
    busy_pct: dict[bool, float | None]
    cpu_allocated_pct: float
    running: int
    waiting: int
    wait_p50_s: float | None
    wait_p90_s: float | None
    waits: int
    tenants: list[TenantLine]
    history: usage.History
    energy_kwh: float | None  # real devices, metered records in the window; None: none

    @property
    def has_real(self) -> bool:
        return self.devices_real > 0

    @property
    def has_simulated(self) -> bool:
        return self.devices_simulated > 0


def _pct(part: float, whole: float) -> float | None:
    return 100 * part / whole if whole else None


def overview(session: Session, who: Principal, now: datetime, hours: int) -> Overview:
    hours = hours if hours in WINDOWS else DEFAULT_WINDOW
    history = usage.center_history(session, who, now, window_s=hours * 3600, buckets=WINDOWS[hours])
    node_list = schemas.node_out(nodes.infos(session))
    counts: dict[tuple[str, bool], int] = Counter()
    for node in node_list:
        for dev in node.devices:
            counts[(dev.model, dev.simulated)] += 1
    models = [
        ModelCapacity(m, counts[(m, False)], counts[(m, True)], pflops_of(m))
        for m in sorted({m for m, _ in counts})
    ]
    cpu_total = sum(n.cpu_milli for n in node_list if n.state != NodeState.DOWN.value)
    cpu_used = sum(n.allocated.cpu_milli for n in node_list)
    states = overview_service.jobs_by_org_and_state(session, who)
    held = usage.held_now(session)
    org_of = {p.id: p.org_id for p in tenancy.list_projects(session, who)}
    held_by_org: dict[str, dict[str, float]] = defaultdict(dict)
    for project_id, amounts in held.items():
        org_held = held_by_org[org_of.get(project_id, "")]
        for key, value in amounts.items():
            org_held[key] = org_held.get(key, 0.0) + value
    energy = records.energy_by_org(session, who, since=now - timedelta(hours=hours), until=now)
    tenants = []
    for org in tenancy.list_orgs(session, who):
        use = history.by_org.get(org.id, usage.TenantUse())
        amounts = held_by_org.get(org.id, {})
        tenants.append(
            TenantLine(
                org_id=org.id,
                name=org.name,
                running=sum(states.get(org.id, {}).get(s.value, 0) for s in RUNNING),
                waiting=sum(states.get(org.id, {}).get(s.value, 0) for s in WAITING),
                devices_now=sum(v for k, v in amounts.items() if _is_model(k)) / 1000,
                pflops_now=amounts.get("pflops", 0.0),
                device_hours=use.device_s / 3600,
                simulated_device_hours=use.simulated_device_s / 3600,
                pflops_hours=use.pflops_s / 3600,
                cpu_hours=use.cpu_s / 3600,
                energy_kwh=energy.get(org.id),
            )
        )
    tenants.sort(key=lambda t: (-t.devices_now, -t.device_hours - t.simulated_device_hours, t.name))
    capacity = history.capacity_milli
    return Overview(
        hours=hours,
        models=models,
        pflops_real=sum(m.real * m.pflops_each for m in models),
        pflops_simulated=sum(m.simulated * m.pflops_each for m in models),
        devices_real=sum(m.real for m in models),
        devices_simulated=sum(m.simulated for m in models),
        allocated_pct={s: _pct(history.allocated_now_milli[s], capacity[s]) for s in (False, True)},
        busy_pct={s: _pct(history.busy_now_milli[s], capacity[s]) for s in (False, True)},
        cpu_allocated_pct=_pct(cpu_used, cpu_total) or 0.0,
        running=sum(t.running for t in tenants),
        waiting=sum(t.waiting for t in tenants),
        wait_p50_s=percentile(history.waits_s, 50),
        wait_p90_s=percentile(history.waits_s, 90),
        waits=len(history.waits_s),
        tenants=tenants,
        history=history,
        energy_kwh=sum(energy.values()) if energy else None,
    )


def _is_model(key: str) -> bool:
    return key not in ("cpu_milli", "memory_mib", "pflops")


def capacity_chart(data: Overview, t: Any) -> dict[str, Any]:
    """Devices per accelerator model, real and simulated stacked (simulated drawn apart)."""
    series = [{"name": t("center.capacity.real"), "values": [m.real for m in data.models]}]
    if data.has_simulated:
        series.append(
            {
                "name": t("center.capacity.simulated"),
                "values": [m.simulated for m in data.models],
                "pattern": True,
            }
        )
    return {
        "type": "bars",
        "categories": [m.model for m in data.models],
        "series": [{**s, "stack": "devices"} for s in series],
        "integer": True,
    }


def rate_chart(data: Overview, t: Any) -> dict[str, Any]:
    """Allocated and busy share of the devices over the window, in percent, per bucket."""
    history = data.history
    times = [end.isoformat() for end in history.ends]
    series = []
    for simulated in (False, True):
        capacity = history.capacity_milli[simulated]
        if not capacity:
            continue
        suffix = ".simulated" if simulated else ""
        for key, values in (
            ("allocated", history.allocated_milli[simulated]),
            ("busy", history.busy_milli[simulated]),
        ):
            series.append(
                {
                    "name": t(f"center.rate.{key}{suffix}"),
                    "values": [round(100 * v / capacity, 2) for v in values],
                    "dashed": simulated,
                }
            )
    return {"type": "lines", "times": times, "series": series, "unit": "%", "max": 100}


def queue_chart(data: Overview, t: Any) -> dict[str, Any]:
    history = data.history
    return {
        "type": "lines",
        "times": [end.isoformat() for end in history.ends],
        "series": [{"name": t("center.queue.depth"), "values": history.queue_depth, "step": True}],
        "integer": True,
    }


# --- the heat map ---


@dataclass(frozen=True)
class Slice:
    job_id: str
    job_name: str
    milli: int


@dataclass(frozen=True)
class Cell:
    index: int
    model: str
    memory_mib: int
    simulated: bool
    healthy: bool
    allocated_milli: int
    slices: list[Slice]

    @property
    def kind(self) -> str:
        """free, partial (a share of it is held), whole, or unhealthy."""
        if not self.healthy:
            return "unhealthy"
        if self.allocated_milli >= 1000:
            return "whole"
        return "partial" if self.allocated_milli else "free"

    def segments(self) -> list[tuple[float, float, int]]:
        """(x, width, slice number) in percent of the cell's bar, one per slice."""
        out, x = [], 0.0
        for number, piece in enumerate(self.slices):
            width = min(100.0 - x, piece.milli / 10)
            out.append((round(x, 2), round(width, 2), number % 4))
            x += width
        return out


@dataclass(frozen=True)
class NodeLine:
    node: schemas.Node
    cells: list[Cell]
    actions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HeatMap:
    nodes: list[NodeLine]
    counts: Counter[str]  # cell kind -> devices


def actions_for(state: str) -> list[str]:
    """What an operator may do to a node in this state (the service refuses the rest)."""
    if state == NodeState.READY.value:
        return ["cordon", "drain", "evict"]
    if state == NodeState.CORDONED.value:
        return ["uncordon", "drain", "evict"]
    if state == NodeState.DRAINING.value:
        return ["uncordon", "evict"]
    return []


def heat_map(session: Session, who: Principal) -> HeatMap:
    held = nodes.holders(session, who)  # operators only
    lines = []
    counts: Counter[str] = Counter()
    for node in schemas.node_out(nodes.infos(session)):
        on_node = held.get(node.id, {})
        cells = [
            Cell(
                index=d.index,
                model=d.model,
                memory_mib=d.memory_mib,
                simulated=d.simulated,
                healthy=d.healthy,
                allocated_milli=d.allocated_milli,
                slices=[Slice(j, n, m) for j, n, m in on_node.get(d.index, [])],
            )
            for d in node.devices
        ]
        counts.update(c.kind for c in cells)
        lines.append(NodeLine(node, cells, actions_for(node.state)))
    return HeatMap(lines, counts)


# --- organizations, projects and users ---


@dataclass(frozen=True)
class Directory:
    orgs: list[schemas.Org]
    projects: list[schemas.Project]
    users: list[schemas.User]
    org_names: dict[str, str]
    users_per_org: Counter[str]
    projects_per_org: Counter[str]


def directory(session: Session, who: Principal) -> Directory:
    orgs = [
        schemas.Org.model_validate(o, from_attributes=True) for o in tenancy.list_orgs(session, who)
    ]
    projects = [
        schemas.Project.model_validate(p, from_attributes=True)
        for p in tenancy.list_projects(session, who)
    ]
    users = [
        schemas.User.model_validate(u, from_attributes=True)
        for u in tenancy.list_users(session, who)
    ]
    return Directory(
        orgs=orgs,
        projects=projects,
        users=users,
        org_names={o.id: o.name for o in orgs},
        users_per_org=Counter(u.org_id for u in users),
        projects_per_org=Counter(p.org_id for p in projects),
    )


# --- the audit log ---


@dataclass(frozen=True)
class AuditPage:
    entries: list[schemas.AuditEntry]
    actions: list[str]
    action: str | None
    actor: str | None
    next_cursor: int | None
    first: bool


def audit_page(
    session: Session, who: Principal, *, action: str | None, actor: str | None, before: int | None
) -> AuditPage:
    actions = audit.actions(session, who)
    action = action if action in actions else None
    actor = (actor or "").strip()[:64] or None
    rows = audit.entries(
        session, who, limit=AUDIT_PAGE, before_id=before, action=action, actor=actor
    )
    return AuditPage(
        entries=[schemas.AuditEntry.model_validate(r, from_attributes=True) for r in rows],
        actions=actions,
        action=action,
        actor=actor,
        next_cursor=rows[-1].id if len(rows) == AUDIT_PAGE else None,
        first=before is None,
    )
