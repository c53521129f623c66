"""The center's facility meters over Modbus TCP, through `pymodbus`' client: each meter's
register read and decoded (core/meters.py) into kW or a kWh counter; the loops store what it
reports (loops/meters.py). An SNMP meter (a PDU's OID) is read by executors/snmp.py on the same
`Pool`, to the same `Outcome`.

A meter on the plant network may be slow or gone: a read has one connect and one answer
timeout (the meter's `timeout_s`, no retries), and `Pool` reads the meters side by side on a
bounded number of threads, never the same one twice at once, so one that hangs holds one thread
for its timeout and delays no other meter's sample. A client is kept per meter (one TCP
connection, as meters allow few) and dropped after an error.

`pymodbus` is imported inside the functions that need it, so `aicc --help` stays fast.
"""

from __future__ import annotations

import threading
from typing import Any

from aicc.core import meters
from aicc.core.meters import Outcome, Register, Target
from aicc.executors import polling, snmp

# Modbus exception codes (the Modbus application protocol, 7) as an operator reads them
EXCEPTIONS = {
    1: "illegal function: the meter has no such register table",
    2: "illegal data address: check `registers.address` and `count`",
    3: "illegal data value",
    4: "server device failure",
    6: "server device busy",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond: check `unit_id`",
}


def connect(target: Target) -> Any:
    """A connected client for the meter (pymodbus' ModbusTcpClient), or an error raised."""
    from pymodbus.client import ModbusTcpClient

    client: Any = ModbusTcpClient(
        target.host, port=target.port, timeout=target.timeout_s, retries=0, reconnect_delay=0
    )
    if not client.connect():
        client.close()
        raise ConnectionError(f"no Modbus TCP answer at {target.host}:{target.port}")
    return client


def read(target: Target, client: Any) -> Outcome:
    """One reading of the meter through `client`; never raises: a failure is the `error`."""
    register = target.register
    if not isinstance(register, Register):
        return Outcome(target.name, target.role, error="not a Modbus meter (no `registers`)")
    try:
        ask = (
            client.read_input_registers
            if register.table == "input"
            else client.read_holding_registers
        )
        answer = ask(register.address, count=register.count, device_id=target.unit_id)
        if answer.isError():
            code = getattr(answer, "exception_code", None)
            why = EXCEPTIONS.get(code, "an error") if isinstance(code, int) else "an error"
            error = f"Modbus exception {code} ({why}) from unit {target.unit_id}"
            return Outcome(target.name, target.role, error=error)
        value = meters.decode(answer.registers, register)
    except Exception as err:  # pymodbus' errors, a socket's, a meter's nonsense: all the same
        return Outcome(target.name, target.role, error=polling.why(err)[:200])
    if register.measures == "energy":
        return Outcome(target.name, target.role, kwh=value)
    return Outcome(target.name, target.role, kw=value)


class Pool(polling.ReadPool[Target, Outcome]):
    """Meters read side by side on at most `workers` threads (polling.ReadPool), each by its
    name."""

    def __init__(self, *, workers: int) -> None:
        super().__init__(workers=workers, thread_name_prefix="aicc-meter")
        self._clients: dict[str, tuple[Target, Any]] = {}
        self._lock = threading.Lock()

    def _device(self, target: Target) -> str:
        return target.name

    def _read(self, target: Target) -> Outcome:
        if target.protocol == "snmp":
            return snmp.read(target)  # connectionless: no client kept
        with self._lock:
            kept = self._clients.pop(target.name, None)
        client = kept[1] if kept is not None and kept[0] == target else None
        if kept is not None and client is None:
            kept[1].close()  # the meter's settings changed
        if client is None:
            try:
                client = connect(target)
            except Exception as err:
                return Outcome(target.name, target.role, error=polling.why(err)[:200])
        found = read(target, client)
        if found.error:
            client.close()
        else:
            with self._lock:
                self._clients[target.name] = (target, client)
        return found

    def close(self) -> None:
        super().close()
        with self._lock:
            for _, client in self._clients.values():
                client.close()
            self._clients.clear()
