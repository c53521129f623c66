"""The deployments' keeper: what serving's `deployments` step does at each controller pass
(loops/deployments.py), keep every deployment's replicas as wanted
(services/serving/converge.py), and what every server does at each pass, leading or not: share
the gateway's load it counted. The controller holds it (it shares the load before it knows
whether it leads); the step is built with it.

Level-triggered: whatever happened since the last pass, the pass looks at what is and moves it
one step towards what is wanted. Probes run here, outside any transaction, in parallel with a
short timeout (never on a request's path); their answers are then written in one fenced
transaction with the step, so only the leader acts."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from aicc.core.autoscaling import Memory
from aicc.loops.lease import Lease, LostLease
from aicc.services import changes
from aicc.services.common import tls, utcnow
from aicc.services.jobs import endpoints
from aicc.services.serving import autoscaling, converge, deployments
from aicc.store.db import Database

log = logging.getLogger(__name__)
MAX_PROBES_AT_ONCE = 16


class Keeper:
    """The deployments' step of the control loop, with when it last probed."""

    def __init__(
        self, policy: deployments.Policy, concurrency: autoscaling.Concurrency | None = None
    ) -> None:
        self.policy = policy
        # what the gateway counts; None: no autoscaling, `desired` moves only when told
        self.concurrency = concurrency
        self._memories: dict[str, Memory] = {}  # the autoscaler's, per deployment
        self._next_probe = 0.0
        self._next_share = 0.0
        # One pooled client for every probe: making one loads the CA store for TLS, tens of
        # milliseconds holding the GIL, which a gateway on the same event loop waits out (and
        # its CA store the process's one, `services.common.tls`).
        self._http = httpx.Client(timeout=policy.probe_timeout_s, trust_env=False, verify=tls())

    def share(self, db: Database, server: str) -> None:
        """This process's closed seconds of gateway load into the store, for whichever server
        leads (every server's pass does this, leading or not); at most once a second."""
        if self.concurrency is None or time.monotonic() < self._next_share:
            return
        self._next_share = time.monotonic() + 1.0
        samples = self.concurrency.unshared()
        if not samples:
            return
        try:
            with db.session() as session:
                autoscaling.share(session, server, samples)
        except Exception:  # the leader then scales on less: never a reason to stop the pass
            log.exception("deployments: sharing the gateway's load failed")

    def step(self, db: Database, lease: Lease) -> None:
        """Probe when due, then one converge step; a failing step is logged, not fatal to the
        pass (billing and the rest still run), and retried at the next. The replica jobs it
        submits wake no loop (`changes.looping`): the next pass schedules them, as before."""
        try:
            with changes.looping():
                self._step(db, lease)
        except LostLease:
            raise
        except Exception:
            log.exception("deployments: converge step failed")

    def _step(self, db: Database, lease: Lease) -> None:
        with db.reader() as session:
            due = converge.probes(session)
        # Every replica every `probe_interval_s`; one still starting at every pass, so that
        # it takes traffic as soon as it answers (a burst waits on exactly that).
        if time.monotonic() >= self._next_probe:
            self._next_probe = time.monotonic() + self.policy.probe_interval_s
        else:
            due = [probe for probe in due if not probe.ready]
        answers = self.probe(due)
        with db.session() as session:
            now = utcnow()
            lease.fence(session, now)
            if self.concurrency is not None:
                defaults = self.policy.autoscaling()
                memories = self._memories
                autoscaling.step(session, self.concurrency, memories, defaults, lease.holder)
            converge.converge(session, self.policy, now, answers)

    def probe(self, due: list[converge.Probe]) -> dict[str, bool]:
        """job id -> whether its readiness path answered 2xx in time."""
        if not due:
            return {}

        def one(probe: converge.Probe) -> bool:
            try:
                if probe.socket is None:
                    return _answers(self._http, probe)
                with endpoints.unix_client(probe.socket, self._http.timeout) as http:
                    return _answers(http, probe)
            except (httpx.HTTPError, OSError):
                return False

        with ThreadPoolExecutor(min(MAX_PROBES_AT_ONCE, len(due))) as pool:
            return dict(zip((p.job_id for p in due), pool.map(one, due), strict=True))


def _answers(http: httpx.Client, probe: converge.Probe) -> bool:
    """Whether the replica's readiness path answers 2xx. Its status line is all that is read:
    a replica is a tenant's job, and a body without end must not fill the server (the
    connection is closed on leaving, the body unread)."""
    with http.stream("GET", probe.url, headers=probe.headers) as answer:
        return answer.is_success
