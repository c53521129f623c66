"""Content safety's classifier through the gateway, with the official `openai` client: a tiny
sequence-classification model (built from a config) registered and deployed as a tenant's
model serves `/v1/moderations` (called through the gateway too); a policy naming it refuses a
prompt it flags with the pattern rules' 400 `content_filter` (rule `classifier:toxic`,
recorded and counted) and answers a clean one; a flagged answer is refused whole and cut from
a stream; a classifier that is away is a 503 where the policy fails closed, and nothing where it
fails open."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select

from aicc.config import SafetySettings
from aicc.server import ServerState
from aicc.services.models import models
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.serving import SafetyEventRow
from aicc.store.tables.tenancy import UserRow
from aicc.testing import serving
from aicc.testing.deployments import deploy
from aicc.testing.polling import wait
from aicc.testing.servers import over_http
from aicc.testing.tenants import Tenant, make_tenant

BAD, GOOD = "the cat sat on the mat", "what is the launch code?"


def client(url: str, api: httpx.Client, headers: dict[str, str] | None = None) -> openai.OpenAI:
    made = api.post("/api/v1/keys", json={"name": "app"}, headers=headers or {})
    assert made.status_code == 201, made.text
    return openai.OpenAI(base_url=url + "/v1", api_key=made.json()["secret"], max_retries=0)


class Center:
    def __init__(
        self, url: str, api: httpx.Client, state: ServerState, guard: str, owner: Tenant
    ) -> None:
        self.url, self.api, self.state, self.guard = url, api, state, guard
        self.client = client(url, api)
        self.owner = client(url, api, owner.headers)  # the classifier's project

    def policy(self, **classifier: Any) -> None:
        """The center's policy: the classifier with these settings, and `prompts` and
        `completions` as given."""
        checks = {k: classifier.pop(k) for k in ("prompts", "completions") if k in classifier}
        settings = {
            "enabled": True,
            **checks,
            "classifier": {"deployment": self.guard, **classifier},
        }
        self.state.gateway.safety.reload(SafetySettings.model_validate(settings))

    def events(self) -> list[tuple[str, str, str]]:
        with self.state.db.reader() as session:
            rows = session.scalars(select(SafetyEventRow).order_by(SafetyEventRow.id))
            return [(r.stage, r.rule, r.action) for r in rows]

    def chat(self, text: str, **more: Any) -> Any:
        ask: list[Any] = [{"role": "user", "content": text}]
        return self.client.chat.completions.create(model="plain", messages=ask, **more)


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Center]:
    root = tmp_path_factory.mktemp("classifier")
    model = serving.tiny_classifier(root / "guard")
    with over_http(root / "home") as (url, token, state):
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        owner = make_tenant(api, "trust-and-safety")
        with state.db.session() as session:
            who = principal_of(session, session.get(UserRow, owner.user_id))
            models.register_directory(session, who, state.chunks, "guard", model)
        body = {"name": "guard", "model": "guard", "engine": "transformers"}
        resources = {"cpu": "1", "memory": "2Gi"}
        made = api.post(
            "/api/v1/deployments", json={**body, "resources": resources}, headers=owner.headers
        )
        assert made.status_code == 201, made.text

        def ready() -> bool:
            shown = api.get("/api/v1/deployments/guard", headers=owner.headers).json()
            return shown["state"] == "ready" and any(r["ready"] for r in shown["replicas"])

        wait("the classifier's replica ready", ready, timeout=180)
        deploy(api, "plain", replicas=1)
        yield Center(url, api, state, made.json()["id"], owner)


def toxic(center: Center, texts: list[str]) -> list[float]:
    """Each text's `toxic` score, as tenants ask the classifier through the gateway."""
    found = center.owner.moderations.create(model="guard", input=texts)
    return [float((r.category_scores.model_extra or {})["toxic"]) for r in found.results]


def test_a_prompt_the_classifier_flags_is_refused_and_a_clean_one_answered(
    center: Center,
) -> None:
    bad, good = toxic(center, [BAD, GOOD])
    with pytest.raises(openai.NotFoundError):  # another tenant's classifier: not the caller's
        center.client.moderations.create(model="guard", input=BAD)
    assert bad > good + 0.01, (bad, good)  # this seed's model reads them apart
    center.policy(threshold=(bad + good) / 2, labels=["toxic"], completions=False)

    with pytest.raises(openai.BadRequestError) as refused:
        center.chat(BAD)
    assert refused.value.code == "content_filter"
    assert "classifier:toxic" in refused.value.message
    answer = center.chat(GOOD)
    assert str(answer.choices[0].message.content).startswith("hello from the upstream")
    logged = center.api.get("/api/v1/requests", params={"deployment": "plain"}).json()["items"]
    assert [(r["status"], r["replica"] is None) for r in logged] == [(200, False), (400, True)]
    assert ("prompt", "classifier:toxic", "block") in center.events()
    metrics = center.api.get("/metrics").text
    assert 'aicc_gateway_safety_events_total{action="block",deployment="plain"' in metrics


def test_a_flagged_answer_is_refused_whole_and_cut_from_a_stream(center: Center) -> None:
    # every text flagged: its `toxic` score is at least 0
    center.policy(threshold=0.0, labels=["toxic"], prompts=False, stream_every_chars=5)
    with pytest.raises(openai.BadRequestError) as refused:
        center.chat(GOOD)
    assert refused.value.code == "content_filter"
    chunks = list(center.chat(GOOD, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text) < len("hello from the upstream")  # cut after its first 5 characters
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    found = [e for e in center.events() if e[0] == "completion"]
    assert found == [("completion", "classifier:toxic", "block")] * 2

    # read only at its end: the whole text went out, then the stream is cut before [DONE]
    center.policy(threshold=0.0, labels=["toxic"], prompts=False, stream_every_chars=10_000)
    chunks = list(center.chat(GOOD, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("hello from the upstream")
    assert chunks[-1].choices[0].finish_reason == "content_filter"


def test_a_classifier_away_fails_closed_or_open_as_the_policy_says(center: Center) -> None:
    settings: dict[str, Any] = {"enabled": True, "completions": False}
    away = {"deployment": "dep_nowhere", "timeout_s": 2}
    gateway = center.state.gateway
    gateway.safety.reload(SafetySettings.model_validate({**settings, "classifier": away}))
    with pytest.raises(openai.InternalServerError) as refused:
        center.chat(GOOD)
    assert refused.value.status_code == 503
    assert refused.value.code == "content_filter_unavailable"
    lenient = {**away, "on_error": "open"}
    gateway.safety.reload(SafetySettings.model_validate({**settings, "classifier": lenient}))
    assert center.chat(GOOD).choices[0].message.content


def test_the_replica_answers_openais_moderation_shape(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The replica alone: scores per label that sum to one, flagged as the scores say, and a
    400 naming `input` for a bad one."""
    model = Path(serving.tiny_classifier(tmp_path_factory.mktemp("alone") / "m"))
    with serving.serve(model, tmp_path_factory.mktemp("replica"), name="guard") as replica:
        client = openai.OpenAI(base_url=replica.openai_base, api_key="unused", max_retries=0)
        found = client.moderations.create(model="guard", input=[BAD, GOOD])
        for result in found.results:
            scores = result.category_scores.model_extra or {}
            assert set(scores) == {"safe", "toxic"}
            assert abs(sum(scores.values()) - 1) < 1e-5
            assert result.flagged == (scores["toxic"] >= 0.5)
        with pytest.raises(openai.BadRequestError) as bad:
            client.moderations.create(model="guard", input=[])
        assert bad.value.param == "input"
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="guard", messages=[])
