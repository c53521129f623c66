"""The federation loop of a site (docs/federation.md): advertise, notice lost sites, route
`placement: federation` jobs and follow the ones running at peers.

Its own thread, beside the controller's: calls to peers wait on the network (up to
`federation.request_timeout_s`), and scheduling here must not wait with them. Only the server
that holds the controller lease acts, as for every other loop; every step is idempotent, so a
pass cut short by a crash is finished by the next.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aicc.config import Settings
from aicc.core import tes_peer
from aicc.core.energy import EnergyProfile
from aicc.core.tes_peer import NotExpressible
from aicc.services.common import utcnow
from aicc.services.federation import adverts, dispatch, signing
from aicc.services.federation.peers import PeerDown, PeerRefused, Peers
from aicc.services.federation.tespeer import TesPeers, tes_peers
from aicc.services.jobs import federated
from aicc.store.db import Database

log = logging.getLogger(__name__)
PASS_S = 0.5  # between passes: how soon a routed job is submitted and its peer's state seen


class Federation:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        leading: Any,
        energy: EnergyProfile | None = None,
    ) -> None:
        fed = settings.federation
        assert fed.site is not None
        self.db = db
        self.settings = settings
        self.fed = fed
        self.leading = leading  # () -> bool: whether this server holds the controller lease
        self.energy = energy
        key_file = fed.key_file or settings.home / "federation.key"
        self.peers = Peers(fed, signing.load_key(key_file))
        self.tes = TesPeers(fed)  # peers of kind `tes`: any GA4GH TES server
        self.home: Path = settings.home
        self._next_advert = utcnow()
        self._leading_since: datetime | None = None  # when this server last began to lead
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def own_advert(self) -> dict[str, Any]:
        with self.db.reader() as session:
            return adverts.build(session, self.settings, utcnow(), self.energy)

    def tick(self) -> None:
        if not self.leading():
            self._leading_since = None
            return
        now = utcnow()
        self._leading_since = self._leading_since or now
        with self.db.reader() as session:
            waiting = dispatch.waiting(session)
        own = self.own_advert() if waiting or now >= self._next_advert else None
        if own is not None and now >= self._next_advert:
            self._next_advert = now + timedelta(seconds=self.fed.advertise_interval_s)
            for peer in self.fed.peers:
                if peer.kind == "tes":  # a TES server takes no adverts
                    continue
                try:
                    self.peers.push_advert(peer.site, own)
                except (PeerDown, PeerRefused) as err:
                    log.info("advert to site %s not delivered: %s", peer.site, err)
        lost: set[str] = set()
        # Adverts arrive while this server leads and listens: right after it starts (or takes
        # over), every peer's last advert may be old only because this site was away; peers
        # are judged lost once it has listened for lost_after_s itself.
        if (now - self._leading_since).total_seconds() >= self.fed.lost_after_s:
            with self.db.session() as session:
                statuses = adverts.statuses(session, self.fed, now)
                lost = {s.site for s in statuses if s.state == "lost"}
                for job_id in dispatch.lose(session, self.fed, lost, now):
                    log.warning("job %s: its site is lost", job_id)
        for job_id in waiting:
            assert own is not None
            try:
                with self.db.session() as session:
                    dispatch.route(session, job_id, self.fed, own, utcnow())
            except Exception:  # one job must not stop the others being routed
                log.exception("routing job %s failed", job_id)
        with self.db.reader() as session:
            remotes = dispatch.active(session)
        for remote in remotes:
            if remote.site in lost:
                continue
            try:
                self._follow(remote)
            except PeerDown as err:
                log.info("job %s at site %s: %s", remote.job_id, remote.site, err)
            except Exception:  # a peer's 4xx about one job (PeerRefused), a bad answer: that
                # job waits for the next pass, and the jobs after it are still followed
                log.exception("following job %s at site %s failed", remote.job_id, remote.site)

    def _follow(self, remote: dispatch.Remote) -> None:
        if remote.site in tes_peers(self.fed):
            self._follow_tes(remote)
            return
        if remote.remote_job_id is None:
            with self.db.reader() as session:
                job = federated.find(session, remote.job_id)
                assert job is not None
                spec = dispatch.remote_spec(session, job, str(self.fed.site))
            key = dispatch.idempotency_key(remote.job_id, remote.attempt)
            try:
                found = self.peers.submit(remote.site, spec, key)
            except PeerRefused as err:
                with self.db.session() as session:
                    dispatch.refused(session, remote, err, utcnow())
                return
            with self.db.session() as session:
                dispatch.record_submitted(session, remote, str(found["id"]), utcnow())
            return
        rid = remote.remote_job_id
        if remote.cancel:
            try:
                self.peers.cancel(remote.site, rid)
            except PeerRefused as err:
                log.info("cancelling job %s at site %s: %s", rid, remote.site, err)
        try:
            found = self.peers.job(remote.site, rid)
        except PeerRefused as err:
            self._gone(remote, err)
            return
        where = dispatch.mirror_dir(self.home, remote.job_id)
        if found.get("replicas"):
            dispatch.keep_logs(
                where,
                self.peers.logs(remote.site, rid, "stdout"),
                self.peers.logs(remote.site, rid, "stderr"),
            )
        refused = None
        if found.get("state") == "succeeded":
            most = self.fed.max_outputs_mib * 1024 * 1024
            refused = dispatch.fetch_outputs(self.peers, remote.site, rid, where, most)
        with self.db.session() as session:
            dispatch.mirror(
                session,
                remote,
                found,
                utcnow(),
                zone=self.settings.site.timezone,
                outputs_refused=refused,
            )

    def _follow_tes(self, remote: dispatch.Remote) -> None:
        """As `_follow`, at a `tes` peer: create the task, then read it (FULL view: its
        executors' logs are the job's), forward a cancel, mirror its state. A TES server keeps
        no outputs AICC can fetch, so none are brought home (docs/federation.md)."""
        site = remote.site
        if remote.remote_job_id is None:
            try:
                with self.db.reader() as session:
                    job = federated.find(session, remote.job_id)
                    assert job is not None
                    task = dispatch.remote_task(session, job, str(self.fed.site), self.fed, site)
                task_id = self.tes.submit(site, task)
            except NotExpressible as err:
                with self.db.session() as session:
                    dispatch.refused(session, remote, PeerRefused(422, str(err)), utcnow())
                return
            except PeerRefused as err:
                with self.db.session() as session:
                    dispatch.refused(session, remote, err, utcnow())
                return
            with self.db.session() as session:
                dispatch.record_submitted(session, remote, task_id, utcnow())
            return
        rid = remote.remote_job_id
        if remote.cancel:
            try:
                self.tes.cancel(site, rid)
            except PeerRefused as err:
                log.info("cancelling task %s at site %s: %s", rid, site, err)
        try:
            task = self.tes.task(site, rid)
        except PeerRefused as err:
            self._gone(remote, err)
            return
        stdout, stderr = tes_peer.logs_of(task)
        dispatch.keep_logs(dispatch.mirror_dir(self.home, remote.job_id), stdout, stderr)
        with self.db.session() as session:
            dispatch.mirror(
                session, remote, tes_peer.job_of(task), utcnow(), zone=self.settings.site.timezone
            )

    def _gone(self, remote: dispatch.Remote, err: PeerRefused) -> None:
        """The peer no longer has the job it took (404: deleted there): the job fails at home
        with the peer's answer, rather than being asked after on every pass. Other 4xx answers
        (a key replaced, a token revoked) may be put right by an operator: the next pass asks
        again."""
        if err.status != 404:
            raise err
        with self.db.session() as session:
            dispatch.refused(session, remote, err, utcnow())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # a bad pass must not end the loop; the next pass retries
                log.exception("federation pass failed")
            self._wake.wait(PASS_S)
            self._wake.clear()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="aicc-federation", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
