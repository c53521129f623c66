"""CPU-only jobs under the site power cap (issue 62): the live pass's snapshot carries each
node's fresh measured power (services/center/power.py `Site.node_w`, the meter's own query), a
CPU job counts its CPU and memory share of it, and on a node never measured its cores times
`site.cpu_core_w`; the deferrable CPU jobs beyond the cap wait with `power_cap`, those within it
start."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from billing_support import T0, fresh_store

from aicc.scheduler.framework import schedule
from aicc.scheduler.snapshot import Bind, JobView, ReplicaRequest, Snapshot, Wait
from aicc.services.center import power
from aicc.services.common import new_id
from aicc.services.jobs import snapshots
from aicc.services.telemetry import samples
from aicc.store.db import Database
from aicc.store.tables.nodes import NodeRow


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    yield from fresh_store(tmp_path_factory.mktemp("cpucap"), None)


def cpu_job(n: int, cores: int, memory_mib: int) -> JobView:
    """A deferrable job without an accelerator whose deadline cannot wait (so only the
    budget holds it)."""
    return JobView(
        id=f"job{n}",
        replicas=1,
        request=ReplicaRequest(cpu_milli=cores * 1000, memory_mib=memory_mib),
        priority=100,
        submitted_at=T0 + timedelta(minutes=n),
        max_runtime_s=3600,
        deferrable=True,
        deadline=T0 + timedelta(hours=1),
    )


def test_cpu_jobs_share_the_measured_node_power_and_those_beyond_the_cap_wait(
    db: Database,
) -> None:
    # n1: 16 cores, 64 GiB, its BMC says 800 W then 1200 W (mean 1 kW) in the last 5 minutes;
    # an hour-old sample and another source with fewer samples do not count
    site = power.Site(standing_kw=0.8, pue=1.0, core_w=10.0)
    with db.session() as session:
        node = NodeRow(
            id=new_id("node"), name="n1", cpu_milli=16_000, memory_mib=65_536, created_at=T0
        )
        session.add(node)
        session.flush()
        samples.record_power(session, T0 - timedelta(hours=1), [(node.id, 9000.0, "bmc", None)])
        samples.record_power(session, T0 - timedelta(minutes=2), [(node.id, 800.0, "bmc", None)])
        samples.record_power(session, T0 - timedelta(minutes=1), [(node.id, 1200.0, "bmc", None)])
        samples.record_power(session, T0, [(node.id, 100.0, "rapl", None)])
        assert site.node_w(session, T0) == {"n1": 1000.0}
        # 4 cores and 16 GiB: a quarter of each, 250 W of the node's kW; three fit in 0.8 kW
        pending = [cpu_job(n, cores=4, memory_mib=16_384) for n in range(4)]
        base = Snapshot(now=T0, nodes=snapshots.node_views(session), pending=pending)
        snap = site.decorate(session, base)
        assert snap.power is not None and snap.power.node_w == {"n1": 1000.0}
        decisions = {d.job_id: d for d in schedule(snap) if isinstance(d, Bind | Wait)}
        assert [j for j, d in decisions.items() if isinstance(d, Bind)] == ["job0", "job1", "job2"]
        held = decisions["job3"]
        assert isinstance(held, Wait) and held.reasons[0].code == "power_cap"
        assert held.reasons[0].message == (
            "waits for the site's power cap (site.power_cap_kw): 0.8 of 0.8 kW in use, needs 0.2 kW"
        )
        # ten minutes on, the samples are stale: 4 cores x 10 W each, all four fit
        later = site.decorate(session, Snapshot(now=T0 + timedelta(minutes=10), nodes=base.nodes,
                                                pending=pending))  # fmt: skip
        assert later.power is not None and later.power.node_w == {}
        assert all(isinstance(d, Bind) for d in schedule(later))
        session.rollback()
