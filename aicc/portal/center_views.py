"""What the operators' pages show: the center overview's charts, the device heat map, the
tenant directory and the audit log, gathered from the services with the operator's principal.

Every figure comes from a service (`overview.center` for the overview's sums and rates,
`nodes`, `tenancy`, `audit`); this module only groups and formats for the page.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal
from aicc.core.topology import NodeState
from aicc.services.center import overview
from aicc.services.jobs import census
from aicc.services.nodes import nodes
from aicc.services.nodes import views as nodes_views
from aicc.services.tenancy import audit, tenancy, views

AUDIT_PAGE = 50
# The overview itself (figures, sums, rates) is `services.overview.center`; this module shapes
# it into charts, and gathers the heat map, the directory and the audit page.


def capacity_chart(data: overview.Center, t: Any) -> dict[str, Any]:
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


def rate_chart(data: overview.Center, t: Any) -> dict[str, Any]:
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


def queue_chart(data: overview.Center, t: Any) -> dict[str, Any]:
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
    """A device of the heat map, and the jobs' slices of it."""

    device: nodes_views.DeviceOut
    slices: list[Slice]

    @property
    def kind(self) -> str:
        """free, partial (a share of it is held), whole, or unhealthy."""
        if not self.device.healthy:
            return "unhealthy"
        if self.device.allocated_milli >= 1000:
            return "whole"
        return "partial" if self.device.allocated_milli else "free"

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
    node: nodes_views.Node
    cells: list[Cell]
    actions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HeatMap:
    nodes: list[NodeLine]
    counts: Counter[str]  # cell kind -> devices


def actions_for(state: str) -> list[str]:
    """What an operator may do to a node in this state (the service refuses the rest)."""
    if state == NodeState.READY.value:
        return ["cordon", "drain", "evict", "burn_in"]
    if state == NodeState.CORDONED.value:
        return ["uncordon", "drain", "evict", "burn_in"]
    if state == NodeState.DRAINING.value:
        return ["uncordon", "evict"]
    if state == NodeState.QUARANTINED.value:  # its burn-in failed: release it, or run another
        return ["uncordon", "burn_in"]
    return []


def heat_map(session: Session, who: Principal) -> HeatMap:
    held = census.holders(session, who)  # operators only
    lines = []
    counts: Counter[str] = Counter()
    for node in nodes.infos(session, used=census.allocations(session)):
        on_node = held.get(node.id, {})
        cells = [
            Cell(d, [Slice(j, n, m) for j, n, m in on_node.get(d.index, [])]) for d in node.devices
        ]
        counts.update(c.kind for c in cells)
        lines.append(NodeLine(node, cells, actions_for(node.state)))
    return HeatMap(lines, counts)


# --- organizations, projects and users ---


@dataclass(frozen=True)
class Directory:
    orgs: list[views.Org]
    projects: list[views.Project]
    users: list[views.User]
    org_names: dict[str, str]
    users_per_org: Counter[str]
    projects_per_org: Counter[str]


def directory(session: Session, who: Principal) -> Directory:
    orgs = tenancy.list_orgs(session, who)
    projects = tenancy.list_projects(session, who)
    users = tenancy.list_users(session, who)
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
    entries: list[views.AuditEntry]
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
        entries=rows,
        actions=actions,
        action=action,
        actor=actor,
        next_cursor=rows[-1].id if len(rows) == AUDIT_PAGE else None,
        first=before is None,
    )
