"""SNMP facility meters (a PDU's total power, or any numeric OID) through the maintained
`pysnmp` (lextudio's): one GET of the meter's OID, v2c with its community or SNMPv3 as its
user (`UsmUserData`: authentication, and encryption where configured), decoded by
core/meters.py.

A read waits on the network for at most the meter's `timeout_s`: one UDP request, no
retries, the whole exchange bounded by the same timeout (a thread's first read loads the MIBs
before), so a dead port or a wrong community (an agent drops such requests unanswered) ends as
an `Outcome` with the error, as a Modbus meter's does. A wrong SNMPv3 key is answered with a
report (a wrong digest, or a PDU that does not decrypt), also an error naming the key to check.
It runs on executors/meters.py `Pool`'s threads: each thread keeps an event loop and an
`SnmpEngine` of its own (an engine loads its MIBs once, ~0.3 s of CPU, and is bound to its
loop), built at the thread's first read, not at every read (its UDP socket and timer task stay
with the loop, and go with the thread). An SNMPv3 user gets an engine of its own on the thread
(one per set of credentials): an engine's user table holds one set of keys per user name, so
two meters with the same user and other keys never read with each other's.

`pysnmp` is imported inside the functions that need it, so `aicc --help` stays fast.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aicc.core import meters
from aicc.core.meters import Oid, Outcome, Target, Usm
from aicc.executors import polling

# what an agent answers for an OID it does not have (SNMPv2c exception values)
MISSING = {"NoSuchObject", "NoSuchInstance", "EndOfMibView"}
INTEGERS = {"Integer", "Integer32", "Gauge32", "Counter32", "Counter64", "Unsigned32"}
_THREAD = threading.local()  # this thread's event loop and SnmpEngines
# core/meters.py's protocol names -> pysnmp's hlapi names
AUTH = {
    "MD5": "usmHMACMD5AuthProtocol",
    "SHA": "usmHMACSHAAuthProtocol",
    "SHA-224": "usmHMAC128SHA224AuthProtocol",
    "SHA-256": "usmHMAC192SHA256AuthProtocol",
    "SHA-384": "usmHMAC256SHA384AuthProtocol",
    "SHA-512": "usmHMAC384SHA512AuthProtocol",
}
PRIV = {"AES": "usmAesCfb128Protocol", "AES-192": "usmAesCfb192Protocol",
        "AES-256": "usmAesCfb256Protocol"}  # fmt: skip
# what pysnmp says of a report for a wrong key, and the field to check
KEY_ERRORS = {"digest": "snmpv3.auth_key", "cipher": "snmpv3.priv_key",
              "unknown usm user": "snmpv3.user", "unknownusername": "snmpv3.user"}  # fmt: skip


def _engine(usm: Usm | None = None) -> tuple[asyncio.AbstractEventLoop, Any]:
    """This thread's event loop and its SnmpEngine for `usm` (None: v2c), each built at its
    first read."""
    from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

    loop: asyncio.AbstractEventLoop | None = getattr(_THREAD, "loop", None)
    if loop is None or loop.is_closed():
        loop = _THREAD.loop = asyncio.new_event_loop()
        _THREAD.engines = {}
    engines: dict[Usm | None, Any] = _THREAD.engines
    if usm not in engines:
        engines[usm] = SnmpEngine()
    return loop, engines[usm]


def close_thread() -> None:
    """End this thread's engines and loop (a thread that reads once, as a probe, calls it)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_THREAD, "loop", None)
    engines: dict[Usm | None, Any] = getattr(_THREAD, "engines", None) or {}
    _THREAD.loop, _THREAD.engines = None, {}
    if loop is None or loop.is_closed():
        return
    for engine in engines.values():
        engine.close_dispatcher()
    loop.run_until_complete(asyncio.sleep(0))  # the timer tasks see their cancellation
    loop.close()


def _bind(engine: Any, oid: Oid) -> Any:
    """The request's variable binding, resolved against the engine's MIB view: local work (the
    first one loads the base MIBs, ~0.3 s of CPU), done before the meter's timeout starts."""
    from pysnmp.hlapi.v3arch.asyncio import ObjectIdentity, ObjectType
    from pysnmp.hlapi.varbinds import MibViewControllerManager

    view = MibViewControllerManager.get_mib_view_controller(engine.cache)
    return ObjectType(ObjectIdentity(oid.oid.lstrip("."))).resolve_with_mib(view)


def _auth(target: Target) -> tuple[Any, Any]:
    """The request's security: the SNMPv3 user with its keys, else the v2c community; and
    its context."""
    from pysnmp.hlapi.v3arch import asyncio as hlapi

    usm = target.usm
    if usm is None:
        return hlapi.CommunityData(target.community, mpModel=1), hlapi.ContextData()  # v2c
    priv: dict[str, Any] = {}
    if usm.priv_protocol is not None:
        priv = {"privKey": usm.priv_key, "privProtocol": getattr(hlapi, PRIV[usm.priv_protocol])}
    user = hlapi.UsmUserData(
        usm.user,
        authKey=usm.auth_key,
        authProtocol=getattr(hlapi, AUTH[usm.auth_protocol]),
        **priv,
    )
    return user, hlapi.ContextData(contextName=usm.context)


async def _get(target: Target, engine: Any, bind: Any) -> Any:
    from pysnmp.hlapi.v3arch.asyncio import UdpTransportTarget, get_cmd

    transport = await UdpTransportTarget.create(
        (target.host, target.port), timeout=target.timeout_s, retries=0
    )
    auth, context = _auth(target)
    return await get_cmd(engine, auth, transport, context, bind)


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
        loop, engine = _engine(target.usm)
        bind = _bind(engine, oid)
        found = loop.run_until_complete(
            asyncio.wait_for(_get(target, engine, bind), timeout=target.timeout_s)
        )
        indication, status, index, binds = found
        if indication and "timeout" in str(indication).lower():
            raise TimeoutError(str(indication))  # pysnmp's timer ended it first: the same
        if indication:
            return Outcome(target.name, target.role, error=_refused(target, str(indication)))
        if status:
            error = f"SNMP error {status.prettyPrint()} at binding {int(index)}"
            return Outcome(target.name, target.role, error=error[:200])
        value = meters.decode_oid(_value(binds[0][1], oid), oid)
    except TimeoutError:
        error = (
            f"no SNMP answer from {target.host}:{target.port} in {target.timeout_s:g} s "
            f"(check `host`, `port` and {_credentials(target)})"
        )
        return Outcome(target.name, target.role, error=error)
    except Exception as err:  # pysnmp's errors, a socket's, an agent's nonsense: all the same
        return Outcome(target.name, target.role, error=polling.why(err)[:200])
    if oid.measures == "energy":
        return Outcome(target.name, target.role, kwh=value)
    return Outcome(target.name, target.role, kw=value)


def _credentials(target: Target) -> str:
    if target.usm is None:
        return "`community`"
    return "`snmpv3` (its user, keys and context)"


def _refused(target: Target, indication: str) -> str:
    """The error of an answer that is no reading: a wrong SNMPv3 key or user names the field."""
    lowered = indication.lower()
    if target.usm is not None:
        field = next((f for word, f in KEY_ERRORS.items() if word in lowered), None)
        if field is not None:
            return (
                f"SNMPv3 refused by {target.host}:{target.port} ({indication}): check `{field}`"
            )[:200]
    return f"{indication}: no SNMP answer from {target.host}:{target.port}"[:200]
