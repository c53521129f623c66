"""The notify context's read models: what the API answers, the CLI prints and the SDK parses."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from aicc.services.common import View

ChannelKind = Literal["email", "webhook", "wecom", "dingtalk", "feishu"]
DeliveryState = Literal["pending", "sending", "delivered", "failed"]


class Channel(View):
    """Where a user's or a project's events go. `has_secret` says a secret is set; the secret
    itself is write-only."""

    id: str
    name: str
    kind: ChannelKind
    target: str  # a mail address or the URL events are posted to
    project_id: str | None  # a project's channel (managed by its writers) ...
    user_id: str | None  # ... or a user's own
    events: list[str]  # patterns of event kinds: `job.*`, `budget.threshold`, `*`
    wait_min: int  # `job.waiting`: a job pending this many minutes
    has_secret: bool
    created_at: datetime
    updated_at: datetime


class Delivery(View):
    """One event sent to one channel: how it went."""

    id: str
    channel_id: str | None
    channel_kind: ChannelKind
    state: DeliveryState
    attempts: int
    next_at: datetime
    last_error: str
    delivered_at: datetime | None


class InboxItem(View):
    """An event in the caller's inbox."""

    id: str  # the event's
    kind: str
    subject: str
    body: str
    project_id: str | None
    data: dict[str, Any]
    at: datetime
    read: bool


class Inbox(View):
    """A page of the inbox and how many of all its items are unread."""

    items: list[InboxItem]
    unread: int
    next_cursor: str | None = None


TestState = Literal["queued", "sending", "sent", "failed"]


class TestSent(View):
    """A test message to a channel: queued by the request (202), sent by the deliveries'
    thread, polled at `/channels/{channel_id}/tests/{id}` until `state` is `sent` or `failed`.
    `error` is a short reason ("timed out after 5 s", "HTTP 500", "connection refused"), never
    the receiver's own words."""

    id: str
    channel_id: str
    state: TestState
    ok: bool  # sent, and the receiver took it
    status_code: int | None  # the receiver's HTTP status, when it answered one that failed
    error: str
    created_at: datetime
