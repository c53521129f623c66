"""SNMP facility meters (a PDU's total power, or any numeric OID) through the maintained
`pysnmp` (lextudio's): one v2c GET of the meter's OID, decoded by core/meters.py.

A read blocks its thread for at most the meter's `timeout_s`: one UDP request, no retries, and
the whole exchange bounded by the same timeout, so a dead port or a wrong community (an agent
drops such requests without answering) ends as an `Outcome` with the error, as a Modbus
meter's does. It runs on executors/meters.py `Pool`'s threads, each read in an event loop of
its own; nothing is kept between reads (UDP has no connection to keep).

`pysnmp` is imported inside `read`, so `aicc --help` stays fast.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aicc.core import meters
from aicc.core.meters import Oid, Outcome, Target

# what an agent answers for an OID it does not have (SNMPv2c exception values)
MISSING = {"NoSuchObject", "NoSuchInstance", "EndOfMibView"}
INTEGERS = {"Integer", "Integer32", "Gauge32", "Counter32", "Counter64", "Unsigned32"}


def _why(err: BaseException) -> str:
    name = type(err).__name__
    message = str(err).splitlines()[0] if str(err) else ""
    return (f"{name}: {message}" if message else name)[:200]


async def _get(target: Target, oid: Oid) -> Any:
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        get_cmd,
    )

    engine = SnmpEngine()
    try:
        transport = await UdpTransportTarget.create(
            (target.host, target.port), timeout=target.timeout_s, retries=0
        )
        return await get_cmd(
            engine,
            CommunityData(target.community, mpModel=1),  # v2c
            transport,
            ContextData(),
            ObjectType(ObjectIdentity(oid.oid.lstrip("."))),
        )
    finally:
        engine.close_dispatcher()


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
        found = asyncio.run(asyncio.wait_for(_get(target, oid), timeout=target.timeout_s))
        indication, status, index, binds = found
        if indication:
            error = f"{indication}: no SNMP answer from {target.host}:{target.port}"
            if "timeout" in str(indication).lower():
                error += " (check `host`, `port` and `community`)"
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
