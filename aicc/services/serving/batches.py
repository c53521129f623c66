"""OpenAI's batches (`/v1/batches`, docs/interop.md): a file of requests sent to the project's
deployments by the gateway's batch runner (`gateway/batches.py`), each line once, at a bounded
concurrency that yields to interactive requests, and metered at the price plan's batch price.

A batch's status moves only through `_move`, along OpenAI's states:
validating -> in_progress -> finalizing -> completed, validating -> failed, any live one ->
cancelling -> cancelled, and in_progress -> expired when its window passed. A runner holds a
batch while it runs it (`claimed_until`, renewed with each progress); a batch whose runner
stopped (the server restarted) ends `failed`, never half sent twice: its lines' answers would be
billed again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, can_write
from aicc.services.common import Conflict, Forbidden, Invalid, NotFound, new_id, utcnow
from aicc.services.jobs import openai_files
from aicc.services.serving.views import OpenAIBatch, OpenAIBatchCounts
from aicc.services.tenancy import audit
from aicc.store.tables.serving import OpenAIBatchRow

# The endpoints a batch may name, and the gateway route each line goes to.
ENDPOINTS = {
    "/v1/chat/completions": "chat",
    "/v1/embeddings": "embeddings",
    "/v1/completions": "completions",
}
WINDOWS = {"24h": timedelta(hours=24)}
MAX_METADATA = 16


class Status(StrEnum):
    VALIDATING = "validating"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    def is_terminal(self) -> bool:
        return self in (Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.EXPIRED)


_NEXT = {
    Status.VALIDATING: {Status.IN_PROGRESS, Status.FAILED, Status.CANCELLING, Status.CANCELLED},
    Status.IN_PROGRESS: {Status.FINALIZING, Status.CANCELLING, Status.FAILED, Status.EXPIRED},
    Status.FINALIZING: {Status.COMPLETED, Status.FAILED},
    Status.CANCELLING: {Status.CANCELLED, Status.FAILED},
}
_STAMP = {
    Status.IN_PROGRESS: "in_progress_at",
    Status.FINALIZING: "finalizing_at",
    Status.COMPLETED: "completed_at",
    Status.FAILED: "failed_at",
    Status.CANCELLING: "cancelling_at",
    Status.CANCELLED: "cancelled_at",
    Status.EXPIRED: "expired_at",
}


def _move(row: OpenAIBatchRow, to: Status, now: datetime) -> None:
    """The one writer of a batch's status and its time stamp."""
    if to not in _NEXT.get(Status(row.status), set()):
        raise Conflict(
            "batch {id} is {status}: it cannot become {to}", id=row.id, status=row.status, to=to
        )
    row.status = to.value
    setattr(row, _STAMP[to], now)


def create(
    session: Session,
    who: Principal,
    *,
    key_id: str,
    input_file_id: str,
    endpoint: str,
    completion_window: str,
    metadata: dict[str, str] | None = None,
) -> OpenAIBatch:
    """A batch of the project's file `input_file_id` (purpose `batch`), validated and run by
    the gateway's batch runner."""
    if endpoint not in ENDPOINTS:
        raise Invalid(
            "endpoint: {endpoint!r} is not supported here; use one of: {endpoints}",
            endpoint=endpoint,
            endpoints=", ".join(ENDPOINTS),
        )
    if completion_window not in WINDOWS:
        raise Invalid("completion_window: only '24h' is supported")
    if metadata is not None and (
        len(metadata) > MAX_METADATA
        or any(len(k) > 64 or not isinstance(v, str) or len(v) > 512 for k, v in metadata.items())
    ):
        raise Invalid("metadata: at most 16 pairs, keys of 64 and values of 512 characters")
    prj, source = openai_files.input_file(session, who, input_file_id, purpose="batch")
    now = utcnow()
    row = OpenAIBatchRow(
        id=new_id("batch"),
        org_id=prj.org_id,
        project_id=prj.id,
        key_id=key_id,
        endpoint=endpoint,
        input_file_id=source.id,
        completion_window=completion_window,
        status=Status.VALIDATING.value,
        total=0,
        completed=0,
        failed=0,
        meta=metadata,
        created_at=now,
        expires_at=now + WINDOWS[completion_window],
    )
    session.add(row)
    session.flush()
    audit.record(session, who, "openai_batch.create", "openai_batch", row.id, org_id=prj.org_id)
    return view(row)


def list_batches(
    session: Session, who: Principal, *, limit: int = 20, after: str | None = None
) -> list[OpenAIBatch]:
    """The project's batches, newest first, from after batch `after`."""
    missing = NotFound("No such Batch object: {id}", id=after)
    found = openai_files.newest(
        session, who, OpenAIBatchRow, limit=limit, after=after, missing=missing
    )
    return [view(r) for r in found]


def get(session: Session, who: Principal, batch_id: str) -> OpenAIBatch:
    return view(_row(session, who, batch_id))


def cancel(session: Session, who: Principal, batch_id: str) -> OpenAIBatch:
    """Cancel: a batch not started yet is cancelled at once; a running one is `cancelling`
    until its runner stops sending and writes what was answered."""
    row = _row(session, who, batch_id)
    if not can_write(who, org_id=row.org_id, project_id=row.project_id):
        raise Forbidden("viewers cannot cancel batches")
    status = Status(row.status)
    if status in (Status.CANCELLING, Status.CANCELLED):
        return view(row)
    if status.is_terminal() or status is Status.FINALIZING:
        raise Conflict("batch {id} is {status}: it cannot be cancelled", id=row.id, status=status)
    now = utcnow()
    _move(row, Status.CANCELLING, now)
    if status is Status.VALIDATING and not _held(row, now):
        _move(row, Status.CANCELLED, now)
    audit.record(session, who, "openai_batch.cancel", "openai_batch", row.id, org_id=row.org_id)
    return view(row)


# --- the runner's side (gateway/batches.py): the system, no caller


@dataclass(frozen=True)
class Claimed:
    """A batch a runner took to run: what it needs to send its lines."""

    id: str
    org_id: str
    project_id: str
    key_id: str
    route: str
    path: str
    input_sha256: str
    expires_at: datetime


def due(session: Session, *, now: datetime) -> bool:
    """Whether `claim` would find work (read-only: an idle runner takes no write lock)."""
    live = (Status.VALIDATING, Status.IN_PROGRESS, Status.CANCELLING, Status.FINALIZING)
    found = session.scalar(
        select(OpenAIBatchRow.id)
        .where(
            OpenAIBatchRow.status.in_([s.value for s in live]),
            or_(OpenAIBatchRow.claimed_until.is_(None), OpenAIBatchRow.claimed_until < now),
        )
        .limit(1)
    )
    return found is not None


def claim(session: Session, *, now: datetime, hold_s: float) -> Claimed | None:
    """The oldest batch waiting to start, now held by the caller for `hold_s`; on the way, a
    batch whose runner stopped holding it ends (failed, or cancelled if it was being
    cancelled). None when none waits."""
    live = (Status.VALIDATING, Status.IN_PROGRESS, Status.CANCELLING, Status.FINALIZING)
    rows = session.scalars(
        select(OpenAIBatchRow)
        .where(
            OpenAIBatchRow.status.in_([s.value for s in live]),
            or_(OpenAIBatchRow.claimed_until.is_(None), OpenAIBatchRow.claimed_until < now),
        )
        .order_by(OpenAIBatchRow.created_at)
        .limit(50)
        .with_for_update(skip_locked=True)  # PostgreSQL: two runners never take one batch
    ).all()
    for row in rows:
        status = Status(row.status)
        if status is Status.VALIDATING:
            row.claimed_until = now + timedelta(seconds=hold_s)
            source = _input(session, row)
            if source is None:
                _fail(row, now, "input_file_id", "the input file was deleted before the batch ran")
                continue
            return Claimed(
                row.id,
                row.org_id,
                row.project_id,
                row.key_id,
                ENDPOINTS[row.endpoint],
                row.endpoint,
                source,
                row.expires_at,
            )
        if status is Status.CANCELLING:
            _move(row, Status.CANCELLED, now)
        else:  # its runner stopped mid-way: sending again would bill its answers twice
            _fail(row, now, None, "the server stopped while the batch ran; submit it again")
    return None


def _input(session: Session, row: OpenAIBatchRow) -> str | None:
    return openai_files.sha256_of(session, row.input_file_id, project_id=row.project_id)


def invalid(session: Session, batch_id: str, *, line: int | None, message: str) -> None:
    """The input file is not a batch (validating -> failed), with OpenAI's `errors` list."""
    row = _runner_row(session, batch_id)
    _fail(row, utcnow(), "input_file_id", message, line)


def start(session: Session, batch_id: str, *, total: int, now: datetime, hold_s: float) -> str:
    """validating -> in_progress with `total` requests; the status now (a cancel may have come)."""
    row = _runner_row(session, batch_id)
    row.total = total
    row.claimed_until = now + timedelta(seconds=hold_s)
    if row.status == Status.VALIDATING:
        _move(row, Status.IN_PROGRESS, now)
    return row.status


def progress(
    session: Session, batch_id: str, *, completed: int, failed: int, now: datetime, hold_s: float
) -> str:
    """The counts so far and the hold renewed; the status now (`cancelling` stops the runner)."""
    row = _runner_row(session, batch_id)
    row.completed, row.failed = completed, failed
    row.claimed_until = now + timedelta(seconds=hold_s)
    return row.status


def finish(
    session: Session,
    batch_id: str,
    *,
    completed: int,
    failed: int,
    output_file_id: str | None,
    error_file_id: str | None,
    expired: bool,
) -> OpenAIBatch:
    """The runner wrote the results: completed (through finalizing), cancelled or expired."""
    row = _runner_row(session, batch_id)
    now = utcnow()
    row.completed, row.failed = completed, failed
    row.output_file_id, row.error_file_id = output_file_id, error_file_id
    row.claimed_until = None
    status = Status(row.status)
    if status is Status.CANCELLING:
        _move(row, Status.CANCELLED, now)
    elif expired:
        _move(row, Status.EXPIRED, now)
    else:
        _move(row, Status.FINALIZING, now)
        _move(row, Status.COMPLETED, now)
    audit.record(
        session,
        None,
        f"openai_batch.{row.status}",
        "openai_batch",
        row.id,
        org_id=row.org_id,
        detail={"completed": completed, "failed": failed},
    )
    return view(row)


def _fail(
    row: OpenAIBatchRow, now: datetime, param: str | None, message: str, line: int | None = None
) -> None:
    error: dict[str, Any] = {"code": "invalid_request", "message": message, "param": param}
    error["line"] = line
    row.errors = [error]
    row.claimed_until = None
    _move(row, Status.FAILED, now)


def _held(row: OpenAIBatchRow, now: datetime) -> bool:
    return row.claimed_until is not None and row.claimed_until >= now


def _runner_row(session: Session, batch_id: str) -> OpenAIBatchRow:
    row = session.get(OpenAIBatchRow, batch_id)
    if row is None:
        raise NotFound("No such Batch object: {id}", id=batch_id)
    return row


def _row(session: Session, who: Principal, batch_id: str) -> OpenAIBatchRow:
    missing = NotFound("No such Batch object: {id}", id=batch_id)
    return openai_files.owned(session, who, OpenAIBatchRow, batch_id, missing)


def _seconds(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp())


def view(row: OpenAIBatchRow) -> OpenAIBatch:
    return OpenAIBatch(
        id=row.id,
        endpoint=row.endpoint,
        errors={"object": "list", "data": row.errors} if row.errors else None,
        input_file_id=row.input_file_id,
        completion_window=row.completion_window,
        status=row.status,
        output_file_id=row.output_file_id,
        error_file_id=row.error_file_id,
        created_at=int(row.created_at.timestamp()),
        in_progress_at=_seconds(row.in_progress_at),
        expires_at=_seconds(row.expires_at),
        finalizing_at=_seconds(row.finalizing_at),
        completed_at=_seconds(row.completed_at),
        failed_at=_seconds(row.failed_at),
        expired_at=_seconds(row.expired_at),
        cancelling_at=_seconds(row.cancelling_at),
        cancelled_at=_seconds(row.cancelled_at),
        request_counts=OpenAIBatchCounts(
            total=row.total, completed=row.completed, failed=row.failed
        ),
        metadata=row.meta,
    )
