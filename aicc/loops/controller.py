"""The control loops of one server: while it holds the lease, run the contexts' steps.

Runs in a background thread; `wake()` shortens the wait after a submit or cancel so jobs start
within milliseconds instead of the next tick. Every server runs one; only the leader acts. A pass
goes through `steps`, built once from what each step's module declares (loops/registry.py; what a
step is and the list of today: loops/steps.py); the controller builds no step and lists none: it
only keeps the lease, the pace of passes (from reconcile's `Report`) and the steps' timings.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from aicc.config import NotifySettings
from aicc.core.energy import EnergyProfile
from aicc.executors.base import Executor
from aicc.loops import discovery, registry
from aicc.loops.bmc import Bmcs
from aicc.loops.books import Books
from aicc.loops.burn_in import BurnIn
from aicc.loops.federation import Federation
from aicc.loops.keeper import Keeper
from aicc.loops.lease import Lease, LostLease
from aicc.loops.meters import Meters
from aicc.loops.notify import Notify
from aicc.loops.openadr import Ven
from aicc.loops.registry import Context
from aicc.loops.steps import Pass, Report, Step
from aicc.loops.timings import Relayed, Timings
from aicc.scheduler.framework import Profile
from aicc.services import changes
from aicc.services.billing import budgets
from aicc.services.center import power
from aicc.services.common import utcnow
from aicc.services.images.images import Pulls
from aicc.services.jobs import snapshots
from aicc.services.nodes import node_health
from aicc.services.serving import autoscaling, deployments
from aicc.store.chunkstore import ChunkStore
from aicc.store.db import Database
from aicc.store.sealing import Sealer

log = logging.getLogger(__name__)
# The heartbeat keeps the lease of a leader whose loop is busy, not of one stuck this long.
STALLED_S = 60.0
REST_PER_PASS = 3  # under a burst, a pass rests this many times as long as it took (_run)
BURST_PERIOD = 0.1  # s between the starts of passes while submits keep coming
# A replica launched but whose command has not started yet (its supervisor still starting, on a
# busy machine) is polled this often, for START_WATCH_S after a launch, whatever the interval:
# otherwise its job showed `scheduled` for a whole `loop_interval_s` (30 s in a CI run).
START_POLL_S = 0.25
START_WATCH_S = 10.0
GREEN_HORIZON_H = 48  # hours of carbon forecast the green planner sees at each pass


def holder_name() -> str:
    """host:pid:nonce — enough to tell, on the same host, whether a holder still lives."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dead_local_process(holder: str) -> bool:
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        with open(f"/proc/{pid}/status") as status:  # a zombie counts as dead
            return any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except FileNotFoundError:
        return True


@dataclass(frozen=True)
class Operations:
    """The center's operations in a pass (docs/operations.md): how far ahead a maintenance
    window keeps out jobs that declare no runtime (`maintenance.notice_s`), the nodes' burn-in
    step (new nodes, and nodes back from a window, join through it when its settings say
    `enabled`), and the deliveries of notifications."""

    notice_s: float = snapshots.NOTICE_S
    burn_in: BurnIn | None = None
    bmc: Bmcs | None = None  # nodes' BMCs: power, health, limits (loops/bmc.py)
    meters: Meters | None = None  # the facility meters: measured PUE (loops/meters.py)
    notify: Notify = field(default_factory=lambda: Notify(NotifySettings()))

    @property
    def joins_burning(self) -> bool:
        return self.burn_in is not None and self.burn_in.settings.enabled


@dataclass(frozen=True)
class Setup:
    """What a server configures its loops with, from its settings (server.build): the
    scheduler's profile; when a node that fails repeatedly is cordoned (`health`); images'
    pull credentials; the data sets' chunk store; metering (`books`, made with the
    controller's lease); how deployments are kept and the gateway's load they scale on; the
    site's energy and power; how often idle notebooks are looked at; what the sweep frees and
    when; the center's operations. The controller hands it on to its steps as their
    `registry.Context`."""

    profile: Profile
    health: node_health.Policy = field(default_factory=node_health.Policy)
    pulls: Pulls | None = None
    chunks: ChunkStore | None = None
    books: Callable[[Lease], Books] | None = None
    serving: deployments.Policy = field(default_factory=deployments.Policy)
    concurrency: autoscaling.Concurrency | None = None
    energy: EnergyProfile | None = None
    site: power.Site | None = None  # None: the energy profile's carbon alone, no power cap
    cull_every: timedelta = timedelta(seconds=30)
    log_retention: timedelta = timedelta(days=30)
    upload_expiry: timedelta = timedelta(hours=6)
    sweep_every: timedelta = timedelta(minutes=10)
    operations: Operations = field(default_factory=Operations)


class Controller:
    def __init__(
        self,
        db: Database,
        executors: dict[str, Executor],
        *,
        sealer: Sealer,
        holder: str,
        setup: Setup,
        interval_s: float = 1.0,
        lease_ttl_s: float = 6.0,
    ) -> None:
        self.db = db
        self.operations = setup.operations
        # what each pass adds to the snapshot: the site's carbon by hour (deferrable jobs wait
        # for greener hours, scheduler/green.py) and its power cap (scheduler/power.py)
        self.site = setup.site or power.Site(profile=setup.energy, horizon_h=GREEN_HORIZON_H)
        # replicas of deployments kept as wanted, as many as the gateway's load asks for
        self.deployments = Keeper(setup.serving, setup.concurrency)
        self.executors = executors
        # Whose nodes are all this machine: a gang there meets on 127.0.0.1 (scheduling.cycle).
        self.same_host = frozenset(n for n, e in executors.items() if e.capabilities.same_host)
        self.sealer = sealer
        self.profile = setup.profile
        self.lease = Lease(
            db, name="controller", holder=holder, ttl_s=lease_ttl_s, holder_dead=dead_local_process
        )
        self.timings = Timings(lambda: self.lease.held)  # the loops' figures, for /metrics
        books = setup.books(self.lease) if setup.books is not None else None  # metering
        self.books = books
        self.health = setup.health  # when a node that fails repeatedly is cordoned
        self.interval_s = interval_s
        self.parsed = snapshots.Parsed()  # waiting jobs' views, kept between passes
        ops = setup.operations
        self.context = Context(  # what its steps are built from (loops/registry.py)
            db=db,
            executors=executors,
            sealer=sealer,
            lease=self.lease,
            profile=setup.profile,
            same_host=self.same_host,
            parsed=self.parsed,
            site=self.site,
            health=setup.health,
            pulls=setup.pulls,
            chunks=setup.chunks,
            deployments=self.deployments,
            books=books,
            billing=books.context if books is not None else None,
            notice_s=ops.notice_s,
            joins_burning=ops.joins_burning,
            notify=ops.notify,
            bmc=ops.bmc,
            meters=ops.meters,
            burn_in=ops.burn_in,
            cull_every=setup.cull_every,
            log_retention=setup.log_retention,
            upload_expiry=setup.upload_expiry,
            sweep_every=setup.sweep_every,
        )
        self.steps: list[Step] = registry.build(self.context)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heartbeat: threading.Thread | None = None
        self._last_pass = time.monotonic()
        self._launched_at = float("-inf")  # monotonic time of the last pass that launched
        self._starting = False  # a replica launched since START_WATCH_S has not started yet
        # the last pass left bound replicas to launch (reconcile's per-pass launch budget): the
        # next pass comes at once, so a big gang's launch goes on without holding the loop
        self._deferred = False
        # the federation loop (docs/federation.md), started and stopped with this one; it acts
        # only while this server leads
        self.federation: Federation | None = None
        self.openadr: Ven | None = None  # the OpenADR VEN (docs/energy.md), started with this one
        # Set by `apart`: this process serves the API only and wakes the loops of its server's
        # first process (server._serve_workers), whose holder name starts with `loops_holder`.
        self.wake_loops: Callable[[], None] | None = None
        self.loops_holder = ""
        self._relayed: Relayed | None = None

    def apart(self, wake_loops: Callable[[], None], parent_pid: int, metrics_port: int) -> None:
        """The loops run in the parent process, not here: this controller's passes only share
        the gateway's load, `wake` reaches the parent's loops, and /metrics relays their
        figures."""
        self.wake_loops = wake_loops
        self.loops_holder = f"{socket.gethostname()}:{parent_pid}:"
        self._relayed = Relayed(metrics_port)

    @property
    def notice_s(self) -> float:
        return self.operations.notice_s

    @property
    def metrics(self) -> Timings | Relayed:
        """The loops' figures for /metrics: this process's, or with the loops apart, theirs."""
        return self._relayed or self.timings

    @property
    def leading(self) -> bool:
        """Whether this server leads: its own lease, or with the loops apart, its parent's."""
        if self.wake_loops is None:
            return self.lease.held
        return (self.lease.current(utcnow()) or "").startswith(self.loops_holder)

    def discover(self) -> None:
        """Ask every executor what nodes it has and how they are (down, drained, back)."""
        joins_burning = self.operations.joins_burning
        discovery.discover(self.db, self.executors, self.health, burn_in=joins_burning)

    @property
    def billing(self) -> budgets.Context | None:
        """Budget admission's context for explain (services.control.Control)."""
        return self.context.billing

    def wake(self) -> None:
        if self.wake_loops is not None:
            self.wake_loops()
            return
        self._wake.set()
        if self.federation is not None:
            self.federation.wake()

    def deliver(self) -> None:
        """Notifications go out now. With the loops apart, their process finds them within
        loops/notify.py's RETRY_S."""
        if self.wake_loops is None:
            self.operations.notify.wake()

    def tick(self) -> None:
        """One pass: take or keep the lease, then run each step that is due, in order."""
        self._deferred = False  # until this pass's reconcile says otherwise
        self.deployments.share(self.db, self.lease.holder)  # leading or not
        if self.wake_loops is not None or not self.lease.try_acquire(utcnow()):
            return
        pass_ = Pass(self.db, self.lease, self.executors, self.sealer)
        try:
            for step in self.steps:
                if step.due(pass_):
                    with self.timings.step(step.name):
                        step.run(pass_)
        except LostLease:
            log.warning("lost the controller lease; another server leads now")
        finally:
            if pass_.report is not None:
                self._pace(pass_.report)

    def _pace(self, report: Report) -> None:
        """When the next pass comes, from what reconcile found (`_run`)."""
        if report.launched:
            self._launched_at = time.monotonic()
        recent = time.monotonic() - self._launched_at < START_WATCH_S
        self._starting = report.starting and recent
        self._deferred = report.deferred

    def _run(self) -> None:
        while not self._stop.is_set():
            started = self._last_pass = time.monotonic()
            try:
                with changes.looping():  # the loop's own changes do not wake it again
                    self.tick()
            except Exception:  # a bad pass must not end the loop; the next pass retries
                self.timings.failures.inc()
                log.exception("control loop pass failed")
            ended = time.monotonic()
            took = ended - started
            until_next = self.interval_s - took
            if self._starting:
                until_next = min(until_next, START_POLL_S)
            if self._deferred:
                until_next = 0.0
            self._wake.wait(max(0.0, until_next))
            self._wake.clear()
            # Woken early (a submit), still rest as long as the pass took. When more submits
            # came meanwhile (a burst), rest REST_PER_PASS times as long and start passes at
            # most every BURST_PERIOD: under a burst the API keeps most of the server and each
            # pass takes many new jobs at once, while a lone submit is started at once.
            self._stop.wait(max(0.0, min(took, self.interval_s) - (time.monotonic() - ended)))
            if self._wake.is_set():
                since = time.monotonic()
                rest = max(BURST_PERIOD - (since - started), REST_PER_PASS * took - (since - ended))
                self._stop.wait(min(rest, self.interval_s))

    def _beat(self) -> None:
        """Renew the lease every third of its time while we lead, whatever a pass of the loops
        takes (a slow launch or a busy machine): otherwise a survivor takes over a leader that
        is alive and working, and the two launch side by side until its next fence. Fencing,
        not this, keeps writes safe; a loop stuck for STALLED_S is let go."""
        every = self.lease.ttl.total_seconds() / 3
        while not self._stop.wait(every):
            if self.lease.held and time.monotonic() - self._last_pass < STALLED_S:
                try:
                    self.lease.renew(utcnow())
                except Exception:  # the database is away: the next beat or pass tries again
                    log.warning("renewing the controller lease failed", exc_info=True)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="aicc-controller", daemon=True)
        self._thread.start()
        self._heartbeat = threading.Thread(target=self._beat, name="aicc-lease", daemon=True)
        self._heartbeat.start()
        if self.federation is not None and self.wake_loops is None:
            self.federation.start()
        if self.openadr is not None and self.wake_loops is None:
            self.openadr.start()
        if self.wake_loops is None:  # with the loops apart, their process delivers
            self.operations.notify.start(self.db, self.lease, self.sealer)

    def stop(self) -> None:
        if self.federation is not None:
            self.federation.stop()
        if self.openadr is not None:
            self.openadr.stop()
        self.operations.notify.stop()
        if self.operations.bmc is not None:
            self.operations.bmc.close()
        if self.operations.meters is not None:
            self.operations.meters.close()
        self._stop.set()
        self._wake.set()
        for thread in (self._thread, self._heartbeat):
            if thread is not None:
                thread.join(timeout=30)
        self.lease.release()
