"""The center as an OpenADR 2.0b VEN against a real VTN (`openleadr`'s own server, started on
127.0.0.1 by this test): a LOAD_DISPATCH setpoint and a SIMPLE level become site power caps for
the events' windows, shown by the power-cap route, and a cancelled event's cap is gone; under
an event's cap a deferrable job waits the event out while a guaranteed one starts, and the VEN
opts in (out under the idle floor) and reports measured and asked kW to the VTN; the event into
caps, pure, for the signals it does not cap (issue 62)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from aicc.core import openadr
from aicc.testing.jobs import submit, wait_state
from aicc.testing.openadr import Vtn
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

pytest.importorskip("openleadr")
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def event(name: str, kind: str, payload: float, *, status: str = "far") -> dict[str, Any]:
    return {
        "event_descriptor": {"event_id": "ev-9", "event_status": status},
        "event_signals": [
            {
                "signal_name": name,
                "signal_type": kind,
                "intervals": [
                    {"dtstart": NOW, "duration": timedelta(minutes=30), "signal_payload": payload}
                ],
            }
        ],
    }


def test_signals_into_caps() -> None:
    (window,) = openadr.windows(event("LOAD_DISPATCH", "setpoint", 400.0), {})
    assert window == openadr.Window(NOW, NOW + timedelta(minutes=30), 400.0)
    assert openadr.windows(event("simple", "level", 2), {2: 650.0})[0].cap_kw == 650.0
    assert openadr.windows(event("SIMPLE", "level", 0), {2: 650.0}) == []  # normal: no cap
    assert openadr.windows(event("SIMPLE", "level", 3), {2: 650.0}) == []  # not mapped
    assert openadr.windows(event("ELECTRICITY_PRICE", "price", 0.9), {}) == []
    assert openadr.windows(event("LOAD_DISPATCH", "setpoint", float("nan")), {}) == []
    assert openadr.windows(event("LOAD_DISPATCH", "setpoint", 400, status="cancelled"), {}) == []


@pytest.fixture
def vtn() -> Iterator[Vtn]:
    found = Vtn()
    try:
        yield found.start()
    finally:
        found.stop()


def until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s")


def test_an_event_lowers_the_site_cap_for_its_window(tmp_path: Path, vtn: Vtn) -> None:
    url = vtn.url
    openadr_settings = {"vtn_url": url, "ven_name": "aicc-site", "levels": {1: 650.0}}
    with over_http(tmp_path / "home", None, openadr=openadr_settings) as (base, token, _state):
        admin = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

        def caps() -> list[dict[str, Any]]:
            answer = admin.get("/api/v1/center/power-cap")
            assert answer.status_code == 200, answer.text
            return [e for e in answer.json()["events"] if e["set_by"] == "openadr"]

        start = datetime.now(UTC)
        intervals = [{"dtstart": start, "duration": timedelta(minutes=30), "signal_payload": 400.0}]
        vtn.call(
            lambda: vtn.server.add_event(
                ven_id="ven-1", signal_name="LOAD_DISPATCH", signal_type="setpoint",
                intervals=intervals, event_id="dr-1", response_required="always",
            )
        )  # fmt: skip
        (cap,) = until(caps)
        assert cap["cap_kw"] == 400.0 and cap["note"] == "OpenADR event dr-1" and cap["active"]
        until_ = datetime.fromisoformat(cap["end"])
        assert abs((until_ - start - timedelta(minutes=30)).total_seconds()) < 1
        status = admin.get("/api/v1/center/power-cap").json()
        assert status["cap_kw"] == 400.0  # in force now: new starts are held under it

        later = start + timedelta(hours=2)
        level = [{"dtstart": later, "duration": timedelta(hours=1), "signal_payload": 1}]
        vtn.call(
            lambda: vtn.server.add_event(
                ven_id="ven-1", signal_name="SIMPLE", signal_type="level", intervals=level,
                event_id="dr-2", response_required="always",
            )
        )  # fmt: skip
        both = until(lambda: len(found := caps()) == 2 and found)
        second = next(e for e in both if e["note"] == "OpenADR event dr-2")
        assert second["cap_kw"] == 650.0 and not second["active"]

        vtn.call(lambda: vtn.server.cancel_event(ven_id="ven-1", event_id="dr-1"))
        (left,) = until(lambda: len(found := caps()) == 1 and found)
        assert left["note"] == "OpenADR event dr-2"
        assert admin.get("/api/v1/center/power-cap").json()["cap_kw"] is None


def test_opting_out_and_below_the_idle_floor() -> None:
    found = openadr.windows(event("LOAD_DISPATCH", "setpoint", 400.0), {})
    assert openadr.opt(found, floor_kw=100.0, opt_out=False) == "optIn"
    assert openadr.opt(found, floor_kw=100.0, opt_out=True) == "optOut"  # the operator's choice
    assert openadr.opt(found, floor_kw=500.0, opt_out=False) == "optOut"  # cannot be met
    assert openadr.opt([], floor_kw=500.0, opt_out=False) == "optIn"  # a price: nothing to meet
    # the answer's reason, for the operators' page
    assert openadr.answer(found, floor_kw=100.0, opt_out=False).reason == "capped"
    low = openadr.answer(found, floor_kw=500.0, opt_out=False)
    assert (low.opt, low.reason, low.cap_kw, low.floor_kw) == ("optOut", "under_floor", 400, 500)
    assert openadr.answer(found, floor_kw=None, opt_out=True).reason == "opted_out"
    assert openadr.answer([], floor_kw=1.0, opt_out=False).reason == "no_cap"
    price = event("ELECTRICITY_PRICE", "price", 0.9, status="ACTIVE")
    assert openadr.signals(price) == [
        openadr.Signal("ELECTRICITY_PRICE", "price", NOW, NOW + timedelta(minutes=30), 0.9)
    ]
    assert openadr.status(price) == "active"


GPU = {"resources": {"accelerator": {"count": 1}}}


def test_an_event_defers_a_flexible_job_and_the_ven_reports_the_shed(
    tmp_path: Path, vtn: Vtn
) -> None:
    """Two simulated H100-SXM (idle 0.27 kW facility, PUE 1.3): a 5 kW setpoint is in force, the
    guaranteed job starts under it, the deferrable one waits the event out and starts once it
    is cancelled; the VEN opts in, opts out of a cap below the idle floor, and reports."""
    opts: list[tuple[str, str]] = []
    reports: dict[str, list[float]] = {}

    async def registered_report(
        ven_id: str, resource_id: str, measurement: str, unit: str, scale: str,
        min_sampling_interval: timedelta, max_sampling_interval: timedelta,
    ) -> tuple[Callable[[Any], None], timedelta]:  # fmt: skip
        def got(values: list[tuple[datetime, float]]) -> None:
            reports.setdefault(resource_id, []).extend(v for _, v in values)

        return got, min_sampling_interval

    vtn.server.add_handler("on_register_report", registered_report)

    def opted(ven_id: str, event_id: str, opt_type: str) -> None:
        opts.append((event_id, opt_type))

    def send(event_id: str, kw: float, start: datetime) -> None:
        intervals = [{"dtstart": start, "duration": timedelta(minutes=30), "signal_payload": kw}]
        vtn.call(
            lambda: vtn.server.add_event(
                ven_id="ven-1", signal_name="LOAD_DISPATCH", signal_type="setpoint",
                intervals=intervals, event_id=event_id, callback=opted,
            )
        )  # fmt: skip

    url = vtn.url
    settings = {"vtn_url": url, "ven_name": "aicc-site", "report_interval_s": 1}
    devices = [{"model": "H100-SXM", "count": 2}]
    server = over_http(tmp_path / "home", None, openadr=settings, simulated_devices=devices)
    with server as (base, token, _state):
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        send("dr-shed", 5.0, datetime.now(UTC))
        until(lambda: api.get("/api/v1/center/power-cap").json()["cap_kw"] == 5.0)
        flexible = {"command": "true", "deferrable": True, "max_runtime": "10m", "deadline": "12h"}
        deferred = submit(api, {**flexible, **GPU})
        guaranteed = submit(api, {"command": "sleep 60", **GPU})
        assert wait_state(api, guaranteed["id"], {"running"})["state"] == "running"

        def deferred_job() -> dict[str, Any] | None:
            job: dict[str, Any] = api.get(f"/api/v1/jobs/{deferred['id']}").json()
            return job if "waits out the demand-response event" in (job["message"] or "") else None

        held = until(deferred_job)
        assert held["state"] == "pending"
        assert held["message"].startswith("waits for the site's power cap (demand response until")
        assert api.get("/api/v1/center/power-cap").json()["waiting_jobs"] == [deferred["id"]]
        until(lambda: ("dr-shed", "optIn") in opts)
        # the report: the measured kW (the estimate here: no meters, no BMCs) and the 5 kW asked
        until(lambda: reports.get("site-measured") and 5.0 in reports.get("site-asked", []))
        assert all(v > 0.27 for v in reports["site-measured"])
        # the operators' view: the event, the answer and why, the cap in force, the shed
        shed = until(lambda: _event(api, "dr-shed", reported=True))
        assert shed["answer"] == "optIn" and shed["reason"] == "capped" and shed["active"]
        assert shed["why"] == "new starts held under 5 kW in its window(s)"
        assert [w["cap_kw"] for w in shed["windows"]] == [5.0] and shed["cap_kw"] == 5.0
        (signal,) = shed["signals"]
        assert (signal["name"], signal["type"], signal["payload"]) == (
            "LOAD_DISPATCH", "setpoint", 5.0,
        )  # fmt: skip
        report = shed["report"]
        assert report["asked_kw"] == 5.0 and report["measured_kw"] > 0.27
        assert report["shed_kw"] == pytest.approx(shed["baseline_kw"] - report["measured_kw"])
        page = _portal(base, token)
        for language, title in (
            ("en", "Demand response (OpenADR)"),
            ("zh-CN", "需求响应（OpenADR）"),
        ):
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.get("/center").text)
            assert csrf is not None
            page.post("/language", data={"csrf": csrf.group(1), "language": language})
            text = page.get("/center").text
            assert title in text and "dr-shed" in text and "optIn" in text
        assert "事件时段内新作业在 5 kW 以下启动" in text, re.findall(r"事件时段[^<]*", text)

        vtn.call(lambda: vtn.server.cancel_event(ven_id="ven-1", event_id="dr-shed"))
        done = wait_state(api, deferred["id"], {"succeeded"})  # the event over: it starts
        assert done["state"] == "succeeded"

        send("dr-floor", 0.1, datetime.now(UTC) + timedelta(hours=2))  # under the idle 0.27 kW
        until(lambda: ("dr-floor", "optOut") in opts)
        floor = until(lambda: _event(api, "dr-floor"))
        assert floor["answer"] == "optOut" and floor["reason"] == "under_floor"
        assert floor["floor_kw"] == pytest.approx(0.273) and not floor["active"]
        assert "under the 0.3 kW the site draws with every device idle" in floor["why"]
        tenant = httpx.Client(
            base_url=base, headers=make_tenant(api, "dr-org", "org_admin").headers
        )
        assert tenant.get("/api/v1/center/power-cap/openadr").status_code == 403
        api.post(f"/api/v1/jobs/{guaranteed['id']}/cancel")


def _event(api: httpx.Client, event_id: str, *, reported: bool = False) -> dict[str, Any] | None:
    answer = api.get("/api/v1/center/power-cap/openadr")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] | None = next(
        (e for e in answer.json()["items"] if e["id"] == event_id), None
    )
    return found if found is not None and (found["report"] or not reported) else None


def _portal(base: str, token: str) -> httpx.Client:
    """A browser signed in to the portal with the admin's token, as the sign-in form does."""
    client = httpx.Client(base_url=base, timeout=30)
    client.get("/sign-in")
    form = {"csrf": client.cookies["aicc_csrf"], "token": token}
    assert client.post("/sign-in", data=form).status_code == 303
    return client
