"""`GET /metrics`: the center in Prometheus's text format, read from the store at each scrape.

Gauges of what is installed and held now, the queue, and the latest measured busy share of
each sampled device; counters of usage per organization and project (from the append-only
usage records, so they only grow); a histogram of how long attempts waited to run (from the
append-only events). It carries tenant labels, so only center admins may read it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aicc.core.topology import NodeState
from aicc.services.billing import rating, usage
from aicc.services.jobs import census
from aicc.services.nodes import census as node_census
from aicc.services.notify import metrics as notify_metrics
from aicc.services.telemetry.kpis import registered_devices
from aicc.services.tenancy import directory
from aicc.store.tables.telemetry import DeviceSampleRow

WAIT_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
FRESH = timedelta(minutes=5)  # a busy figure older than this is not reported


class StoreCollector:
    """A prometheus_client collector that reads one session at scrape time."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now

    def collect(self) -> Iterator[Metric]:
        yield from self._capacity()
        yield from self._nodes()
        yield from self._queue()
        yield from self._waits()
        yield from self._usage()
        yield from notify_metrics.collect(self.session)  # deliveries (services/notify)

    def _nodes(self) -> Iterator[Metric]:
        """Nodes by state, every state listed (0 where none): the operators' alerts on nodes
        down or quarantined (deploy/prometheus/aicc-alerts.yaml) read it."""
        gauge = GaugeMetricFamily(
            "aicc_nodes",
            "Nodes registered, by state (ready, down, quarantined...).",
            labels=["state"],
        )
        counted = node_census.by_state(self.session)
        for state in NodeState:
            gauge.add_metric([state.value], counted.get(state.value, 0))
        yield gauge

    def _capacity(self) -> Iterator[Metric]:
        devices = registered_devices(self.session)
        labels = ["pool", "model", "simulated"]
        installed = GaugeMetricFamily(
            "aicc_accelerators", "Accelerators registered (devices).", labels=labels
        )
        held = GaugeMetricFamily(
            "aicc_accelerators_allocated",
            "Accelerators held by replicas now (devices; shares as fractions).",
            labels=labels,
        )
        count: dict[tuple[str, str, str], float] = defaultdict(float)
        allocated: dict[tuple[str, str, str], float] = defaultdict(float)
        for dev in devices.values():
            count[(dev.pool, dev.model, str(dev.simulated).lower())] += 1
        for rep in census.holding(self.session):
            for index, milli in rep.devices:
                d = devices.get((rep.node_id, index))
                if d is not None:
                    key = (d.pool, d.model, str(d.simulated).lower())
                    allocated[key] += milli / 1000
        for key, value in sorted(count.items()):
            installed.add_metric(list(key), value)
            held.add_metric(list(key), allocated.get(key, 0.0))
        yield installed
        yield held
        busy = GaugeMetricFamily(
            "aicc_accelerator_busy_ratio",
            "Latest NVML utilization of a sampled device (0-1); absent where not measured.",
            labels=["node", "index", "model"],
        )
        latest = (
            select(
                DeviceSampleRow.node_id,
                DeviceSampleRow.index,
                func.max(DeviceSampleRow.at).label("at"),
            )
            .where(DeviceSampleRow.at >= self.now - FRESH, DeviceSampleRow.index >= 0)
            .group_by(DeviceSampleRow.node_id, DeviceSampleRow.index)
            .subquery()
        )
        rows = self.session.execute(
            select(
                DeviceSampleRow.node_id, DeviceSampleRow.index, DeviceSampleRow.utilization
            ).join(
                latest,
                (latest.c.node_id == DeviceSampleRow.node_id)
                & (latest.c.index == DeviceSampleRow.index)
                & (latest.c.at == DeviceSampleRow.at),
            )
        )
        for node_id, index, util in rows:
            d = devices.get((node_id, index))
            busy.add_metric([node_id, str(index), d.model if d else ""], util)
        yield busy

    def _queue(self) -> Iterator[Metric]:
        counts = census.by_state(self.session)
        jobs = GaugeMetricFamily("aicc_jobs", "Jobs by state.", labels=["state"])
        states: Counter[str] = Counter()
        for c in counts:
            states[c.state] += c.number
        for state, n in states.items():
            jobs.add_metric([state], n)
        yield jobs
        depth = GaugeMetricFamily(
            "aicc_queue_depth", "Jobs waiting (pending or admitted).", labels=["org", "project"]
        )
        names = directory.project_names(self.session)
        waiting: Counter[tuple[str, str]] = Counter()
        for c in counts:
            if c.state in ("pending", "admitted"):
                waiting[(c.org_id, c.project_id)] += c.number
        for (org, project), n in waiting.items():
            depth.add_metric([org, names.get(project, project)], n)
        yield depth

    def _waits(self) -> Iterator[Metric]:
        """Seconds from entering `pending` to `running`, per attempt that started."""
        counts = [0] * len(WAIT_BUCKETS)
        total, n = 0.0, 0
        for wait in census.waits(self.session):
            total, n = total + wait, n + 1
            for i, bound in enumerate(WAIT_BUCKETS):
                if wait <= bound:
                    counts[i] += 1
        buckets = [(f"{b:g}", c) for b, c in zip(WAIT_BUCKETS, counts, strict=True)]
        yield HistogramMetricFamily(
            "aicc_job_wait_seconds",
            "Time from pending to running, per attempt.",
            buckets=[*buckets, ("+Inf", n)],
            sum_value=total,
        )

    def _usage(self) -> Iterator[Metric]:
        labels = ["org", "project", "model", "simulated"]
        device_s = CounterMetricFamily(
            "aicc_usage_accelerator_seconds",
            "Device-seconds held (shares as fractions; 3600 per device-hour).",
            labels=labels,
        )
        flop = CounterMetricFamily(
            "aicc_usage_normalized_flop",
            "Normalized compute held: the devices' dense FP16/BF16 peak FLOP/s × seconds "
            "(3.6e18 per PFLOPS-hour).",
            labels=labels,
        )
        cpu_s = CounterMetricFamily(
            "aicc_usage_cpu_seconds", "CPU core-seconds held.", labels=["org", "project"]
        )
        energy = CounterMetricFamily(
            "aicc_usage_energy_joules",
            "Energy of real devices, PUE included (3.6e6 per kWh).",
            labels=["org", "project"],
        )
        carbon = CounterMetricFamily(
            "aicc_usage_carbon_grams",
            "CO₂e of that energy at the grid's intensity of each hour (1000 per kg).",
            labels=["org", "project"],
        )
        carbon = CounterMetricFamily(
            "aicc_usage_carbon_grams",
            "CO₂e of that energy at the grid's intensity of each hour (1000 per kg).",
            labels=["org", "project"],
        )
        names = directory.project_names(self.session)
        cpu: dict[tuple[str, str], float] = defaultdict(float)
        joules: dict[tuple[str, str], float] = defaultdict(float)
        grams: dict[tuple[str, str], float] = defaultdict(float)
        for total in usage.compute_totals(self.session):
            project = total.project_id or ""
            who = (total.org_id, names.get(project, project))
            cpu[who] += float(total.cpu_milli_us) / 1000 / 1e6
            joules[who] += total.energy_kwh * 3.6e6
            grams[who] += total.carbon_kg * 1000
            if model := total.accelerator:
                seconds = float(total.milli_us) / 1000 / 1e6
                key = [*who, model, str(total.simulated).lower()]
                device_s.add_metric(key, seconds)
                flop.add_metric(key, seconds * float(rating.pflops(model)) * 1e15)
        for who, value in sorted(cpu.items()):
            cpu_s.add_metric(list(who), value)
            energy.add_metric(list(who), joules[who])
            carbon.add_metric(list(who), grams[who])
        yield from (device_s, flop, cpu_s, energy, carbon)


def exposition(session: Session, now: datetime, extra: Iterable[Collector] = ()) -> bytes:
    """The store's metrics, and those of `extra` collectors (the gateway's, in memory)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(session, now))
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)
