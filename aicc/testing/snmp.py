"""A real SNMP agent for tests: snmpsim's command responder (PyPI `snmpsim`), on 127.0.0.1 on a
free UDP port, in a process of its own, standing in for a PDU or any meter read over SNMP
(docs/energy.md). It answers v2c GETs for the `community` (and, given `usm`, SNMPv3 GETs from
that user, in its context) from a `.snmprec` data file written from `records` (OID ->
(snmprec type tag, value): 2 INTEGER, 4 OCTET STRING, 65 Counter32, 66 Gauge32, 70 Counter64),
read once at start.

`start` returns only once the agent answers a GET, and stops it when it does not; `stop` ends
the process. snmpsim refuses to run as root unless told to drop privileges or
`SNMPSIM_ALLOW_ROOT=true`; the agent is this test's child on loopback, so the latter is set.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aicc.core.meters import Oid, Target, Usm
from aicc.executors import snmp
from aicc.testing import startup


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Agent:
    """The running agent: its port, and the records it answers."""

    records: dict[str, tuple[int, str]]
    community: str = "public"
    usm: Usm | None = None  # an SNMPv3 user the agent knows, with its keys
    port: int = 0
    _process: subprocess.Popen[bytes] | None = None
    _root: Path | None = None
    _log: list[str] = field(default_factory=list)

    def start(self, timeout_s: float = 20.0) -> Agent:
        root = self._root = Path(tempfile.mkdtemp(prefix="aicc-snmpsim-"))
        data = root / "data"
        data.mkdir()
        lines = [f"{oid.lstrip('.')}|{tag}|{value}" for oid, (tag, value) in self.records.items()]
        # snmpsim wants the records in OID order; the file's name is the v2c community
        lines.sort(key=lambda line: [int(p) for p in line.split("|", 1)[0].split(".")])
        (data / f"{self.community}.snmprec").write_text("\n".join(lines) + "\n")
        if self.usm is not None:  # an SNMPv3 context's data file is named after the context
            (data / f"{self.usm.context}.snmprec").write_text("\n".join(lines) + "\n")
        self.port = self.port or free_udp_port()
        responder = Path(sys.executable).parent / "snmpsim-command-responder"
        command = [
            str(responder) if responder.exists() else "snmpsim-command-responder",
            *_v3_options(self.usm),
            f"--data-dir={data}",
            f"--cache-dir={root / 'cache'}",
            f"--agent-udpv4-endpoint=127.0.0.1:{self.port}",
        ]
        env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
        log = (root / "agent.log").open("wb")
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        probe = Target(
            "probe", "it", "127.0.0.1", self.port, 0,
            Oid(next(iter(self.records)), "string" if next(iter(self.records.values()))[0] == 4
                else "integer"),
            timeout_s=3.0, community=self.community, usm=self.usm,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + timeout_s
            while snmp.read(probe).error:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError(f"no SNMP agent on port {self.port}: {self.output()}")
            return self
        except BaseException:
            self.stop()
            raise
        finally:
            snmp.close_thread()

    def output(self) -> str:
        """The agent's log's tail, for an error message."""
        if self._root is None or not (self._root / "agent.log").exists():
            return ""
        return (self._root / "agent.log").read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        process, self._process = self._process, None
        startup.stop(process)
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


def _v3_options(usm: Usm | None) -> list[str]:
    """snmpsim's options for one SNMPv3 user (they follow the engine they belong to)."""
    if usm is None:
        return []
    found = [
        "--v3-engine-id=auto",
        f"--v3-user={usm.user}",
        f"--v3-auth-key={usm.auth_key}",
        f"--v3-auth-proto={usm.auth_protocol.replace('-', '')}",
    ]
    if usm.priv_protocol is not None:
        proto = {"AES": "AES", "AES-192": "AES192", "AES-256": "AES256"}[usm.priv_protocol]
        found += [f"--v3-priv-key={usm.priv_key}", f"--v3-priv-proto={proto}"]
    return found
