"""A job's promise of an output (`JobOutputRow`), written with the job in its transaction:
services/models/outputs.py delivers it once the job ended. Apart from outputs.py, which imports
the kinds it delivers (cleaning, predictions), so that each of them, template runs and a
challenge's scoring write their promise the one way."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from aicc.services.common import utcnow
from aicc.store.tables.models import JobOutputRow


def expect(
    session: Session, *, job_id: str, kind: str, target_id: str, lineage: dict[str, Any]
) -> None:
    """Promise that job `job_id` leaves an output of `kind` for `target_id`: pending until
    `outputs.deliver` hands it over once the job ended."""
    session.add(
        JobOutputRow(
            job_id=job_id,
            kind=kind,
            target_id=target_id,
            lineage=lineage,
            state="pending",
            result="",
            created_at=utcnow(),
        )
    )
