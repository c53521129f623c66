"""The site power cap in the pass: a job whose start would take the estimated facility power
over the cap waits, saying by how much; a job that fits still starts behind it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sched_fixtures import GIB, H100, T0, job, node, request

from aicc.scheduler.framework import schedule
from aicc.scheduler.power import facility_w, need_w
from aicc.scheduler.snapshot import Bind, JobView, Placement, PowerCap, Snapshot, Wait

# An H100-SXM: 700 W TDP, idles at 15 % (105 W), adds 595 W when held at full utilization.
CAP = PowerCap(cap_w=2000.0, tdp_w={H100: 700.0}, pue=1.0, idle_fraction=0.15, utilization=1.0)


def by_id(snap: Snapshot) -> dict[str, Bind | Wait]:
    return {d.job_id: d for d in schedule(snap) if isinstance(d, Bind | Wait)}


def test_a_job_over_the_cap_waits_with_the_numbers_and_one_that_fits_starts() -> None:
    big, small, third = job("big", gpus=4), job("small", minute=1), job("third", minute=2)
    snap = Snapshot(now=T0, nodes=[node("n1")], pending=[big, small, third], power=CAP)
    decisions = by_id(snap)
    held = decisions["big"]
    assert isinstance(held, Wait)
    assert held.reasons[0].code == "power_cap"
    # 8 idle devices: 0.84 kW; 4 more busy devices: 2.38 kW
    assert held.reasons[0].message == (
        "waits for the site's power cap: 0.8 of 2.0 kW in use, needs 2.4 kW"
    )
    assert isinstance(decisions["small"], Bind)  # no head-of-line block
    # after `small` (0.84 + 0.595 = 1.435 kW), one more device would make 2.03 kW
    third_wait = decisions["third"]
    assert isinstance(third_wait, Wait)
    assert "1.4 of 2.0 kW in use, needs 0.6 kW" in third_wait.reasons[0].message


def test_the_pue_and_running_jobs_count_and_no_cap_holds_nothing() -> None:
    busy = node("n1")
    for device in busy.devices[:2]:
        device.free_milli = 0  # held by a running job
    with_pue = replace(CAP, pue=1.5, cap_w=8000.0, source="demand response until 14:00 UTC")
    assert facility_w(with_pue, [busy]) == (8 * 105 + 2 * 595) * 1.5
    snap = Snapshot(now=T0, nodes=[busy], pending=[job("six", gpus=6)], power=with_pue)
    [wait] = schedule(snap)
    assert isinstance(wait, Wait)
    assert wait.reasons[0].message.startswith(
        "waits for the site's power cap (demand response until 14:00 UTC): "
        "3.0 of 8.0 kW in use, needs 5.4 kW"
    )
    assert isinstance(schedule(replace(snap, power=None))[0], Bind)


def cpu_job(name: str, minute: float, cores: int = 4) -> JobView:
    """A deferrable CPU-only job that cannot wait out an event (its deadline is close)."""
    return replace(
        job(name, gpus=0, cpu=cores * 1000, minute=minute),
        deferrable=True, max_runtime_s=3600, deadline=T0 + timedelta(hours=1),
    )  # fmt: skip


def test_cpu_only_jobs_count_their_cores_where_no_node_is_measured() -> None:
    # 8 idle H100s: 840 W; each 4-core job: 4 x 10 W; room for 4 of them under 1 kW
    cap = replace(CAP, cap_w=1000.0, core_w=10.0)
    pending = [cpu_job(f"cpu{i}", minute=i) for i in range(6)]
    decisions = by_id(Snapshot(now=T0, nodes=[node("n1")], pending=pending, power=cap))
    started = [k for k, d in decisions.items() if isinstance(d, Bind)]
    assert started == ["cpu0", "cpu1", "cpu2", "cpu3"]
    for late in ("cpu4", "cpu5"):
        wait = decisions[late]
        assert isinstance(wait, Wait) and wait.reasons[0].code == "power_cap"
        assert "1.0 of 1.0 kW in use, needs 0.0 kW" in wait.reasons[0].message


def test_cpu_only_jobs_take_their_share_of_a_measured_node() -> None:
    # n1 measured at 2 kW: a 32-core, 256 GiB job holds (1/4 + 1/4) / 2 of it, 500 W
    cap = replace(CAP, cap_w=2000.0, node_w={"n1": 2000.0})
    big = replace(cpu_job("a", minute=0), request=request(gpus=0, cpu=32_000, memory=256 * GIB))
    assert need_w(cap, big, [node("n1")]) == 500.0
    pending = [big, replace(big, id="b", submitted_at=T0 + timedelta(minutes=1))]
    running = replace(big, id="r", placements=(Placement(0, "n1"),))
    snap = Snapshot(now=T0, nodes=[node("n1")], pending=pending, running=[running], power=cap)
    decisions = by_id(snap)  # 840 W idle + 500 W running: one more fits, the second not
    assert isinstance(decisions["a"], Bind)
    wait = decisions["b"]
    assert isinstance(wait, Wait) and wait.reasons[0].code == "power_cap"
    assert "1.8 of 2.0 kW in use, needs 0.5 kW" in wait.reasons[0].message


def test_under_an_event_flexible_jobs_wait_it_out_and_guaranteed_ones_start() -> None:
    event = replace(CAP, cap_w=8000.0, source="demand response", until=T0 + timedelta(hours=1))
    flexible = replace(
        job("flexible"), deferrable=True, max_runtime_s=3600, deadline=T0 + timedelta(hours=3)
    )
    pressed = replace(  # its deadline cannot wait for the event's end: it is treated as guaranteed
        job("pressed", minute=1), deferrable=True, max_runtime_s=3600,
        deadline=T0 + timedelta(hours=1, minutes=30),
    )  # fmt: skip
    guaranteed = job("guaranteed", minute=2)
    pending = [flexible, pressed, guaranteed]
    snap = Snapshot(now=T0, nodes=[node("n1")], pending=pending, power=event)
    decisions = by_id(snap)
    wait = decisions["flexible"]
    assert isinstance(wait, Wait) and wait.reasons[0].code == "power_cap"
    assert wait.reasons[0].message == (
        "waits for the site's power cap (demand response): a deferrable job waits out the "
        "demand-response event (deadline 2025-03-01 12:00 UTC)"
    )
    assert isinstance(decisions["pressed"], Bind) and isinstance(decisions["guaranteed"], Bind)
    standing = replace(event, until=None)  # a standing cap sheds nothing: all fit, all start
    assert all(isinstance(d, Bind) for d in by_id(replace(snap, power=standing)).values())
    after = replace(snap, now=T0 + timedelta(hours=1), power=None)  # the event is over
    assert isinstance(by_id(after)["flexible"], Bind)
