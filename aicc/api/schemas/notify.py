"""What clients send to make and change notification channels and to mark their inbox read;
channels and the inbox come back as `services/notify/views.py`'s."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from aicc.api.schemas.common import Body
from aicc.core.text import LINE

Pattern = Annotated[str, Field(min_length=1, max_length=64), LINE]
Events = Annotated[
    list[Pattern],
    Field(min_length=1, max_length=50, description="event kinds or patterns: job.failed, job.*"),
]
WaitMin = Annotated[
    int, Field(ge=1, le=7 * 24 * 60, description="job.waiting: a job pending this many minutes")
]
Secret = Annotated[
    str, Field(max_length=512, description="HMAC key of a webhook, signing secret of a bot")
]


class ChannelIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=64), LINE]
    kind: Literal["email", "webhook", "wecom", "dingtalk", "feishu"]
    target: Annotated[
        str, Field(min_length=3, max_length=2048, description="a mail address or a URL"), LINE
    ]
    project: Annotated[
        str | None, Field(max_length=200, description="a project's channel; absent: your own")
    ] = None
    secret: Secret | None = None
    events: Events | None = None
    wait_min: WaitMin = 30


class ChannelPatch(Body):
    name: Annotated[str | None, Field(min_length=1, max_length=64), LINE] = None
    target: Annotated[str | None, Field(min_length=3, max_length=2048), LINE] = None
    secret: Annotated[Secret | None, Field(description='"" removes it')] = None
    events: Events | None = None
    wait_min: WaitMin | None = None


class ReadIn(Body):
    ids: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=40)]] | None,
        Field(max_length=1000, description="inbox items to mark read; absent: all"),
    ] = None
