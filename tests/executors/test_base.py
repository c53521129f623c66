"""What every executor shares: an engine that does not answer is told to the log once per
outage, not once per replica and pass; exec is refused where the engine's replicas are not this
machine's processes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from aicc.core.topology import Device, Node
from aicc.executors.base import Outage, discovered
from aicc.executors.execs import ExecRefused
from aicc.executors.local.executor import LocalExecutor
from aicc.executors.slurm.executor import SlurmExecutor


def test_an_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    ray = Outage("Ray")
    with caplog.at_level(logging.DEBUG, logger="aicc.executors.base"):
        for handle in ("a", "b", "c"):
            ray.failed(f"replica {handle}", ConnectionError("refused"))
        ray.answered()
        ray.answered()
        ray.failed("discovery", ConnectionError("refused again"), trace=True)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage().split(" (")[0] for r in warnings] == [
        "Ray does not answer",
        "Ray answers again after 0 s",
        "Ray does not answer",
    ]
    assert "replica a" in warnings[0].getMessage() and warnings[0].exc_info is None
    assert warnings[2].exc_info is not None  # the first failure of a discovery: its traceback


def test_a_discovery_says_how_many_nodes_and_devices_it_found() -> None:
    gpu = Device(0, "H100-80GB", 80 * 1024)
    nodes = [Node("a", 8000, 65536, devices=(gpu, gpu)), Node("b", 8000, 65536)]
    assert discovered("Slurm cluster c", nodes, simulated=False) == (
        "Slurm cluster c: 2 node(s), 2 GPU(s)"
    )
    assert discovered("K8s", nodes[1:], simulated=True, unit="device") == (
        "K8s: 1 node(s), 0 simulated device(s)"
    )


def test_exec_is_the_local_executors_alone(tmp_path: Path) -> None:
    """`aicc job exec` enters replicas that are this machine's processes: Slurm's are batch
    jobs on other nodes, so it refuses, saying where exec works; the local executor can."""
    slurm = SlurmExecutor(base_dir=tmp_path)
    assert not slurm.capabilities.exec_in_replica
    with pytest.raises(ExecRefused, match="exec is supported on local executor nodes"):
        slurm.exec("12345", ["true"], tty=False)
    assert LocalExecutor.capabilities.exec_in_replica
