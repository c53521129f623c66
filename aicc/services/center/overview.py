"""What pages show at a glance, permission-filtered here rather than on the page: jobs by state
over what a person may read (the dashboard), jobs per organization and state and the center's
capacity, rates, waits and tenants' use (the operators' overview, `center`), and the projects a
person may submit to (the wizard). Simulated devices are kept apart from real ones everywhere
(docs/contracts.md §8): they never add to capacity.

The permission filter is `core.tenancy.can_read`, the same as the job list's, so a count never
includes a job its reader could not open.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from aicc.core.states import RUNNING, WAITING
from aicc.core.tenancy import Principal, can_read, can_write
from aicc.core.topology import NodeState
from aicc.scheduler.quota import pflops_of
from aicc.services.billing import records
from aicc.services.common import Forbidden
from aicc.services.jobs import census, usage
from aicc.services.nodes import nodes
from aicc.services.tenancy import tenancy


def job_counts(session: Session, who: Principal) -> dict[str, int]:
    """Jobs by state, over the jobs this principal may read (the same set as the job list)."""
    counts: Counter[str] = Counter()
    for c in census.by_state(session, org_id=None if who.is_admin else who.org_id):
        if can_read(who, org_id=c.org_id, project_id=c.project_id):
            counts[c.state] += c.number
    return dict(counts)


def jobs_by_org_and_state(session: Session, who: Principal) -> dict[str, dict[str, int]]:
    """Jobs per organization and state, center-wide: for the center's admins only."""
    if not who.is_admin:
        raise Forbidden("only center admins count the center's jobs")
    out: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for c in census.by_state(session):
        out[c.org_id][c.state] += c.number
    return {org: dict(states) for org, states in out.items()}


@dataclass(frozen=True)
class ProjectChoice:
    id: str
    name: str


def submittable_projects(session: Session, who: Principal) -> list[ProjectChoice]:
    """The person's own organization's projects they may submit to (an operator's own too)."""
    return [
        ProjectChoice(p.id, p.name)
        for p in tenancy.list_projects(session, who)
        if p.org_id == who.org_id and can_write(who, org_id=p.org_id, project_id=p.id)
    ]


# --- the operators' overview ---

# The windows the overview offers, in hours, and how many buckets each is cut into.
WINDOWS = {1: 60, 6: 72, 24: 96}
DEFAULT_WINDOW = 24


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile: a value that was observed, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


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
    carbon_kg: float | None  # of that energy, at the grid's intensity of each hour


@dataclass(frozen=True)
class Center:
    """The operators' overview of the center over a window of `hours`."""

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
    carbon_kg: float | None

    @property
    def has_real(self) -> bool:
        return self.devices_real > 0

    @property
    def has_simulated(self) -> bool:
        return self.devices_simulated > 0


def _pct(part: float, whole: float) -> float | None:
    return 100 * part / whole if whole else None


def center(session: Session, who: Principal, now: datetime, hours: int) -> Center:
    """Capacity by model, allocation and busy rates, waits, and every tenant's use: center
    admins only (`jobs_by_org_and_state` refuses anyone else)."""
    hours = hours if hours in WINDOWS else DEFAULT_WINDOW
    history = usage.center_history(session, who, now, window_s=hours * 3600, buckets=WINDOWS[hours])
    node_list = nodes.infos(session, used=census.allocations(session))
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
    states = jobs_by_org_and_state(session, who)
    held = usage.held_now(session)
    org_of = {p.id: p.org_id for p in tenancy.list_projects(session, who)}
    held_by_org: dict[str, dict[str, float]] = defaultdict(dict)
    for project_id, amounts in held.items():
        org_held = held_by_org[org_of.get(project_id, "")]
        for key, value in amounts.items():
            org_held[key] = org_held.get(key, 0.0) + value
    energy = records.footprint_by_org(session, who, since=now - timedelta(hours=hours), until=now)
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
                energy_kwh=energy[org.id].energy_kwh if org.id in energy else None,
                carbon_kg=energy[org.id].carbon_kg if org.id in energy else None,
            )
        )
    tenants.sort(key=lambda t: (-t.devices_now, -t.device_hours - t.simulated_device_hours, t.name))
    capacity = history.capacity_milli
    return Center(
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
        energy_kwh=sum(f.energy_kwh for f in energy.values()) if energy else None,
        carbon_kg=sum(f.carbon_kg for f in energy.values()) if energy else None,
    )


def _is_model(key: str) -> bool:
    return key not in ("cpu_milli", "memory_mib", "pflops")
