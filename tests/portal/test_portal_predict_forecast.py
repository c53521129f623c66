"""A forecaster in the portal, as a browser's requests: a person's daily sales (dates as
`2021/03/04`) trained with the generic `series-forecast` template, the model page's card with
the forecast drawn against the held-out tail, and a deployment whose playground asks for a
number of steps ahead and draws the forecast with its interval."""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, make_person, signed_in, unique
from test_portal_predict import deployed

from aicc.api.state import AppState


def sales_csv(days: int) -> str:
    """Daily sales with a weekly rhythm and a slow rise."""
    rng = random.Random(3)
    lines = ["date,sales"]
    for i in range(days):
        day = date(2021, 1, 1) + timedelta(days=i)
        value = 100 + 0.2 * i + 25 * math.sin(2 * math.pi * day.weekday() / 7) + rng.gauss(0, 3)
        lines.append(f"{day:%Y/%m/%d},{value:.1f}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def owner(site: tuple[TestClient, AppState]) -> Iterator[tuple[TestClient, Person]]:
    api = site[0]
    n = unique()
    person = make_person(api, f"shop-{n}", f"sam-{n}")
    deployed(
        api,
        person,
        template="series-forecast",
        files={"sales.csv": sales_csv(200).encode()},
        columns={"time": "date", "target": "sales"},
        model="sales-model",
        deployment="sales",
    )
    yield api, person


def test_a_forecast_is_drawn_on_the_card_and_asked_for_in_the_playground(
    owner: tuple[TestClient, Person],
) -> None:
    api, sam = owner
    page = signed_in(api, sam)
    page.post("/language", data={"csrf": csrf_of(page), "language": "en"})
    card = page.get(f"/models/sales-model?project={sam.project_id}").text
    facts = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]*)</dd>", card))
    assert facts["Frequency"] == "a day" and facts["Predicts"] == "sales"
    drawn = [json.loads(c.replace("&#39;", "'")) for c in re.findall(r"data-chart='([^']*)'", card)]
    (tail,) = [c for c in drawn if c["type"] == "forecast"]
    assert tail["actual"] and len(tail["predicted"]) == len(tail["time"]) == len(tail["actual"])

    link = f"/deployments/sales?project={sam.project_id}"
    shown = page.get(link).text
    assert 'id="predict-horizon"' in shown and "one step: a day" in shown
    answered = page.post(
        f"/deployments/sales/predict?project={sam.project_id}",
        data={"csrf": csrf_of(page, link), "mode": "horizon", "horizon": "10"},
    )
    assert answered.status_code == 200, answered.text[-2000:]
    (chart,) = [
        json.loads(c)
        for c in re.findall(r'id="forecast-chart"[^>]*data-chart=\'([^\']*)\'', answered.text)
    ]
    assert len(chart["time"]) == len(chart["predicted"]) == 10
    assert all(
        lo <= mid <= hi
        for lo, mid, hi in zip(chart["lower"], chart["predicted"], chart["upper"], strict=True)
    )
    assert re.sub(r"\D", "", chart["time"][0]).startswith("20210720")  # the day after the last
    rows = re.search(
        r'<table class="table table-compact" id="predictions">(.*?)</table>', answered.text, re.S
    )
    assert rows and "sales_forecast" in rows.group(1) and "sales_upper" in rows.group(1)

    refused = page.post(
        f"/deployments/sales/predict?project={sam.project_id}",
        data={"csrf": csrf_of(page, link), "mode": "horizon", "horizon": "0"},
    )
    assert refused.status_code == 422 and "a whole number from 1 to 1000" in refused.text
