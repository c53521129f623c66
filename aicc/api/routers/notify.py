"""Notifications: channels (a user's own or a project's), a test message to one, and the
caller's inbox with its unread count (docs/notifications.md). Deliveries are the loops'; no
route waits on a receiver except `channels_test`, which sends outside any transaction."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.paging import Cursor, PageArgs
from aicc.api.schemas.notify import ChannelIn, ChannelPatch, ReadIn
from aicc.services.notify import channels, inbox, senders
from aicc.services.notify.views import Channel, Inbox, TestSent

router = APIRouter(prefix="/api/v1/notify", tags=["notify"])


@router.get("/channels", response_model=schemas.Page[Channel])
def channels_list(
    who: CurrentUser,
    session: SessionDep,
    paging: PageArgs,
    project: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, object]:
    return paging.cut(channels.list_channels(session, who, project=project))


@router.post("/channels", response_model=Channel, status_code=201)
def channels_create(
    body: ChannelIn, who: CurrentUser, state: StateDep, session: SessionDep
) -> Channel:
    return channels.create(
        session,
        who,
        sealer=state.sealer,
        name=body.name,
        kind=body.kind,
        target=body.target,
        project=body.project,
        secret=body.secret,
        events=body.events,
        wait_min=body.wait_min,
        private_hosts=state.settings.notify.private_hosts,
    )


@router.get("/channels/{channel_id}", response_model=Channel)
def channels_get(channel_id: str, who: CurrentUser, session: SessionDep) -> Channel:
    return channels.get(session, who, channel_id)


@router.patch("/channels/{channel_id}", response_model=Channel)
def channels_update(
    channel_id: str, body: ChannelPatch, who: CurrentUser, state: StateDep, session: SessionDep
) -> Channel:
    return channels.update(
        session,
        who,
        channel_id,
        sealer=state.sealer,
        name=body.name,
        target=body.target,
        secret=body.secret,
        events=body.events,
        wait_min=body.wait_min,
        private_hosts=state.settings.notify.private_hosts,
    )


@router.delete("/channels/{channel_id}", response_model=Channel)
def channels_delete(channel_id: str, who: CurrentUser, session: SessionDep) -> Channel:
    return channels.delete(session, who, channel_id)


@router.post("/channels/{channel_id}/test", response_model=TestSent)
def channels_test(channel_id: str, who: CurrentUser, state: StateDep) -> TestSent:
    """Send a test message now: the answer says whether the receiver took it."""
    with state.db.reader() as session:
        out = channels.outgoing_test(session, who, channel_id, sealer=state.sealer)
    settings = state.settings.notify
    error = senders.send(
        out, smtp=settings.smtp, timeout_s=settings.timeout_s, private_hosts=settings.private_hosts
    )
    return channels.test_sent(channel_id, error)


@router.get("/inbox", response_model=Inbox)
def inbox_list(
    who: CurrentUser,
    session: SessionDep,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=inbox.MAX_PAGE)] = 100,
    cursor: Cursor = None,
) -> Inbox:
    return inbox.items(session, who, unread_only=unread, limit=limit, cursor=cursor)


@router.post("/inbox/read", response_model=Inbox)
def inbox_read(body: ReadIn, who: CurrentUser, session: SessionDep) -> Inbox:
    """Mark items read (all when `ids` is absent); answers the first page of the inbox."""
    inbox.mark_read(session, who, event_ids=body.ids)
    return inbox.items(session, who)
