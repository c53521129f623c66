"""Needs are rated on their page and ranked in the catalog (issue 41), as a browser without
JavaScript uses them: an organization that took part in a need (it asked) rates it with the
page's form, the poster and anyone who took no part get no form and a refusal in words if they
forge one, a hostile review is the page again saying why; the catalog shows each need's rating
and use and sorts by newest, rating or use; in English and Chinese."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, make_person, signed_in, unique
from portal_support import post_form as post
from portal_support import shown as text


def posted(client: TestClient, called: str, title: str) -> str:
    """A need posted through the catalog's form; its id."""
    form = {
        "name": called,
        "title": title,
        "problem": "Say yes or no for each row.",
        "metric": "accuracy",
        "deadline": "2099-01-01T00:00",
        "reward": "0",
        "data": "",
        "results_owner": "poster",
    }
    made = post(client, "/needs", "/needs", **form)
    assert made.status_code == 303, text(made)
    found = re.fullmatch(r"/needs/(ned_[0-9A-Z]+)\?posted=1", made.headers["location"])
    assert found, made.headers["location"]
    return found[1]


def order(page: httpx.Response, *ids: str) -> list[str]:
    """`ids` in the order the catalog's table lists them."""
    return sorted(ids, key=lambda i: page.text.index(f'href="/needs/{i}"'))


def test_needs_are_rated_on_their_page_and_sorted_in_the_catalog(
    api: TestClient, alice: Person, bob: Person
) -> None:
    n = unique()
    carol = make_person(api, f"initech-rate-{n}", f"carol-rate-{n}")
    poster, rater, other = signed_in(api, alice), signed_in(api, bob), signed_in(api, carol)
    first = posted(poster, f"first-{n}", f"Ranked {n} first")
    second = posted(poster, f"second-{n}", f"Ranked {n} second")

    # Before taking part: no form, a line saying who rates; a forged form is refused in words.
    page = text(rater.get(f"/needs/{first}"))
    assert "No ratings yet." in page and 'action="/needs/' + first + '/reviews"' not in page
    assert "People of the organizations that took part in a need" in page
    forged = post(rater, f"/needs/{first}/reviews", f"/needs/{first}", rating="5", text="")
    assert forged.status_code == 403
    assert f"only organizations that took part in need first-{n}" in text(forged)

    # bob's organization asks on both, carol's on the second: they rate what they took part in.
    for who, need in ((rater, first), (rater, second), (other, second)):
        asked = post(who, f"/needs/{need}/questions", f"/needs/{need}", text="How many rows?")
        assert asked.status_code == 303, text(asked)
    page = text(rater.get(f"/needs/{first}"))
    assert f'action="/needs/{first}/reviews"' in page and "Your rating" in page
    rated = post(rater, f"/needs/{first}/reviews", f"/needs/{first}", rating="5", text="Quick.")
    assert rated.status_code == 303 and rated.headers["location"].endswith("?rated=5")
    shown = text(rater.get(rated.headers["location"]))
    assert "Your rating, 5 of 5, is saved" in shown and "5 of 5, from 1 ratings" in shown
    assert "Quick." in shown and "1 organizations took part" in shown
    assert '<option value="5" selected>' in shown  # the form shows the person's review again
    for who, rating in ((rater, "2"), (other, "4")):
        done = post(who, f"/needs/{second}/reviews", f"/needs/{second}", rating=rating, text="")
        assert done.status_code == 303, text(done)

    # Hostile and wrong reviews: the page again, saying why; nothing changes.
    for form, status, words in (
        ({"rating": "9", "text": ""}, 422, "Please correct the fields marked below."),
        ({"rating": "4", "text": "ring \x07 the bell"}, 422, "remove U+0007 at character 6"),
        ({"rating": "4", "text": "x" * 2001}, 422, "Please correct the fields marked below."),
    ):
        refused = post(rater, f"/needs/{second}/reviews", f"/needs/{second}", **form)
        assert refused.status_code == status, (form, refused.status_code)
        assert words in text(refused), (form, text(refused)[-2000:])
    assert "3 of 5, from 2 ratings" in text(other.get(f"/needs/{second}"))

    # The poster rates nothing of its own: no form, and a forged one is refused.
    own = text(poster.get(f"/needs/{first}"))
    assert f'action="/needs/{first}/reviews"' not in own and "5 of 5, from 1 ratings" in own
    forged = post(poster, f"/needs/{first}/reviews", f"/needs/{first}", rating="5", text="")
    assert forged.status_code == 409 and "cannot rate its own need" in text(forged)

    # The catalog: each need's rating and use; newest first, by rating, by use.
    words = {"q": f"Ranked {n}"}
    newest = rater.get("/needs", params=words)
    assert order(newest, first, second) == [second, first]
    assert "Every organization's needs" not in newest.text  # a search says how many it found
    catalog = text(rater.get("/needs"))
    assert "Every organization's needs, newest first" in catalog
    assert '<option value="newest" selected>' in catalog
    by_rating = rater.get("/needs", params={**words, "sort": "rating"})
    assert order(by_rating, first, second) == [first, second]
    assert '<option value="rating" selected>' in by_rating.text
    assert "5 of 5 (1)" in text(by_rating) and "3 of 5 (2)" in text(by_rating)
    by_use = rater.get("/needs", params={**words, "sort": "use"})
    assert order(by_use, first, second) == [second, first]
    assert "Every organization's needs, the best rated first" in text(
        rater.get("/needs", params={"sort": "rating"})
    )
    assert rater.get("/needs", params={"sort": "nonsense"}).status_code == 200  # newest

    # In Chinese.
    rater.post("/language", data={"csrf": csrf_of(rater), "language": "zh-CN"})
    chinese = text(rater.get("/needs", params={"sort": "use"}))
    assert "参与单位" in chinese and "评分最高" in chinese and "参与单位最多在前" in chinese
    assert "评分与评价" in text(rater.get(f"/needs/{first}"))
    other.post("/language", data={"csrf": csrf_of(other), "language": "zh-CN"})
    refused = post(other, f"/needs/{first}/reviews", f"/needs/{first}", rating="3", text="")
    assert refused.status_code == 403 and "只有参与过需求" in text(refused)
