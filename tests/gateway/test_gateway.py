"""The OpenAI-compatible gateway under `/v1`, driven by the official `openai` client against a
real server (uvicorn) in front of real replica jobs (`aicc/testing/upstream.py`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import csv
import io
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from aicc.core import periods
from aicc.server import ServerState
from aicc.services.billing import meter
from aicc.services.common import utcnow
from aicc.services.serving import metering as request_metering
from aicc.services.telemetry.samples import Measured
from aicc.store.tables.billing import UsageRow
from aicc.store.tables.serving import ApiKeyRow, GatewayRequestRow
from aicc.testing.deployments import Deployment, deploy, kill_replica
from aicc.testing.polling import wait
from aicc.testing.servers import in_process, over_http
from aicc.testing.tenants import make_tenant


class Center:
    def __init__(self, url: str, token: str, state: ServerState) -> None:
        self.url, self.state = url, state
        self.api = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def key(self, name: str, headers: dict[str, str] | None = None, **fields: object) -> str:
        made = self.api.post("/api/v1/keys", json={"name": name, **fields}, headers=headers or {})
        assert made.status_code == 201, made.text
        secret: str = made.json()["secret"]
        assert secret.startswith("aicc-sk-")
        return secret

    def openai(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0)


@pytest.fixture
def center(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Center]:
    """A center on SQLite; a test may give its `gateway` settings (indirect parametrization)."""
    settings = {"limits": {"grace_s": 1.0}, "gateway": getattr(request, "param", {})}
    with over_http(tmp_path / "home", **settings) as (url, token, state):
        yield Center(url, token, state)


@pytest.fixture
def chat(center: Center) -> Deployment:
    return deploy(center.api, "chat", replicas=2)


@pytest.fixture
def books(tmp_path: Path, db_url: str | None) -> Iterator[Center]:
    """A center on SQLite and on PostgreSQL, for what the store must get right."""
    with over_http(tmp_path / "home", db_url, limits={"grace_s": 1.0}) as (url, token, state):
        yield Center(url, token, state)


def test_chat_through_the_gateway_streaming_and_not(center: Center, chat: Deployment) -> None:
    client = center.openai(center.key("app"))
    assert [m.id for m in client.models.list()] == ["chat"]

    answer = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "say hello to me"}]
    )
    assert answer.choices[0].message.content.startswith("hello from the upstream")
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (4, 5)

    chunks = list(
        client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("hello from the upstream")
    # the gateway asked the replica for usage, and did not pass that chunk on
    assert all(c.usage is None for c in chunks)
    with_usage = list(
        client.chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": "hi there"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert with_usage[-1].usage is not None and with_usage[-1].usage.prompt_tokens == 2

    logged = center.api.get("/api/v1/requests", params={"deployment": "chat"}).json()["items"]
    assert [(r["key"], r["status"], r["stream"]) for r in logged] == [
        ("app", 200, True),
        ("app", 200, True),
        ("app", 200, False),
    ]
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in logged] == [
        (2, 5),
        (1, 5),
        (4, 5),
    ]
    # both replicas took requests: least outstanding, ties in turn
    assert {r["replica"] for r in logged} == set(chat.jobs)
    scraped = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(center.api.get("/metrics").text)
        for sample in family.samples
    }
    where = (("deployment", "chat"), ("project", chat.project_id))
    ok = (*where, ("route", "chat"), ("status", "200"))
    assert scraped[("aicc_gateway_requests_total", ok)] == 3
    assert scraped[("aicc_gateway_tokens_total", tuple(sorted((*where, ("kind", "prompt")))))] == 7
    assert scraped[("aicc_gateway_request_seconds_count", where)] == 3


def test_a_dead_replica_fails_no_request(center: Center) -> None:
    dep = deploy(center.api, "chat", replicas=2)
    client = center.openai(center.key("load"))

    def ask(n: int) -> str:
        if n == 12:  # mid-load, one replica dies as a crash would kill it
            kill_replica(center.state.settings.home, dep.jobs[1])
        answer = client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": f"question {n}"}]
        )
        return answer.choices[0].message.content or ""

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(60)))
    assert len(answers) == 60 and all(a.startswith("hello from") for a in answers)
    logged = center.api.get("/api/v1/requests", params={"deployment": "chat"}).json()["items"]
    assert len(logged) == 60 and {r["status"] for r in logged} == {200}
    assert any(r["attempts"] > 1 for r in logged)  # retried on the live replica
    assert dep.jobs[0] in {r["replica"] for r in logged}


def test_keys_scope_tenancy_revocation_and_rate(center: Center, chat: Deployment) -> None:
    other = make_tenant(center.api, "tenant-b")  # type: ignore[arg-type]
    b_key = center.key("b", headers=other.headers)
    with pytest.raises(openai.NotFoundError) as b_call:
        center.openai(b_key).chat.completions.create(model="chat", messages=[])
    assert b_call.value.body["code"] == "model_not_found"  # type: ignore[index]
    assert center.openai(b_key).models.list().data == []

    deploy(center.api, "other")
    scoped = center.key("scoped", deployments=["other"])
    with pytest.raises(openai.NotFoundError):
        center.openai(scoped).chat.completions.create(model="chat", messages=[])
    assert [m.id for m in center.openai(scoped).models.list()] == ["other"]

    key = center.key("revoked")
    center.openai(key).chat.completions.create(model="chat", messages=[])
    assert center.api.delete("/api/v1/keys/revoked").status_code == 200
    with pytest.raises(openai.AuthenticationError):
        center.openai(key).chat.completions.create(model="chat", messages=[])
    with pytest.raises(openai.AuthenticationError):
        center.openai("aicc-sk-made-up").chat.completions.create(model="chat", messages=[])

    slow = center.key("slow", rpm=2)
    for _ in range(2):
        center.openai(slow).chat.completions.create(model="chat", messages=[])
    with pytest.raises(openai.RateLimitError) as limited:
        center.openai(slow).chat.completions.create(model="chat", messages=[])
    assert int(limited.value.response.headers["retry-after"]) >= 1

    small = center.openai(center.key("small", tokens_per_month=10))
    for _ in range(2):  # 4 + 5 tokens each: the second starts under the quota
        small.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.RateLimitError) as spent:
        small.chat.completions.create(model="chat", messages=[])
    assert spent.value.body["code"] == "insufficient_quota"  # type: ignore[index]


def test_completions_embeddings_and_predict(center: Center, chat: Deployment) -> None:
    key = center.key("all")
    client = center.openai(key)
    text = client.completions.create(model="chat", prompt="once upon a time")
    assert text.choices[0].text.startswith("hello from") and text.usage.prompt_tokens == 4
    vectors = client.embeddings.create(model="chat", input=["a b", "c"])
    assert [v.index for v in vectors.data] == [0, 1] and vectors.usage.prompt_tokens == 3
    predicted = httpx.post(
        center.url + "/v1/deployments/chat/predict",
        json={"rows": ["ab", "abcd"]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert predicted.status_code == 200 and predicted.json()["predictions"] == [2, 4]
    missing = httpx.post(
        center.url + "/v1/deployments/nothing/predict",
        json={},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    bearer = {"Authorization": f"Bearer {key}"}
    assert httpx.get(center.url + "/v1/chat/completions", headers=bearer).status_code == 405
    huge = httpx.post(center.url + "/v1/embeddings", content=b"x" * (9 << 20), headers=bearer)
    assert huge.status_code == 413  # the server's request limits hold in front of the gateway
    routes = [r["route"] for r in center.api.get("/api/v1/requests").json()["items"]]
    assert routes == ["predict", "embeddings", "completions"]


def test_requests_and_tokens_are_on_the_invoice_once(books: Center) -> None:
    center = books
    chat = deploy(center.api, "chat")
    plan = {
        "name": "gateway",
        "effective_from": "2026-01-01T00:00:00+08:00",
        "input_mtok": "1000",
        "output_mtok": "2000",
        "request": "0.01",
    }
    assert center.api.post("/api/v1/price-plans", json=plan).status_code == 201
    client = center.openai(center.key("billed"))
    for stream in (False, False, True):
        answer = client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "one two three"}], stream=stream
        )
        if stream:
            assert len(list(answer)) == 5  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):  # refused: no replica reached, not charged
        client.chat.completions.create(model="nothing", messages=[])
    zone = center.state.settings.site.timezone
    later = utcnow() + timedelta(hours=2)

    def lines() -> list[dict[str, object]]:
        month = periods.month_of(utcnow(), zone)
        bill = center.api.get("/api/v1/bills", params={"month": month}).json()
        return [line for line in bill["lines"] if line.get("deployment_id") == chat.id]

    assert lines() == []  # the hour is still open: nothing metered yet
    for _ in range(2):  # a second pass (a restart, a second leader) adds nothing
        with center.state.db.session() as session:
            request_metering.meter(
                session,
                meter.Meter(
                    session, zone=zone, power=meter.PowerModel(), samples=Measured(session)
                ),
                later,
            )
    billed = {line["item"]: (line["quantity"], line["net"]) for line in lines()}
    # 3 requests, 3 x 3 prompt tokens, 3 x 5 completion tokens
    assert billed == {
        "requests": ("3.000000000000", "0.03"),
        "tokens:input": ("0.000009000000", "0.01"),  # 9 tokens at 1000 a million
        "tokens:output": ("0.000015000000", "0.03"),
    }
    month = periods.month_of(utcnow(), zone)
    exported = center.api.get("/api/v1/bills/export", params={"month": month}).text
    rows = [row for row in csv.DictReader(io.StringIO(exported)) if row["deployment_id"]]
    assert sorted(row["item"] for row in rows) == ["requests", "tokens:input", "tokens:output"]
    assert {row["deployment_id"] for row in rows} == {chat.id}
    with center.state.db.reader() as session:
        records = session.scalars(select(UsageRow).where(UsageRow.kind == "requests")).all()
        assert [(r.requests, r.prompt_tokens, r.completion_tokens) for r in records] == [(3, 9, 15)]


def test_a_stream_is_passed_on_as_it_comes(center: Center) -> None:
    deploy(center.api, "slow", env={"UPSTREAM_DELAY_S": "0.4"})
    client = center.openai(center.key("patient"))
    started = time.monotonic()
    arrivals = []
    for chunk in client.chat.completions.create(
        model="slow", messages=[{"role": "user", "content": "take your time"}], stream=True
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
    # five words 0.4 s apart: the first reached the client long before the last was written
    assert len(arrivals) == 5
    assert arrivals[-1] - arrivals[0] > 1.2  # a buffering proxy hands them over at once


# A cache of one second, not the default five: the test waits it out.
@pytest.mark.parametrize("center", [{"key_cache_s": 1.0}], indirect=True, ids=["key_cache_1s"])
def test_a_key_revoked_elsewhere_stops_within_the_cache_time(
    center: Center, chat: Deployment
) -> None:
    key = center.key("shared")
    client = center.openai(key)
    client.chat.completions.create(model="chat", messages=[])  # the key is now cached
    with center.state.db.session() as session:  # as another server behind the balancer would
        session.execute(
            update(ApiKeyRow).where(ApiKeyRow.name == "shared").values(revoked_at=utcnow())
        )
    revoked = time.monotonic()

    def refused() -> bool:
        try:
            client.chat.completions.create(model="chat", messages=[])
        except openai.AuthenticationError:
            return True
        return False

    assert wait("the revoked key to be refused", refused, timeout=15, every=0.25)
    assert center.state.settings.gateway.key_cache_s == 1.0
    assert time.monotonic() - revoked <= center.state.settings.gateway.key_cache_s + 1.5


def chat_call(key: str, body: dict[str, object]) -> tuple[dict[str, object], Any]:
    """An ASGI scope and `receive` of one chat request with `key`, for driving the app by hand
    where a client's leaving must be staged (its `send` raising, its handler cancelled)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"application/json"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}

    return scope, receive


def test_a_stream_whose_client_left_before_its_first_byte_counts_nothing_in_flight(
    tmp_path: Path,
) -> None:
    """A client gone before the answer starts makes the server's `send` raise, and the relay's
    events are never read: the request must still end (the autoscaler would otherwise count it
    in flight for ever, and routing would shun its replica) and be recorded as the client's
    leaving, 499."""
    with in_process(tmp_path / "home", limits={"grace_s": 1.0}) as (api, state):
        chat = deploy(api, "chat")
        key = api.post("/api/v1/keys", json={"name": "gone"}).json()["secret"]
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        scope, receive = chat_call(key, body)

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                raise OSError("the client is gone")  # what uvicorn raises then

        def statuses() -> list[int]:
            with state.db.reader() as session:
                return list(session.scalars(select(GatewayRequestRow.status)))

        async def call() -> None:
            with contextlib.suppress(Exception):
                await api.app(scope, receive, send)  # type: ignore[arg-type]
            for _ in range(100):  # the record is written after the client left, on this loop
                if statuses():
                    return
                await asyncio.sleep(0.05)

        asyncio.run(call())
        assert statuses() == [499]
        assert state.gateway.concurrency.inflight(chat.id) == 0
        assert set(state.gateway.outstanding.values()) <= {0}


def test_a_request_cancelled_while_its_replica_works_counts_nothing_in_flight(
    tmp_path: Path,
) -> None:
    """A server may cancel a request's handler when its client leaves (or as it shuts down)
    while the replica is still working on it: the request must leave the autoscaler's count of
    requests in flight and its replica's, and be recorded as the client's leaving, 499."""
    with in_process(tmp_path / "home", limits={"grace_s": 1.0}) as (api, state):
        slow = deploy(api, "slow", env={"UPSTREAM_DELAY_S": "5"})
        key = api.post("/api/v1/keys", json={"name": "leaves"}).json()["secret"]
        body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}]}
        scope, receive = chat_call(key, body)

        async def send(message: dict[str, object]) -> None:
            raise AssertionError("nothing is sent to a client that left")

        def statuses() -> list[int]:
            with state.db.reader() as session:
                return list(session.scalars(select(GatewayRequestRow.status)))

        async def call() -> tuple[int, int]:
            handler = asyncio.ensure_future(api.app(scope, receive, send))  # type: ignore[arg-type]
            for _ in range(100):  # until the replica has the request
                if any(state.gateway.outstanding.values()):
                    break
                await asyncio.sleep(0.05)
            seen = (
                state.gateway.concurrency.inflight(slow.id),
                sum(state.gateway.outstanding.values()),
            )
            handler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await handler
            for _ in range(100):  # the record is written after the cancellation, on this loop
                if statuses():
                    break
                await asyncio.sleep(0.05)
            return seen

        assert asyncio.run(call()) == (1, 1), "the request reached its replica"
        assert statuses() == [499]
        assert state.gateway.concurrency.inflight(slow.id) == 0
        assert set(state.gateway.outstanding.values()) <= {0}


def test_a_replica_too_slow_is_a_504_not_retried(tmp_path: Path) -> None:
    """A replica that does not answer within `read_timeout_s` may still be working on the
    request: the client gets a 504 at once, and no other replica is asked."""
    gateway = {"read_timeout_s": 0.5}
    with over_http(tmp_path / "home", limits={"grace_s": 1.0}, gateway=gateway) as found:
        center = Center(*found)
        deploy(center.api, "slow", replicas=2, env={"UPSTREAM_DELAY_S": "2"})
        key = center.key("impatient")
        answer = httpx.post(
            center.url + "/v1/chat/completions",
            json={"model": "slow", "messages": [{"role": "user", "content": "hurry"}]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert answer.status_code == 504
        assert answer.json()["error"]["code"] == "upstream_timeout"
        (logged,) = center.api.get("/api/v1/requests").json()["items"]
        assert (logged["id"], logged["status"], logged["attempts"]) == (
            answer.headers["x-request-id"],
            504,
            1,
        )
        assert set(center.state.gateway.outstanding.values()) <= {0}


def test_a_store_down_while_retrying_is_a_503_and_counts_nothing_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its only replica refuses, and looking for another finds the store down: the client gets
    the store's 503, and the request leaves the count of requests in flight (a deployment with
    one counted forever would never scale to zero)."""
    with in_process(tmp_path / "home", limits={"grace_s": 1.0}) as (api, state):
        lone = deploy(api, "lone")
        key = api.post("/api/v1/keys", json={"name": "k"}).json()["secret"]
        body = {"model": "lone", "messages": [{"role": "user", "content": "hi"}]}
        assert (
            api.post(
                "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
            ).status_code
            == 200
        )
        kill_replica(state.settings.home, lone.jobs[0])

        async def store_down(*args: object, **kwargs: object) -> None:
            raise ConnectionError("the database does not answer")

        monkeypatch.setattr(state.gateway, "ready", store_down)
        answer = api.post(
            "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "store_unavailable"
        assert state.gateway.concurrency.inflight(lone.id) == 0
