"""The inbox page, `/inbox`: the person's notifications (their projects' events and their own),
newest first, each in its reader's language and linking to what it is about (`shown`), marked
read with a form; and on the same page their channels and their projects'
(add, test, remove). The top bar's bell links here with the unread count (`Page.render`).

The services decide what is whose: another person's channel or another tenant's is the 404
page, as in the API. A test message is queued, as the API's is (the deliveries' thread sends
it, never the request); each channel's row shows how its last test went."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from aicc.api.schemas.notify import ChannelIn
from aicc.portal.forms import Form as PageForm
from aicc.portal.forms import Posted, Rejected, parse, service_call, text_input
from aicc.portal.i18n import Message, Translator
from aicc.portal.page import Page, PageDep, PostingPage
from aicc.portal.rendering import PortalRoute
from aicc.services.notify import channels, inbox
from aicc.services.notify.views import InboxItem

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

FLASHES = ("read", "added", "removed", "queued")
# An event's values that are codes or stored English, and how the reader's language says them
CODES = {"state": "state", "reason": "job.reason"}


@dataclass(frozen=True)
class Shown:
    """An inbox item as its reader reads it: subject and body in their language, and the page
    of what it is about."""

    item: InboxItem
    subject: str
    body: str
    link: str | None


def shown(t: Translator, item: InboxItem) -> Shown:
    """The item in `t`'s language: its templates and values (`data["text"]`, services/notify/
    events.py) through the notifications' catalog, codes and stored English among the
    values translated too (`Translator.notice`); an event stored before templates, as `said`
    finds its text."""
    text = item.data.get("text")
    if not (isinstance(text, dict) and isinstance(text.get("params"), dict)):
        return Shown(item, t.said(item.subject), t.said(item.body), link_of(item.kind, item.data))
    params = dict(text["params"])
    if t.language != "en":
        for name, value in params.items():
            if name in CODES and isinstance(value, str):
                params[name] = t.maybe(CODES[name], value)
            elif name == "message" and isinstance(value, str):
                params[name] = t.said(value)
    subject = t.notice(Message(str(text.get("subject", "")), params))
    body = t.notice(Message(str(text.get("body", "")), params))
    return Shown(item, subject, body, link_of(item.kind, item.data))


def link_of(kind: str, data: Mapping[str, Any]) -> str | None:
    """The page of what an event is about, from its kind and values; None where none shows it."""
    family = kind.split(".", 1)[0]
    found: dict[str, str | None] = {
        "job": f"/jobs/{data['job_id']}" if data.get("job_id") else None,
        "deployment": f"/deployments/{data['deployment']}" if data.get("deployment") else None,
        "budget": f"/bills?month={data['month']}" if data.get("month") else "/bills",
        "invoice": f"/bills?month={data['month']}" if data.get("month") else "/bills",
        "quota": "/quotas",
        "lease": "/quotas",  # leases are shown beside quotas
        "maintenance": "/nodes",
        "need": f"/needs/{data['need_id']}" if data.get("need_id") else "/needs",
        "challenge": f"/challenges/{data['challenge_id']}" if data.get("challenge_id") else None,
    }
    link = found.get(family)
    return quote(link, safe="/?=&") if link else None


def _inbox_page(page: Page, *, form: PageForm | None = None, status: int = 200) -> Response:
    who = page.me.who
    only_unread = page.query("show") == "unread"
    projects = page.own_projects()
    mine = channels.list_channels(page.session, who)
    found = inbox.items(page.session, who, unread_only=only_unread, limit=100)
    return page.render(
        "inbox.html",
        nav="inbox",
        status=status,
        inbox=found,
        items=[shown(page.t, item) for item in found.items],
        only_unread=only_unread,
        channels=mine,
        tests=channels.last_tests(page.session, [c.id for c in mine]),
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


class NewChannel(Posted):
    """The channel form, as typed."""

    name: str = text_input(200)
    kind: str = text_input(20)
    target: str = text_input(4096)
    project: str = text_input(60)
    events: str = text_input(2000)
    wait_min: str = text_input(10, "30")
    secret: str = text_input(1024)


@router.post("/inbox/channels")
def inbox_channel_add(page: PostingPage, posted: Annotated[NewChannel, Form()]) -> Response:
    """A channel of the person's own, or of one of their projects."""
    shown = posted.typed("name", "kind", "target", "project", "events", "wait_min")
    form = PageForm("channel", shown)  # the secret never goes back
    patterns = [p.strip() for p in posted.events.replace("\n", ",").split(",") if p.strip()]
    data = {
        "name": posted.name.strip(),
        "kind": posted.kind,
        "target": posted.target.strip(),
        "project": posted.project or None,
        "secret": posted.secret or None,
        "events": patterns or None,
        "wait_min": posted.wait_min or "30",
    }
    try:
        body = parse(form, ChannelIn, data, {})
        with service_call(page.session, form, name_field="name"):
            made = channels.create(
                page.session,
                page.me.who,
                sealer=page.state.sealer,
                private_hosts=page.state.settings.notify.private_hosts,
                **body.model_dump(),
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
