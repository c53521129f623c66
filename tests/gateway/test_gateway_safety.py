"""Content safety through the gateway with the official `openai` client: a blocked prompt is a
400 `content_filter` and never reaches a replica; a streamed answer is checked as it streams and
cut with `finish_reason: "content_filter"` where a pattern spans two chunks; a masked word is
starred out; each is counted and recorded without its text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select

from aicc.server import ServerState
from aicc.store.tables.serving import SafetyEventRow
from aicc.testing.deployments import deploy
from aicc.testing.servers import over_http

SAFETY: dict[str, Any] = {
    "enabled": True,
    "rules": [
        {"name": "secrets", "words": ["launch code"]},
        # the upstream's answer "... the upstream forbidden-..." comes a word a chunk
        {"name": "names", "patterns": [r"upstream\s+forbidden"]},
        {"name": "greeting", "words": ["hello"], "action": "mask"},
    ],
}


class Center:
    def __init__(self, url: str, api: httpx.Client, state: ServerState) -> None:
        self.url, self.api, self.state = url, api, state
        made = api.post("/api/v1/keys", json={"name": "app"})
        assert made.status_code == 201, made.text
        self.client = openai.OpenAI(
            base_url=url + "/v1", api_key=made.json()["secret"], max_retries=0
        )

    def events(self) -> list[tuple[str, str, str, str | None]]:
        with self.state.db.reader() as session:
            rows = session.scalars(select(SafetyEventRow).order_by(SafetyEventRow.id))
            return [(r.stage, r.rule, r.action, r.text) for r in rows]


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Center]:
    home = tmp_path_factory.mktemp("safety") / "home"
    with over_http(home, gateway={"safety": SAFETY}) as (url, token, state):
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        deploy(api, "plain", replicas=1)
        deploy(api, "odd", replicas=1, env={"UPSTREAM_NAME": "forbidden-name"})
        yield Center(url, api, state)


def test_a_blocked_prompt_never_reaches_a_replica(center: Center) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        center.client.chat.completions.create(
            model="plain", messages=[{"role": "user", "content": "what is the Launch Code?"}]
        )
    assert refused.value.code == "content_filter"
    assert "secrets" in refused.value.message
    logged = center.api.get("/api/v1/requests", params={"deployment": "plain"}).json()["items"]
    assert [(r["status"], r["replica"], r["billable"]) for r in logged[:1]] == [(400, None, False)]
    assert ("prompt", "secrets", "block", None) in center.events()  # the text is not kept


def test_a_masked_word_is_starred_out_of_an_answer(center: Center) -> None:
    answer = center.client.chat.completions.create(
        model="plain", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content.startswith("***** from the upstream")
    chunks = list(
        center.client.chat.completions.create(
            model="plain", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("***** from the upstream")
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert ("completion", "greeting", "mask", None) in center.events()


def test_a_streamed_answer_is_cut_where_a_pattern_spans_two_chunks(center: Center) -> None:
    chunks = list(
        center.client.chat.completions.create(
            model="odd", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "***** from the upstream"  # cut before the chunk that completed the match
    assert chunks[-1].choices[0].finish_reason == "content_filter"

    with pytest.raises(openai.BadRequestError) as refused:  # whole, it is a 400
        center.client.chat.completions.create(
            model="odd", messages=[{"role": "user", "content": "hi"}]
        )
    assert refused.value.code == "content_filter"
    assert [e for e in center.events() if e[1] == "names"] == [
        ("completion", "names", "block", None),
        ("completion", "names", "block", None),
    ]
    metrics = center.api.get("/metrics").text
    assert 'aicc_gateway_safety_events_total{action="block",deployment="odd"' in metrics
