"""The autoscaler's two halves around `core/autoscaling.py`: `Concurrency`, which the gateway
tells of every request it begins and ends, turned into per-second samples; and `step`, which
the controller runs each pass to set each deployment's `desired` replicas from them.

Both live in the server's process: the gateway that counts and the controller that decides
share one `Concurrency` (AppState holds it). A request waiting for a replica (a cold start)
counts as in flight, which is what brings a deployment scaled to zero back.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.autoscaling import Decision, Memory, Policy, Sample, decide
from aicc.services import endpoints
from aicc.store.tables import DeploymentRow

KEEP_S = 120  # samples kept per deployment: more than any stable window


@dataclass
class _Track:
    inflight: int = 0
    last: float = 0.0  # the clock when `area` was last brought up to date
    area: float = 0.0  # requests x seconds in flight since the start of the current second
    samples: deque[Sample] = field(default_factory=lambda: deque(maxlen=KEEP_S))

    def advance(self, now: float) -> None:
        """Bring the samples up to `now`: each whole second's mean in flight (a second with
        none in flight is left out; the windows read a missing second as zero)."""
        if self.inflight == 0:  # nothing accrues: close the second that was open, if passed
            if math.floor(now) > math.floor(self.last):
                if self.area > 0:
                    self.samples.append(Sample(math.floor(self.last) + 1.0, self.area))
                self.area = 0.0
            self.last = now
            return
        while self.last < now:
            boundary = math.floor(self.last) + 1.0
            upto = min(now, boundary)
            self.area += self.inflight * (upto - self.last)
            self.last = upto
            if upto == boundary:
                self.samples.append(Sample(boundary, self.area))
                self.area = 0.0


class Concurrency:
    """Requests in flight per deployment, as the autoscaler's per-second samples."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._tracks: dict[str, _Track] = {}

    def begin(self, deployment_id: str) -> None:
        self._change(deployment_id, +1)

    def end(self, deployment_id: str) -> None:
        self._change(deployment_id, -1)

    def _change(self, deployment_id: str, delta: int) -> None:
        now = self.clock()
        with self._lock:
            track = self._tracks.setdefault(deployment_id, _Track(last=now))
            track.advance(now)
            track.inflight = max(0, track.inflight + delta)

    def inflight(self, deployment_id: str) -> int:
        """Requests to the deployment begun and not yet ended."""
        with self._lock:
            track = self._tracks.get(deployment_id)
            return track.inflight if track else 0

    def samples(self, deployment_id: str) -> list[Sample]:
        """The whole seconds seen so far (the last `KEEP_S`), oldest first."""
        now = self.clock()
        with self._lock:
            track = self._tracks.get(deployment_id)
            if track is None:
                return []
            track.advance(now)
            return list(track.samples)


def step(
    session: Session,
    concurrency: Concurrency,
    memories: dict[str, Memory],
    defaults: Policy = Policy(),
) -> dict[str, Decision]:
    """Set each running deployment's `desired` replicas from its samples (the controller's
    pass; `memories` is the loop's, kept between passes). A deployment the loop meets for the
    first time counts as just used: a restart never scales anything to zero at once.
    Answers the decisions, by deployment id."""
    now = concurrency.clock()
    decided: dict[str, Decision] = {}
    rows = session.scalars(
        select(DeploymentRow).where(DeploymentRow.state.not_in(("stopped", "failed")))
    )
    for row in rows:
        policy = replace(
            defaults,
            min_replicas=row.min_replicas,
            max_replicas=row.max_replicas,
            target=row.target_concurrency or defaults.target,
        )
        ready = sum(
            1
            for e in endpoints.of_deployment(session, row.id)
            if e.ready and e.revision == row.revision
        )
        memory = memories.get(row.id) or Memory(last_request=now)
        decision, memories[row.id] = decide(policy, concurrency.samples(row.id), now, ready, memory)
        if decision.replicas != row.desired:
            row.desired = decision.replicas
        decided[row.id] = decision
    for gone in set(memories) - set(decided):
        del memories[gone]
    return decided
