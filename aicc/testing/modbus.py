"""A real Modbus TCP server for tests and benchmarks: pymodbus' own server (PyPI), on 127.0.0.1
on a free port, in a thread of this process with its own event loop, standing in for the
center's facility meters (docs/energy.md).

Each unit id is a device with holding and input registers 0..9999 (zero elsewhere); `set`
writes a meter's reading into them as the meter would (core/meters.py `encode`), through the
device's documented `action` hook, which the server calls on every request. `start` returns
only once the server accepts connections and stops it when it does not; `stop` ends it.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aicc.core.meters import Register, encode

REGISTERS = 10_000
TABLES = {"holding": 3, "input": 4}  # the read function codes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Plant:
    """The running server: its port, and the words it answers (unit, function, address)."""

    units: tuple[int, ...]
    port: int = 0
    words: dict[tuple[int, int, int], int] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, unit: int, register: Register, value: float) -> None:
        """The meter `unit` now reads `value` (kW or kWh) at `register`."""
        code = TABLES[register.table]
        with self._lock:
            for offset, word in enumerate(encode(value, register)):
                self.words[(unit, code, register.address + offset)] = word

    async def _action(
        self,
        unit: int,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: Any,
    ) -> None:
        with self._lock:
            for (u, code, at), word in self.words.items():
                inside = start_address <= at < start_address + len(current_registers)
                if u == unit and code == function_code and inside:
                    current_registers[at - start_address] = word

    def _device(self, unit: int) -> Any:
        from pymodbus.simulator import DataType, SimData, SimDevice

        def bits() -> list[Any]:
            return [SimData(0, count=16, values=False, datatype=DataType.BITS)]

        def registers() -> list[Any]:
            return [SimData(0, count=REGISTERS, values=0, datatype=DataType.REGISTERS)]

        blocks = (bits(), bits(), registers(), registers())
        return SimDevice(id=unit, simdata=blocks, action=functools.partial(self._action, unit))

    def start(self, timeout_s: float = 20.0) -> Plant:
        from pymodbus.server import ModbusTcpServer

        self.port = self.port or _free_port()
        loop = self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def serve() -> None:
            self._server = ModbusTcpServer(
                [self._device(u) for u in self.units], address=("127.0.0.1", self.port)
            )
            ready.set()
            await self._server.serve_forever()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(serve())
            finally:
                ready.set()

        self._thread = threading.Thread(target=run, name="aicc-test-modbus", daemon=True)
        self._thread.start()
        try:
            ready.wait(timeout_s)
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return self
                except OSError:
                    if time.monotonic() > deadline or not self._thread.is_alive():
                        raise RuntimeError(f"no Modbus server on port {self.port}") from None
                    time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        loop, server, thread = self._loop, self._server, self._thread
        if loop is not None and server is not None and loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(10)
            except Exception:
                loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(10)
        if loop is not None and not loop.is_running() and not loop.is_closed():
            loop.close()


def start_plant(units: tuple[int, ...] = (1, 2, 3)) -> Plant:
    """A Modbus TCP server with these unit ids, accepting connections."""
    return Plant(units=units).start()
