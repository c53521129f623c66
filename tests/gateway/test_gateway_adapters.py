"""`model: "BASE:NAME"` through the gateway, with the official `openai` client against a real
server in front of real replica jobs (`aicc/testing/upstream.py`, which answers as a serving
replica does which adapter it used): the request goes to deployment BASE, with the caller's
project as the tenant; the replica that holds the adapter gets its requests; the log carries
the adapter, so a deployment's tokens split per adapter. The replica's side (which adapters a
tenant may use) is tests/serving/test_adapters_served.py's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import openai
import pytest
from sqlalchemy import select

from aicc.gateway.affinity import Holdings, choose
from aicc.server import ServerState
from aicc.services.billing import meter
from aicc.services.common import utcnow
from aicc.services.serving import metering as request_metering
from aicc.services.telemetry.samples import Measured
from aicc.store.tables.billing import UsageRow
from aicc.testing.deployments import deploy
from aicc.testing.servers import over_http

USER: openai.types.chat.ChatCompletionUserMessageParam = {"role": "user", "content": "hi"}


@pytest.fixture(scope="module")
def center(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, httpx.Client, ServerState]]:
    home = tmp_path_factory.mktemp("center") / "home"
    with over_http(home, limits={"grace_s": 1.0}) as (url, token, state):
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        deploy(api, "chat", replicas=2)  # type: ignore[arg-type]
        yield url, api, state


def test_an_adapters_requests_go_where_it_is_held_and_are_logged_with_it(
    center: tuple[str, httpx.Client, ServerState],
) -> None:
    url, api, state = center
    made = api.post("/api/v1/keys", json={"name": "adapters"})
    assert made.status_code == 201, made.text
    # a client's own tenant header never reaches a replica: the gateway names the key's project
    client = openai.OpenAI(
        base_url=url + "/v1",
        api_key=made.json()["secret"],
        max_retries=0,
        default_headers={"x-aicc-tenant": "prj_someone_else"},
    )

    def replica(model: str) -> str:
        answer = client.chat.completions.create(model=model, messages=[USER])
        return str(answer.choices[0].message.content).split()[-1]  # the upstream's job id

    plain = {replica("chat") for _ in range(4)}
    assert len(plain) == 2  # without an adapter: least loaded, ties in turn
    held = {replica("chat:ada") for _ in range(4)}
    assert len(held) == 1  # the replica that answered first holds it: every request goes there
    project = made.json()["project_id"]
    learnt = state.gateway.holdings.keys  # what the replica said it used, as which tenant
    said = {(tenant, key) for (_, tenant, _), key in learnt.items()}
    assert said == {(project, f"{project}/ada")}
    rows = api.get("/api/v1/requests", params={"deployment": "chat"}).json()["items"]
    by_adapter: dict[str | None, int] = {}
    for row in rows:
        by_adapter[row["adapter"]] = by_adapter.get(row["adapter"], 0) + row["completion_tokens"]
    assert by_adapter == {None: 4 * 5, "ada": 4 * 5}  # tokens split per adapter
    # Once the hour has closed, the meter's usage records split per adapter too.
    with state.db.session() as session:
        zone = state.settings.site.timezone
        books = meter.Meter(session, zone=zone, power=meter.PowerModel(), samples=Measured(session))
        request_metering.meter(session, books, utcnow() + timedelta(hours=2))
    with state.db.reader() as session:
        records = session.scalars(select(UsageRow).where(UsageRow.kind == "requests")).all()
        split: dict[str | None, tuple[int, int]] = {}
        for r in records:  # one record per adapter and clock hour
            was = split.get(r.adapter, (0, 0))
            split[r.adapter] = (was[0] + r.requests, was[1] + r.completion_tokens)
    assert split == {None: (4, 20), "ada": (4, 20)}
    with pytest.raises(openai.NotFoundError):  # the base must be a deployment of the project
        client.chat.completions.create(model="nothing:ada", messages=[])


def test_a_holder_loaded_beyond_the_slack_is_passed_over() -> None:
    a, b = ("job-a", "http://a"), ("job-b", "http://b")
    load = {"http://a": 3, "http://b": 0}
    assert choose([a, b], load.__getitem__, frozenset({"http://a"}), 3, 0) == a
    assert choose([a, b], load.__getitem__, frozenset({"http://a"}), 2, 0) == b
    assert choose([a, b], load.__getitem__, frozenset(), 2, 0) == b  # held nowhere: least loaded
    holdings = Holdings()
    holdings.learn("dep", "prj", "ada", "http://a", {"x-aicc-adapter": "prj/ada"})
    assert holdings.holders("dep", "prj", "ada") == {"http://a"}
    assert holdings.holders("dep", "other", "ada") == frozenset()  # another tenant's NAME
    holdings.learn("dep", "prj", None, "http://a", {"x-aicc-adapters-evicted": "x,prj/ada"})
    assert holdings.holders("dep", "prj", "ada") == frozenset()
    # a replica's word on another name than the one asked is not taken
    holdings.learn("dep", "prj", "bob", "http://b", {"x-aicc-adapter": "prj/ada"})
    assert holdings.holders("dep", "prj", "bob") == frozenset()
