"""Offers on a need's page (issue 41), as a browser without JavaScript uses them: a provider
offers its template and its model API with the page's form, a bad price is the page again
saying why; the poster sees both offers and accepts them (the API key shown on that page alone),
a forged acceptance by the provider is refused in words, a third organization sees none of it;
the poster ends an offer; in English and Chinese."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, make_person, signed_in, unique
from portal_support import post_form as post
from portal_support import shown as text

from aicc.testing import templates


def test_offers_made_accepted_and_ended_on_the_need_page(
    api: TestClient, alice: Person, bob: Person
) -> None:
    n = unique()
    carol = make_person(api, f"initech-offer-{n}", f"carol-offer-{n}")
    poster, provider, other = signed_in(api, alice), signed_in(api, bob), signed_in(api, carol)
    form = {
        "name": f"sort-{n}",
        "title": f"Sort letters {n}",
        "problem": "Route each letter.",
        "metric": "accuracy",
        "deadline": "2099-01-01T00:00",
        "reward": "0",
        "data": "",
        "results_owner": "poster",
    }
    made = post(poster, "/needs", "/needs", **form)
    assert made.status_code == 303, text(made)
    need = re.fullmatch(r"/needs/(ned_[0-9A-Z]+)\?posted=1", made.headers["location"])
    assert need
    page_of = f"/needs/{need[1]}"

    # Nothing published yet: the provider is told how to have something to offer.
    shown = text(provider.get(page_of))
    assert "Offers (0)" in shown and "Publish a template or deploy a model" in shown

    published = api.post(
        "/api/v1/templates", json={"files": templates.own(f"router-{n}")}, headers=bob.headers
    )
    assert published.status_code == 201, published.text
    ref = published.json()["ref"]
    served = api.post(
        "/api/v1/deployments",
        json={"name": f"letters-{n}", "command": "sleep 600", "min_replicas": 0},
        headers=bob.headers,
    )
    assert served.status_code == 201, served.text
    shown = text(provider.get(page_of))
    assert f'value="template:{ref}"' in shown and f'value="deployment:letters-{n}"' in shown

    bad = post(provider, f"{page_of}/offers", page_of, offered=f"template:{ref}", price="-3")
    assert bad.status_code == 422 and 'id="offer-price-error"' in bad.text
    for offered, price in ((f"template:{ref}", "4"), (f"deployment:letters-{n}", "6")):
        sent = post(
            provider, f"{page_of}/offers", page_of, offered=offered, price=price, message="Fast."
        )
        assert sent.status_code == 303 and sent.headers["location"].endswith("?offered=1")
    shown = text(provider.get(f"{page_of}?offered=1"))
    assert "Your offer is sent to the poster." in shown and "Offers (2)" in shown

    # A third organization sees no offer; the poster sees both, with the provider's prices.
    assert "Offers (0)" in text(other.get(page_of)) and ref not in text(other.get(page_of))
    shown = text(poster.get(page_of))
    assert "Offers (2)" in shown and "4.00 CNY a run" in shown
    assert "6.00 CNY per 1,000 requests" in shown and "Fast." in shown
    ids = re.findall(rf"{page_of}/offers/(nof_[0-9A-Z]+)/accept", shown)
    assert len(ids) == 2
    template_offer, deployment_offer = sorted(ids, key=lambda i: shown.index(i), reverse=True)

    forged = post(provider, f"{page_of}/offers/{template_offer}/accept", page_of)
    assert forged.status_code == 403
    assert "only the need's poster may accept its offers" in text(forged)

    took = post(poster, f"{page_of}/offers/{template_offer}/accept", page_of)
    assert took.status_code == 303 and took.headers["location"].endswith("?decided=accept")
    assert "the template is in your catalog" in text(poster.get(took.headers["location"]))
    keyed = post(poster, f"{page_of}/offers/{deployment_offer}/accept", page_of)
    assert keyed.status_code == 200, text(keyed)  # the key is on this page, never in a URL
    secret = re.search(r'value="(aicc-sk-[^"]+)"', keyed.text)
    assert secret and "Your key to" in text(keyed)
    assert secret[1] not in poster.get(page_of).text  # shown once

    # In Chinese; then the poster ends the template's offer.
    poster.post("/language", data={"csrf": csrf_of(poster), "language": "zh-CN"})
    shown = text(poster.get(page_of))
    assert "报价（2）" in shown and "已接受" in shown and "每次运行 4.00 CNY" in shown
    ended = post(poster, f"{page_of}/offers/{template_offer}/end", page_of)
    assert ended.status_code == 303
    assert "报价已结束" in text(poster.get(ended.headers["location"]))
    again = post(poster, f"{page_of}/offers/{template_offer}/end", page_of)
    assert again.status_code == 409 and "并未被接受" in text(again)
