"""Notifications end to end on a real server: a real SMTP server (aiosmtpd) and a real HTTP
receiver get a failed job's mail and signed webhook once; a receiver that answers 500 twice
gets the same delivery a third time, after the backoff, and no more; a server restarted while
a delivery waits sends it exactly once; the inbox lists, counts and marks read; another
tenant sees none of it (404), its test's result neither; hostile channel URLs are a 422; a
secret is never returned."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller as SmtpController
from fastapi.testclient import TestClient
from sqlalchemy import select

from aicc.api.state import AppState
from aicc.store.tables.notify import NotifyDeliveryRow
from aicc.testing.servers import free_port, in_process
from aicc.testing.tenants import make_tenant

BACKOFF_S = 0.3


class Receiver:
    """An HTTP server that records each POST and answers the next scripted status (200 once
    the script is spent)."""

    def __init__(self, port: int = 0, script: list[int] | None = None) -> None:
        self.got: list[tuple[float, dict[str, str], bytes]] = []
        self.script = list(script or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.got.append((time.monotonic(), dict(self.headers), body))
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/hook"

    def kinds(self) -> list[str]:
        return [json.loads(body)["event"]["kind"] for _, _, body in self.got]

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


def until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = SmtpController(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Mailbox, int]
) -> Iterator[tuple[TestClient, AppState]]:
    """One server for the module, its mail going to the test's SMTP server."""
    notify = {
        "smtp": {"host": "127.0.0.1", "port": smtp[1]},
        "backoff_s": BACKOFF_S,
        "private_hosts": ["127.0.0.1"],  # the test's receivers
    }
    with in_process(tmp_path_factory.mktemp("notify") / "home", notify=notify) as pair:
        yield pair


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    try:
        yield rec
    finally:
        rec.close()


def channel(api: TestClient, **body: Any) -> dict[str, Any]:
    answer = api.post("/api/v1/notify/channels", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def signed_right(headers: dict[str, str], body: bytes, secret: str) -> bool:
    stamp = headers["X-AICC-Timestamp"]
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return headers["X-AICC-Signature"] == f"sha256={mac}"


def test_a_failed_job_sends_one_mail_and_one_signed_webhook(
    live: tuple[TestClient, AppState], smtp: tuple[Mailbox, int], receiver: Receiver
) -> None:
    api, _ = live
    box = smtp[0]
    mail = channel(api, name="me", kind="email", target="ops@example.com", events=["job.*"])
    hook = channel(
        api,
        name="team",
        kind="webhook",
        target=receiver.url,
        project="default",
        secret="hook-secret",
        events=["job.failed"],
    )
    assert hook["has_secret"] and "hook-secret" not in json.dumps(hook)
    job = api.post("/api/v1/jobs", json={"name": "doomed", "command": "exit 3"}).json()
    until(lambda: len(box.mails) >= 1 and len(receiver.got) >= 1)
    time.sleep(3 * BACKOFF_S + 0.5)  # a few more passes: nothing is sent twice
    assert len(box.mails) == 1 and receiver.kinds() == ["job.failed"]
    rcpt, content = box.mails[0]
    assert rcpt == ["ops@example.com"] and b"job doomed failed" in content
    assert b"Message-ID: <ndl_" in content
    _, headers, body = receiver.got[0]
    assert signed_right(headers, body, "hook-secret")
    event = json.loads(body)["event"]
    assert event["data"]["job_id"] == job["id"] and headers["X-AICC-Delivery"].startswith("ndl_")

    inbox = api.get("/api/v1/notify/inbox", params={"unread": True}).json()
    mine = [i for i in inbox["items"] if i["data"].get("job_id") == job["id"]]
    assert [i["kind"] for i in mine] == ["job.failed"] and inbox["unread"] >= 1
    read = api.post("/api/v1/notify/inbox/read", json={"ids": [mine[0]["id"]]}).json()
    assert read["unread"] == inbox["unread"] - 1
    assert next(i for i in read["items"] if i["id"] == mine[0]["id"])["read"] is True
    for made in (mail, hook):
        assert api.delete(f"/api/v1/notify/channels/{made['id']}").status_code == 200


def test_a_receiver_failing_twice_gets_the_delivery_once_after_backoff(
    live: tuple[TestClient, AppState],
) -> None:
    api, state = live
    flaky = Receiver(script=[500, 500])
    try:
        made = channel(
            api,
            name="flaky",
            kind="webhook",
            target=flaky.url,
            project="default",
            events=["quota.changed"],
        )
        project = api.get("/api/v1/me").json()["user"]["default_project_id"]
        quota = {"max": {"cpu_milli": 64000}}
        assert api.put(f"/api/v1/projects/{project}/quota", json=quota).status_code == 200
        until(lambda: len(flaky.got) >= 3)
        time.sleep(4 * BACKOFF_S)
        assert len(flaky.got) == 3 and flaky.kinds() == ["quota.changed"] * 3
        ids = {headers["X-AICC-Delivery"] for _, headers, _ in flaky.got}
        assert len(ids) == 1  # the same delivery each time: a receiver drops repeats by it
        (first, _, _), (second, _, _), (third, _, _) = flaky.got
        assert second - first >= BACKOFF_S * 0.9 and third - second >= 2 * BACKOFF_S * 0.9
        with state.db.reader() as session:
            row = session.scalars(select(NotifyDeliveryRow).where(NotifyDeliveryRow.id.in_(ids)))
            (delivery,) = row
            assert (delivery.state, delivery.attempts, delivery.last_error) == ("delivered", 3, "")
        assert api.delete(f"/api/v1/notify/channels/{made['id']}").status_code == 200
    finally:
        flaky.close()
    metrics = api.get("/metrics").text
    assert 'aicc_notifications_total{channel_kind="webhook",outcome="delivered"}' in metrics
    assert "aicc_notification_latency_seconds_bucket" in metrics


def test_another_tenant_sees_no_channel_and_no_inbox_item(
    live: tuple[TestClient, AppState], receiver: Receiver
) -> None:
    api, _ = live
    made = channel(api, name="private", kind="webhook", target=receiver.url)
    b = make_tenant(api, "notify-b")
    path = f"/api/v1/notify/channels/{made['id']}"
    assert api.get(path, headers=b.headers).status_code == 404
    assert api.patch(path, json={"wait_min": 5}, headers=b.headers).status_code == 404
    assert api.post(f"{path}/test", headers=b.headers).status_code == 404
    assert api.delete(path, headers=b.headers).status_code == 404
    assert made["id"] not in api.get("/api/v1/notify/channels", headers=b.headers).text
    a_items = api.get("/api/v1/notify/inbox").json()["items"]
    assert a_items, "the admin's inbox has the earlier tests' events"
    b_inbox = api.get("/api/v1/notify/inbox", headers=b.headers).json()
    assert not {i["id"] for i in a_items} & {i["id"] for i in b_inbox["items"]}
    refused = api.post(
        "/api/v1/notify/inbox/read", json={"ids": [a_items[0]["id"]]}, headers=b.headers
    )
    assert refused.status_code == 404
    queued = api.post(f"{path}/test")
    assert queued.status_code == 202 and queued.json()["state"] in ("queued", "sending", "sent")
    result = queued.headers["Location"]
    assert api.get(result, headers=b.headers).status_code == 404
    until(lambda: api.get(result).json()["state"] == "sent")
    assert api.get(result).json()["ok"] is True and receiver.kinds() == ["test"]
    assert api.delete(path).status_code == 200


def test_an_issued_invoice_reaches_the_org_admins_inbox_once(
    live: tuple[TestClient, AppState],
) -> None:
    api, _ = live
    boss = make_tenant(api, "notify-invoiced", role="org_admin")
    month = datetime.now(UTC).strftime("%Y-%m")
    issued = api.post("/api/v1/bills/issue", json={"org_id": boss.org_id, "month": month})
    assert issued.status_code == 200, issued.text
    again = api.post("/api/v1/bills/issue", json={"org_id": boss.org_id, "month": month})
    assert again.status_code == 409
    inbox = api.get("/api/v1/notify/inbox", headers=boss.headers).json()
    assert [i["kind"] for i in inbox["items"]] == ["invoice.issued"] and inbox["unread"] == 1
    assert inbox["items"][0]["data"]["month"] == month


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"kind": "webhook", "target": "http://169.254.169.254/latest/meta-data"}, "link-local"),
        ({"kind": "webhook", "target": "http://[fe80::1]:80/x"}, "link-local"),
        ({"kind": "feishu", "target": "file:///etc/passwd"}, "http(s) URL"),
        ({"kind": "email", "target": "not-an-address"}, "mail address"),
        ({"kind": "webhook", "target": "https://x.example/h", "events": ["JOB FAILED"]}, "events"),
        ({"kind": "pager", "target": "https://x.example/h"}, "kind"),
        ({"kind": "webhook", "target": "https://x.example/h", "wait_min": 0}, "wait_min"),
    ],
)
def test_bad_channels_are_a_422_saying_what_to_fix(
    live: tuple[TestClient, AppState], body: dict[str, Any], says: str
) -> None:
    api, _ = live
    answer = api.post("/api/v1/notify/channels", json={"name": "bad", **body})
    assert answer.status_code == 422 and says in answer.text, answer.text


def test_a_restart_before_delivery_delivers_exactly_once(tmp_path: Path) -> None:
    """The event commits while its receiver is down; the server stops; the receiver comes up;
    a new server on the same home delivers it, once."""
    port = free_port()
    home = tmp_path / "home"
    # the new server leads once the old one's lease (same process: not known dead) runs out
    notify = {"backoff_s": BACKOFF_S, "private_hosts": ["127.0.0.1"]}
    settings = {"notify": notify, "lease_ttl_s": 2.0}
    with in_process(home, **settings) as (api, state):
        channel(
            api,
            name="later",
            kind="webhook",
            target=f"http://127.0.0.1:{port}/hook",
            events=["quota.changed"],
        )
        project = api.get("/api/v1/me").json()["user"]["default_project_id"]
        assert api.put(f"/api/v1/projects/{project}/quota", json={"max": {}}).status_code == 200

        def tried() -> bool:
            with state.db.reader() as session:
                rows = list(session.scalars(select(NotifyDeliveryRow)))
            return len(rows) == 1 and rows[0].attempts >= 1 and rows[0].state == "pending"

        until(tried)
    late = Receiver(port=port)
    try:
        with in_process(home, **settings) as (_, state):
            until(lambda: len(late.got) >= 1)
            time.sleep(4 * BACKOFF_S)
            with state.db.reader() as session:
                (row,) = session.scalars(select(NotifyDeliveryRow))
                assert row.state == "delivered"
        assert late.kinds() == ["quota.changed"]
    finally:
        late.close()
