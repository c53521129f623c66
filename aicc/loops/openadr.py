"""The center as an OpenADR 2.0b VEN (docs/energy.md, "Demand response"): `openleadr`'s client
polls the utility's or aggregator's VTN in a thread of its own (it waits on the network, as the
federation loop does), and each event it delivers becomes the site power caps it asks for
(core/openadr.py), kept as the operators' demand-response events are
(services/center/power.py `demand_response`), so the scheduler holds new starts under them for
the event's window. A modified event replaces its caps; a cancelled one removes them.

Only the server holding the controller lease writes the caps; the others opt in and leave them
to it. `openleadr` is imported in the thread, so `aicc --help` stays fast.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from aicc.config import OpenAdrSettings
from aicc.core import openadr
from aicc.services.center import power
from aicc.services.common import utcnow
from aicc.store.db import Database

log = logging.getLogger(__name__)


class Ven:
    """The VEN thread: `start` begins polling, `stop` ends it (and waits for the thread)."""

    def __init__(self, db: Database, settings: OpenAdrSettings, *, leading: Callable[[], bool]):
        assert settings.vtn_url is not None
        self.db = db
        self.settings = settings
        self.leading = leading
        self.received: list[str] = []  # event ids, as they came (the page and tests)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def on_event(self, event: dict[str, Any]) -> str:
        """Keep the caps the event asks for; always opt in (the cap is how the center complies)."""
        source = openadr.event_id(event)
        found = openadr.windows(event, self.settings.levels)
        self.received.append(source)
        if not self.leading():
            return "optIn"
        try:
            with self.db.session() as session:
                power.demand_response(session, source, found, utcnow())
        except Exception:  # the store down: the VTN sends the event again at the next poll
            log.exception("OpenADR event %s: its caps could not be kept", source)
            return "optIn"
        log.info("OpenADR event %s: %d cap window(s)", source, len(found))
        return "optIn"

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

        self._client.add_handler("on_event", on_event)
        self._client.add_handler("on_update_event", on_update_event)
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
