"""The center as an OpenADR 2.0b VEN (docs/energy.md, "Demand response"): `openleadr`'s client
polls the utility's or aggregator's VTN in a thread of its own (it waits on the network, as the
federation loop does), and each event it delivers becomes the site power caps it asks for
(core/openadr.py), kept as the operators' demand-response events are
(services/center/power.py `demand_response`), so the scheduler holds new starts under them for
the event's window. A modified event replaces its caps; a cancelled one removes them.

The VEN answers each event `optIn`, or `optOut` when the operator set `openadr.opt_out` (then
it keeps no caps) or when a cap is below what the site draws with every device idle (then it
still keeps the caps: holding starts back sheds what it can). At its start it registers a
`TELEMETRY_USAGE` report of two real-power values in kW, which the VTN may ask for at the
interval it wants: `measured`, the site's facility power (services/center/power.py
`Site.measured_kw`: meters, else BMCs, else the estimate), and `asked`, the lowest cap an
OpenADR event asks for now (0 when none): the shed against what was asked. The leader keeps
each event as received, its answer and why, and the last report sent while its window holds,
for the operators (services/center/demand.py: `aicc center power-cap openadr`, the center page).

Only the server holding the controller lease writes the caps; the others opt in and leave them
to it. `openleadr` is imported in the thread, so `aicc --help` stays fast.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aicc.config import OpenAdrSettings
from aicc.core import openadr
from aicc.services.center import demand, power
from aicc.services.common import utcnow
from aicc.store.db import Database

log = logging.getLogger(__name__)


class Ven:
    """The VEN thread: `start` begins polling, `stop` ends it (and waits for the thread)."""

    def __init__(
        self,
        db: Database,
        settings: OpenAdrSettings,
        *,
        leading: Callable[[], bool],
        site: power.Site | None = None,
    ):
        assert settings.vtn_url is not None
        self.db = db
        self.settings = settings
        self.leading = leading
        self.site = site or power.Site()
        self.received: list[str] = []  # event ids, as they came (the page and tests)
        self.answers: dict[str, str] = {}  # event id -> optIn | optOut, the last answer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def on_event(self, event: dict[str, Any]) -> str:
        """Keep the caps the event asks for (the cap is how the center complies) and answer
        whether the site takes part (module docstring)."""
        source = openadr.event_id(event)
        found = openadr.windows(event, self.settings.levels)
        self.received.append(source)
        opt_out = self.settings.opt_out
        answer = "optOut" if opt_out else "optIn"
        if not self.leading():
            self.answers[source] = answer
            return answer
        try:
            with self.db.session() as session:
                now = utcnow()
                floor = None if opt_out else self.site.floor_kw(session, now)
                said = openadr.answer(found, floor_kw=floor, opt_out=opt_out)
                answer = said.opt
                if not opt_out:
                    power.demand_response(session, source, found, now)
                baseline, _ = self.site.measured_kw(session, now)
                demand.received(
                    session, event_id=source, status=openadr.status(event),
                    signals=openadr.signals(event), windows=found, answer=said,
                    baseline_kw=baseline, now=now,
                )  # fmt: skip
        except Exception:  # the store down: the VTN sends the event again at the next poll
            log.exception("OpenADR event %s: its caps could not be kept", source)
        log.info("OpenADR event %s: %d cap window(s), %s", source, len(found), answer)
        self.answers[source] = answer
        return answer

    def sample(self, *, record: bool = False) -> tuple[float, float]:
        """The report's two values now: the site's measured kW and the kW an event asks for
        (0: none). `record`: the leader keeps them on the events in force, for the operators'
        page (services/center/demand.py)."""
        with self.db.reader() as session:
            now = utcnow()
            measured, _ = self.site.measured_kw(session, now)
            asked = power.asked_kw(session, now)
        if record and self.leading():
            try:
                with self.db.session() as session:
                    demand.reported(session, measured_kw=measured, asked_kw=asked, now=now)
            except Exception:  # the page misses one report; the VTN still gets it
                log.exception("OpenADR report at %s not kept", now)
        return measured, asked or 0.0

    async def _run(self) -> None:
        from openleadr import OpenADRClient

        s = self.settings
        self._client = OpenADRClient(
            ven_name=s.ven_name,
            vtn_url=s.vtn_url,
            ven_id=s.ven_id,
            cert=str(s.cert) if s.cert else None,
            key=str(s.key) if s.key else None,
            vtn_fingerprint=s.vtn_fingerprint,
            ca_file=str(s.ca_file) if s.ca_file else None,
            disable_signature=s.cert is None,
            show_fingerprint=False,
        )

        async def on_event(event: dict[str, Any]) -> str:
            return await asyncio.to_thread(self.on_event, event)

        async def on_update_event(event: dict[str, Any]) -> str:
            return await asyncio.to_thread(self.on_event, event)

        async def measured() -> float:
            return round((await asyncio.to_thread(self.sample, record=True))[0], 3)

        async def asked() -> float:
            return round((await asyncio.to_thread(self.sample))[1], 3)

        self._client.add_handler("on_event", on_event)
        self._client.add_handler("on_update_event", on_update_event)
        every = timedelta(seconds=s.report_interval_s)
        for r_id, sampler in (("measured", measured), ("asked", asked)):
            self._client.add_report(
                callback=sampler, resource_id=f"site-{r_id}", measurement="REAL_POWER",
                r_id=r_id, report_specifier_id="aicc-site-power", unit="W", scale="k",
                sampling_rate=every, report_duration=timedelta(hours=1),
            )  # fmt: skip
        await self._client.run()
        while not self._stopped.is_set():
            await asyncio.sleep(0.2)
        await self._client.stop()

    def start(self) -> None:
        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._run())
            except Exception:
                log.exception("the OpenADR VEN stopped")
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="aicc-openadr", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(10)
