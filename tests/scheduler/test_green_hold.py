"""The live hold: a deferrable job waits, with its reason, for the green planner's hour."""

from __future__ import annotations

from dataclasses import replace

from sched_fixtures import T0, at, job, node

from aicc.scheduler.framework import schedule
from aicc.scheduler.snapshot import Bind, JobView, Snapshot, Wait

# From 09:00 (T0): the cleanest hour is 13:00.
CARBON = (500.0, 480.0, 450.0, 300.0, 120.0, 400.0, 600.0, 650.0)


def deferrable(job_id: str, *, runtime_s: int = 3600, deadline_h: float = 8) -> JobView:
    return replace(job(job_id, runtime_s=runtime_s), deferrable=True, deadline=at(hours=deadline_h))


def test_a_deferrable_job_waits_for_the_greener_hour_with_its_reason() -> None:
    snap = Snapshot(now=T0, nodes=[node("n1")], pending=[deferrable("j1")], carbon=CARBON)
    [decision] = schedule(snap)
    assert isinstance(decision, Wait)
    assert decision.reasons[0].code == "green"
    assert decision.reasons[0].message.startswith("deferred to 13:00 UTC for greener power")


def test_it_starts_when_its_hour_comes() -> None:
    later = at(hours=4, minutes=1)
    snap = Snapshot(now=later, nodes=[node("n1")], pending=[deferrable("j1")], carbon=CARBON[4:])
    [decision] = schedule(snap)
    assert isinstance(decision, Bind)


def test_a_close_deadline_is_kept_and_others_are_not_held() -> None:
    tight = deferrable("tight", deadline_h=2)  # 09:00 or 10:00 only: 10:00 (480)
    plain = job("plain")
    no_forecast = Snapshot(now=T0, nodes=[node("n1")], pending=[deferrable("j1"), plain])
    assert all(isinstance(d, Bind) for d in schedule(no_forecast))
    snap = Snapshot(now=T0, nodes=[node("n1")], pending=[tight, plain], carbon=CARBON)
    decisions = {d.job_id: d for d in schedule(snap)}
    assert isinstance(decisions["plain"], Bind)
    held = decisions["tight"]
    assert isinstance(held, Wait) and "10:00 UTC" in held.reasons[0].message


def test_a_job_planned_for_now_is_not_held() -> None:
    flat = (100.0,) * 8
    snap = Snapshot(now=T0, nodes=[node("n1")], pending=[deferrable("j1")], carbon=flat)
    assert isinstance(schedule(snap)[0], Bind)


def test_the_plan_keeps_flexible_jobs_out_of_a_demand_response_event() -> None:
    # An event from 12:00 to 14:30 covers the hours 12:00 (300), 13:00 (120) and 14:00 (400):
    # the cleanest hour left is 11:00 (450; 15:00 is 600).
    event = ((at(hours=3), at(hours=5, minutes=30)),)
    snap = Snapshot(
        now=T0, nodes=[node("n1")], pending=[deferrable("j1")], carbon=CARBON, shed=event
    )
    [decision] = schedule(snap)
    assert isinstance(decision, Wait) and decision.reasons[0].code == "green"
    assert decision.reasons[0].message.startswith("deferred to 11:00 UTC for greener power")
    # an event in force now: the job is planned after it, and says so
    now_event = ((T0, at(hours=1, minutes=30)),)
    flat = (100.0,) * 8
    snap = replace(snap, carbon=flat, shed=now_event)
    [decision] = schedule(snap)
    assert isinstance(decision, Wait)
    assert decision.reasons[0].message.startswith(
        "deferred to 11:00 UTC, after the demand-response event (deadline"
    )
    # a deadline that cannot wait the event out: planned as if there were none
    pressed = deferrable("pressed", deadline_h=2)
    [decision] = schedule(replace(snap, pending=[pressed]))
    assert isinstance(decision, Bind)
