"""The nodes' step: ask every executor what nodes it has and how they are (down, drained, back),
and record it through services/nodes (nodes.register, node_health.check).

Every `DISCOVERY_EVERY`; after a replica is lost with its node (marked down by reconcile, so
that its requeued job goes elsewhere if it fits elsewhere), every `DISCOVERY_AFTER_LOSS` for a
`DISCOVERY_EVERY`: an engine that came back (a restarted Ray head, whose raylet registers a few
seconds after its API answers) has the node again, and a job that fits nowhere else should not
wait a whole `DISCOVERY_EVERY` for it. A server also discovers once as it starts
(`Controller.discover`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from aicc.core.topology import NodeState
from aicc.executors.base import Executor
from aicc.loops.registry import Declared
from aicc.loops.steps import Every, Pass
from aicc.services.common import utcnow
from aicc.services.nodes import node_health, nodes
from aicc.store.db import Database

log = logging.getLogger(__name__)
DISCOVERY_EVERY = timedelta(seconds=15)
DISCOVERY_AFTER_LOSS = timedelta(seconds=3)


def discover(
    db: Database,
    executors: dict[str, Executor],
    health: node_health.Policy,
    *,
    burn_in: bool = False,
) -> None:
    """One discovery of every executor; an engine that does not answer keeps its last known
    nodes, and its outage is counted (`executor.outage`). `burn_in`: a node seen for the first
    time joins in burn-in (`nodes.burn_in.enabled`, loops/burn_in.py)."""
    for executor in executors.values():
        try:
            found = executor.discover()
        except Exception as err:  # an engine that does not answer keeps its last known nodes
            executor.outage.failed("discovery", err, trace=True)
            continue
        executor.outage.answered()
        try:
            outside = executor.used_capacity()
        except Exception:  # counted again at the next discovery
            log.exception("executor %s: reading capacity used outside AICC failed", executor.name)
            outside = {}
        with db.session() as session:
            rows = [
                nodes.register(
                    session,
                    node,
                    reason=executor.node_reason(node.name),
                    held=outside.get(node.name),
                    burn_in=burn_in,
                )
                for node in found
            ]
            down = {row.id for row in rows if row.state == NodeState.DOWN.value}
            node_health.check(session, down, health, utcnow())


class Discovery:
    """`discover` every `DISCOVERY_EVERY` (the first a `DISCOVERY_EVERY` after start, which
    discovered already), more often while watching for nodes lost by this pass's reconcile."""

    name = "discovery"

    def __init__(self, health: node_health.Policy, *, burn_in: bool = False) -> None:
        self.health = health
        self.burn_in = burn_in  # new nodes join in burn-in
        self.when = Every(DISCOVERY_EVERY, first=utcnow() + DISCOVERY_EVERY)
        self.watch_until = utcnow()  # until when discovery runs every DISCOVERY_AFTER_LOSS

    def due(self, pass_: Pass) -> bool:
        if pass_.report is not None and pass_.report.lost:
            self.watch_until = pass_.now() + DISCOVERY_EVERY
            self.when.next = min(self.when.next, pass_.now() + DISCOVERY_AFTER_LOSS)
        return self.when.due(pass_.now())

    def run(self, pass_: Pass) -> None:
        discover(pass_.db, pass_.executors, self.health, burn_in=self.burn_in)
        watching = pass_.now() < self.watch_until
        self.when.ran(DISCOVERY_AFTER_LOSS if watching else DISCOVERY_EVERY)


STEP = Declared(
    order=110, build=lambda context: Discovery(context.health, burn_in=context.joins_burning)
)
