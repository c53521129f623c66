"""The autoscaler's two halves around `core/autoscaling.py`: `Concurrency`, which the gateway
tells of every request it begins and ends, turned into per-second samples; and `step`, which
the controller runs each pass to set each deployment's `desired` replicas from them.

The gateway that counts and the controller that decides share one `Concurrency` per process
(AppState holds it). Several servers, or a server's worker processes, each count their own
requests: each shares its closed seconds through the store (`share`, every controller pass),
and the leader's `step` adds the others' to its own, by second. A request waiting for a
replica (a cold start) counts as in flight, which is what brings a deployment scaled to zero
back. Seconds are wall-clock Unix times, so that the servers' samples line up.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from aicc.core.autoscaling import Decision, Memory, Policy, Sample, decide
from aicc.core.states import DeploymentState
from aicc.services.serving import lifecycle
from aicc.store.tables.serving import DeploymentRow, GatewayLoadRow

KEEP_S = 120  # samples kept per deployment: more than any stable window


@dataclass
class _Track:
    inflight: int = 0
    last: float = 0.0  # the clock when `area` was last brought up to date
    shared: float = 0.0  # the last second given out by `unshared`
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

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
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

    def unshared(self) -> dict[str, list[Sample]]:
        """The seconds closed since the last call, per deployment: each given out once."""
        now = self.clock()
        out: dict[str, list[Sample]] = {}
        with self._lock:
            for deployment_id, track in self._tracks.items():
                track.advance(now)
                new = [s for s in track.samples if s.at > track.shared]
                if new:
                    out[deployment_id] = new
                    track.shared = new[-1].at
        return out


def share(session: Session, server: str, samples: dict[str, list[Sample]]) -> None:
    """Write this server's closed seconds (`Concurrency.unshared`) for the leader to add up."""
    rows = [
        {"server": server, "deployment_id": d, "second": s.at, "concurrency": s.concurrency}
        for d, found in samples.items()
        for s in found
    ]
    if rows:
        session.execute(insert(GatewayLoadRow), rows)


def _others(session: Session, server: str, now: float) -> dict[str, dict[float, float]]:
    """The other servers' samples of the seconds kept, summed by deployment and second; older
    rows are deleted."""
    oldest = now - KEEP_S
    session.execute(delete(GatewayLoadRow).where(GatewayLoadRow.second < oldest))
    query = select(
        GatewayLoadRow.deployment_id, GatewayLoadRow.second, GatewayLoadRow.concurrency
    ).where(GatewayLoadRow.server != server)
    out: dict[str, dict[float, float]] = {}
    for deployment_id, second, concurrency in session.execute(query):
        seconds = out.setdefault(deployment_id, {})
        seconds[second] = seconds.get(second, 0.0) + concurrency
    return out


def _with(own: list[Sample], others: dict[float, float]) -> list[Sample]:
    """This server's samples plus the others' of the same seconds, oldest first."""
    if not others:
        return own
    total = dict(others)
    for sample in own:
        total[sample.at] = total.get(sample.at, 0.0) + sample.concurrency
    return [Sample(at, total[at]) for at in sorted(total)]


def step(
    session: Session,
    concurrency: Concurrency,
    memories: dict[str, Memory],
    defaults: Policy = Policy(),
    server: str = "",
) -> dict[str, Decision]:
    """Set each running deployment's `desired` replicas from its samples, this server's and
    the others' (`share`; `server` names this one) (the controller's pass; `memories` is the
    loop's, kept between passes). A deployment the loop meets for the first time counts as
    just used: a restart never scales anything to zero at once. Answers the decisions, by
    deployment id."""
    now = concurrency.clock()
    others = _others(session, server, now)
    decided: dict[str, Decision] = {}
    rows = session.scalars(
        select(DeploymentRow).where(
            DeploymentRow.state.not_in((DeploymentState.STOPPED, DeploymentState.FAILED))
        )
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
            for e in lifecycle.endpoints_of(session, row.id)
            if e.ready and e.revision == row.revision
        )
        memory = memories.get(row.id) or Memory(last_request=now)
        samples = _with(concurrency.samples(row.id), others.get(row.id, {}))
        decision, memories[row.id] = decide(policy, samples, now, ready, memory)
        if decision.replicas != row.desired:
            row.desired = decision.replicas
        decided[row.id] = decision
    for gone in set(memories) - set(decided):
        del memories[gone]
    return decided
