"""Accelerator sharing: fractional shares (milli + device memory) packed onto the fullest device
that holds them, and MIG-style fixed slices of A100/H100 handed out by profile."""

from __future__ import annotations

from dataclasses import replace

from sched_fixtures import (
    A100,
    GIB,
    bound,
    codes,
    job,
    mig_device,
    node,
    nodes_of,
    place,
    profile,
    run,
    snapshot,
    waiting,
)

from aicc.scheduler.snapshot import DeviceView

PROFILES_80 = ("3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb")  # one legal 7-slice layout


def test_a_share_goes_to_the_fullest_device_that_holds_it_across_nodes() -> None:
    nodes = [node("empty", gpus=2), node("busy", gpus=2)]
    running = [place(nodes, job("s", milli=700), [("busy", [1])])]
    decision = bound(run(snapshot(nodes, [job("share", milli=300)], running=running)), "share")
    (pick,) = decision.placements[0].devices
    assert (decision.placements[0].node, pick.index, pick.milli) == ("busy", 1, 300)


def test_shares_fill_one_device_before_opening_another() -> None:
    """fit.py's rule, under a profile without a placement policy (fgd-plus, which places shares
    in the default profile, may spread them: test_placer.py)."""
    jobs = [job(f"s{i}", milli=400, minute=i) for i in range(4)]
    packing = profile(placement={"order": "pack", "sample": 4})
    decisions = run(snapshot([node("n", gpus=2)], jobs), packing)
    picks = [bound(decisions, f"s{i}").placements[0].devices[0].index for i in range(4)]
    assert picks[0] == picks[1] and picks[2] == picks[3] and picks[0] != picks[2]


def test_a_share_needs_the_device_memory_it_declares() -> None:
    devices = [
        DeviceView(0, "H100-SXM", 80 * GIB, free_milli=500, free_memory_mib=10 * GIB),
        DeviceView(1, "H100-SXM", 80 * GIB),
    ]
    decision = bound(
        run(snapshot([node("n", devices=devices)], [job("s", milli=250, accel_memory=20 * GIB)])),
        "s",
    )
    (pick,) = decision.placements[0].devices
    assert (pick.index, pick.memory_mib) == (1, 20 * GIB)


def test_whole_devices_never_take_a_shared_device() -> None:
    nodes = [node("n", gpus=2)]
    running = [place(nodes, job("s", milli=100), [("n", [0])])]
    decisions = run(
        snapshot(nodes, [job("two", gpus=2), job("one", gpus=1, minute=1)], running=running),
        "fifo",
    )
    assert codes(decisions, "two") == ["resources"]
    assert [d.index for d in bound(decisions, "one").placements[0].devices] == [1]


def test_a_mig_request_gets_a_free_slice_of_its_profile() -> None:
    devices = [mig_device(0, PROFILES_80, used=[2]), DeviceView(1, "H100-SXM", 80 * GIB)]
    decision = bound(run(snapshot([node("n", devices=devices)], [job("m", mig="1g.10gb")])), "m")
    (pick,) = decision.placements[0].devices
    assert (pick.index, pick.mig_slice, pick.milli, pick.memory_mib) == (0, 3, 142, 10 * GIB)


def test_mig_slices_go_to_the_fullest_partitioned_device_first() -> None:
    devices = [mig_device(0, PROFILES_80), mig_device(1, PROFILES_80, used=[0, 1])]
    decision = bound(run(snapshot([node("n", devices=devices)], [job("m", mig="1g.10gb")])), "m")
    assert decision.placements[0].devices[0].index == 1


def test_partitioned_devices_are_never_taken_whole_or_shared() -> None:
    devices = [mig_device(0, PROFILES_80)]
    decisions = run(snapshot([node("n", devices=devices)], [job("w", gpus=1), job("s", milli=100)]))
    assert codes(decisions, "w") == ["unschedulable"]
    assert codes(decisions, "s") == ["unschedulable"]


def test_used_up_slices_wait_and_unknown_profiles_never_fit() -> None:
    devices = [mig_device(0, PROFILES_80, used=[2, 3])]
    decisions = run(
        snapshot([node("n", devices=devices)], [job("m", mig="1g.10gb"), job("x", mig="7g.80gb")])
    )
    assert codes(decisions, "m") == ["resources"]
    assert codes(decisions, "x") == ["unschedulable"]


def test_two_mig_jobs_in_one_cycle_take_different_slices() -> None:
    devices = [mig_device(0, PROFILES_80)]
    jobs = [
        job("m1", mig="1g.10gb"),
        job("m2", mig="1g.10gb", minute=1),
        job("m3", mig="1g.10gb", minute=2),
    ]
    decisions = run(snapshot([node("n", devices=devices)], jobs))
    slices = {bound(decisions, j).placements[0].devices[0].mig_slice for j in ("m1", "m2")}
    assert slices == {2, 3}
    assert codes(decisions, "m3") == ["resources"]


def test_mig_on_a100_by_model() -> None:
    nodes = [
        node("h", devices=[mig_device(0, PROFILES_80)]),
        node("a", devices=[mig_device(0, PROFILES_80, model=A100)]),
    ]
    decision = bound(run(snapshot(nodes, [job("m", mig="2g.20gb", models=(A100,))])), "m")
    assert nodes_of(decision) == ["a"]


def test_no_share_or_mig_slice_lands_on_a_whole_devices_only_node() -> None:
    """Slurm GRES and Ray hand out whole devices: a share goes to a node whose engine can split
    a device, and waits when there is none; whole-device jobs still use every node."""
    slurm = replace(node("slurm", gpus=1), shares=False)
    local = node("local", gpus=1)
    decisions = run(snapshot([slurm, local], [job("half", milli=500, accel_memory=8 * GIB)]))
    assert bound(decisions, "half").placements[0].node == "local"
    alone = run(snapshot([replace(node("slurm", gpus=1), shares=False)], [job("half", milli=500)]))
    assert waiting(alone, "half").reasons[0].code == "unschedulable"
    whole = run(snapshot([replace(node("slurm", gpus=1), shares=False)], [job("whole")]))
    assert bound(whole, "whole").placements[0].node == "slurm"
