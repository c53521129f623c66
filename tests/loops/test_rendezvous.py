"""Where a gang meets (MASTER_ADDR) follows what its executor declares, not the executor's
name (issue 17): an engine whose nodes are all this machine meets on 127.0.0.1, whatever it
is called; the others meet on their first node's address."""

from __future__ import annotations

from pathlib import Path

from aicc.executors.base import Executor
from aicc.executors.local.executor import LocalExecutor
from aicc.executors.slurm import SlurmExecutor
from aicc.scheduler.snapshot import Bind, Placement
from aicc.services.jobs.binding import rendezvous
from aicc.store.blobs import BlobStore
from aicc.store.tables.nodes import NodeRow
from aicc.testing.servers import in_process


class Workstation(LocalExecutor):
    """The local executor under another name (a site's own engine built on it)."""

    name = "workstation"


def gang_on(executor: Executor) -> list[dict[str, object]]:
    nodes = {
        n: NodeRow(name=n, executor=executor.name, address=f"10.0.0.{i}", labels={})
        for i, n in enumerate(("n1", "n2"), start=1)
    }
    bind = Bind("job_1", (Placement(0, "n1"), Placement(1, "n2")))
    same_host = frozenset({executor.name} if executor.capabilities.same_host else ())
    return rendezvous(bind, nodes, same_host)


def test_a_gang_meets_on_loopback_where_its_executor_is_this_machine(tmp_path: Path) -> None:
    workstation = Workstation(home=tmp_path, blobs=BlobStore(tmp_path / "blobs"))
    assert [env["MASTER_ADDR"] for env in gang_on(workstation)] == ["127.0.0.1"] * 2
    slurm = SlurmExecutor(base_dir=tmp_path / "slurm-runs")
    assert [env["MASTER_ADDR"] for env in gang_on(slurm)] == ["10.0.0.1"] * 2


def test_a_gang_on_one_node_meets_on_its_loopback_whatever_the_executor(tmp_path: Path) -> None:
    """All replicas on one node share the job's own network there (executors/netns.py): the
    node's address would not be in it."""
    slurm = SlurmExecutor(base_dir=tmp_path / "slurm-runs")
    nodes = {"n1": NodeRow(name="n1", executor=slurm.name, address="10.0.0.1", labels={})}
    bind = Bind("job_1", (Placement(0, "n1"), Placement(1, "n1")))
    envs = rendezvous(bind, nodes, frozenset())
    assert [env["MASTER_ADDR"] for env in envs] == ["127.0.0.1"] * 2
    assert [env["LOCAL_RANK"] for env in envs] == [0, 1]
    assert [env["AICC_GANG_NODES"] for env in envs] == [1, 1]
    assert [env["AICC_GANG_NODES"] for env in gang_on(slurm)] == [2, 2]


def test_the_controller_asks_its_executors(tmp_path: Path) -> None:
    with in_process(tmp_path / "home") as (_api, state):
        assert state.controller.same_host == {"local"}


def test_a_listening_replica_gets_its_own_port_on_its_node(tmp_path: Path) -> None:
    slurm = SlurmExecutor(base_dir=tmp_path / "slurm-runs")
    nodes = {
        n: NodeRow(name=n, executor=slurm.name, address=f"10.0.0.{i}", labels={})
        for i, n in enumerate(("n1", "n2"), start=1)
    }
    bind = Bind("job_1", (Placement(0, "n1"), Placement(1, "n2")))
    envs = rendezvous(bind, nodes, frozenset(), listens=True)
    assert [env["AICC_SERVICE_HOST"] for env in envs] == ["10.0.0.1", "10.0.0.2"]
    ports = [env["PORT"] for env in envs]
    assert len(set(ports)) == 2 and all(isinstance(p, int) and p > 0 for p in ports)
    assert all("PORT" not in env for env in gang_on(slurm))  # a training gang listens nowhere
