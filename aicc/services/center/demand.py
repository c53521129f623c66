"""The OpenADR events the VEN received (loops/openadr.py), for the operators: the VTN's event
(its signals and the caps it asks for), AICC's answer and why, the site's measured power when it
came in (the baseline), and the last report the VEN sent while its window held (measured kW, the
cap asked, the shed against the baseline). The caps themselves are services/center/power.py's.

Kept in the `settings` table under one key, as the power cap events are (no migration): a VTN
sends a few events a month; ended ones are dropped after KEEP_ENDED, and at most KEEP in all.
Only the server holding the controller lease writes (it is the one that keeps the caps).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from aicc.core.openadr import Answer, Signal, Window
from aicc.core.powercap import in_force
from aicc.core.tenancy import Principal
from aicc.services.center import power
from aicc.services.center.views import (
    DemandEvent,
    DemandEvents,
    DemandReport,
    DemandSignal,
    DemandWindow,
)
from aicc.services.common import Forbidden
from aicc.store.tables.center import SettingRow

KEY = "openadr_events"
KEEP = 100  # records at most, the latest deliveries kept


def _load(session: Session) -> list[dict[str, Any]]:
    row = session.get(SettingRow, KEY)
    return list(row.value.get("events", [])) if row is not None else []


def _save(session: Session, found: list[dict[str, Any]]) -> None:
    session.merge(SettingRow(key=KEY, value={"events": found}))


def _ended(record: dict[str, Any]) -> datetime:
    ends = [datetime.fromisoformat(w["end"]) for w in record["windows"]]
    return max(ends, default=datetime.fromisoformat(record["received_at"]))


def received(
    session: Session,
    *,
    event_id: str,
    status: str,
    signals: Sequence[Signal],
    windows: Sequence[Window],
    answer: Answer,
    baseline_kw: float | None,
    now: datetime,
) -> None:
    """Record a delivery of the event `event_id` in place of the one before (a modified event
    is delivered again; its baseline and last report stay)."""
    kept = [r for r in _load(session) if _ended(r) > now - power.KEEP_ENDED and r["id"] != event_id]
    before = next((r for r in _load(session) if r["id"] == event_id), None)
    record = {
        "id": event_id,
        "status": status,
        "received_at": now.isoformat(),
        "signals": [
            {"name": s.name, "type": s.kind, "start": s.start.isoformat(),
             "end": s.end.isoformat(), "payload": s.payload}
            for s in signals
        ],
        "windows": [
            {"start": w.start.isoformat(), "end": w.end.isoformat(), "cap_kw": w.cap_kw}
            for w in windows
        ],
        "answer": answer.opt,
        "reason": answer.reason,
        "why": answer.why,
        "floor_kw": answer.floor_kw,
        # the power before the event: a modified event's first delivery's
        "baseline_kw": before.get("baseline_kw") if before is not None else baseline_kw,
        "report": before.get("report") if before is not None else None,
    }  # fmt: skip
    _save(session, [*kept, record][-KEEP:])


def reported(session: Session, *, measured_kw: float, asked_kw: float | None, now: datetime) -> int:
    """Record the VEN's report at `now` on the events whose window holds now; how many."""
    found = _load(session)
    touched = 0
    for record in found:
        if any(_covers(w, now) for w in record["windows"]):
            record["report"] = {
                "at": now.isoformat(),
                "measured_kw": measured_kw,
                "asked_kw": asked_kw,
            }
            touched += 1
    if touched:
        _save(session, found)
    return touched


def _covers(window: dict[str, Any], at: datetime) -> bool:
    return datetime.fromisoformat(window["start"]) <= at < datetime.fromisoformat(window["end"])


def listing(
    session: Session, who: Principal, *, standing_kw: float | None, now: datetime
) -> DemandEvents:
    """The events received, latest delivery first. Center admins only."""
    if not who.is_admin:
        raise Forbidden("only center admins see the site's demand-response events")
    cap = in_force(standing_kw, power.events(session), now)
    items = []
    for record in reversed(_load(session)):
        active = any(_covers(w, now) for w in record["windows"])
        report = record.get("report")
        baseline = record.get("baseline_kw")
        items.append(
            DemandEvent(
                id=record["id"],
                status=record["status"],
                received_at=datetime.fromisoformat(record["received_at"]),
                signals=[DemandSignal.model_validate(s) for s in record["signals"]],
                windows=[DemandWindow.model_validate(w) for w in record["windows"]],
                answer=record["answer"],
                reason=record.get("reason", ""),
                why=record["why"],
                floor_kw=record.get("floor_kw"),
                active=active,
                cap_kw=cap.cap_kw if active and cap is not None else None,
                baseline_kw=baseline,
                report=None
                if report is None
                else DemandReport(
                    at=datetime.fromisoformat(report["at"]),
                    measured_kw=report["measured_kw"],
                    asked_kw=report["asked_kw"],
                    shed_kw=None if baseline is None else baseline - report["measured_kw"],
                ),
            )
        )
    return DemandEvents(items=items)
