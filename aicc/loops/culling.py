"""The notebook culler: stop notebooks nobody has used for their `idle_timeout_s`.

Now and then (`notebooks.check_interval_s`) the leader asks each running notebook's JupyterLab,
with its token, when anything last happened (`/api/status`, whose own requests count as no
activity) and whether a kernel is busy (`/api/kernels`, asked with `no_track_activity`), and
reads the NVML samples of its devices. A notebook idle for longer than its timeout is stopped
(services/notebooks.cull): its job ends `cancelled`, reason `idle_culled`, when JupyterLab has
exited, and metering ends with it. A JupyterLab that does not answer is not culled on that
ground: it may still be starting; if it died, the job ends by itself.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta

import httpx
from sqlalchemy.orm import Session

from aicc.loops.lease import Lease
from aicc.loops.registry import Context, Declared
from aicc.loops.steps import EveryPass, Pass
from aicc.services.common import tls, utcnow
from aicc.services.jobs import endpoints, notebooks
from aicc.services.telemetry import samples
from aicc.store.db import Database
from aicc.store.sealing import Sealer

log = logging.getLogger(__name__)


class Culler(EveryPass):
    """The jobs' notebook step: at every pass, asks the notebooks when due (`every`)."""

    name = "culling"

    def __init__(
        self, db: Database, lease: Lease, sealer: Sealer, *, every: timedelta, timeout_s: float = 3
    ) -> None:
        self.db = db
        self.lease = lease
        self.sealer = sealer
        self.every = every
        self.timeout_s = timeout_s
        self._next = utcnow()
        # one, its CA store the process's: see loops/deployments
        self._http = httpx.Client(timeout=timeout_s, trust_env=False, verify=tls())

    def run(self, pass_: Pass) -> None:
        self.tick()

    def tick(self) -> None:
        if utcnow() < self._next:
            return
        self._next = utcnow() + self.every
        with self.db.reader() as session:
            running = [
                replace(item, devices_busy_at=_busy_at(session, item))
                for item in notebooks.watched(session, self.sealer)
            ]
        if not running:
            return
        # asked side by side, so a notebook that does not answer holds the pass up once, briefly
        with ThreadPoolExecutor(max_workers=min(16, len(running))) as pool:
            answers = list(pool.map(self.last_activity, running))
        idle = {}
        for item, last in zip(running, answers, strict=True):
            if last is None:
                continue
            idle_s = (utcnow() - last).total_seconds()
            if idle_s > item.idle_timeout_s:
                idle[item.job_id] = idle_s
        if not idle:
            return
        with self.db.session() as session:
            now = utcnow()
            self.lease.fence(session, now)
            for job_id, idle_s in idle.items():
                if notebooks.cull(session, job_id, idle_s, now):
                    log.info("notebook job %s culled after %.0f s idle", job_id, idle_s)

    def last_activity(self, item: notebooks.Watched) -> datetime | None:
        """When the notebook last did anything (now, while a kernel is busy); None when its
        JupyterLab does not answer."""
        headers = {**item.headers, "Authorization": f"token {item.token}"}
        base = f"{item.url}/notebooks/{item.job_id}/api"
        try:
            with contextlib.ExitStack() as stack:
                http = self._http
                if item.socket is not None:  # a sandboxed notebook: through its Unix socket
                    http = stack.enter_context(endpoints.unix_client(item.socket, http.timeout))
                status = http.get(f"{base}/status", headers=headers)
                kernels = http.get(
                    f"{base}/kernels", params={"no_track_activity": "1"}, headers=headers
                )
            status.raise_for_status()
            kernels.raise_for_status()
        except (httpx.HTTPError, OSError) as err:
            log.debug("notebook job %s did not answer: %s", item.job_id, err)
            return None
        if any(k.get("execution_state") == "busy" for k in kernels.json()):
            return utcnow()
        times = [item.started_at]
        raw = status.json().get("last_activity")
        if raw:
            times.append(datetime.fromisoformat(raw.replace("Z", "+00:00")))
        if item.devices_busy_at is not None:
            times.append(item.devices_busy_at)
        return max(times)


def _busy_at(session: Session, item: notebooks.Watched) -> datetime | None:
    """The last NVML sample of the notebook's devices busy within its idle timeout."""
    since = utcnow() - timedelta(seconds=item.idle_timeout_s)
    return samples.busy_at(session, item.devices, since=since, above=notebooks.BUSY_DEVICE)


def _culler(context: Context) -> Culler:
    """Notebooks looked at every `notebooks.check_interval_s`, their stops fenced."""
    return Culler(context.db, context.lease, context.sealer, every=context.cull_every)


STEP = Declared(order=80, build=_culler)
