"""A replica is a tenant's job: whatever it answers is hostile input. One answering without end
(a JSON body that never closes, a stream whose one line never ends) must not make the server
hold it: the gateway reads a whole answer up to `gateway.max_answer_bytes` and one event of a
stream up to `gateway.max_event_bytes` (aicc/gateway/bounded.py), then closes the replica's
connection and answers the caller a 502 `upstream_answer_too_large`, in OpenAI's shape.

Real processes: the server over HTTP (uvicorn, in this process, whose memory is measured), the
replica a `kind: service` job running the test upstream (aicc/testing/upstream.py, `"endless"`
in the request), behind its forwarder, called with the official `openai` client. The replica
writes until the gateway closes the connection and says how much it wrote: far less than the
512 MiB it would write to a gateway that read on."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import openai
import psutil
import pytest
from sqlalchemy import select

from aicc.config import SafetySettings
from aicc.server import ServerState
from aicc.store.tables.serving import GatewayRequestRow
from aicc.testing.deployments import Deployment, deploy
from aicc.testing.polling import wait
from aicc.testing.servers import over_http

MiB = 1024 * 1024
ANSWER_LIMIT = 1 * MiB
EVENT_LIMIT = 256 * 1024
ASK = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, ServerState]]:
    home = tmp_path_factory.mktemp("gwread") / "home"
    limits = {"max_answer_bytes": ANSWER_LIMIT, "max_event_bytes": EVENT_LIMIT}
    with over_http(home, limits={"grace_s": 1.0}, gateway=limits) as center:
        yield center


@pytest.fixture(scope="module")
def chat(center: tuple[str, str, ServerState]) -> Deployment:
    import httpx

    url, token, _ = center
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as api:
        return deploy(api, "chat")


@pytest.fixture(scope="module")
def client(center: tuple[str, str, ServerState], chat: Deployment) -> openai.OpenAI:
    import httpx

    url, token, _ = center
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as api:
        secret = api.post("/api/v1/keys", json={"name": "app"}).json()["secret"]
    return openai.OpenAI(base_url=url + "/v1", api_key=secret, max_retries=0, timeout=60)


def _written(state: ServerState, chat: Deployment) -> list[int]:
    """The bytes the replica wrote of each endless answer before its connection closed."""
    (log,) = (state.settings.home / "runs" / chat.jobs[0]).glob("*/*/stderr.log")
    return [int(n) for n in re.findall(r"endless answer ended after (\d+)", log.read_text())]


def _ended(state: ServerState, chat: Deployment, count: int) -> list[int]:
    """`_written` once the replica has said so for `count` endless answers."""

    def written() -> list[int] | None:
        found = _written(state, chat)
        return found if len(found) >= count else None

    return wait("the replica to see its connection closed", written, timeout=30)


def _records(state: ServerState, status: int, stream: bool) -> int:
    with state.db.reader() as session:
        rows = session.scalars(
            select(GatewayRequestRow.id).where(
                GatewayRequestRow.status == status, GatewayRequestRow.stream.is_(stream)
            )
        )
        return len(list(rows))


def _answered(client: openai.OpenAI) -> None:
    """An ordinary call, streamed and not, still answered in full."""
    answer = client.chat.completions.create(model="chat", messages=ASK)  # type: ignore[arg-type]
    assert (answer.choices[0].message.content or "").startswith("hello from the upstream")
    chunks = client.chat.completions.create(model="chat", messages=ASK, stream=True)  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("hello from the upstream")


def test_an_endless_answer_is_cut_at_the_bound_and_held_by_nobody(
    center: tuple[str, str, ServerState], chat: Deployment, client: openai.OpenAI
) -> None:
    _, _, state = center
    _answered(client)
    server = psutil.Process()  # uvicorn serves from a thread of this process
    before = server.memory_info().rss
    for stream in (False, True, False, True):
        with pytest.raises(openai.APIStatusError) as cut:
            client.chat.completions.create(
                model="chat",
                messages=ASK,  # type: ignore[arg-type]
                stream=stream,
                extra_body={"endless": True},
            )
        assert cut.value.status_code == 502
        body = cut.value.body
        assert isinstance(body, dict) and body["code"] == "upstream_answer_too_large"
        limit = EVENT_LIMIT if stream else ANSWER_LIMIT
        assert f"exceeded {limit} bytes" in cut.value.message
        _answered(client)  # the replica and the gateway answer the next call as ever
    grown = server.memory_info().rss - before
    # four answers that would each have been 512 MiB: the server held none of them
    assert grown < 64 * MiB, f"the server grew {grown / MiB:.0f} MiB"
    written = _ended(state, chat, 4)
    assert all(n < 64 * MiB for n in written), written  # the connection closed, not read on

    assert wait("the records", lambda: _records(state, 502, False) == 2)
    assert wait("the records", lambda: _records(state, 502, True) == 2)
    assert state.gateway.concurrency.inflight(chat.id) == 0
    assert set(state.gateway.outstanding.values()) <= {0}


def test_a_stream_whose_later_event_never_ends_stops_with_an_error_event(
    center: tuple[str, str, ServerState], chat: Deployment, client: openai.OpenAI
) -> None:
    """Once the stream began (its status is out), an event past the bound ends it with an
    error event, which the `openai` client raises."""
    _, _, state = center
    seen, cut_before = len(_written(state, chat)), _records(state, 502, True)
    chunks = client.chat.completions.create(
        model="chat",
        messages=ASK,  # type: ignore[arg-type]
        stream=True,
        extra_body={"endless": "later"},
    )
    with pytest.raises(openai.APIError) as cut:
        for _ in chunks:
            pass
    assert f"exceeded {EVENT_LIMIT} bytes" in cut.value.message
    assert _ended(state, chat, seen + 1)[-1] < 64 * MiB
    _answered(client)
    assert wait("its record", lambda: _records(state, 502, True) == cut_before + 1)
    assert state.gateway.concurrency.inflight(chat.id) == 0


def test_a_readiness_path_without_end_is_not_read(center: tuple[str, str, ServerState]) -> None:
    """The deployments loop's readiness probe reads a replica's status line alone: a `/health`
    whose body never ends makes the replica ready (it answered 200) and the server holds none
    of it, probe after probe (loops/keeper.py)."""
    import httpx

    url, token, state = center
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as api:
        sick = deploy(api, "sick", env={"UPSTREAM_ENDLESS_PATHS": "/health"})
    written = _ended(state, sick, 2)  # the probe that made it ready, and the next
    assert all(n < 64 * MiB for n in written), written


def test_a_classifier_answering_without_end_is_away_not_held(
    center: tuple[str, str, ServerState], chat: Deployment, client: openai.OpenAI
) -> None:
    """Content safety's classifier is a tenant's deployment too: scores without end are cut at
    `gateway.max_answer_bytes` (its connection closed) and count as a classifier away, so a
    policy that fails closed refuses the prompt with its 503 at once (not at its timeout)."""
    import httpx

    url, token, state = center
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as api:
        guard = deploy(api, "guard", env={"UPSTREAM_ENDLESS_PATHS": "/v1/moderations"})
    settings = {"enabled": True, "classifier": {"deployment": guard.id, "timeout_s": 30}}
    state.gateway.safety.reload(SafetySettings.model_validate(settings))
    try:
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as refused:
            client.chat.completions.create(model="chat", messages=ASK)  # type: ignore[arg-type]
        assert refused.value.status_code == 503
        assert isinstance(refused.value.body, dict)
        assert refused.value.body["code"] == "content_filter_unavailable"
        assert time.monotonic() - started < 20  # cut at the bound, not waited out
        assert all(n < 64 * MiB for n in _ended(state, guard, 1))
    finally:
        state.gateway.safety.reload(SafetySettings())
    _answered(client)


def test_an_answer_nested_past_the_parser_is_passed_on_not_a_500(
    center: tuple[str, str, ServerState], chat: Deployment, client: openai.OpenAI
) -> None:
    """Metering reads the answer's `usage` with Python's parser, whose recursion limit a JSON
    answer nested 100,000 deep exceeds: that answer has no usage (it is passed on as it came),
    and the request ends as any other, not as the server's 500 with a request in flight."""
    import httpx

    url, _, state = center
    body = {"model": "chat", "messages": ASK, "nested": True}
    answer = httpx.post(
        url + "/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {client.api_key}"},
        timeout=60,
    )
    assert answer.status_code == 200
    assert answer.content == b"[" * 100_000 + b"]" * 100_000
    assert state.gateway.concurrency.inflight(chat.id) == 0
    _answered(client)
