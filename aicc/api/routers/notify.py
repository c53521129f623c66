"""Notifications: channels (a user's own or a project's), a test message to one, and the
caller's inbox with its unread count (docs/notifications.md). Deliveries are the loops'; no
route waits on a receiver: a test message is queued (202) and its result polled."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, TypedDict

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.gates import Crowded
from aicc.api.paging import Cursor, PageArgs
from aicc.api.schemas.notify import ChannelIn, ChannelPatch, ReadIn
from aicc.services.notify import channels, inbox
from aicc.services.notify.views import Channel, Inbox, TestSent
from aicc.store.sealing import Sealer

router = APIRouter(prefix="/api/v1/notify", tags=["notify"])


class Addressing(TypedDict):
    """What a channel's address is written with: the sealer of its secrets, and the private
    hosts a webhook may reach (`notify.private_hosts`)."""

    sealer: Sealer
    private_hosts: Collection[str]


def _addressing(state: StateDep) -> Addressing:
    return Addressing(sealer=state.sealer, private_hosts=state.settings.notify.private_hosts)


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
    return channels.create(session, who, **_addressing(state), **body.model_dump())


@router.get("/channels/{channel_id}", response_model=Channel)
def channels_get(channel_id: str, who: CurrentUser, session: SessionDep) -> Channel:
    return channels.get(session, who, channel_id)


@router.patch("/channels/{channel_id}", response_model=Channel)
def channels_update(
    channel_id: str, body: ChannelPatch, who: CurrentUser, state: StateDep, session: SessionDep
) -> Channel:
    return channels.update(session, who, channel_id, **_addressing(state), **body.model_dump())


@router.delete("/channels/{channel_id}", response_model=Channel)
def channels_delete(channel_id: str, who: CurrentUser, session: SessionDep) -> Channel:
    return channels.delete(session, who, channel_id)


@router.post("/channels/{channel_id}/test", response_model=TestSent, status_code=202)
async def channels_test(
    channel_id: str, who: CurrentUser, state: StateDep, response: Response
) -> TestSent:
    """Queue a test message; poll `Location` until its `state` is `sent` or `failed`. 429 when
    the organization has `notify.tests_per_org` waiting already. An organization's test
    requests take a worker one at a time (`api/gates.py`): a burst of them waits in the event
    loop, and another tenant's calls find the workers free."""
    most = state.settings.notify.tests_per_org

    def queue() -> TestSent:
        with state.db.session() as session:
            return channels.queue_test(session, who, channel_id, most=most)

    try:
        async with state.gates.one_at_a_time("notify.test", who.org_id, most=most):
            queued = await run_in_threadpool(queue)
    except Crowded as crowded:
        raise channels.too_many_tests(crowded.waiting) from None
    response.headers["Location"] = f"{router.prefix}/channels/{channel_id}/tests/{queued.id}"
    return queued


@router.get("/channels/{channel_id}/tests/{test_id}", response_model=TestSent)
def channels_test_result(
    channel_id: str, test_id: str, who: CurrentUser, session: SessionDep
) -> TestSent:
    return channels.test_result(session, who, channel_id, test_id)


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
