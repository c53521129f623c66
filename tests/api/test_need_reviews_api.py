"""Needs are rated and ranked like templates, models and data sets (issue 41): the
organizations that took part in a need (asked, joined a team of its challenge) rate it, anyone
else is refused with a sentence saying who may, the poster's organization is refused too; the
catalog lists needs newest first, by rating or by use (how many organizations took part), through
the API, the SDK and the CLI; a review's text is plain text of at most 2000 characters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.sdk.client import Client
from aicc.sdk.errors import ApiError
from aicc.testing.datasets import push
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant


def test_needs_are_rated_by_those_who_took_part_and_ranked(tmp_path: Path) -> None:
    with (
        over_http(tmp_path / "home", loops=False) as (url, token, _state),
        httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}) as api,
    ):
        tenants = {name: make_tenant(api, name) for name in ("alpha", "beta", "gamma", "delta")}
        city_t = make_tenant(api, "city", role="org_admin")
        clients = {
            name: httpx.Client(timeout=60, base_url=url, headers=t.headers)
            for name, t in {**tenants, "city": city_t}.items()
        }
        alpha, beta, gamma, delta, city = (
            clients[n] for n in ("alpha", "beta", "gamma", "delta", "city")
        )
        try:
            deadline = (datetime.now(UTC) + timedelta(days=7)).isoformat()
            for name in ("n-old", "n-mid", "n-new", "n-none"):  # posted in this order
                made = city.post(
                    "/api/v1/needs",
                    json={
                        "name": name,
                        "title": f"Need {name}",
                        "problem": "p",
                        "metric": "accuracy",
                        "deadline": deadline,
                    },
                )
                assert made.status_code == 201, made.text
            push(city, "answers", {"test.csv": b"x,answer\n1,yes\n2,no\n3,yes\n"})
            challenge = city.post(
                "/api/v1/needs/n-new/challenge", json={"hidden": "answers@1", "target": "answer"}
            )
            assert challenge.status_code == 201, challenge.text

            def path(need: str) -> str:
                return f"/api/v1/needs/{need}/reviews?org=city"

            def rate(who: httpx.Client, need: str, rating: int, text: str = "") -> httpx.Response:
                return who.put(path(need), json={"rating": rating, "text": text})

            # Nobody took part yet: a sentence says who may rate; the poster may not at all.
            refused = rate(delta, "n-old", 5)
            assert refused.status_code == 403
            assert refused.json()["detail"] == (
                "only organizations that took part in need n-old (asked a question, joined a "
                "team of its challenge or made an offer) may rate it"
            )
            own = rate(city, "n-old", 5)
            assert own.status_code == 409 and "cannot rate its own need" in own.json()["detail"]

            # Taking part: alpha asks on two needs, beta on one, gamma joins n-new's challenge.
            for who, need in ((alpha, "n-old"), (alpha, "n-mid"), (beta, "n-mid")):
                asked = who.post(
                    f"/api/v1/needs/{need}/questions?org=city", json={"text": "How big?"}
                )
                assert asked.status_code == 201, asked.text
            joined = gamma.post(
                f"/api/v1/challenges/{challenge.json()['id']}/join", json={"team": "g"}
            )
            assert joined.status_code == 200, joined.text

            assert rate(alpha, "n-old", 1, "first thoughts").status_code == 200
            again = rate(alpha, "n-old", 3, "Answers came in a day.")  # replaces the first
            assert again.status_code == 200 and again.json()["rating"] == 3
            assert rate(alpha, "n-mid", 5).status_code == 200
            assert rate(beta, "n-mid", 4, "Clear data.").status_code == 200
            assert rate(gamma, "n-new", 5, "A fair board.").status_code == 200
            assert rate(gamma, "n-old", 5).status_code == 403  # gamma took part in n-new only
            assert rate(delta, "n-new", 1).status_code == 403

            # Anyone reads a need's reviews, the newest first.
            got = delta.get(path("n-mid"))
            assert got.status_code == 200, got.text
            reviews = got.json()
            assert (reviews["rating"], reviews["ratings"]) == (4.5, 2)
            assert [(r["user"], r["rating"]) for r in reviews["reviews"]] == [
                ("beta-user", 4),
                ("alpha-user", 5),
            ]
            old = delta.get(path("n-old")).json()
            assert (old["rating"], old["ratings"]) == (3.0, 1)
            assert old["reviews"][0]["text"] == "Answers came in a day."

            # The catalog's three orders; each need says its rating and use.
            def names(sort: str | None) -> list[str]:
                params = {"sort": sort} if sort else {}
                got = delta.get("/api/v1/needs", params=params)
                assert got.status_code == 200, got.text
                return [n["name"] for n in got.json()["items"]]

            assert names(None) == names("newest") == ["n-none", "n-new", "n-mid", "n-old"]
            assert names("rating") == ["n-new", "n-mid", "n-old", "n-none"]
            # use: n-mid (alpha, beta) first; n-new and n-old (one each) by rating; n-none last
            assert names("use") == ["n-mid", "n-new", "n-old", "n-none"]
            shown = {n["name"]: n for n in delta.get("/api/v1/needs").json()["items"]}
            assert {k: (v["rating"], v["ratings"], v["uses"]) for k, v in shown.items()} == {
                "n-none": (None, 0, 0),
                "n-new": (5.0, 1, 1),
                "n-mid": (4.5, 2, 2),
                "n-old": (3.0, 1, 1),
            }
            one = delta.get("/api/v1/needs/n-mid?org=city").json()
            assert (one["rating"], one["ratings"], one["uses"]) == (4.5, 2, 2)
            bad = delta.get("/api/v1/needs", params={"sort": "stars"})
            assert bad.status_code == 422 and "one of newest, rating, use" in bad.json()["detail"]

            # Hostile reviews: control characters, NUL, too long, a rating out of 1 to 5.
            for body in (
                {"rating": 4, "text": "ring \x07 the bell"},
                {"rating": 4, "text": "a \x1b[31m red \x1b[0m review"},
                {"rating": 4, "text": "nul\x00"},
                {"rating": 4, "text": "x" * 2001},
                {"rating": 6},
                {"rating": 0},
            ):
                hostile = alpha.put(path("n-old"), json=body)
                assert hostile.status_code == 422, (body, hostile.text)
                named = "text" if "text" in body else "rating"
                assert named in hostile.text, hostile.text
            lines = alpha.put(path("n-old"), json={"rating": 2, "text": "two\nlines\tand a tab"})
            assert lines.status_code == 200, lines.text
            assert delta.get(path("n-old")).json()["rating"] == 2.0

            # The SDK reads the same views, and the CLI sorts and rates.
            sdk = Client(url, tenants["beta"].token)
            assert [n.name for n in sdk.needs.list(sort="rating")][:2] == ["n-new", "n-mid"]
            assert sdk.needs.reviews("n-mid", org="city").ratings == 2
            with pytest.raises(ApiError) as refused_sdk:  # beta took no part in n-new
                sdk.needs.review("n-new", 5, org="city")
            assert refused_sdk.value.status_code == 403
            cli = {"AICC_SERVER": url, "AICC_TOKEN": tenants["beta"].token, "COLUMNS": "250"}

            def run(*args: str) -> str:
                done = CliRunner().invoke(app, list(args), env=cli)
                assert done.exit_code == 0, done.output
                return done.stdout + done.stderr

            listed = json.loads(run("need", "list", "--sort", "use", "--json"))
            assert [n["name"] for n in listed["items"]] == ["n-mid", "n-new", "n-old", "n-none"]
            assert "4.5 (2)" in run("need", "list", "--sort", "rating")
            said = run("need", "review", "n-mid", "--org", "city", "--rating", "3", "--text", "ok")
            assert "rated n-mid 3 of 5" in said
            table = run("need", "reviews", "n-mid", "--org", "city")
            assert "rating 4 of 5 (2 ratings)" in table and "beta-user" in table
            refused_cli = CliRunner().invoke(
                app, ["need", "review", "n-new", "--org", "city", "--rating", "4"], env=cli
            )
            assert refused_cli.exit_code == 1
            assert "only organizations that took part" in refused_cli.stderr
        finally:
            for client in clients.values():
                client.close()
