"""This machine's accelerators other than NVIDIA's, read by running their vendors' management
tools (core/smi/probes.py's `PROBES`) and parsing what they print (core/smi/).

Each tool runs with a deadline, in a session of its own, killed with everything it started when
the deadline passes, so a hung driver never stalls discovery or the samples. What a probe finds
is one `Outcome`: the tool is absent (no devices, nothing to say), it answered (its `Report`),
or it failed (`error`: the exit status and its stderr's last line, a timeout, or output that is
not the documented table), which the node shows as the `aicc.io/device-tool.<tool>` label.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aicc.core.smi.probes import PROBES, Probe
from aicc.core.smi.report import Report, Unreadable
from aicc.core.topology import DeviceReading

log = logging.getLogger(__name__)
TIMEOUT_S = 10.0
LABEL = "aicc.io/device-tool."  # + the tool: why it failed at the last discovery


@dataclass(frozen=True)
class Outcome:
    probe: Probe
    report: Report | None = None  # None: absent, or failed (`error`)
    error: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error)


def find(probe: Probe, path: str | None = None) -> str | None:
    """The tool's executable: on `path` (default `$PATH`), else in the vendor's folders."""
    found = shutil.which(probe.tool, path=path)
    if found or path is not None:
        return found
    for folder in probe.places:
        candidate = Path(folder) / probe.tool
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def run(
    probe: Probe, *, host: str, path: str | None = None, timeout_s: float = TIMEOUT_S
) -> Outcome:
    """Run one probe's tool and parse what it printed."""
    executable = find(probe, path)
    if executable is None:
        return Outcome(probe)
    argv = [executable, *probe.args]
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: killed whole at the deadline
            env={**os.environ, "LC_ALL": "C"},
        )
    except OSError as err:
        return Outcome(probe, error=f"could not run {probe.tool}: {err}")
    try:
        out, err_out = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill(process)
        return Outcome(probe, error=f"{probe.tool} did not answer within {timeout_s:g} s")
    if process.returncode != 0:
        last = _last_line(err_out) or _last_line(out)
        why = f": {last}" if last else ""
        return Outcome(probe, error=f"{probe.tool} exited with status {process.returncode}{why}")
    try:
        report = probe.parse(out.decode("utf-8", "replace"), host)
    except Unreadable as err:
        return Outcome(probe, error=str(err))
    except (ValueError, IndexError, KeyError) as err:  # a parser's gap: said, never raised
        log.warning("%s: output not understood", probe.tool, exc_info=True)
        return Outcome(probe, error=f"{probe.tool}: output not understood ({err})")
    return Outcome(probe, report)


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.communicate(timeout=2.0)
    except subprocess.TimeoutExpired:  # a pipe held open by something outside its group
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        process.wait(timeout=2.0)


def _last_line(data: bytes) -> str:
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def host() -> str:
    """This machine's name, as made UUIDs carry it (the same at discovery and at sampling)."""
    return socket.gethostname()


def probe_all(
    probes: Sequence[Probe] = PROBES, *, path: str | None = None, timeout_s: float = TIMEOUT_S
) -> list[Outcome]:
    """Every probe's outcome, in the registry's order."""
    name = host()
    return [run(p, host=name, path=path, timeout_s=timeout_s) for p in probes]


def tool_readings(
    probes: Sequence[Probe] = PROBES, *, path: str | None = None, timeout_s: float = TIMEOUT_S
) -> list[DeviceReading]:
    """What the vendors' tools say their devices are doing now; [] where none is installed."""
    readings: list[DeviceReading] = []
    for outcome in probe_all(probes, path=path, timeout_s=timeout_s):
        if outcome.failed:
            log.warning("device sampling: %s", outcome.error)
        elif outcome.report is not None:
            readings.extend(outcome.report.readings)
    return readings
