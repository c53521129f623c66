"""`aicc notify list | read` (the inbox) and `aicc notify channel add | list | get | rm | test`:
where a user's and a project's events go (docs/notifications.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from aicc.cli.nouns import CREATED, ID, Noun, ProjectOption
from aicc.cli.output import Column, JsonFlag, client, col, handle_errors, local_time

if TYPE_CHECKING:
    from aicc.sdk.client import Client
    from aicc.services.notify.views import Channel, Inbox, TestSent

app = typer.Typer(help="Notifications: your inbox and your channels.", no_args_is_help=True)
channel_app = typer.Typer(
    help="Channels: email, webhook, wecom, dingtalk, feishu.", no_args_is_help=True
)
app.add_typer(channel_app, name="channel")


def _read(value: bool | None) -> str:
    return "" if value else "new"


INBOX = Noun(
    "notification",
    [
        col("", "read", _read),
        col("AT", "at", local_time),
        col("KIND", "kind"),
        col("SUBJECT", "subject"),
        ID,
    ],
    empty="no notifications",
    sdk="notify",
)
CHANNELS = Noun(
    "channel",
    [
        ID,
        col("NAME", "name"),
        col("KIND", "kind"),
        col("TARGET", "target"),
        Column("PROJECT", lambda row: row.get("project_id") or "(yours)"),
        col("EVENTS", "events", ", ".join),
        CREATED,
    ],
    empty="no channels: `aicc notify channel add webhook URL --name NAME`",
    sdk="notify",
)
ChannelArg = Annotated[str, typer.Argument(help="The channel's id (nch_...).")]


@app.command("list")
@handle_errors
def notify_list(
    unread: Annotated[bool, typer.Option("--unread", help="Only unread items.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many items.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Your inbox, newest first: events of your projects and your own."""
    with client() as api:
        answer: Inbox = api.notify.list(unread=unread, limit=limit)
    INBOX.print_list(answer, as_json=as_json, title=f"{answer.unread} unread")


@INBOX.action(app, "read", lambda answer: f"{answer['unread']} unread left")
def notify_read(
    api: Client,
    ids: Annotated[list[str] | None, typer.Argument(help="Items to mark read; none: all.")] = None,
) -> Inbox:
    """Mark inbox items read."""
    return api.notify.read(ids or None)


@CHANNELS.create(channel_app, "add")
def channel_add(
    api: Client,
    kind: Annotated[str, typer.Argument(help="email, webhook, wecom, dingtalk or feishu.")],
    target: Annotated[str, typer.Argument(help="A mail address, or the URL to post to.")],
    name: Annotated[str | None, typer.Option(help="A name (default: the kind).")] = None,
    project: ProjectOption = None,
    secret: Annotated[
        str | None, typer.Option(help="A webhook's HMAC key, a bot's signing secret.")
    ] = None,
    event: Annotated[
        list[str] | None, typer.Option("--event", "-e", help="Event kind or pattern; repeatable.")
    ] = None,
    wait_min: Annotated[
        int | None, typer.Option(help="job.waiting: after a job waits this many minutes.")
    ] = None,
) -> Channel:
    """Add a channel: your own, or with --project the project's."""
    return api.notify.add_channel(
        name or kind,
        kind,
        target,
        project=project,
        secret=secret,
        events=event or None,
        wait_min=wait_min,
    )


@CHANNELS.list(channel_app)
def channel_list(api: Client, project: ProjectOption = None) -> list[Channel]:
    """Your channels and your projects' (secrets are never shown)."""
    return api.notify.channels(project=project)


@CHANNELS.get(channel_app)
def channel_get(api: Client, channel_id: ChannelArg) -> Channel:
    """One channel."""
    return api.notify.channel(channel_id)


@CHANNELS.delete(channel_app, "rm")
def channel_rm(api: Client, channel_id: ChannelArg) -> Channel:
    """Remove a channel; its deliveries not yet sent fail."""
    return api.notify.remove_channel(channel_id)


def _tested(answer: dict[str, object]) -> str:
    channel = answer["channel_id"]
    if answer["state"] == "sent":
        return f"test message sent to {channel}"
    if answer["state"] == "failed":
        return f"[red]test message to {channel} failed:[/red] {answer['error']}"
    return (
        f"test message to {channel} is still {answer['state']} ({answer['id']}): the server "
        "sends it shortly; the portal's inbox shows how it went"
    )


@CHANNELS.action(channel_app, "test", _tested)
def channel_test(
    api: Client,
    channel_id: ChannelArg,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for the result (the server sends it).")
    ] = 30.0,
) -> TestSent:
    """Send a test message to a channel: queued on the server, its result waited for."""
    return api.notify.test_channel(channel_id, wait=max(0.0, wait))
