"""Reading Slurm's output, and Slurm's states as AICC's: pure functions, on text Slurm 22.05
printed on the development cluster (scripts/slurm-dev.sh)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aicc.core.topology import WHOLE_DEVICES, NodeState
from aicc.executors.base import Capacity
from aicc.executors.slurm import nodes, parse, states

NODE = (
    "NodeName=n1 Arch=x86_64 CoresPerSocket=1  CPUAlloc=1 CPUEfctv=2 CPUTot=2 CPULoad=0.54 "
    "AvailableFeatures=(null) ActiveFeatures=(null) Gres=gpu:2 NodeAddr=127.0.0.1 "
    "NodeHostName=localhost Port=23710 Version=22.05.8 OS=Linux 6.18.44-fc-v669 #1 SMP "
    "PREEMPT_DYNAMIC @0  RealMemory=2048 AllocMem=256 FreeMem=23445 Sockets=2 Boards=1 "
    "State=MIXED ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A Partitions=debug  "
    "BootTime=2026-11-22T11:06:07 CfgTRES=cpu=2,mem=2G,billing=2,gres/gpu=2"
)
DRAINED = (
    "NodeName=g7 CPUTot=64 Gres=gpu:h100:4(S:0-1),gpu:tesla:2 NodeAddr=10.0.0.7 RealMemory=512000 "
    "State=IDLE+DRAIN Partitions=train,debug Reason=disk check [root@2026-11-22T12:01:16]"
)
USER_JOB = (
    "JobId=6 JobName=wrap UserId=root(0) JobState=RUNNING Reason=None NodeList=n[2-3] "
    "NumNodes=2 NumCPUs=2 TRES=cpu=2,mem=600M,node=2,billing=2,gres/gpu=2 JOB_GRES=gpu:2   "
    "Nodes=n[2-3] CPU_IDs=0-1 Mem=300 GRES=gpu:1(IDX:0) MinCPUsNode=1 Features=(null)"
)


def test_record_keeps_values_with_spaces() -> None:
    rec = parse.record(NODE)
    assert rec["OS"] == "Linux 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0"
    assert rec["Gres"] == "gpu:2" and rec["CfgTRES"] == "cpu=2,mem=2G,billing=2,gres/gpu=2"
    assert parse.record(DRAINED)["Reason"] == "disk check [root@2026-11-22T12:01:16]"
    # a line without fields (`scontrol show job` with no jobs says so in words): no fields
    assert parse.record("No jobs in the system") == {}
    assert parse.records("No jobs in the system\n") == [{}]


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("n[1-3]", ["n1", "n2", "n3"]),
        ("gpu[08-10],login", ["gpu08", "gpu09", "gpu10", "login"]),
        ("a[1,3-4]b", ["a1b", "a3b", "a4b"]),
        ("r[1-2]n[1-2]", ["r1n1", "r1n2", "r2n1", "r2n2"]),
        ("single", ["single"]),
    ],
)
def test_hostnames(expression: str, names: list[str]) -> None:
    assert parse.hostnames(expression) == names


def test_gres() -> None:
    assert parse.node_gpus("gpu:2") == [parse.GresGroup(None, 2)]
    assert parse.node_gpus("gpu:h100:4(S:0-1),gpu:tesla:2,mps:200") == [
        parse.GresGroup("h100", 4),
        parse.GresGroup("tesla", 2),
    ]
    assert parse.node_gpus("(null)") == []
    assert parse.gpu_indices("gpu:2(IDX:0-1)") == [0, 1]
    assert parse.gpu_indices("gpu:h100:2(IDX:1,3),mps:0(0/100)") == [1, 3]
    assert parse.gpu_indices("") == []


def test_exit_codes() -> None:
    assert parse.exit_from_json(768) == parse.Exit(3, 0)
    assert parse.exit_from_json(9).as_replica_code == -9  # type: ignore[union-attr]
    later = {"return_code": {"set": True, "number": 2}, "signal": {"id": {"set": False}}}
    assert parse.exit_from_json(later) == parse.Exit(2, 0)
    assert parse.exit_from_text("0:15") == parse.Exit(0, 15)
    assert parse.exit_from_text("") is None


def test_times_and_memory() -> None:
    assert parse.epoch(0) is None
    assert parse.epoch(1795348423) == datetime.fromtimestamp(1795348423, UTC)
    assert parse.local_time("Unknown") is None
    assert parse.local_time("2026-11-22T11:53:57") is not None
    assert parse.memory_mib("2048K") == 2 and parse.memory_mib("1.5G") == 1536
    assert parse.job_state("CANCELLED by 0") == "CANCELLED"
    assert parse.job_state(["NODE_FAIL", "COMPLETING"]) == "NODE_FAIL"


def test_inventory() -> None:
    found = nodes.inventory(f"{NODE}\n{DRAINED}\n", cluster="c1", simulated=True)
    n1, g7 = found.nodes
    assert (n1.name, n1.cpu_milli, n1.memory_mib, n1.state) == ("n1", 2000, 2048, NodeState.READY)
    devices = [(d.index, d.model, d.simulated) for d in n1.devices]
    assert devices == [(0, "gpu", True), (1, "gpu", True)]
    assert n1.labels == {
        "cluster": "c1",
        "pool": "debug",
        "address": "127.0.0.1",
        WHOLE_DEVICES: "true",  # GRES gives whole GPUs: no shares scheduled here
    }
    assert g7.state is NodeState.CORDONED and g7.pool == "train"
    assert found.reasons == {"g7": "disk check [root@2026-11-22T12:01:16]"}
    assert [d.model for d in g7.devices] == ["H100-SXM"] * 4 + ["tesla"] * 2
    assert g7.devices[0].memory_mib == 80 * 1024
    assert found.gres_types[("g7", 4)] == "tesla"
    typed = nodes.inventory(NODE, cluster="c1", default_model="A100-80GB")
    assert typed.nodes[0].devices[0].model == "A100-80GB"


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("IDLE", NodeState.READY),
        ("MIXED", NodeState.READY),
        ("DOWN+NOT_RESPONDING", NodeState.DOWN),
        ("IDLE*", NodeState.DOWN),
        ("MIXED+DRAIN", NodeState.CORDONED),
        ("IDLE+FAIL", NodeState.CORDONED),
        ("UNKNOWN", NodeState.DOWN),
    ],
)
def test_node_state(text: str, state: NodeState) -> None:
    assert nodes.node_state(text) is state


def test_used_capacity_counts_every_job_but_this_aiccs_own(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    ours = USER_JOB.replace("JobName=wrap", "JobName=aicc-job_X-0-0") + (
        f" StdOut={runs}/job_X/0-0/stdout.log"
    )
    done = USER_JOB.replace("JobState=RUNNING", "JobState=COMPLETED")
    used = nodes.used_capacity("\n".join([USER_JOB, ours, done]), runs)
    assert used == {"n2": Capacity(2000, 300, 1), "n3": Capacity(2000, 300, 1)}
    # a second AICC server on the same cluster names its jobs alike and logs elsewhere: what its
    # jobs hold is taken, as a user's job is
    theirs = ours.replace(str(runs), str(tmp_path / "elsewhere"))
    twice = nodes.used_capacity("\n".join([USER_JOB, ours, theirs]), runs)
    assert twice == {"n2": Capacity(4000, 600, 2), "n3": Capacity(4000, 600, 2)}


@pytest.mark.parametrize(
    ("slurm", "outcome", "phase", "code", "reason"),
    [
        ("PENDING", None, "starting", None, None),
        ("CONFIGURING", None, "starting", None, None),
        ("RUNNING", None, "running", None, None),
        ("COMPLETED", parse.Exit(0, 0), "exited", 0, "succeeded"),
        ("FAILED", parse.Exit(3, 0), "exited", 3, "exit_code"),
        ("FAILED", parse.Exit(0, 9), "exited", -9, "signal"),
        ("FAILED", parse.Exit(0, 0), "exited", 0, "supervisor_error"),
        ("TIMEOUT", parse.Exit(0, 15), "exited", -15, "runtime_exceeded"),
        ("OUT_OF_MEMORY", parse.Exit(0, 9), "exited", -9, "oom_killed"),
        ("CANCELLED", parse.Exit(0, 15), "exited", -15, "cancelled"),
        ("NODE_FAIL", None, "lost", None, "node_lost"),
        ("PREEMPTED", None, "lost", None, "preempted"),
    ],
)
def test_replica_state(
    slurm: str, outcome: parse.Exit | None, phase: str, code: int | None, reason: str | None
) -> None:
    state = states.replica_state(slurm, outcome=outcome)
    assert (state.phase, state.exit_code, state.reason) == (phase, code, reason)


def test_a_replica_aicc_stopped_reads_cancelled() -> None:
    state = states.replica_state("FAILED", outcome=parse.Exit(0, 15), cancel_requested=True)
    assert (state.phase, state.reason) == ("exited", "cancelled")
