"""First-come first-served with first-fit placement, written plainly: the oracle the framework's
`fifo` profile must agree with (tests/scheduler/test_framework.py), never run live. A pure
function of the snapshot; gangs are placed whole or not at all."""

from __future__ import annotations

import copy

from aicc.scheduler.fit import pick_devices, take
from aicc.scheduler.snapshot import Bind, Decision, Placement, Snapshot, Wait, WaitReason


def schedule(snapshot: Snapshot) -> list[Decision]:
    """Walk the queue in (priority desc, submission) order; bind each job that fits now."""
    nodes = copy.deepcopy(snapshot.nodes)
    order = sorted(snapshot.pending, key=lambda j: (-j.priority, j.submitted_at, j.id))
    decisions: list[Decision] = []
    position = 0
    for job in order:
        trial = copy.deepcopy(nodes)
        placements: list[Placement] = []
        for replica in range(job.replicas):
            for node in trial:
                picks = pick_devices(node, job.request)
                if picks is not None:
                    take(node, job.request, picks)
                    placements.append(Placement(replica, node.name, picks))
                    break
            else:
                break
        if len(placements) == job.replicas:
            nodes = trial  # commit the whole gang
            decisions.append(Bind(job.id, tuple(placements)))
            continue
        position += 1
        what = "gang" if job.replicas > 1 and placements else "resources"
        message = (
            f"{len(placements)} of {job.replicas} replicas fit now; a gang starts whole"
            if what == "gang"
            else "no node has the free CPU, memory and accelerators this job asks for"
        )
        decisions.append(Wait(job.id, (WaitReason(what, message),), position))
    return decisions
