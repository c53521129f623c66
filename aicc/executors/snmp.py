"""SNMP facility meters (a PDU's total power, or any numeric OID) through the maintained
`pysnmp` (lextudio's): one v2c GET of the meter's OID, decoded by core/meters.py.

A read waits on the network for at most the meter's `timeout_s`: one UDP request, no
retries, the whole exchange bounded by the same timeout (a thread's first read loads the MIBs
before), so a dead port or a wrong community (an agent drops such requests unanswered) ends as
an `Outcome` with the error, as a Modbus meter's does. It runs on executors/meters.py `Pool`'s
threads: each thread keeps an event loop and an `SnmpEngine` of its own (an engine loads its
MIBs once, ~0.3 s of CPU, and is bound to its loop), built at the thread's first read, not at
every read (its UDP socket and timer task stay with the loop, and go with the thread).

`pysnmp` is imported inside the functions that need it, so `aicc --help` stays fast.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aicc.core import meters
from aicc.core.meters import Oid, Outcome, Target

# what an agent answers for an OID it does not have (SNMPv2c exception values)
MISSING = {"NoSuchObject", "NoSuchInstance", "EndOfMibView"}
INTEGERS = {"Integer", "Integer32", "Gauge32", "Counter32", "Counter64", "Unsigned32"}
_THREAD = threading.local()  # this thread's event loop and SnmpEngine


def _why(err: BaseException) -> str:
    name = type(err).__name__
    message = str(err).splitlines()[0] if str(err) else ""
    return (f"{name}: {message}" if message else name)[:200]


def _engine() -> tuple[asyncio.AbstractEventLoop, Any]:
    """This thread's event loop and SnmpEngine, built at its first read."""
    from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

    loop: asyncio.AbstractEventLoop | None = getattr(_THREAD, "loop", None)
    if loop is None or loop.is_closed():
        loop = _THREAD.loop = asyncio.new_event_loop()
        _THREAD.engine = SnmpEngine()
    return loop, _THREAD.engine


def close_thread() -> None:
    """End this thread's engine and loop (a thread that reads once, as a probe, calls it)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_THREAD, "loop", None)
    engine, _THREAD.loop, _THREAD.engine = getattr(_THREAD, "engine", None), None, None
    if loop is None or loop.is_closed():
        return
    if engine is not None:
        engine.close_dispatcher()
    loop.run_until_complete(asyncio.sleep(0))  # the timer task sees its cancellation
    loop.close()


def _bind(engine: Any, oid: Oid) -> Any:
    """The request's variable binding, resolved against the engine's MIB view: local work (the
    first one loads the base MIBs, ~0.3 s of CPU), done before the meter's timeout starts."""
    from pysnmp.hlapi.v3arch.asyncio import ObjectIdentity, ObjectType
    from pysnmp.hlapi.varbinds import MibViewControllerManager

    view = MibViewControllerManager.get_mib_view_controller(engine.cache)
    return ObjectType(ObjectIdentity(oid.oid.lstrip("."))).resolve_with_mib(view)


async def _get(target: Target, engine: Any, bind: Any) -> Any:
    from pysnmp.hlapi.v3arch.asyncio import CommunityData, ContextData, UdpTransportTarget, get_cmd

    transport = await UdpTransportTarget.create(
        (target.host, target.port), timeout=target.timeout_s, retries=0
    )
    return await get_cmd(
        engine, CommunityData(target.community, mpModel=1), transport, ContextData(), bind
    )  # mpModel 1: v2c


def _value(raw: Any, oid: Oid) -> int | str:
    kind = type(raw).__name__
    if kind in MISSING:
        raise meters.OidError(f"the agent has no {oid.oid} ({kind}): check `oid.oid`")
    if kind in INTEGERS:
        return int(raw)
    if kind == "OctetString":
        return bytes(raw).decode("ascii", errors="replace")
    raise meters.OidError(f"{oid.oid} holds a {kind}, not a number")


def read(target: Target) -> Outcome:
    """One reading of the SNMP meter; blocks up to its `timeout_s`; never raises: a failure
    (no answer, an error status, an OID that is missing or not a number) is the `error`."""
    oid = target.register
    if not isinstance(oid, Oid):
        return Outcome(target.name, target.role, error="not an SNMP meter (no `oid`)")
    try:
        loop, engine = _engine()
        bind = _bind(engine, oid)
        found = loop.run_until_complete(
            asyncio.wait_for(_get(target, engine, bind), timeout=target.timeout_s)
        )
        indication, status, index, binds = found
        if indication and "timeout" in str(indication).lower():
            raise TimeoutError(str(indication))  # pysnmp's timer ended it first: the same
        if indication:
            error = f"{indication}: no SNMP answer from {target.host}:{target.port}"
            return Outcome(target.name, target.role, error=error[:200])
        if status:
            error = f"SNMP error {status.prettyPrint()} at binding {int(index)}"
            return Outcome(target.name, target.role, error=error[:200])
        value = meters.decode_oid(_value(binds[0][1], oid), oid)
    except TimeoutError:
        error = (
            f"no SNMP answer from {target.host}:{target.port} in {target.timeout_s:g} s "
            "(check `host`, `port` and `community`)"
        )
        return Outcome(target.name, target.role, error=error)
    except Exception as err:  # pysnmp's errors, a socket's, an agent's nonsense: all the same
        return Outcome(target.name, target.role, error=_why(err))
    if oid.measures == "energy":
        return Outcome(target.name, target.role, kwh=value)
    return Outcome(target.name, target.role, kw=value)
