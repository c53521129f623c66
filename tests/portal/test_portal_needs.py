"""The needs and challenges pages through TestClient, as a browser without JavaScript uses them
(issue 41): a poster posts a need from the catalog (refused input re-shown with the service's
words), another tenant finds it, asks, and reads the answer once the poster gives it; the
poster's actions (answer, withdraw, make it a challenge, award) are refused to anyone else with
the page again and the service's message; a challenge's page takes teams (join, invite), names
what is wrong with a submission or an award, shows the private board once the deadline passed;
in English and Chinese. A need or challenge that does not exist is the 404 page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, make_person, signed_in, unique
from portal_support import post_form as post
from portal_support import shown as text
from sqlalchemy import update

from aicc.api.state import AppState
from aicc.store.tables.needs import NeedRow
from aicc.testing.datasets import push


def later(days: int = 7) -> str:
    """A deadline as the form's `datetime-local` input sends it (UTC)."""
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


def need_form(called: str, **change: str) -> dict[str, str]:
    return {
        "name": called,
        "title": f"Predict the answer {called}",
        "problem": "Say yes or no for each row.\nThe answers are in column answer.",
        "metric": "accuracy",
        "deadline": later(),
        "reward": "50",
        "data": "",
        "results_owner": "poster",
        **change,
    }


def posted(client: TestClient, called: str, **change: str) -> str:
    """A need posted through the catalog's form; its id."""
    made = post(client, "/needs", "/needs", **need_form(called, **change))
    assert made.status_code == 303, text(made)
    found = re.fullmatch(r"/needs/(ned_[0-9A-Z]+)\?posted=1", made.headers["location"])
    assert found, made.headers["location"]
    return found[1]


def test_a_need_is_posted_found_asked_and_answered(
    api: TestClient, alice: Person, bob: Person
) -> None:
    n = unique()
    poster, asker = signed_in(api, alice), signed_in(api, bob)
    carol = make_person(api, f"initech-{n}", f"carol-{n}")
    third = signed_in(api, carol)

    catalog = poster.get("/needs")
    assert catalog.status_code == 200
    assert 'href="/needs" aria-current="page">Needs<' in text(catalog)
    assert "Post a need" in catalog.text and '<option value="macro_f1">Macro F1' in catalog.text

    # Refused input: the catalog again, each problem next to its field, in the service's words.
    for change, status, words in (
        ({"deadline": "2020-01-01T00:00"}, 422, "it has passed"),
        ({"name": "Bad Name"}, 422, "This value is not accepted"),
        ({"title": ""}, 422, "This field is required"),
        ({"reward": "-5"}, 422, "This number is out of range"),
        ({"data": "nothing-here@1"}, 422, "nothing-here"),
    ):
        refused = post(poster, "/needs", "/needs", **need_form(f"bad-{n}", **change))
        assert refused.status_code == status, (change, refused.status_code)
        assert "Please correct the fields marked below." in refused.text or "data" in change
        assert words in text(refused), (change, text(refused)[-3000:])
    push(api, f"secret-{n}", {"t.csv": b"x,y\n1,2\n"}, headers=alice.headers)
    private = post(poster, "/needs", "/needs", **need_form(f"bad-{n}", data=f"secret-{n}@1"))
    assert private.status_code == 422 and "is not public, so providers could not read it" in (
        text(private)
    )

    need_id = posted(poster, f"rain-{n}", title=f"Rain tomorrow {n}?")
    page = poster.get(f"/needs/{need_id}?posted=1")
    assert f"Need rain-{n} is posted." in page.text and "50.00 CNY" in page.text
    assert "Make it a challenge" in page.text and "Withdraw" in page.text
    again = post(poster, "/needs", "/needs", **need_form(f"rain-{n}"))
    assert again.status_code == 422 and "This name is taken already." in again.text

    # Another tenant finds it by a word, not under another state, and asks.
    found = asker.get("/needs", params={"q": f"tomorrow {n}"})
    assert f"Rain tomorrow {n}?" in text(found)
    assert f"/needs/{need_id}" in found.text
    assert f"/needs/{need_id}" not in asker.get("/needs", params={"state": "awarded"}).text
    theirs = asker.get(f"/needs/{need_id}")
    assert theirs.status_code == 200 and "Make it a challenge" not in theirs.text
    assert "Withdraw" not in theirs.text and "Ask a question" in theirs.text
    empty = post(asker, f"/needs/{need_id}/questions", f"/needs/{need_id}", text="  ")
    assert empty.status_code == 422 and "This field is required." in empty.text
    asked = post(
        asker, f"/needs/{need_id}/questions", f"/needs/{need_id}", text="Is 'maybe' allowed?"
    )
    assert asked.status_code == 303 and asked.headers["location"].endswith("?asked=1")
    mine = text(asker.get(f"/needs/{need_id}"))
    assert "Is 'maybe' allowed?" in mine and "Not answered yet." in mine
    assert "Is 'maybe' allowed?" not in text(third.get(f"/needs/{need_id}"))  # not answered yet

    # The poster's actions are the poster's alone: the page again, with the service's words.
    shown = text(poster.get(f"/needs/{need_id}"))
    question = re.search(r"/questions/(nqa_[0-9A-Z]+)/answer", shown)
    assert question is not None and "Is 'maybe' allowed?" in shown
    for path, form in (
        (f"/needs/{need_id}/withdraw", {}),
        (f"/needs/{need_id}/questions/{question[1]}/answer", {"text": "Yes"}),
        (f"/needs/{need_id}/challenge", {"hidden": f"secret-{n}@1", "target": "y"}),
    ):
        refused = post(asker, path, f"/needs/{need_id}", **form)
        assert refused.status_code == 403, (path, refused.status_code)
        assert "Your role does not allow this." in refused.text
        assert "only the need&#39;s poster may" in refused.text, path
    answered = post(
        poster,
        f"/needs/{need_id}/questions/{question[1]}/answer",
        f"/needs/{need_id}",
        text="No: yes or no.",
    )
    assert answered.status_code == 303
    public = text(third.get(f"/needs/{need_id}"))
    assert "Is 'maybe' allowed?" in public and "No: yes or no." in public
    assert "Answer from acme-" in public and "Questions (1)" in public

    # In Chinese: the page, and a refusal in the reader's language.
    asker.post("/language", data={"csrf": csrf_of(asker), "language": "zh-CN"})
    chinese = asker.get(f"/needs/{need_id}")
    assert '<html lang="zh-CN">' in chinese.text and "问答（1）" in chinese.text
    assert "准确率" in chinese.text and "越高越好" in chinese.text
    assert ">需求<" in asker.get("/needs").text
    refused = post(asker, f"/needs/{need_id}/withdraw", f"/needs/{need_id}")
    assert refused.status_code == 403 and "只有需求发布方可以" in refused.text

    withdrawn = post(poster, f"/needs/{need_id}/withdraw", f"/needs/{need_id}")
    assert withdrawn.status_code == 303
    assert "Withdrawn" in poster.get(f"/needs/{need_id}").text
    assert f"Rain tomorrow {n}?" in text(asker.get("/needs", params={"state": "withdrawn"}))
    closed = post(asker, f"/needs/{need_id}/questions", f"/needs/{need_id}", text="Still?")
    assert closed.status_code == 409 and "不再接受提问" in text(closed)  # a forged form
    assert asker.get("/needs/ned_NOTHING").status_code == 404
    assert asker.get("/challenges/chl_NOTHING").status_code == 404


def test_a_challenge_takes_teams_and_refuses_what_is_wrong(
    site: tuple[TestClient, AppState], alice: Person, bob: Person
) -> None:
    api, state = site
    n = unique()
    carol = make_person(api, f"umbrella-{n}", f"carol-{n}")
    poster, team, guest = signed_in(api, alice), signed_in(api, bob), signed_in(api, carol)
    answers = "x,answer\n" + "".join(f"{i},{'yes' if i % 4 else 'no'}\n" for i in range(40))
    push(api, f"answers-{n}", {"test.csv": answers.encode()}, headers=alice.headers)
    need_id = posted(poster, f"yes-{n}")

    made = post(
        poster,
        f"/needs/{need_id}/challenge",
        f"/needs/{need_id}",
        hidden=f"answers-{n}@1",
        target="rainfall",
        public_pct="30",
        per_day="2",
        max_runtime_s="60",
    )
    assert made.status_code == 422 and "no column rainfall" in text(made)
    assert 'value="rainfall"' in made.text  # what was typed stays
    assert (
        post(
            poster,
            f"/needs/{need_id}/challenge",
            f"/needs/{need_id}",
            hidden=f"answers-{n}@1",
            target="answer",
            public_pct="0",
        ).status_code
        == 422
    )
    made = post(
        poster,
        f"/needs/{need_id}/challenge",
        f"/needs/{need_id}",
        hidden=f"answers-{n}@1",
        target="answer",
        public_pct="30",
        per_day="2",
        max_runtime_s="60",
    )
    assert made.status_code == 303, text(made)
    where = made.headers["location"].split("?")[0]
    assert where.startswith("/challenges/chl_")
    mine = text(poster.get(made.headers["location"]))
    assert "The need is a challenge now" in mine and f"answers-{n}@1:test.csv" in mine
    assert "30% of the rows" in mine and "60 s" in mine
    assert "The private board opens at the deadline:" in mine
    assert "No scored submission yet." in mine and "Join as a team" not in mine
    assert 'class="badge need-challenge"' in poster.get(f"/needs/{need_id}").text
    assert f'href="/challenges/{need_id}"' in poster.get("/needs").text  # the catalog's link
    assert poster.get(f"/challenges/{need_id}").status_code == 200  # by its need's id too

    theirs = text(team.get(where))
    assert "Join as a team" in theirs and f"answers-{n}" not in theirs  # the hidden set's
    assert post(team, f"{where}/join", where, team="Bad Team").status_code == 422
    joined = post(team, f"{where}/join", where, team=f"yes-team-{n}")
    assert joined.status_code == 303
    page = text(team.get(joined.headers["location"]))
    assert f"Your organization is in team yes-team-{n}." in page
    assert "Submit a model" in page and "Invite an organization" in page
    unknown = post(team, f"{where}/invite", where, org="no-such-org")
    assert unknown.status_code == 404 and "organization no-such-org not found" in text(unknown)
    invited = post(team, f"{where}/invite", where, org=f"umbrella-{n}")
    assert invited.status_code == 303
    assert f"Organization umbrella-{n} is invited into your team." in text(
        team.get(invited.headers["location"])
    )
    missing = post(team, f"{where}/submissions", where, model="never-trained@1")
    assert missing.status_code == 404 and "never-trained" in text(missing)

    # The invited organization joins the team that invited it (the form offers its name).
    offered = text(guest.get(where))
    assert f"Teams that invited your organization: yes-team-{n}" in offered
    assert f'value="yes-team-{n}"' in offered
    assert post(guest, f"{where}/join", where, team=f"yes-team-{n}").status_code == 303
    assert re.search(
        rf"yes-team-{n}</th>\s*<td>globex-\d+, umbrella-{n}</td>", guest.get(where).text
    )

    # The poster cannot take its own challenge; nobody else awards; nothing before the deadline.
    own = post(poster, f"{where}/join", where, team="ours")
    assert own.status_code == 409 and "cannot take its own challenge" in text(own)
    assert "Not possible now." in own.text
    foreign = post(team, f"{where}/award", where, team=f"yes-team-{n}", amount="10")
    assert foreign.status_code == 403 and "only the need&#39;s poster may award it" in foreign.text
    early = post(poster, f"{where}/award", where, team=f"yes-team-{n}", amount="10")
    assert early.status_code == 409 and "award after the deadline" in text(early)

    # The deadline passes: the private board shows, and no more submissions or teams.
    with state.db.session() as session:
        session.execute(
            update(NeedRow)
            .where(NeedRow.id == need_id)
            .values(deadline=datetime.now(UTC) - timedelta(seconds=1))
        )
    after = text(poster.get(where))
    assert "Private board" in after and "The private board opens" not in after
    assert "Award the reward" in after and "No team has a scored submission to award." in after
    nothing = post(poster, f"{where}/award", where)
    assert nothing.status_code == 422 and "name at least one team and its share" in text(nothing)
    unscored = post(poster, f"{where}/award", where, team=[f"yes-team-{n}"], amount=["10"])
    assert unscored.status_code == 422
    assert f"team yes-team-{n} has no scored submission" in text(unscored)
    late = post(team, f"{where}/submissions", where, model="never-trained@1")
    assert late.status_code == 409 and f"challenge yes-{n} is closed" in text(late)

    poster.post("/language", data={"csrf": csrf_of(poster), "language": "zh-CN"})
    chinese = poster.get(where)
    assert chinese.status_code == 200 and "私有榜" in chinese.text and "颁发奖金" in chinese.text
    refused = post(poster, f"{where}/join", where, team="ours")
    assert refused.status_code == 409 and "当前无法执行。" in refused.text


def test_hostile_text_is_refused_in_the_readers_language_and_old_text_shown_inert(
    site: tuple[TestClient, AppState], alice: Person
) -> None:
    """Issue 57: a title with a right-to-left override is refused next to its field, in the
    reader's language, saying which character to remove; a title stored before the rule (put
    straight into the database) is shown with the override as an escape, never as itself."""
    api, state = site
    n = unique()
    poster = signed_in(api, alice)
    sly = need_form(f"sly-{n}", title="invoice\u202etxt.exe")
    refused = post(poster, "/needs", "/needs", **sly)
    assert refused.status_code == 422
    said = text(refused)
    assert "This value is not accepted." in said and "remove U+202E at character 8" in said
    assert "\u202e" not in refused.text
    poster.post("/language", data={"csrf": csrf_of(poster), "language": "zh-CN"})
    chinese = text(post(poster, "/needs", "/needs", **sly))
    assert "须为单行文本，不能含控制字符或文字方向控制符：请删除第 8 个字符 U+202E" in chinese

    need_id = posted(poster, f"old-{n}")
    with state.db.session() as session:
        session.execute(
            update(NeedRow)
            .where(NeedRow.id == need_id)
            .values(title="old\u202etxt.exe\x1b[2J", problem="line one\r\nline two\x00")
        )
    page = poster.get(f"/needs/{need_id}")
    assert page.status_code == 200
    assert "old\\u202etxt.exe\\x1b[2J" in text(page) and "line one\r\nline two\\x00" in text(page)
    assert not any(bad in page.text for bad in ("\u202e", "\x1b", "\x00"))
    listed = poster.get("/needs")
    assert "old\\u202etxt.exe" in text(listed) and "\u202e" not in listed.text
