"""Needs and challenges through the API (issue 41): a city office posts a need with a public
training table, a hidden test set and a reward held in escrow; two teams train with AICC's
table-prediction template on the public part and submit their models; AICC scores each on the
hidden rows in a job of its own, which neither team can see, and no byte of the hidden rows
reaches them; the public board ranks them while the challenge runs, the private board opens at
the deadline, the award moves the reward to the winners' organizations as vouchers exactly
once, and the escrow and what comes back of it are on the poster's invoice."""

from __future__ import annotations

import csv
import io
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

from aicc.store.tables.needs import ChallengeRow, ChallengeSubmissionRow, NeedRow
from aicc.testing.datasets import push
from aicc.testing.jobs import wait_state
from aicc.testing.polling import wait
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant


def days(n: int, seed: int) -> bytes:
    """A table of daily weather with a class to learn from the other columns."""
    rnd = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["temperature", "humidity", "wind", "weather"])
    for _ in range(n):
        temp, hum = round(rnd.uniform(-5, 35), 1), round(rnd.uniform(10, 100), 1)
        weather = "rain" if hum > 70 else ("fog" if temp < 5 else "sun")
        writer.writerow([temp, hum, rnd.choice(["calm", "breeze", "gale"]), weather])
    return out.getvalue().encode()


def train(team: httpx.Client, data: str, model: str, budget: float) -> str:
    """A team's own template run on the need's public data, registered as its model; the
    run's job id."""
    run = team.post(
        "/api/v1/templates/table-prediction/runs",
        json={
            "data": data,
            "model": model,
            "columns": {"target": "weather"},
            "params": {"time_budget_s": budget},
        },
    )
    assert run.status_code == 201, run.text
    job = wait_state(team, run.json()["id"], {"succeeded", "failed"}, timeout=300)
    assert job["state"] == "succeeded", team.get(f"/api/v1/jobs/{job['id']}/logs").text
    for _ in range(150):
        if team.get(f"/api/v1/models/{model}/versions/1").status_code == 200:
            return str(job["id"])
        time.sleep(0.2)
    raise AssertionError(f"model {model} was never registered")


def scored(team: httpx.Client, challenge: str, submission_id: str) -> dict[str, Any]:
    for _ in range(900):
        got = team.get(f"/api/v1/challenges/{challenge}/submissions")
        assert got.status_code == 200, got.text
        (found,) = [s for s in got.json() if s["id"] == submission_id]
        if found["state"] != "scoring":
            return dict(found)
        time.sleep(0.2)
    raise AssertionError(f"never scored: {found}")


def test_a_challenge_from_need_to_award(tmp_path: Path) -> None:
    with (
        over_http(tmp_path / "home") as (url, token, state),
        httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}) as api,
    ):
        city_t = make_tenant(api, "city", role="org_admin")  # publishes its training table
        alpha_t, beta_t = make_tenant(api, "alpha"), make_tenant(api, "beta")
        make_tenant(api, "gamma")  # invited into alpha's team, never joins
        with (
            httpx.Client(timeout=60, base_url=url, headers=city_t.headers) as city,
            httpx.Client(timeout=60, base_url=url, headers=alpha_t.headers) as alpha,
            httpx.Client(timeout=60, base_url=url, headers=beta_t.headers) as beta,
        ):
            # The city office's data: a public table to learn from, a private one with answers.
            push(city, "weather-train", {"train.csv": days(300, 1)}, visibility="public")
            hidden_rows = days(120, 2)
            push(city, "weather-hidden", {"test.csv": hidden_rows})
            private = city.post(
                "/api/v1/needs",
                json={
                    "name": "rain-alert",
                    "title": "Predict tomorrow's weather",
                    "problem": "Which days bring rain, fog or sun?",
                    "metric": "accuracy",
                    "deadline": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
                    "reward": "5000",
                    "data": "weather-hidden@1",
                },
            )
            assert private.status_code == 422 and "is not public" in private.json()["detail"]
            made = city.post(
                "/api/v1/needs",
                json={
                    "name": "rain-alert",
                    "title": "Predict tomorrow's weather",
                    "problem": "Which days bring rain, fog or sun? 哪天下雨？",
                    "metric": "accuracy",
                    "deadline": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
                    "reward": "5000",
                    "data": "weather-train@1",
                    "terms": {"results_owner": "poster"},
                },
            )
            assert made.status_code == 201, made.text
            need = made.json()
            assert need["data"].endswith("/weather-train@1") and need["state"] == "open"
            assert need["reward"] == "5000.00" and not need["challenge"]

            # Everyone finds it in the catalog, asks, and reads the public answer.
            listed = alpha.get("/api/v1/needs", params={"q": "RAIN"}).json()["items"]
            assert [n["name"] for n in listed] == ["rain-alert"]
            assert beta.get("/api/v1/needs", params={"q": "snow"}).json()["items"] == []
            asked = alpha.post(
                "/api/v1/needs/rain-alert/questions",
                params={"org": "city"},
                json={"text": "Is humidity in percent?"},
            )
            assert asked.status_code == 201, asked.text
            assert beta.get("/api/v1/needs/rain-alert/questions?org=city").json() == []
            answered = city.post(
                f"/api/v1/needs/rain-alert/questions/{asked.json()['id']}/answer",
                json={"text": "Yes, 0 to 100."},
            )
            assert answered.status_code == 200, answered.text
            (seen,) = beta.get("/api/v1/needs/rain-alert/questions?org=city").json()
            assert seen["answer"] == "Yes, 0 to 100." and seen["org"] == "alpha"
            assert (
                alpha.post(
                    f"/api/v1/needs/rain-alert/questions/{asked.json()['id']}/answer",
                    params={"org": "city"},
                    json={"text": "I answer myself"},
                ).status_code
                == 403
            )

            # The need becomes a challenge on the hidden rows.
            assert (
                alpha.post(
                    f"/api/v1/needs/{need['id']}/challenge",
                    json={"hidden": "weather-hidden@1", "target": "weather"},
                ).status_code
                == 403
            )
            bad = city.post(
                "/api/v1/needs/rain-alert/challenge",
                json={"hidden": "weather-hidden@1", "target": "rainfall"},
            )
            assert bad.status_code == 422 and "no column rainfall" in bad.json()["detail"]
            made = city.post(
                "/api/v1/needs/rain-alert/challenge",
                json={"hidden": "weather-hidden@1", "target": "weather", "per_day": 2},
            )
            assert made.status_code == 201, made.text
            challenge = made.json()
            cid = challenge["id"]
            assert challenge["rows"] == 120 and challenge["hidden"] == "weather-hidden@1:test.csv"
            assert alpha.get(f"/api/v1/challenges/{cid}").json()["hidden"] is None

            # Two teams: alpha (which invites gamma, who never joins) and beta; the poster
            # cannot compete, and beta cannot slip into alpha's team uninvited.
            def join(team: httpx.Client, name: str) -> int:
                return team.post(f"/api/v1/challenges/{cid}/join", json={"team": name}).status_code

            assert join(alpha, "alpha") == 200 and join(beta, "alpha") == 409
            assert join(beta, "beta") == 200 and join(city, "c") == 409
            invited = alpha.post(f"/api/v1/challenges/{cid}/invite", json={"org": "gamma"})
            assert invited.status_code == 200 and invited.json()["invited"] == ["gamma"]
            again = alpha.post(f"/api/v1/challenges/{cid}/invite", json={"org": "beta"})
            assert again.status_code == 409 and "in a team already" in again.text

            # Each trains on the public part with its own compute and submits its model: alpha
            # names the model, beta the template run that made it (another's run is a 404).
            train(alpha, need["data"], "alpha-model", 5)
            run = train(beta, need["data"], "beta-model", 5)
            stolen = alpha.post(f"/api/v1/challenges/{cid}/submissions", json={"model": run})
            assert stolen.status_code == 404, stolen.text
            ids = {}
            for team, model in ((alpha, "alpha-model"), (beta, run)):
                sent = team.post(f"/api/v1/challenges/{cid}/submissions", json={"model": model})
                assert sent.status_code == 201, sent.text
                assert sent.json()["state"] == "scoring"
                ids[model.replace(run, "beta-model")] = sent.json()["id"]
            results = {
                m: scored(t, cid, ids[m]) for t, m in ((alpha, "alpha-model"), (beta, "beta-model"))
            }
            for result in results.values():
                assert result["state"] == "scored", result
                assert 0.5 < result["public_score"] <= 1.0 and result["private_score"] is None

            # The hidden rows never reach a team: not the poster's set, not the inputs the
            # scoring job read, not the job, its logs or its outputs.
            with state.db.session() as session:
                inputs = session.get(ChallengeRow, cid).inputs
                job_ids = [
                    s.job_id
                    for s in session.query(ChallengeSubmissionRow).filter_by(challenge_id=cid)
                ]
            org, project, rest = inputs.split("/")
            name, version = rest.split("@")
            for team in (alpha, beta):
                for path in (
                    "/api/v1/datasets/weather-hidden?project=city/default",
                    f"/api/v1/datasets/{name}/versions/{version}?project={org}/{project}",
                    f"/api/v1/datasets/{name}/versions/{version}/preview?project={org}/{project}",
                ):
                    assert team.get(path).status_code == 404, path
                for job_id in job_ids:
                    assert team.get(f"/api/v1/jobs/{job_id}").status_code == 404
                    assert team.get(f"/api/v1/jobs/{job_id}/logs").status_code == 404
                    assert team.get(f"/api/v1/jobs/{job_id}/outputs").status_code == 404
                mine = team.get("/api/v1/jobs").json()["items"]
                assert not {j["id"] for j in mine} & set(job_ids)
                answers = team.get(f"/api/v1/challenges/{cid}/submissions").text
                assert hidden_rows.decode().splitlines()[1] not in answers

            # The public board ranks both; the private one waits for the deadline.
            board = alpha.get(f"/api/v1/challenges/{cid}/board").json()
            assert {s["team"] for s in board["standings"]} == {"alpha", "beta"}
            assert [s["rank"] for s in board["standings"]] == [1, 2]
            assert all(s["lineage"] == {} for s in board["standings"])  # the poster's alone
            poster_view = city.get(f"/api/v1/challenges/{cid}/board").json()["standings"][0]
            assert poster_view["lineage"]["template"] == "table-prediction"
            assert poster_view["lineage"]["compute"]["cpu_core_hours"] > 0
            assert alpha.get(f"/api/v1/challenges/{cid}/board?private=true").status_code == 409
            assert (
                city.post(
                    f"/api/v1/challenges/{cid}/award",
                    json={"awards": [{"team": "alpha", "amount": "1"}]},
                ).status_code
                == 409
            )
            # per_day: 2 a team a day
            again = alpha.post(
                f"/api/v1/challenges/{cid}/submissions", json={"model": "alpha-model"}
            )
            assert again.status_code == 201, again.text
            scored(alpha, cid, again.json()["id"])
            over = alpha.post(
                f"/api/v1/challenges/{cid}/submissions", json={"model": "alpha-model"}
            )
            assert over.status_code == 429 and "2 submissions of today" in over.json()["detail"]

            # The deadline passes: no more submissions; the private board opens.
            with state.db.session() as session:
                session.execute(
                    update(NeedRow)
                    .where(NeedRow.id == need["id"])
                    .values(deadline=datetime.now(UTC) - timedelta(seconds=1))
                )
            late = beta.post(f"/api/v1/challenges/{cid}/submissions", json={"model": "beta-model"})
            assert late.status_code == 409
            private_board = beta.get(f"/api/v1/challenges/{cid}/board?private=true").json()
            assert {s["team"] for s in private_board["standings"]} == {"alpha", "beta"}
            mine = alpha.get(f"/api/v1/challenges/{cid}/submissions").json()
            assert all(s["private_score"] is not None for s in mine)

            # The award: more than the reward is refused; then once, and only once.
            too_much = city.post(
                f"/api/v1/challenges/{cid}/award",
                json={
                    "awards": [
                        {"team": "alpha", "amount": "4000"},
                        {"team": "beta", "amount": "1001"},
                    ]
                },
            )
            assert (
                too_much.status_code == 422 and "more than the reward" in too_much.json()["detail"]
            )
            assert (
                alpha.post(
                    "/api/v1/challenges/rain-alert/award",
                    params={"org": "city"},
                    json={"awards": [{"team": "alpha", "amount": "5000"}]},
                ).status_code
                == 403
            )
            awarded = city.post(
                f"/api/v1/challenges/{cid}/award",
                json={
                    "awards": [
                        {"team": "alpha", "amount": "3000"},
                        {"team": "beta", "amount": "1000"},
                    ]
                },
            )
            assert awarded.status_code == 201, awarded.text
            twice = city.post(
                f"/api/v1/challenges/{cid}/award",
                json={"awards": [{"team": "alpha", "amount": "1000"}]},
            )
            assert twice.status_code == 409
            assert city.get("/api/v1/needs/rain-alert").json()["state"] == "awarded"
            # The terms give the poster the results: each awarded team's best model is the
            # city's, which deploys it as a model API and asks it about tomorrow.
            models = {a["team"]: a["model"] for a in awarded.json()}
            assert models["alpha"].endswith("/rain-alert-alpha@1"), models
            mine = city.get("/api/v1/models/rain-alert-alpha/versions/1").json()
            assert mine["lineage"]["from"].endswith("/alpha-model@1")
            assert mine["lineage"]["template"] == "table-prediction"
            assert (
                alpha.get("/api/v1/models/rain-alert-alpha?project=city/default").status_code == 404
            )
            made = city.post(
                "/api/v1/deployments", json={"name": "rain", "model": "rain-alert-alpha"}
            )
            assert made.status_code == 201, made.text
            wait(
                "the city's deployment",
                lambda: city.get("/api/v1/deployments/rain").json()["state"] == "ready" or None,
                timeout=180,
            )
            key = city.post("/api/v1/keys", json={"name": "rain-app"}).json()["secret"]
            rows = [{"temperature": 20.0, "humidity": 95.0, "wind": "calm"}]
            asked = httpx.post(
                f"{url}/v1/deployments/rain/predict",
                json={"rows": rows},
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
            assert asked.status_code == 200, asked.text
            (answer,) = asked.json()["predictions"]
            assert answer["weather_predicted"] == "rain" and answer["probability_rain"] > 0.5

            for team, amount in ((alpha, "3000.00"), (beta, "1000.00")):
                vouchers = team.get("/api/v1/vouchers").json()["items"]
                assert [(v["name"], v["amount"]) for v in vouchers] == [
                    (f"Reward: rain-alert ({'alpha' if team is alpha else 'beta'})", amount)
                ]

            # Every step is in the audit log, under whoever took it.
            audit = api.get("/api/v1/audit", params={"limit": 500}).json()["items"]
            actions = {e["action"] for e in audit}
            assert {
                "need.create",
                "need.ask",
                "need.answer",
                "challenge.create",
                "challenge.join",
                "challenge.invite",
                "challenge.submit",
                "need.award",
                "voucher.reward",
            } <= actions

            # The poster's invoice: the reward held, and the 1,000 not awarded returned.
            lines = city.get("/api/v1/bills").json()["lines"]
            escrow = {
                line["kind"]: Decimal(line["net"]) for line in lines if "escrow" in line["kind"]
            }
            assert escrow == {
                "need_escrow": Decimal("5000.00"),
                "need_escrow_returned": Decimal("-1000.00"),
            }


def test_needs_refuse_what_is_wrong_with_a_message(tmp_path: Path) -> None:
    with (
        over_http(tmp_path / "home", loops=False) as (url, token, _state),
        httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}) as api,
    ):
        base = {
            "name": "n1",
            "title": "t",
            "problem": "p",
            "metric": "accuracy",
            "deadline": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        }
        for change, words in (
            ({"metric": "auc-pr"}, "is not one AICC scores"),
            ({"deadline": "2020-01-01T00:00:00Z"}, "it has passed"),
            ({"name": "Bad Name"}, "lowercase letters"),
            ({"terms": {"results_owner": "nobody"}}, "results_owner"),
            ({"reward": "-5"}, "reward"),
        ):
            got = api.post("/api/v1/needs", json={**base, **change})
            assert got.status_code == 422 and words in got.text, (change, got.text)
        assert api.post("/api/v1/needs", json=base).status_code == 201
        assert api.post("/api/v1/needs", json=base).status_code == 409
        assert api.get("/api/v1/needs/nothing-here").status_code == 404
        assert api.get("/api/v1/challenges/n1").status_code == 404
        assert api.post("/api/v1/needs/n1/withdraw").json()["state"] == "withdrawn"
        assert api.post("/api/v1/needs/n1/withdraw").status_code == 409
