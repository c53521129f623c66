"""A node's BMC (Redfish): an operator names it (address, user, password sealed as project
secrets are, store/sealing.py) and may ask for a power limit; the `bmc` loop step
(loops/bmc.py) reads it at its interval and hands back what it said, which this module keeps,
and writes the limit asked for.

Health: a BMC that says `Critical` cordons a ready node with the reason `REASON`, and when it
says OK or Warning again the node is uncordoned, but only if it is still cordoned for that
reason: a node an operator cordoned (before or since) is never uncordoned by its BMC.

Center admins alone configure a BMC and see its address and user; the password is never
returned (`views.Bmc`). Every reader of nodes sees the status (`views.BmcStatus`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core import redfish
from aicc.core.tenancy import Principal
from aicc.core.topology import NodeState
from aicc.services import changes
from aicc.services.common import Forbidden, Invalid, NotFound, from_row, utcnow
from aicc.services.nodes import history, nodes, views
from aicc.services.tenancy import audit
from aicc.store.sealing import Sealer
from aicc.store.tables.nodes import NodeBmcRow, NodeRow

REASON = "BMC reports health Critical"
MIN_INTERVAL_S, MAX_INTERVAL_S = 5.0, 3600.0
MIN_LIMIT_W, MAX_LIMIT_W = 50.0, redfish.MAX_WATTS


def _admin(who: Principal) -> None:
    if not who.is_admin:
        raise Forbidden("only center admins manage nodes' BMCs")


def check_address(address: str) -> str:
    """`https://host[:port]` (or `http://`): no credentials, path, query or fragment."""
    try:
        parts = urlsplit(address.strip())
        port = parts.port
    except ValueError:
        raise Invalid("address {address!r}: give https://HOST or https://HOST:PORT") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or len(address) > 200
    ):
        raise Invalid(
            "address {address!r}: give https://HOST or https://HOST:PORT (no user, path or "
            "query: the user name and password are their own fields)",
            address=address[:200],
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def view(row: NodeBmcRow, name: str) -> views.Bmc:
    return from_row(views.Bmc, row, node=name, status=nodes.bmc_status(row))


def _bmc(session: Session, node: NodeRow) -> NodeBmcRow:
    row = session.get(NodeBmcRow, node.id)
    if row is None:
        raise NotFound(
            "node {name} has no BMC; `aicc node bmc set {name} --address ...` names it",
            name=node.name,
        )
    return row


def configure(
    session: Session,
    who: Principal,
    *,
    sealer: Sealer,
    node: str,
    address: str,
    username: str = "",
    password: str | None = None,
    verify_tls: bool = True,
    interval_s: float = 60.0,
) -> views.Bmc:
    """Name a node's BMC, or change it; a password of None keeps the one stored."""
    _admin(who)
    row = nodes.row_named(session, node)
    address = check_address(address)
    if not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:
        raise Invalid(
            "interval_s: from {low:g} to {high:g} seconds", low=MIN_INTERVAL_S, high=MAX_INTERVAL_S
        )
    now = utcnow()
    bmc = session.get(NodeBmcRow, row.id)
    if bmc is None:
        bmc = NodeBmcRow(node_id=row.id, address=address, created_at=now, reading={})
        session.add(bmc)
    moved = bmc.address != address or bmc.username != username
    bmc.address, bmc.username, bmc.verify_tls = address, username, verify_tls
    bmc.interval_s, bmc.updated_at = interval_s, now
    if password is not None:
        bmc.password = sealer.seal(password)
    elif bmc.password is None:
        bmc.password = ""
    if moved:  # another BMC: what the old one said is not this one's
        bmc.reading, bmc.read_at, bmc.error, bmc.error_at = {}, None, "", None
        bmc.limit_applied_w = None
    audit.record(session, who, "node.bmc.set", "node", row.id, detail={"address": address})
    changes.changed(session)
    session.flush()
    return view(bmc, row.name)


def get(session: Session, who: Principal, node: str) -> views.Bmc:
    _admin(who)
    row = nodes.row_named(session, node)
    return view(_bmc(session, row), row.name)


def remove(session: Session, who: Principal, node: str) -> None:
    """Forget a node's BMC; a cordon it made stays (an operator uncordons it)."""
    _admin(who)
    row = nodes.row_named(session, node)
    session.delete(_bmc(session, row))
    audit.record(session, who, "node.bmc.remove", "node", row.id)


def set_limit(session: Session, who: Principal, node: str, watts: float | None) -> views.Bmc:
    """Ask for a power limit (None lifts it); the `bmc` step writes it to the BMC."""
    _admin(who)
    row = nodes.row_named(session, node)
    bmc = _bmc(session, row)
    if watts is not None and not (math.isfinite(watts) and MIN_LIMIT_W <= watts <= MAX_LIMIT_W):
        raise Invalid(
            "a node's power limit is from {low:g} W to {high:g} W",
            low=MIN_LIMIT_W,
            high=MAX_LIMIT_W,
        )
    bmc.limit_w, bmc.limit_error, bmc.updated_at = watts, "", utcnow()
    audit.record(session, who, "node.power_limit", "node", row.id, detail={"limit_w": watts})
    changes.changed(session)  # the loops write it at their next pass
    session.flush()
    return view(bmc, row.name)


# --- what the loops read and write ------------------------------------------------------------


def targets(
    session: Session, sealer: Sealer
) -> list[tuple[redfish.Target, float, datetime | None]]:
    """Every BMC to read: its target, its interval and when it was last asked."""
    found = []
    for row in session.scalars(select(NodeBmcRow).order_by(NodeBmcRow.node_id)):
        last = max((t for t in (row.read_at, row.error_at) if t is not None), default=None)
        found.append((_target(row, sealer), row.interval_s, last))
    return found


def _target(row: NodeBmcRow, sealer: Sealer) -> redfish.Target:
    return redfish.Target(
        row.node_id,
        row.address,
        row.username,
        sealer.open(row.password) if row.password else "",
        row.verify_tls,
    )


def limits_due(session: Session, sealer: Sealer) -> list[tuple[redfish.Target, float | None]]:
    """BMCs whose limit asked for is not the one last written (and that did not refuse it)."""
    found = []
    for row in session.scalars(select(NodeBmcRow)):
        if row.limit_w != row.limit_applied_w and not row.limit_error:
            found.append((_target(row, sealer), row.limit_w))
    return found


def limit_written(
    session: Session, node_id: str, watts: float | None, error: str, asked: float | None
) -> None:
    """Record the outcome of writing `watts`; nothing if the limit asked for changed since."""
    row = session.get(NodeBmcRow, node_id)
    if row is None or row.limit_w != asked:
        return
    if error:
        row.limit_error = redfish.text(error)
    else:
        row.limit_applied_w, row.limit_error = watts, ""


def observe(session: Session, outcomes: Iterable[redfish.Outcome], now: datetime) -> list[str]:
    """Keep what each BMC said, cordon the nodes whose BMC says Critical and uncordon those it
    cordoned that are healthy again. Returns the names of nodes whose state changed."""
    changed = []
    for outcome in outcomes:
        row = session.get(NodeBmcRow, outcome.node_id)
        node = session.get(NodeRow, outcome.node_id)
        if row is None or node is None:
            continue
        if outcome.reading is None:
            row.error, row.error_at = redfish.text(outcome.error) or "no answer", now
            continue
        said = outcome.reading
        row.reading = {
            **{k: v for k, v in asdict(said).items() if k != "inventory"},
            "inventory": asdict(said.inventory),
        }
        row.read_at, row.error, row.error_at = now, "", None
        if said.health == "Critical":
            if node.state == NodeState.READY.value:
                _move(session, node, NodeState.CORDONED, REASON, now)
                row.cordoned = True
                changed.append(node.name)
        elif said.health in ("OK", "Warning") and row.cordoned:
            row.cordoned = False
            if node.state == NodeState.CORDONED.value and node.state_reason == REASON:
                _move(session, node, NodeState.READY, "", now)
                changed.append(node.name)
    if changed:
        changes.changed(session)  # the scheduler places by the nodes' states
    return changed


def _move(session: Session, node: NodeRow, state: NodeState, reason: str, now: datetime) -> None:
    before = node.state
    node.state, node.state_reason = state.value, reason
    history.node(session, node, before, at=now)
    audit.record(
        session, None, f"node.{state.value}", "node", node.id, detail={"reason": reason or "BMC"}
    )


def due(interval_s: float, last: datetime | None, now: datetime) -> bool:
    return last is None or now - last >= timedelta(seconds=interval_s)
