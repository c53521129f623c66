"""What the S3 endpoint did, for `/metrics`: requests by operation and status, bytes sent, and
chunks read from the chunk store (how an operator, and a test, sees that a range read reads only
the chunks it needs). A private registry per server, as `api/http_metrics.py`'s."""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector


class S3Stats:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "aicc_s3_requests",
            "S3 requests answered, by operation and status.",
            ["operation", "status"],
            registry=self.registry,
        )
        self.bytes_sent = Counter(
            "aicc_s3_sent_bytes", "Object bytes sent by GetObject.", registry=self.registry
        )
        self.chunks_read = Counter(
            "aicc_s3_chunks_read",
            "Data set chunks read from the chunk store to answer GetObject.",
            registry=self.registry,
        )
        self.chunk_bytes = Counter(
            "aicc_s3_chunk_read_bytes",
            "Bytes of the chunks read to answer GetObject (the whole chunks a range touches).",
            registry=self.registry,
        )

    def chunk(self, size: int) -> None:
        self.chunks_read.inc()
        self.chunk_bytes.inc(size)

    def collect(self) -> Iterator[Metric]:
        """This process's counts, or with `workers` every worker's added up (as
        `gateway/counted.py` does for the gateway's: this floor does not import it)."""
        where = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not where:
            yield from self.registry.collect()
            return
        for family in MultiProcessCollector(None, where).collect():  # type: ignore[no-untyped-call]
            if family.name.startswith("aicc_s3_"):
                yield family
