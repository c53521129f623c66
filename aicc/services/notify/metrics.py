"""The notifications' part of `/metrics`, read from the deliveries at each scrape (as the rest
of services/telemetry/metrics.py is, so every server of a center answers the same):
`aicc_notifications_total{channel_kind,outcome}` (delivered, failed) and
`aicc_notification_latency_seconds`, from an event to its delivery."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from aicc.store.tables.notify import NotifyDeliveryRow

LATENCY_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)


def collect(session: Session) -> Iterator[Metric]:
    total = CounterMetricFamily(
        "aicc_notifications",
        "Notification deliveries by channel kind and outcome (delivered, failed).",
        labels=["channel_kind", "outcome"],
    )
    d = NotifyDeliveryRow
    counted = select(d.channel_kind, d.state, func.count()).where(
        d.state.in_(["delivered", "failed"])
    )
    for kind, state, count in session.execute(counted.group_by(d.channel_kind, d.state)):
        total.add_metric([kind, state], float(count))
    yield total
    latency = HistogramMetricFamily(
        "aicc_notification_latency_seconds",
        "Seconds from an event to its delivery.",
        labels=["channel_kind"],
    )
    columns = [func.sum(case((d.latency_s <= b, 1), else_=0)) for b in LATENCY_BUCKETS]
    query = select(d.channel_kind, func.count(), func.sum(d.latency_s), *columns).where(
        d.state == "delivered", d.latency_s.is_not(None)
    )
    for kind, count, seconds, *below in session.execute(query.group_by(d.channel_kind)):
        buckets = [(str(b), float(n or 0)) for b, n in zip(LATENCY_BUCKETS, below, strict=True)]
        latency.add_metric([kind], [*buckets, ("+Inf", float(count))], float(seconds or 0))
    yield latency
