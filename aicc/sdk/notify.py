"""`client.notify`: notification channels and the inbox; answers parse into
`aicc.services.notify.views`'s models."""

from __future__ import annotations

import builtins
import time

from aicc.sdk.transport import Resource, api_path, given
from aicc.services.notify.views import Channel, Inbox, TestSent


class Notify(Resource):
    def list(self, unread: bool = False, limit: int = 100) -> Inbox:
        """The inbox, newest first, with how many items are unread."""
        params = {"unread": unread, "limit": limit}
        return self._one(Inbox, "GET", api_path("notify", "inbox"), params=params)

    def read(self, ids: builtins.list[str] | None = None) -> Inbox:
        """Mark inbox items read (all of them when `ids` is None)."""
        return self._one(Inbox, "POST", api_path("notify", "inbox", "read"), json={"ids": ids})

    def channels(self, project: str | None = None) -> builtins.list[Channel]:
        return self._items(Channel, api_path("notify", "channels"), {"project": project})

    def channel(self, channel_id: str) -> Channel:
        return self._one(Channel, "GET", api_path("notify", "channels", channel_id))

    def add_channel(
        self,
        name: str,
        kind: str,
        target: str,
        *,
        project: str | None = None,
        secret: str | None = None,
        events: builtins.list[str] | None = None,
        wait_min: int | None = None,
    ) -> Channel:
        body = given(
            name=name,
            kind=kind,
            target=target,
            project=project,
            secret=secret,
            events=events,
            wait_min=wait_min,
        )
        return self._one(Channel, "POST", api_path("notify", "channels"), json=body)

    def update_channel(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        target: str | None = None,
        secret: str | None = None,
        events: builtins.list[str] | None = None,
        wait_min: int | None = None,
    ) -> Channel:
        body = given(name=name, target=target, secret=secret, events=events, wait_min=wait_min)
        path = api_path("notify", "channels", channel_id)
        return self._one(Channel, "PATCH", path, json=body)

    def remove_channel(self, channel_id: str) -> Channel:
        return self._one(Channel, "DELETE", api_path("notify", "channels", channel_id))

    def test_channel(self, channel_id: str, wait: float = 30.0, poll: float = 0.25) -> TestSent:
        """Queue a test message to the channel, then poll its result up to `wait` seconds:
        `state` is `sent` or `failed` when it came in time, else still `queued` or `sending`
        (`test_result` asks again later). The server sends it, never in the request."""
        path = api_path("notify", "channels", channel_id, "test")
        result = self._one(TestSent, "POST", path)
        deadline = time.monotonic() + wait
        while result.state in ("queued", "sending") and time.monotonic() < deadline:
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
            result = self.test_result(channel_id, result.id)
        return result

    def test_result(self, channel_id: str, test_id: str) -> TestSent:
        """How a queued test message went."""
        path = api_path("notify", "channels", channel_id, "tests", test_id)
        return self._one(TestSent, "GET", path)
