"""A need's reward and a challenge's training subsidy paid from the poster's voucher, through the
portal's forms without JavaScript (issue 41): the post form and the challenge form offer the
organization's vouchers with what is left of each; a reward more than is left is the form again
with the amount left; each team formed sees the subsidy it received, or that none was left; in
English and Chinese."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, make_person, signed_in, unique
from portal_support import post_form as post
from portal_support import shown as text

from aicc.testing.datasets import push


def need_form(called: str, reward: str, voucher: str) -> dict[str, str]:
    return {
        "name": called,
        "title": f"Warn of {called}",
        "problem": "Which days need a warning?",
        "metric": "accuracy",
        "deadline": (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
        "reward": reward,
        "data": "",
        "results_owner": "poster",
        "voucher": voucher,
    }


def test_a_voucher_pays_the_reward_and_the_teams_training(
    api: TestClient, alice: Person, bob: Person
) -> None:
    n = unique()
    issued = api.post(
        "/api/v1/vouchers", json={"org_id": alice.org_id, "name": f"city-{n}", "amount": "1000"}
    )
    assert issued.status_code == 201, issued.text
    voucher = issued.json()["id"]
    poster = signed_in(api, alice)

    catalog = text(poster.get("/needs"))
    assert "Pay the reward from" in catalog
    assert f'<option value="{voucher}"' in catalog
    assert f"Voucher city-{n} ({voucher}): 1000.00 CNY left" in catalog

    made = post(poster, "/needs", "/needs", **need_form(f"flood-{n}", "600", voucher))
    assert made.status_code == 303, text(made)
    need_id = made.headers["location"].split("?")[0].rsplit("/", 1)[1]
    page = text(poster.get(f"/needs/{need_id}"))
    assert re.search(rf"600\.00 CNY <[^>]+>held from voucher {voucher}<", page)
    assert f"({voucher}): 400.00 CNY left" in page  # the challenge form's offer
    refused = post(poster, "/needs", "/needs", **need_form(f"storm-{n}", "600", voucher))
    assert refused.status_code == 422, refused.status_code
    assert f"{voucher} has 400.00 CNY left, less than 600.00" in text(refused)

    answers = "x,answer\n" + "".join(f"{i},{'yes' if i % 4 else 'no'}\n" for i in range(40))
    push(api, f"answers-{n}", {"test.csv": answers.encode()}, headers=alice.headers)
    made = post(
        poster,
        f"/needs/{need_id}/challenge",
        f"/needs/{need_id}",
        hidden=f"answers-{n}@1",
        target="answer",
        subsidy_voucher=voucher,
        subsidy_per_team="200",
    )
    assert made.status_code == 303, text(made)
    where = made.headers["location"].split("?")[0]
    assert "200.00 CNY a team, as a voucher valid until the deadline" in text(poster.get(where))

    # Two teams receive 200 each; the third is formed with none left, and is told so.
    carol = make_person(api, f"umbrella-{n}", f"carol-{n}")
    dave = make_person(api, f"initech-{n}", f"dave-{n}")
    for person, team in ((bob, "b"), (carol, "c"), (dave, "d")):
        joined = post(signed_in(api, person), f"{where}/join", where, team=f"{team}-{n}")
        assert joined.status_code == 303, text(joined)
    theirs = text(signed_in(api, bob).get(where))
    mine = api.get("/api/v1/vouchers", headers=bob.headers).json()["items"]
    assert [v["name"] for v in mine] == [f"Training for flood-{n} (b-{n})"]
    assert f"Your team received 200.00 CNY for its training: voucher {mine[0]['id']}" in theirs
    assert re.search(rf"b-{n}</th>.*?200\.00", theirs, re.S)
    last = signed_in(api, dave)
    assert "The poster's voucher had no subsidy left when your team was formed." in text(
        last.get(where)
    )
    assert api.get("/api/v1/vouchers", headers=dave.headers).json()["items"] == []

    last.post("/language", data={"csrf": csrf_of(last), "language": "zh-CN"})
    chinese = text(last.get(where))
    assert "训练补贴" in chinese and "发布方的算力券已无补贴余额" in chinese
    # Another tenant sees that the reward is a voucher's, not which voucher.
    assert "由算力券托管：以算力券奖励" in chinese and voucher not in chinese
