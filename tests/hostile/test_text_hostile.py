"""Text a hostile tenant sets, on the real server (issue 57): a probe stored NUL, CR/LF and
right-to-left overrides (U+202E) in need titles and channel names, which then broke logs and
reordered what people read. Every create route that takes a name, a title or a description now
answers a 422 naming the field for each of them (a description keeps its line breaks, and
refuses the rest), stores nothing, and still takes an ordinary Chinese name."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from aicc.testing import templates
from aicc.testing.servers import in_process

CHINESE = "图像分类-训练"
# What a line refuses, and what a description refuses (its line breaks are fine).
IN_A_LINE = {"NUL": "a\x00b", "CRLF": "a\r\nb", "RLO": "report\u202etxt.exe"}
IN_PROSE = {"NUL": "a\x00b", "RLO": "report\u202etxt.exe", "escape": "a\x1b[2Jb"}
SOON = (datetime.now(UTC) + timedelta(days=7)).isoformat()
LATER = (datetime.now(UTC) + timedelta(days=8)).isoformat()


@dataclass(frozen=True)
class Probe:
    """A create route, a body it would take, and where in it the hostile text goes."""

    path: str
    body: dict[str, Any]
    where: tuple[str | int, ...]
    prose: bool = False
    method: str = "POST"

    def with_text(self, text: str) -> dict[str, Any]:
        body: Any = {**self.body}
        whole = body
        for part in self.where[:-1]:  # a copy of each level on the way
            inner = body[part]
            body[part] = inner = {**inner} if isinstance(inner, dict) else [*inner]
            body = inner
        body[self.where[-1]] = text
        return dict(whole)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} {'.'.join(map(str, self.where))}"


NEED = {"name": "sort-mail", "title": "t", "problem": "p", "metric": "accuracy", "deadline": SOON}
PROBES = [
    # tenancy: organizations, projects, users, queues, tokens
    Probe("/api/v1/orgs", {"name": "x"}, ("name",)),
    Probe("/api/v1/orgs", {"name": "x", "display_name": ""}, ("display_name",)),
    Probe("/api/v1/orgs/org_x", {}, ("display_name",), method="PATCH"),
    Probe("/api/v1/projects", {"name": "x"}, ("name",)),
    Probe("/api/v1/users", {"name": "x"}, ("name",)),
    Probe("/api/v1/users", {"name": "x", "email": ""}, ("email",)),
    Probe("/api/v1/queues", {"name": "x"}, ("name",)),
    Probe("/api/v1/tokens", {"name": "x"}, ("name",)),
    # jobs: the spec's name and labels
    Probe("/api/v1/jobs", {"command": "true", "name": "x"}, ("name",)),
    Probe("/api/v1/jobs", {"command": "true", "labels": {"team": "x"}}, ("labels", "team")),
    # needs and challenges
    Probe("/api/v1/needs", NEED, ("name",)),
    Probe("/api/v1/needs", NEED, ("title",)),
    Probe("/api/v1/needs", NEED, ("problem",), prose=True),
    Probe("/api/v1/needs/sort-mail/questions", {"text": "x"}, ("text",), prose=True),
    Probe("/api/v1/needs/sort-mail/challenge", {"hidden": "h@1", "target": "y"}, ("target",)),
    Probe("/api/v1/challenges/sort-mail/join", {"team": "x"}, ("team",)),
    Probe("/api/v1/challenges/sort-mail/invite", {"org": "x"}, ("org",)),
    Probe(
        "/api/v1/needs/sort-mail/offers",
        {"kind": "template", "ref": "t", "price": "1", "message": ""},
        ("message",),
        prose=True,
    ),
    Probe("/api/v1/needs/sort-mail/reviews", {"rating": 5}, ("text",), prose=True, method="PUT"),
    # notification channels
    Probe(
        "/api/v1/notify/channels",
        {"name": "x", "kind": "email", "target": "ops@example.com"},
        ("name",),
    ),
    Probe("/api/v1/notify/channels", {"name": "x", "kind": "email"}, ("target",)),
    Probe("/api/v1/notify/channels/chn_x", {}, ("name",), method="PATCH"),
    Probe(
        "/api/v1/notify/channels",
        {"name": "x", "kind": "email", "target": "ops@example.com", "events": ["job.*"]},
        ("events", 0),
    ),
    # data sets, models, templates, deployments, notebooks, keys
    Probe("/api/v1/datasets", {"name": "x"}, ("name",)),
    Probe("/api/v1/datasets", {"name": "x"}, ("description",), prose=True),
    Probe("/api/v1/datasets", {"name": "x"}, ("licence",)),
    Probe("/api/v1/datasets", {"name": "x", "tags": ["a"]}, ("tags", 0)),
    Probe("/api/v1/datasets/d", {}, ("source",), method="PATCH"),
    Probe("/api/v1/models/m/versions", {"job_id": "job_x"}, ("card",), prose=True),
    Probe("/api/v1/models/m", {}, ("description",), prose=True, method="PATCH"),
    Probe("/api/v1/templates", {"files": {}}, ("description",), prose=True),
    Probe("/api/v1/deployments", {"name": "x", "command": "true"}, ("name",)),
    Probe("/api/v1/deployments", {"name": "d", "command": "true"}, ("image",)),
    Probe(
        "/api/v1/templates/credit-risk/runs", {"columns": {"target": "y"}}, ("columns", "target")
    ),
    Probe("/api/v1/notebooks", {"name": "x"}, ("name",)),
    Probe("/api/v1/keys", {"name": "x"}, ("name",)),
    # the center's: maintenance, leases, the books, the power cap
    Probe(
        "/api/v1/maintenance",
        {"nodes": ["n1"], "from": SOON, "to": LATER},
        ("reason",),
        prose=True,
    ),
    Probe("/api/v1/leases", {"org": "o", "nodes": ["n1"], "from": SOON, "to": LATER}, ("plan",)),
    Probe("/api/v1/vouchers", {"org_id": "org_x", "amount": "10"}, ("name",)),
    Probe("/api/v1/subsidies", {"rate": "0.5"}, ("name",)),
    Probe("/api/v1/price-plans", {"effective_from": "2030-01-01T00:00:00Z"}, ("name",)),
    Probe(
        "/api/v1/bills/adjustments",
        {"org_id": "org_x", "month": "2030-01", "amount": "1"},
        ("description",),
    ),
    Probe("/api/v1/center/power-cap/events", {"cap_kw": 100}, ("note",)),
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One server for the module: the probes change nothing, the ordinary names add theirs."""
    with in_process(tmp_path_factory.mktemp("text") / "home") as (client, _state):
        yield client


CASES = [
    pytest.param(probe, text, id=f"{probe.id} {kind}")
    for probe in PROBES
    for kind, text in (IN_PROSE if probe.prose else IN_A_LINE).items()
]


@pytest.mark.parametrize(("probe", "text"), CASES)
def test_hostile_text_is_a_422_naming_the_field(api: TestClient, probe: Probe, text: str) -> None:
    answer = api.request(probe.method, probe.path, json=probe.with_text(text))
    assert answer.status_code == 422, answer.text
    places = [tuple(problem["loc"]) for problem in answer.json()["detail"]]
    assert ("body", *probe.where) in places, answer.text


def test_a_template_titled_with_an_override_is_refused_naming_it(api: TestClient) -> None:
    files = templates.own("sly-mean")
    manifest = yaml.safe_load(files["template.yaml"])
    for text in IN_A_LINE.values():
        manifest["title"]["en"] = text
        sly = {**files, "template.yaml": yaml.safe_dump(manifest, allow_unicode=True)}
        answer = api.post("/api/v1/templates", json={"files": sly})
        assert answer.status_code == 422, answer.text
        said = answer.json()["detail"]
        assert said.startswith("template.yaml: title.en: must be one line"), said


def test_a_description_keeps_its_line_breaks_and_says_what_to_fix(api: TestClient) -> None:
    answer = api.post("/api/v1/needs", json={**NEED, "problem": "one\r\ntwo\u202e"})
    [problem] = answer.json()["detail"]
    assert problem["loc"] == ["body", "problem"]
    assert problem["msg"] == (
        "Value error, must not hold control characters or direction overrides (line breaks "
        "and tabs are fine): remove U+202E at character 9"
    )
    assert api.post("/api/v1/needs", json={**NEED, "problem": "one\r\n\ttwo"}).status_code == 201


def test_ordinary_chinese_names_still_pass_and_nothing_hostile_was_kept(
    api: TestClient,
) -> None:
    made = {
        "need": api.post(
            "/api/v1/needs", json={**NEED, "name": "classify-images", "title": CHINESE}
        ),
        "channel": api.post(
            "/api/v1/notify/channels",
            json={"name": CHINESE, "kind": "email", "target": "ops@example.com"},
        ),
        "token": api.post("/api/v1/tokens", json={"name": CHINESE}),
        "org": api.post("/api/v1/orgs", json={"name": "imaging", "display_name": CHINESE}),
        "data set": api.post(
            "/api/v1/datasets",
            json={"name": "images", "description": f"{CHINESE}\r\n第二行", "tags": [CHINESE]},
        ),
        "job": api.post("/api/v1/jobs", json={"command": "true", "labels": {"任务": CHINESE}}),
    }
    for what, answer in made.items():
        assert answer.status_code == 201, (what, answer.text)
    assert made["need"].json()["title"] == CHINESE
    assert made["channel"].json()["name"] == CHINESE
    assert made["job"].json()["spec"]["labels"] == {"任务": CHINESE}
    # the probes above stored nothing: every title and name listed is clean
    titles = [n["title"] for n in api.get("/api/v1/needs").json()["items"]]
    names = [c["name"] for c in api.get("/api/v1/notify/channels").json()["items"]]
    for text in [*titles, *names]:
        assert not any(bad in text for bad in ("\x00", "\r", "\n", "\u202e", "\x1b")), text
