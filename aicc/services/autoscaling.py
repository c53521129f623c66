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
from dataclasses import dataclass, field

from aicc.core.autoscaling import Sample

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
