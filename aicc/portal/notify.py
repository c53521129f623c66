"""The inbox page, `/inbox`: the person's notifications (their projects' events and their own),
newest first, marked read with a form; and on the same page their channels and their projects'
(add, test, remove). The top bar's bell links here with the unread count (`Page.render`).

The services decide what is whose: another person's channel or another tenant's is the 404
page, as in the API. A test message is queued, as the API's is (the deliveries' thread sends
it, never the request); each channel's row shows how its last test went."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from aicc.api.schemas.notify import ChannelIn
from aicc.portal.forms import Form as PageForm
from aicc.portal.forms import Rejected, parse, service_call
from aicc.portal.page import Page, PageDep, PostingPage
from aicc.portal.rendering import PortalRoute
from aicc.services.notify import channels, inbox

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

FLASHES = ("read", "added", "removed", "queued")


def _inbox_page(page: Page, *, form: PageForm | None = None, status: int = 200) -> Response:
    who = page.me.who
    only_unread = page.query("show") == "unread"
    projects = page.own_projects()
    shown = channels.list_channels(page.session, who)
    return page.render(
        "inbox.html",
        nav="inbox",
        status=status,
        inbox=inbox.items(page.session, who, unread_only=only_unread, limit=100),
        only_unread=only_unread,
        channels=shown,
        tests=channels.last_tests(page.session, [c.id for c in shown]),
        projects=projects,
        project_names={p.id: p.name for p in projects},
        kinds=channels.KINDS,
        form=form
        or PageForm("channel", {"events": ", ".join(channels.DEFAULT_EVENTS), "wait_min": "30"}),
        flash={name: page.query(name) for name in FLASHES},
    )


def _back(**flash: str) -> Response:
    return RedirectResponse("/inbox" + (f"?{urlencode(flash)}" if flash else ""), status_code=303)


@router.get("/inbox")
def inbox_page(page: PageDep) -> Response:
    return _inbox_page(page)


@router.post("/inbox/read")
def inbox_read(page: PostingPage, event: Annotated[str, Form(max_length=40)] = "") -> Response:
    """One item read (`event`), or all of them."""
    count = inbox.mark_read(page.session, page.me.who, event_ids=[event] if event else None)
    return _back(read=str(count))


@router.post("/inbox/channels")
def inbox_channel_add(
    page: PostingPage,
    name: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=20)] = "",
    target: Annotated[str, Form(max_length=4096)] = "",
    project: Annotated[str, Form(max_length=60)] = "",
    events: Annotated[str, Form(max_length=2000)] = "",
    wait_min: Annotated[str, Form(max_length=10)] = "30",
    secret: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """A channel of the person's own, or of one of their projects."""
    typed = {"name": name, "kind": kind, "target": target, "project": project, "events": events}
    form = PageForm("channel", {**typed, "wait_min": wait_min})  # the secret never goes back
    patterns = [p.strip() for p in events.replace("\n", ",").split(",") if p.strip()]
    data = {
        "name": name.strip(),
        "kind": kind,
        "target": target.strip(),
        "project": project or None,
        "secret": secret or None,
        "events": patterns or None,
        "wait_min": wait_min or "30",
    }
    try:
        body = parse(form, ChannelIn, data, {})
        with service_call(page.session, form, name_field="name"):
            made = channels.create(
                page.session,
                page.me.who,
                sealer=page.state.sealer,
                name=body.name,
                kind=body.kind,
                target=body.target,
                project=body.project,
                secret=body.secret,
                events=body.events,
                wait_min=body.wait_min,
                private_hosts=page.state.settings.notify.private_hosts,
            )
    except Rejected as refused:
        return _inbox_page(page, form=form, status=refused.status)
    return _back(added=made.name)


@router.post("/inbox/channels/{channel_id}/delete")
def inbox_channel_delete(page: PostingPage, channel_id: str) -> Response:
    gone = channels.delete(page.session, page.me.who, channel_id)  # another's: the 404 page
    return _back(removed=gone.name)


@router.post("/inbox/channels/{channel_id}/test")
def inbox_channel_test(page: PostingPage, channel_id: str) -> Response:
    """A test message, queued (another's channel: the 404 page; too many waiting: the 429's)."""
    who = page.me.who
    name = channels.get(page.session, who, channel_id).name
    channels.queue_test(
        page.session, who, channel_id, most=page.state.settings.notify.tests_per_org
    )
    return _back(queued=name)
