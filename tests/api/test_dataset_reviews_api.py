"""Ratings of data sets (issue 41) as a client sees them, on SQLite and PostgreSQL: a rating and
its average in the listing and the set, a second rating replacing the first, a bad rating a 422
naming the field, another tenant's private set a 404 and a public one rated by anyone, and the
listing sorted by rating and by use (how many jobs mounted a set)."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from aicc.api.state import AppState
from aicc.store.db import MIGRATIONS
from aicc.store.tables.data import DatasetMountRow
from aicc.testing.datasets import push
from aicc.testing.jobs import submit
from aicc.testing.tenants import Tenant

D = "/api/v1/datasets"


def listed(api: TestClient, query: str = "", **headers: str) -> list[dict[str, Any]]:
    answer = api.get(f"{D}{query}", headers=headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def rated(item: dict[str, Any]) -> tuple[Any, ...]:
    return item["rating"], item["ratings"], item["uses"]


def test_a_rating_shows_in_the_listing_and_the_set_and_a_second_replaces_the_first(
    api: TestClient,
) -> None:
    push(api, "corpus", {"a.txt": b"rows\n"})
    assert rated(api.get(f"{D}/corpus").json()) == (None, 0, 0)
    assert api.get(f"{D}/corpus/reviews").json() == {"rating": None, "ratings": 0, "reviews": []}

    first = api.put(f"{D}/corpus/reviews", json={"rating": 2, "text": "sparse"})
    assert first.status_code == 200, first.text
    assert (first.json()["user"], first.json()["rating"]) == ("admin", 2)
    again = api.put(f"{D}/corpus/reviews", json={"rating": 4, "text": "  better at v2  "})
    assert again.status_code == 200 and again.json()["text"] == "better at v2"

    shown = api.get(f"{D}/corpus/reviews").json()
    assert (shown["rating"], shown["ratings"]) == (4.0, 1)  # replaced, not added
    assert [(r["user"], r["rating"], r["text"]) for r in shown["reviews"]] == [
        ("admin", 4, "better at v2")
    ]
    assert rated(api.get(f"{D}/corpus").json()) == (4.0, 1, 0)
    assert [rated(d) for d in listed(api)] == [(4.0, 1, 0)]
    changed = api.patch(f"{D}/corpus", json={"description": "still rated"}).json()
    assert rated(changed) == (4.0, 1, 0)  # an answer that describes the set says it too

    for bad in (0, 6, "x", 2.5, None):
        refused = api.put(f"{D}/corpus/reviews", json={"rating": bad})
        assert refused.status_code == 422, (bad, refused.text)
        assert "rating" in str(refused.json()["detail"]), refused.text
    long = api.put(f"{D}/corpus/reviews", json={"rating": 3, "text": "x" * 2001})
    assert long.status_code == 422 and "text" in str(long.json()["detail"])
    assert api.get(f"{D}/corpus/reviews").json()["rating"] == 4.0  # nothing changed
    assert api.put(f"{D}/no-such-set/reviews", json={"rating": 3}).status_code == 404
    audit = api.get("/api/v1/audit", params={"action": "review.put"}).json()["items"]
    set_id = api.get(f"{D}/corpus").json()["id"]
    assert [(e["object_type"], e["object_id"], e["detail"]) for e in audit] == [
        ("review", set_id, {"rating": 4}),
        ("review", set_id, {"rating": 2}),
    ]


def test_another_tenant_rates_a_public_set_and_never_a_private_one(
    api: TestClient, tenant_b: Tenant
) -> None:
    push(api, "private-set", {"a.txt": b"secret rows\n"})
    push(api, "open-set", {"a.txt": b"open rows\n"}, visibility="public")
    api.put(f"{D}/private-set/reviews", json={"rating": 5, "text": "ours"})
    me = api.get("/api/v1/me").json()
    where = f"{me['org']['name']}/default"
    b = tenant_b.headers

    for query in (
        "",
        f"?project={where}",
        f"?project={api.get(f'{D}/private-set').json()['project_id']}",
    ):
        path = f"{D}/private-set/reviews{query}"
        assert api.put(path, json={"rating": 1}, headers=b).status_code == 404, query
        assert api.get(path, headers=b).status_code == 404, query
    assert "private-set" not in {d["name"] for d in listed(api, "?scope=visible&sort=rating", **b)}
    assert api.get(f"{D}/private-set/reviews").json()["reviews"][0]["text"] == "ours"

    # A public set: anyone rates it, by its name alone or as ORG/PROJECT/NAME.
    assert api.put(f"{D}/open-set/reviews", json={"rating": 2}).status_code == 200
    shared = api.put(f"{D}/open-set/reviews?project={where}", json={"rating": 5}, headers=b)
    assert shared.status_code == 200, shared.text
    submit(api, {"command": "true", "datasets": ["open-set"]}, **b)  # B's job counts as a use
    (seen,) = [d for d in listed(api, "?scope=public", **b) if d["name"] == "open-set"]
    assert rated(seen) == (3.5, 2, 1)
    reviews = api.get(f"{D}/open-set/reviews", headers=b).json()
    assert sorted((r["user"], r["rating"]) for r in reviews["reviews"]) == [
        ("admin", 2),
        ("tenant-b-user", 5),
    ]
    assert rated(api.get(f"{D}/open-set").json()) == (3.5, 2, 1)


def test_the_listing_sorts_by_rating_and_by_use(api: TestClient) -> None:
    for name in ("alpha", "beta", "delta", "gamma"):
        push(api, name, {"a.txt": name.encode()})
    push(api, "beta", {"a.txt": b"beta, again"})
    for name, stars in (("alpha", 3), ("beta", 5), ("gamma", 4)):
        assert api.put(f"{D}/{name}/reviews", json={"rating": stars}).status_code == 200
    # alpha is mounted by three jobs, beta by two (one a version each), gamma by one.
    for mounted in (["alpha"], ["alpha", "gamma"], ["alpha", "beta@1"], ["beta@2"]):
        submit(api, {"command": "true", "datasets": mounted})

    def names(query: str = "") -> list[str]:
        return [d["name"] for d in listed(api, query)]

    assert names() == names("?sort=name") == ["alpha", "beta", "delta", "gamma"]
    assert names("?sort=rating") == ["beta", "gamma", "alpha", "delta"]
    assert names("?sort=use") == ["alpha", "beta", "gamma", "delta"]
    assert {d["name"]: d["uses"] for d in listed(api)} == {
        "alpha": 3,
        "beta": 2,
        "delta": 0,
        "gamma": 1,
    }
    assert names("?sort=use&limit=2") == ["alpha", "beta"]
    refused = api.get(f"{D}?sort=stars")
    assert refused.status_code == 422 and "sort" in str(refused.json()["detail"])


def test_an_upgrade_counts_the_mounts_of_jobs_submitted_before(
    server: tuple[TestClient, AppState],
) -> None:
    """Migration 0049 fills the mounts in from the jobs' pins (a center upgraded with jobs that
    mounted sets): the catalog's counts are the same after it."""
    api, state = server
    for name in ("alpha", "beta"):
        push(api, name, {"a.txt": name.encode()})
    push(api, "beta", {"a.txt": b"beta, again"})
    for mounted in (["alpha"], ["alpha", "beta@1"], ["beta@1"], ["beta@2"], []):
        submit(api, {"command": "true", "datasets": mounted})
    before = {d["name"]: d["uses"] for d in listed(api)}
    assert before == {"alpha": 2, "beta": 3}
    state.controller.stop()  # a center migrates with its servers stopped
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", state.db.url.replace("%", "%%"))
    command.downgrade(config, "0048")  # as the release before left it: no mounts kept
    command.upgrade(config, "head")
    with state.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(DatasetMountRow)) == 5
    assert {d["name"]: d["uses"] for d in listed(api)} == before
