"""The tables of `services/notify`: notification channels, events, deliveries and inboxes. Only that
context names them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicc.store.tables.base import Base


class NotifyChannelRow(Base):
    """Where events go: a user's own channel (`user_id`) or a project's (`project_id`), of a
    kind (email, webhook, wecom, dingtalk, feishu), subscribed to event kinds by pattern. The
    secret (a webhook's HMAC key, a bot's signing secret) is sealed and never read back."""

    __tablename__ = "notify_channels"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"), index=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(2048))  # a mail address or a URL
    secret: Mapped[str | None] = mapped_column(Text)  # sealed
    events: Mapped[list[Any]] = mapped_column(default=list)  # patterns: job.*, budget.threshold
    wait_min: Mapped[int] = mapped_column(Integer, default=30)  # job.waiting: pending this long
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class NotifyEventRow(Base):
    """An event, written in its cause's transaction (a transactional outbox): it exists iff its
    cause committed. `key` is unique: the same cause emitted twice writes one event."""

    __tablename__ = "notify_events"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime]


class NotifyDeliveryRow(Base):
    """One event to one channel: `pending` until due at `next_at`, `sending` while a leader
    holds it (`claimed_by`), then `delivered` or, after its last attempt, `failed`."""

    __tablename__ = "notify_deliveries"
    __table_args__ = (Index("ix_notify_deliveries_state_next", "state", "next_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("notify_events.id"), index=True)
    channel_id: Mapped[str | None] = mapped_column(
        ForeignKey("notify_channels.id", ondelete="SET NULL"), index=True
    )
    channel_kind: Mapped[str] = mapped_column(String(16))  # kept when the channel is deleted
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    latency_s: Mapped[float | None]  # from the event to its delivery, for /metrics


class NotifyInboxRow(Base):
    """An event in one user's inbox (the portal's bell, `aicc notify list`), read or not."""

    __tablename__ = "notify_inbox"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("notify_events.id"), primary_key=True)
    at: Mapped[datetime]
    read_at: Mapped[datetime | None]
