"""The server's own counters for `/metrics`, right with `workers`: the gateway's
(`gateway/metrics.py`) and the API's by route (`api/http_metrics.py`).

Each collector keeps its counters in a private registry, so two servers in one process never
share counts. With `workers`, the processes behind the one port each count what they served, and
a scrape reaches one of them: there prometheus_client's multiprocess mode keeps every worker's
counts in files under `PROMETHEUS_MULTIPROC_DIR` (set by the first process before it starts
them), and whichever worker is scraped answers the sum.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

SHARED = "PROMETHEUS_MULTIPROC_DIR"


def collect(registry: CollectorRegistry, prefix: str) -> Iterator[Metric]:
    """The families named `prefix...`: this process's, or every worker's added up."""
    where = os.environ.get(SHARED)
    if not where:
        yield from registry.collect()
        return
    for family in MultiProcessCollector(None, where).collect():  # type: ignore[no-untyped-call]
        if family.name.startswith(prefix):
            yield family
