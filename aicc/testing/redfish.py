"""A real Redfish service for tests and benchmarks: sushy-tools' `sushy-static` (PyPI), in its
own process on 127.0.0.1, serving a mockup laid out as DMTF's public mockups are
(`redfish/v1/.../index.json`, one folder per resource).

`write_mockup` lays out a rack server (a system, its chassis with `Power` and `Thermal`);
`set_health` and `set_power` rewrite a document, which the emulator serves at the next GET.
sushy-static accepts a PATCH (204) and prints its body without keeping it; `patches` reads
those bodies back from its log, which is how a test sees the power limit the BMC was sent.
"""

from __future__ import annotations

import ast
import atexit
import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aicc.testing import startup

ROOT = "/redfish/v1"


def _write(root: Path, path: str, doc: dict[str, Any]) -> None:
    where = root / path.removeprefix("/redfish/v1").strip("/") / "index.json"
    where.parent.mkdir(parents=True, exist_ok=True)
    tmp = where.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    tmp.replace(where)  # a GET in between reads the old or the new document, never half


def _collection(kind: str, members: list[str]) -> dict[str, Any]:
    return {
        "@odata.id": f"{ROOT}/{kind}",
        "@odata.type": f"#{kind}Collection.{kind}Collection",
        "Name": f"{kind} Collection",
        "Members@odata.count": len(members),
        "Members": [{"@odata.id": m} for m in members],
    }


def write_mockup(
    root: Path,
    *,
    watts: float = 344.0,
    health: str = "OK",
    limit_w: float | None = None,
    model: str = "3500RX",
    serial: str = "437XR1138R2",
    bios: str = "P79 v1.33 (02/28/2015)",
) -> Path:
    """A one-system rack server's mockup under `root` (the folder sushy-static serves)."""
    system, chassis = f"{ROOT}/Systems/437XR1138R2", f"{ROOT}/Chassis/1U"
    _write(
        root,
        ROOT,
        {
            "@odata.id": f"{ROOT}/",
            "@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot",
            "Id": "RootService",
            "Name": "Root Service",
            "RedfishVersion": "1.6.0",
            "UUID": "92384634-2938-2342-8820-489239905423",
            "Systems": {"@odata.id": f"{ROOT}/Systems"},
            "Chassis": {"@odata.id": f"{ROOT}/Chassis"},
            "Managers": {"@odata.id": f"{ROOT}/Managers"},
        },
    )
    _write(root, f"{ROOT}/Systems", _collection("Systems", [system]))
    _write(root, f"{ROOT}/Chassis", _collection("Chassis", [chassis]))
    _write(root, f"{ROOT}/Managers", _collection("Managers", []))
    set_health(root, health, model=model, serial=serial, bios=bios)
    _write(
        root,
        chassis,
        {
            "@odata.id": chassis,
            "@odata.type": "#Chassis.v1_10_0.Chassis",
            "Id": "1U",
            "Name": "Computer System Chassis",
            "ChassisType": "RackMount",
            "Manufacturer": "Contoso",
            "Model": model,
            "SerialNumber": serial,
            "PowerState": "On",
            "Status": {"State": "Enabled", "Health": "OK"},
            "Power": {"@odata.id": f"{chassis}/Power"},
            "Thermal": {"@odata.id": f"{chassis}/Thermal"},
        },
    )
    set_power(root, watts, limit_w=limit_w)
    _write(
        root,
        f"{chassis}/Thermal",
        {
            "@odata.id": f"{chassis}/Thermal",
            "@odata.type": "#Thermal.v1_5_0.Thermal",
            "Id": "Thermal",
            "Name": "Thermal",
            "Temperatures": [
                {"MemberId": "0", "Name": "CPU1 Temp", "ReadingCelsius": 41},
                {"MemberId": "1", "Name": "Inlet Temp", "ReadingCelsius": 24.5},
            ],
            "Fans": [
                {"MemberId": "0", "Name": "BaseBoard System Fan", "Reading": 2100},
                {"MemberId": "1", "Name": "BaseBoard System Fan Backup", "Reading": 2050},
            ],
        },
    )
    return root


def set_health(
    root: Path,
    health: str,
    *,
    model: str = "3500RX",
    serial: str = "437XR1138R2",
    bios: str = "P79 v1.33 (02/28/2015)",
) -> None:
    """The system's `Status.Health` (OK, Warning, Critical) from the next GET on."""
    system = f"{ROOT}/Systems/437XR1138R2"
    _write(
        root,
        system,
        {
            "@odata.id": system,
            "@odata.type": "#ComputerSystem.v1_10_0.ComputerSystem",
            "Id": "437XR1138R2",
            "Name": "WebFrontEnd483",
            "SystemType": "Physical",
            "Manufacturer": "Contoso",
            "Model": model,
            "SerialNumber": serial,
            "BiosVersion": bios,
            "PowerState": "On",
            "Status": {"State": "Enabled", "Health": health, "HealthRollup": health},
        },
    )


def set_power(root: Path, watts: float, *, limit_w: float | None = None) -> None:
    """The chassis' `Power`: one PowerControl drawing `watts`, limited to `limit_w`."""
    path = f"{ROOT}/Chassis/1U/Power"
    _write(
        root,
        path,
        {
            "@odata.id": path,
            "@odata.type": "#Power.v1_5_0.Power",
            "Id": "Power",
            "Name": "Power",
            "PowerControl": [
                {
                    "@odata.id": f"{path}#/PowerControl/0",
                    "MemberId": "0",
                    "Name": "System Power Control",
                    "PowerConsumedWatts": watts,
                    "PowerCapacityWatts": 800,
                    "PowerLimit": {"LimitInWatts": limit_w, "LimitException": "LogEventOnly"},
                }
            ],
        },
    )


@dataclass
class Emulator:
    """A running sushy-static; `stop()` (or interpreter exit) ends it and removes its files."""

    address: str
    mockup: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log: Path | None = field(default=None, repr=False)
    _dir: Path | None = field(default=None, repr=False)

    def patches(self) -> list[tuple[str, dict[str, Any]]]:
        """The PATCH requests it was sent, oldest first: (path, body)."""
        if self._log is None or not self._log.exists():
            return []
        found: list[tuple[str, dict[str, Any]]] = []
        body: dict[str, Any] | None = None  # it prints the body, then logs the request line
        for line in self._log.read_text(errors="replace").splitlines():
            if line.startswith("Data: "):
                body = json.loads(ast.literal_eval(line[len("Data: ") :]))
            elif '"PATCH ' in line and body is not None:
                found.append((line.split('"PATCH ', 1)[1].split(" ", 1)[0], body))
                body = None
        return found

    def stop(self) -> None:
        atexit.unregister(self.stop)
        startup.stop(self._process)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


def start_emulator(timeout_s: float | None = None, **mockup: Any) -> Emulator:
    """Start sushy-static on a free port over a fresh mockup (`write_mockup`'s arguments);
    raise with its log if it fails (the emulator stopped)."""
    if importlib.util.find_spec("sushy_tools") is None:
        raise RuntimeError("sushy-tools is not installed: pip install 'aicc[bmc]'")
    folder = Path(tempfile.mkdtemp(prefix="aicc-redfish-"))
    root = write_mockup(folder / "mockup", **mockup)
    log = folder / "emulator.log"
    port = _free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sushy_tools.static.main",
                "--interface",
                "127.0.0.1",
                "--port",
                str(port),
                "--mockup-files",
                str(root),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={"PYTHONUNBUFFERED": "1", **_env()},
        )
    emulator = Emulator(f"http://127.0.0.1:{port}", root, process, log, folder)
    atexit.register(emulator.stop)
    try:
        startup.wait_started(
            f"sushy-static at {emulator.address}",
            lambda: startup.answers(f"{emulator.address}{ROOT}/"),
            exited=process.poll,
            progress=startup.progress_of(process.pid, log),
            timeout=timeout_s,
        )
    except BaseException as err:
        text = log.read_text(errors="replace")[-4000:]
        emulator.stop()
        raise RuntimeError(f"sushy-static did not start: {err}\nits log:\n{text}") from err
    return emulator


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Silent:
    """A TCP listener that accepts connections and never answers: a hung BMC."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)  # the kernel completes the handshakes; nobody reads or writes
        self.address = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()
