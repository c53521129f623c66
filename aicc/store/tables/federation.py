"""The tables of `services/federation`: federation adverts, dispatched jobs, settlements and nonces.
Only that context names them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicc.store.tables.base import Base


class FederationAdvertRow(Base):
    """The newest advert a peer site pushed (docs/federation.md), and when it arrived here."""

    __tablename__ = "federation_adverts"
    site: Mapped[str] = mapped_column(String(40), primary_key=True)
    advert: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]


class FederationJobRow(Base):
    """One attempt of a home job routed to a peer: which site, its job id there, what it
    last said. Unique per (job, attempt): a retried submit finds the same row (and the peer the
    same Idempotency-Key), so an attempt never runs twice."""

    __tablename__ = "federation_jobs"
    __table_args__ = (UniqueConstraint("job_id", "attempt"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    site: Mapped[str] = mapped_column(String(40))
    remote_job_id: Mapped[str | None] = mapped_column(String(40))
    remote_state: Mapped[str | None] = mapped_column(String(16))
    routing: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the ranking, explained
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class SettlementRow(Base):
    """What this site owes a peer for one remote job attempt: open until an operator settles
    it, once (unique per job attempt)."""

    __tablename__ = "settlements"
    __table_args__ = (UniqueConstraint("job_id", "attempt"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(40), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    site: Mapped[str] = mapped_column(String(40), index=True)
    remote_job_id: Mapped[str] = mapped_column(String(40))
    amount: Mapped[str] = mapped_column(String(32))  # a decimal, in `currency`
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[str] = mapped_column(String(16))  # open | settled
    created_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]


class FederationNonceRow(Base):
    """A nonce a peer signed a request with, kept until the request's signed time is out of
    the accepted clock window (`federation/nonces.py`): a replay within it is refused, also
    after a restart (migration 0031)."""

    __tablename__ = "federation_nonces"
    site: Mapped[str] = mapped_column(String(40), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
