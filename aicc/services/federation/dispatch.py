"""The home site's side of a federated job: route it, submit it to the chosen peer, mirror the
peer's job into the home job, and requeue it when its site is lost.

A `placement: federation` job is stored with `jobs.federation = "?"`, which keeps it out of the
scheduler's snapshot until it is routed. Routed here, `federation` becomes NULL and the scheduler
takes it as any job. Routed to a peer, the job moves to `scheduled` (reason `routed`, the
ranking in the event) and a `federation_jobs` row records the site before anything is sent: the
submit carries `Idempotency-Key: <job id>-<attempt>`, so a crash between the peer's answer and
recording its job id only makes the next pass ask again and get the same job. The home job's
state then follows the peer job's through `change_state`, the one function that moves states.

A peer is another center, and its bytes are as hostile as a job's (issue 35): a succeeded job's
outputs archive is downloaded to a file within `federation.max_outputs_mib`, then unpacked as a
workdir archive is checked (`store.blobs.extract`: read to its end, no NUL in a name, nothing
leaving the root, within the bytes and entries of a job's outputs) and with files and folders
only, into a fresh folder that replaces the last. An archive refused so is not kept, and the
job's message says why (`fetch_outputs`).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.config import FederationSettings
from aicc.core import tes_peer
from aicc.core.jobspec import JobSpec
from aicc.core.states import JobState, Reason
from aicc.executors import jobfiles
from aicc.scheduler import federation as routing
from aicc.services.data import lookups
from aicc.services.federation import adverts, books, tespeer
from aicc.services.federation.peers import AnswerTooLarge, PeerRefused, Peers
from aicc.services.jobs import federated, transitions
from aicc.services.jobs.federated import WAITING_ROUTE, FederatedJob
from aicc.services.tenancy import directory
from aicc.store.blobs import BlobError, extract
from aicc.store.tables.federation import FederationJobRow

log = logging.getLogger(__name__)
SITE_LOST = "site_lost"
ROUTED = "routed"
DEFAULT_RUNTIME_S = 3600.0  # a job without max_runtime is priced and scored as one hour
# labels a routed job carries at the peer: its federated identity
HOME_SITE, HOME_USER, HOME_JOB = (
    "federation.home-site",
    "federation.home-user",
    "federation.home-job",
)


def ask_of(session: Session, job: FederatedJob) -> routing.Ask:
    """The job as routing sees it: what it needs over all replicas, and its data sets with
    their size and region tag here."""
    spec = JobSpec.model_validate(job.spec)
    acc = spec.resources.accelerator
    per_replica = 0
    models: tuple[str, ...] = ()
    if acc is not None:
        per_replica = acc.count or (1 if acc.milli or acc.mig else 0)
        models = tuple(acc.models or ())
    org = directory.org(session, job.org_id)
    pins = job.datasets or []
    found = lookups.versions(session, [str(p.get("version_id") or "") for p in pins])
    held = []
    for pinned in pins:
        version = found.get(str(pinned.get("version_id") or ""))
        held.append(
            routing.DataHeld(
                str(pinned["name"]),
                int(pinned.get("bytes") or 0),
                version.region if version else None,
            )
        )
    return routing.Ask(
        org=org.name if org else "",
        devices=per_replica * spec.replicas,
        models=models,
        cpu_cores=spec.resources.cpu_milli * spec.replicas / 1000,
        memory_gib=spec.resources.memory_mib * spec.replicas / 1024,
        runtime_s=float(spec.max_runtime_s or DEFAULT_RUNTIME_S),
        datasets=tuple(held),
    )


def waiting(session: Session) -> list[str]:
    return federated.waiting_route(session)


def route(
    session: Session,
    job_id: str,
    fed: FederationSettings,
    own: dict[str, Any],
    now: datetime,
) -> routing.Routing | None:
    """Route one waiting job: here (the scheduler takes it), to a peer (a federation_jobs row,
    state `scheduled`), or nowhere (`failed`, with every site's refusal)."""
    job = federated.find(session, job_id)
    if job is None or job.federation != WAITING_ROUTE or job.state != JobState.PENDING.value:
        return None
    assert fed.site is not None
    exclude = frozenset(
        session.scalars(
            select(FederationJobRow.site).where(
                FederationJobRow.job_id == job.id,
                FederationJobRow.remote_state == SITE_LOST,
            )
        )
    )
    spec = JobSpec.model_validate(job.spec)
    cannot = {
        site: why
        for site in tespeer.tes_peers(fed)
        if (why := tespeer.refusal(fed, site, spec)) is not None
    }
    result = routing.route(
        ask_of(session, job),
        adverts.known_sites(session, fed, own, now),
        home=fed.site,
        weights=routing.Weights(**fed.weights.model_dump()),
        org_sites=fed.org_sites,
        exclude=exclude,
        move_data=False,
        cannot=cannot,
    )
    best = result.best
    data = _explained(result)
    if best is None:
        federated.move(
            session,
            job.id,
            JobState.FAILED,
            reason=Reason.UNSCHEDULABLE,
            message=result.explain(),
            at=now,
            data=data,
            federation=None,
        )
        return result
    if best.site == fed.site:
        transitions.note(
            session,
            job_id=job.id,
            kind=ROUTED,
            from_state=job.state,
            to_state=job.state,
            reason=ROUTED,
            message=result.explain(),
            attempt=job.attempt,
            at=now,
            data=data,
        )
        federated.routed_here(
            session, job.id, f"routed here (site {fed.site}); waiting for admission"
        )
        return result
    session.add(
        FederationJobRow(
            job_id=job.id,
            attempt=job.attempt,
            site=best.site,
            remote_job_id=None,
            remote_state=None,
            routing=data,
            created_at=now,
            updated_at=now,
            started_at=None,
            ended_at=None,
        )
    )
    federated.move(
        session,
        job.id,
        JobState.SCHEDULED,
        reason=ROUTED,
        message=result.explain(),
        at=now,
        data=data,
        federation=best.site,
    )
    return result


def _explained(result: routing.Routing) -> dict[str, Any]:
    return {
        "ranked": [
            {
                "site": r.site,
                "score": r.score,
                "finish_s": r.parts.finish_s,
                "price": round(r.parts.price, 4),
                "carbon_kg": round(r.parts.carbon_kg, 6),
                "move_bytes": r.parts.move_bytes,
                "model": r.parts.model,
            }
            for r in result.ranked
        ],
        "refused": dict(result.refused),
    }


@dataclass(frozen=True)
class Remote:
    """One attempt of a home job at a peer, read for a pass of the loop."""

    row_id: int
    job_id: str
    attempt: int
    site: str
    remote_job_id: str | None
    cancel: bool


def active(session: Session) -> list[Remote]:
    """Attempts at peers whose home job has not ended."""
    home = federated.away().subquery()
    query = select(FederationJobRow, home.c.cancel_requested).join(
        home, (home.c.id == FederationJobRow.job_id) & (home.c.attempt == FederationJobRow.attempt)
    )
    return [
        Remote(r.id, r.job_id, r.attempt, r.site, r.remote_job_id, bool(cancel))
        for r, cancel in session.execute(query)
    ]


def remote_spec(session: Session, job: FederatedJob, home: str) -> dict[str, Any]:
    """What the peer is asked to run: the stored spec in the peer's default project and queue,
    run there (`placement: local`), its data sets by name, retries kept at home, and the
    federated identity as labels."""
    spec = dict(job.spec)
    for key in ("project", "queue", "deadline", "deadline_after_s", "workdir_sha256"):
        spec.pop(key, None)
    org = directory.org(session, job.org_id)
    owner = directory.user(session, job.user_id)
    spec["placement"] = "local"
    spec["max_retries"] = 0
    spec["deferrable"] = False  # its deadline stays at home
    spec["datasets"] = [str(d["name"]) for d in job.datasets or []]
    spec["labels"] = {
        **(spec.get("labels") or {}),
        HOME_SITE: home,
        HOME_USER: f"{org.name if org else job.org_id}/{owner.name if owner else job.user_id}",
        HOME_JOB: job.id,
    }
    return spec


def remote_task(
    session: Session, job: FederatedJob, home: str, fed: FederationSettings, site: str
) -> dict[str, Any]:
    """The TES task a job runs as at the `tes` peer `site` (`core/tes_peer.task_of`): the
    federated identity and the attempt as its tags; `NotExpressible` when TES cannot say it."""
    labels = remote_spec(session, job, home)["labels"]
    tags = {k: str(v) for k, v in labels.items() if k in (HOME_SITE, HOME_USER, HOME_JOB)}
    tags[tes_peer.TAG_JOB] = idempotency_key(job.id, job.attempt)
    return tes_peer.task_of(
        JobSpec.model_validate(job.spec),
        accelerators=tespeer.accelerators(fed, site),
        tags=tags,
        name=job.name,
    )


def idempotency_key(job_id: str, attempt: int) -> str:
    return f"{job_id}-{attempt}"


def record_submitted(session: Session, remote: Remote, remote_job_id: str, now: datetime) -> None:
    row = session.get(FederationJobRow, remote.row_id)
    if row is not None and row.remote_job_id is None:
        row.remote_job_id, row.remote_state, row.updated_at = remote_job_id, "pending", now


def refused(session: Session, remote: Remote, err: PeerRefused, now: datetime) -> None:
    """The peer will not take the job (a 4xx): it fails at home with the peer's reason."""
    job = federated.find(session, remote.job_id)
    if job is None or JobState(job.state).is_terminal():
        return
    federated.move(
        session,
        job.id,
        JobState.FAILED,
        reason="site_refused",
        message=f"site {remote.site} refused the job: {err}",
        at=now,
    )


def mirror(
    session: Session,
    remote: Remote,
    found: dict[str, Any],
    now: datetime,
    *,
    zone: str,
    outputs_refused: str | None = None,
) -> bool:
    """Follow the peer job's state; True when the home job has ended (its logs and outputs were
    fetched before this call; `outputs_refused`: why its outputs were not kept, added to its
    message). An ended attempt is billed at home (`books.record`)."""
    job = federated.find(session, remote.job_id)
    row = session.get(FederationJobRow, remote.row_id)
    if job is None or row is None or job.attempt != remote.attempt:
        return False
    there = str(found.get("state"))
    row.remote_state, row.updated_at = there, now
    state = JobState(job.state)
    started = _time(found.get("started_at"))
    if there in ("running", "succeeded", "failed", "cancelled") and started is not None:
        row.started_at = row.started_at or started
        if state is JobState.SCHEDULED and there == "running":
            federated.move(
                session,
                job.id,
                JobState.RUNNING,
                reason=Reason.STARTED,
                message=f"running at site {remote.site} as {remote.remote_job_id}",
                at=now,
            )
    if there not in ("succeeded", "failed", "cancelled"):
        return False
    row.ended_at = _time(found.get("ended_at")) or now
    if job.cancel_requested and there == "cancelled":
        reason, message = Reason.CANCELLED_BY_USER.value, "cancelled at home; the site stopped it"
    else:
        reason = str(found.get("reason") or there)
        message = f"at site {remote.site} ({remote.remote_job_id}): {found.get('message') or ''}"
    if outputs_refused:
        message = f"{message.strip()}; its outputs were not kept here: {outputs_refused}"
    federated.move(
        session,
        job.id,
        JobState(there),
        reason=reason,
        message=message.strip(),
        at=now,
        exit_code=found.get("exit_code"),
    )
    books.record(session, job, row, zone=zone)
    return True


def _time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def lose(session: Session, fed: FederationSettings, lost: set[str], now: datetime) -> list[str]:
    """Jobs at sites that are lost: requeued (attempt + 1, routed again without that site)
    while `max_retries` allows, else failed; reason `site_lost` either way. A job the user
    asked to cancel ends cancelled."""
    if not lost:
        return []
    moved = []
    for job in federated.at_sites(session, lost):
        site = str(job.federation)
        row = session.scalar(
            select(FederationJobRow).where(
                FederationJobRow.job_id == job.id, FederationJobRow.attempt == job.attempt
            )
        )
        if row is not None:
            row.remote_state, row.updated_at, row.ended_at = SITE_LOST, now, now
        retries = int(job.spec.get("max_retries") or 0)
        message = f"site {site} sent no advert for {fed.lost_after_s:.0f} s"
        if job.cancel_requested:  # the user asked it to stop: never run it again elsewhere
            federated.move(
                session,
                job.id,
                JobState.CANCELLED,
                reason=Reason.CANCELLED_BY_USER,
                message=f"cancelled at home; {message}",
                at=now,
            )
        elif job.attempt < retries:
            federated.move(
                session,
                job.id,
                JobState.PENDING,
                reason=SITE_LOST,
                message=message + "; requeued",
                at=now,
                federation=WAITING_ROUTE,
            )
        else:
            federated.move(
                session, job.id, JobState.FAILED, reason=SITE_LOST, message=message, at=now
            )
        moved.append(job.id)
    return moved


def mirror_dir(home: Path, job_id: str) -> Path:
    """Where a remote job's logs and outputs are kept at home."""
    return home / "federation" / "jobs" / job_id


def keep_logs(where: Path, stdout: str, stderr: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    (where / "stdout.log").write_text(stdout)
    (where / "stderr.log").write_text(stderr)


class OutputsRefused(Exception):
    """A peer's outputs archive that is not kept; the message says why, for the job's."""


def keep_outputs(
    where: Path, archive: Path, *, max_bytes: int, max_entries: int = jobfiles.MAX_ENTRIES
) -> None:
    """Unpack the peer's outputs archive (a tar.gz file) into `where/outputs`: regular files
    and folders only, at most `max_bytes` and `max_entries` of them, every name inside,
    the archive whole. Unpacked beside, it replaces the last outputs only when whole; refused,
    it raises OutputsRefused and leaves nothing."""
    target = where / "outputs"
    fresh = Path(tempfile.mkdtemp(dir=where, prefix=".outputs-"))
    fresh.rmdir()  # `extract` makes it, and removes it on failure
    try:
        extract(
            archive,
            fresh,
            max_unpacked_bytes=max_bytes,
            max_members=max_entries,
            links=False,
        )
    except (BlobError, OSError) as err:
        shutil.rmtree(fresh, ignore_errors=True)
        raise OutputsRefused(str(err)) from None
    shutil.rmtree(target, ignore_errors=True)
    fresh.rename(target)


def fetch_outputs(
    peers: Peers, site: str, remote_job_id: str, where: Path, max_bytes: int
) -> str | None:
    """Download a succeeded job's outputs from its site (a file beside, never in memory, at
    most `max_bytes`) and keep them (`keep_outputs`). Returns why they were refused, for the
    job's message, or None; a job that wrote nothing (the peer's 4xx) has none."""
    where.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=where, prefix=".outputs-", suffix=".tar.gz") as part:
        try:
            peers.outputs(site, remote_job_id, part, max_bytes)
        except PeerRefused as err:
            log.info("outputs of job %s at site %s: %s", remote_job_id, site, err)
            return None
        except AnswerTooLarge as err:
            return str(err)
        part.flush()
        try:
            keep_outputs(where, Path(part.name), max_bytes=max_bytes)
        except OutputsRefused as err:
            return f"site {site} sent an outputs archive this site refuses: {err}"
    return None


def mirrored_log(home: Path, job_id: str, stream: str, tail: int | None) -> str | None:
    """The peer's log of a job routed there, as last fetched; None for a job that ran here."""
    path = mirror_dir(home, job_id) / f"{stream}.log"
    if not path.exists():
        return None
    text = path.read_text(errors="replace")
    if tail is not None:
        text = "".join(text.splitlines(keepends=True)[-tail:])
    return text


def mirrored_outputs(home: Path, job_id: str) -> Path | None:
    path = mirror_dir(home, job_id) / "outputs"
    return path if path.is_dir() else None
