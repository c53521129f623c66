"""Nodes' BMCs over Redfish, through OpenStack's `sushy` client: read power, temperatures,
fans, health and inventory, and write a power limit. The documents it fetches are read by
`core/redfish.py`; the loops store what it reports (loops/bmc.py).

A BMC is a slow, sometimes absent device: every request has a short connect and read timeout
(no retries), an answer is cut at `MAX_BODY` bytes before it is parsed, and `Pool` asks many
BMCs side by side on a bounded number of threads, never twice the same one at once, so one
that hangs holds one thread for its timeout and delays no other node's sample.

`sushy` is imported inside the functions that need it, so `aicc --help` stays fast.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from typing import Any

from aicc.core import redfish
from aicc.core.redfish import Outcome, Reading, Target
from aicc.executors import polling

log = logging.getLogger(__name__)
MAX_BODY = 1 << 20  # bytes of one Redfish answer: a Power or Thermal document is a few KiB
CHUNK = 64 * 1024


class BmcError(Exception):
    """A BMC that did not answer as Redfish says, with what to check."""


def _capped(response: Any, *args: Any, **kwargs: Any) -> Any:
    """A requests hook, run before the body is read: read it up to MAX_BODY, refuse more."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        response.close()
        raise BmcError(f"the BMC's answer is {declared} bytes, more than {MAX_BODY}")
    body = bytearray()
    for chunk in response.raw.stream(CHUNK, decode_content=True):
        body += chunk
        if len(body) > MAX_BODY:
            response.close()
            raise BmcError(f"the BMC's answer is more than {MAX_BODY} bytes")
    response._content = bytes(body)  # requests' own cache of the body: read, so not again
    response._content_consumed = True
    return response


class Client:
    """One BMC, signed in with basic auth; it keeps the paths it found (the first system, the
    first chassis and its Power, Thermal or EnvironmentMetrics) between readings."""

    def __init__(self, target: Target, *, timeout_s: float) -> None:
        import sushy
        from sushy import auth, connector

        self.target = target
        address = target.address.rstrip("/")
        self.conn = connector.Connector(
            address,
            verify=target.verify_tls,
            default_request_timeout=timeout_s,
            connect_timeout=timeout_s,
            server_side_retries=1,  # one try: sushy reads 0 as its default, 3 (with 2 s waits)
        )
        self.conn._session.hooks["response"].append(_capped)  # sushy keeps its requests Session
        self.root = sushy.Sushy(
            address,
            auth=auth.BasicAuth(target.username, target.password),
            connector=self.conn,
        )
        self._paths: dict[str, str | None] | None = None

    def _get(self, path: str) -> Any:
        return self.conn.get(path).json()

    def paths(self) -> dict[str, str | None]:
        """The documents a reading fetches, found once from the service root's collections."""
        if self._paths is None:
            system = chassis = None
            systems = self._get(self.root.get_system_collection().path)
            chassis_list = self._get(self.root.get_chassis_collection().path)
            for collection, key in ((systems, "system"), (chassis_list, "chassis")):
                members = collection.get("Members") if isinstance(collection, dict) else None
                first = members[0] if isinstance(members, list) and members else None
                found = redfish.link({"x": first}, "x")
                if key == "system":
                    system = found
                else:
                    chassis = found
            doc = self._get(chassis) if chassis else {}
            self._paths = {
                "system": system,
                "chassis": chassis,
                "power": redfish.link(doc, "Power"),
                "thermal": redfish.link(doc, "Thermal"),
                "environment": redfish.link(doc, "EnvironmentMetrics"),
            }
        return self._paths

    def read(self) -> Reading:
        """Power, temperatures, fans, health and inventory now."""
        paths = self.paths()
        system = self._get(paths["system"]) if paths["system"] else {}
        chassis = self._get(paths["chassis"]) if paths["chassis"] else {}
        watts = limit = None
        limitable = False
        if paths["power"]:
            watts, limit, limitable = redfish.power(self._get(paths["power"]))
        if watts is None and paths["environment"]:
            watts = redfish.environment_watts(self._get(paths["environment"]))
        temperatures: dict[str, float] = {}
        fans: dict[str, float] = {}
        if paths["thermal"]:
            temperatures, fans = redfish.thermal(self._get(paths["thermal"]))
        return Reading(
            watts=watts,
            health=redfish.worst(redfish.health_of(system), redfish.health_of(chassis)),
            temperatures=temperatures,
            fans=fans,
            inventory=redfish.inventory(system),
            limit_w=limit,
            limit_path=paths["power"] if limitable else None,
        )

    def set_limit(self, watts: float | None) -> None:
        """Write the first PowerControl's `PowerLimit.LimitInWatts` (None lifts it)."""
        path = self.paths()["power"]
        if not path:
            raise BmcError("this BMC has no Chassis Power resource: no power limit to set")
        self.conn.patch(path, data=redfish.limit_patch(watts))


def _why(err: BaseException) -> str:
    """A short, password-free account of a failure for the node's page."""
    return redfish.text(polling.why(err))


def read(target: Target, *, timeout_s: float, client: Client | None = None) -> Outcome:
    """Read one BMC; never raises: a failure is the outcome's `error`."""
    started = time.monotonic()
    try:
        found = (client or Client(target, timeout_s=timeout_s)).read()
    except Exception as err:  # sushy's errors, requests', a BMC's nonsense: all the same here
        return Outcome(target.node_id, error=_why(err), seconds=time.monotonic() - started)
    return Outcome(target.node_id, reading=found, seconds=time.monotonic() - started)


def set_limit(target: Target, watts: float | None, *, timeout_s: float) -> str:
    """Write a power limit (None lifts it); "" when done, else why not."""
    try:
        Client(target, timeout_s=timeout_s).set_limit(watts)
    except Exception as err:
        return _why(err)
    return ""


class Pool(polling.ReadPool[Target, Outcome]):
    """BMCs read side by side on at most `workers` threads (polling.ReadPool), each by its
    node. A client is kept per node (its paths found once) and dropped after an error."""

    def __init__(self, *, workers: int, timeout_s: float) -> None:
        super().__init__(workers=workers, thread_name_prefix="aicc-bmc")
        self.timeout_s = timeout_s
        self._clients: dict[str, tuple[Target, Client]] = {}
        self._lock = threading.Lock()

    def _device(self, target: Target) -> str:
        return target.node_id

    def _read(self, target: Target) -> Outcome:
        with self._lock:
            kept = self._clients.get(target.node_id)
        client = kept[1] if kept is not None and kept[0] == target else None
        if client is None:
            try:
                client = Client(target, timeout_s=self.timeout_s)
            except Exception as err:
                return Outcome(target.node_id, error=_why(err))
        found = read(target, timeout_s=self.timeout_s, client=client)
        with self._lock:
            if found.error:
                self._clients.pop(target.node_id, None)
            else:
                self._clients[target.node_id] = (target, client)
        return found

    def run(self, fn: Any, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run another call to a BMC (a limit to write) on the same bounded threads."""
        return self._executor.submit(fn, *args, **kwargs)

    def wait(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for every reading under way (tests, the benchmark)."""
        deadline = time.monotonic() + timeout_s
        for future in list(self._running.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                future.result(timeout=left)
            except Exception:
                log.debug("a BMC reading ended in an error", exc_info=True)
