"""A job's image needs a driver (issue 39): a replica that uses accelerators goes only to nodes
whose labels meet what its image needs (`ReplicaRequest.needs`), waits with the reason where
none does now, is unschedulable where none ever could, and a CPU-only replica is not held to
a driver. `explain` says which nodes miss what."""

from __future__ import annotations

from dataclasses import replace

from sched_fixtures import bound, codes, job, mig_device, node, nodes_of, place, profile, run
from sched_fixtures import snapshot as snap

from aicc.scheduler.explain import explain
from aicc.scheduler.feasible import Feasibility
from aicc.scheduler.snapshot import JobView, NodeView

CUDA_124 = (("nvidia.com/cuda", "12.4"),)
# The indexed walk alone (the default profile places one-replica jobs by fgd-plus first).
WALK = profile("default", placement={"order": "pack", "sample": 4})


def gpu_node(name: str, cuda: str | None, *, gpus: int = 8) -> NodeView:
    n = node(name, gpus=gpus)
    if cuda is not None:
        n.labels.update({"nvidia.com/cuda": cuda, "nvidia.com/driver": "x"})
    return n


def in_image(view: JobView, needs: tuple[tuple[str, str], ...] = CUDA_124) -> JobView:
    return replace(view, request=replace(view.request, needs=needs))


def test_a_cuda_12_4_job_waits_on_a_12_2_node_and_binds_on_a_12_6_one() -> None:
    old = [gpu_node("old", "12.2")]
    decisions = run(snap(old, [in_image(job("j", gpus=1))]), WALK)
    assert codes(decisions, "j") == ["unschedulable"]  # no node could ever run its image
    # With a 12.6 node beside it (after it in the index, so packing alone would pick `old`):
    both = [gpu_node("old", "12.2"), gpu_node("new", "12.6")]
    assert nodes_of(bound(run(snap(both, [in_image(job("j", gpus=1))]), WALK), "j")) == ["new"]


def test_gangs_and_shares_are_held_to_the_same_needs() -> None:
    nodes = [gpu_node("old", "12.2"), gpu_node("a", "12.4"), gpu_node("b", "12.6")]
    gang = in_image(job("g", gpus=8, replicas=2))
    assert sorted(nodes_of(bound(run(snap(nodes, [gang]), WALK), "g"))) == ["a", "b"]
    share = in_image(job("s", milli=250))
    nodes = [gpu_node("old", "12.2"), gpu_node("b", "12.6")]
    assert nodes_of(bound(run(snap(nodes, [share]), WALK), "s")) == ["b"]


def test_a_job_waits_for_room_on_the_nodes_that_fit_its_image() -> None:
    nodes = [gpu_node("old", "12.2"), gpu_node("new", "12.6")]
    running = place(nodes, job("r", gpus=8), [("new", range(8))])
    decisions = run(snap(nodes, [in_image(job("j", gpus=1))], running=[running]), WALK)
    assert codes(decisions, "j") == ["resources"]  # `old` is free, but its driver too old


def test_a_cpu_only_replica_needs_no_driver() -> None:
    # Needs on a replica without accelerators are not asked (replica_request leaves them
    # out; the scheduler ignores them anyway).
    nodes = [gpu_node("old", "12.2", gpus=0)]
    cpu = in_image(job("c", gpus=0))
    assert nodes_of(bound(run(snap(nodes, [cpu]), WALK), "c")) == ["old"]
    assert nodes_of(bound(run(snap(nodes, [cpu])), "c")) == ["old"]  # the default profile too


def test_a_job_without_needs_is_placed_as_before() -> None:
    nodes = [gpu_node("old", "12.2"), gpu_node("new", "12.6")]
    assert nodes_of(bound(run(snap(nodes, [job("j", gpus=1)]), WALK), "j")) == ["old"]


def test_feasibility_tells_nodes_apart_by_the_labels_a_job_needs() -> None:
    nodes = [gpu_node("old", "12.2"), gpu_node("older", "11.8"), gpu_node("none", None)]
    request = in_image(job("j", gpus=8)).request
    fleet = Feasibility(nodes)
    assert not fleet.ever_fits(1, [request], ("with",))
    plain = replace(request, needs=())
    assert fleet.ever_fits(1, [plain], ("without",))  # same shapes, one type without labels
    newer = Feasibility([*nodes, gpu_node("new", "12.4")])
    assert newer.ever_fits(1, [request], ("with",))


def test_explain_names_the_nodes_and_what_they_have() -> None:
    nodes = [gpu_node("old", "12.2"), gpu_node("bare", None)]
    found = explain(snap(nodes, [in_image(job("j", gpus=1))]), "j", WALK)
    assert found.reasons[0].code == "image"
    assert found.reasons[0].message == (
        "its image needs nvidia.com/cuda >= 12.4; no node meets it "
        "(old: nvidia.com/cuda=12.2; bare: nvidia.com/cuda=-)"
    )
    # Where some node meets it but is full, the words say which ones do.
    nodes = [gpu_node("old", "12.2"), gpu_node("new", "12.6")]
    running = place(nodes, job("r", gpus=8), [("new", range(8))])
    found = explain(snap(nodes, [in_image(job("j", gpus=1))], running=[running]), "j", WALK)
    assert [r.code for r in found.reasons] == ["resources", "image_nodes"]
    assert found.reasons[1].message == (
        "its image needs nvidia.com/cuda >= 12.4: only new meet it (old: nvidia.com/cuda=12.2)"
    )


def test_explain_says_nothing_of_images_for_a_job_without_needs() -> None:
    nodes = [gpu_node("old", "12.2")]
    running = place(nodes, job("r", gpus=8), [("old", range(8))])
    found = explain(snap(nodes, [job("j", gpus=1)], running=[running]), "j", WALK)
    assert [r.code for r in found.reasons] == ["resources"]


def test_the_default_profile_honours_needs_for_one_replica_jobs() -> None:
    # fgd-plus would pack onto `old`, which holds a job already.
    nodes = [gpu_node("old", "12.2"), gpu_node("new", "12.6")]
    running = place(nodes, job("r", gpus=1), [("old", [0])])
    decisions = run(snap(nodes, [in_image(job("j", gpus=1))], running=[running]))
    assert nodes_of(bound(decisions, "j")) == ["new"]


def test_a_job_in_an_image_and_one_without_are_different_shapes() -> None:
    nodes = [gpu_node("old", "12.2")]
    decisions = run(snap(nodes, [in_image(job("a", gpus=1)), job("b", gpus=1, minute=1)]), WALK)
    assert codes(decisions, "a") == ["unschedulable"]
    assert nodes_of(bound(decisions, "b")) == ["old"]


def test_a_mig_slice_is_held_to_the_needs_too() -> None:
    old = node("old", devices=[mig_device(0, ["1g.10gb"] * 7)])
    old.labels["nvidia.com/cuda"] = "12.2"
    decisions = run(snap([old], [in_image(job("m", mig="1g.10gb"))]), WALK)
    assert codes(decisions, "m") == ["unschedulable"]
