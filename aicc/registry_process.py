"""The embedded center registry as a child of the server: `docker-registry serve CONFIG` (Debian's
CNCF Distribution), started by `aicc serve` when `registry.embedded` is on, started again when
it dies, stopped with the server. Where it is not installed the server says so once and serves
everything else. Its address follows the server's port (`config.registry_port`); where that
address is taken (another AICC's registry, say) the server does not start, and says which
setting to change, rather than restarting a registry that cannot listen every few seconds.
Its configuration is the images context's (`services/images/embedded.py`); this module only
runs it, as the server floor runs the loops.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import signal
import socket
import subprocess
import threading
from pathlib import Path

from aicc.config import ConfigError, RegistrySettings
from aicc.services.images import embedded

log = logging.getLogger(__name__)
RESTART_AFTER_S = 2.0


class PortTaken(ConfigError):
    """The registry's HOST:PORT is another process's; the message names the setting."""

    def __init__(self, listen: str) -> None:
        super().__init__(
            f"the center registry cannot listen on {listen}: the address is taken (another "
            "AICC's registry?). Set registry.listen in config.yaml (or AICC_REGISTRY__LISTEN) "
            "to a free HOST:PORT, serve on another --port (the registry's follows it: "
            "docs/config.md), or turn the registry off with registry.embedded: false"
        )


def check_free(listen: str) -> None:
    """Raise PortTaken where nothing may listen on `listen` (HOST:PORT) because something does.
    SO_REUSEADDR, as Distribution's listener sets it: a socket of a registry just stopped
    (TIME_WAIT) is no obstacle."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise PortTaken(listen) from None
            raise


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the thread that started it ends (Linux
    PR_SET_PDEATHSIG), so a server killed with SIGKILL leaves no registry holding the port."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Supervised:
    """`docker-registry serve CONFIG`, started again when it dies, until `stop()`."""

    def __init__(
        self,
        binary: Path,
        where: embedded.Layout,
        env: dict[str, str] | None = None,
        *,
        listen: str | None = None,
    ) -> None:
        self.binary, self.where, self.env, self.listen = binary, where, env, listen
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        with self.where.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(self.binary), "serve", str(self.where.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                preexec_fn=_die_with_parent,  # a server killed leaves no registry behind
            )
        return self.process

    def start(self) -> None:
        self.spawn()
        self._thread = threading.Thread(target=self._watch, name="aicc-registry", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.is_set():
            process = self.process
            if process is not None and process.poll() is not None:
                log.error(
                    "the registry exited with %s (log: %s); starting it again",
                    process.returncode,
                    self.where.log,
                )
                if self._stopping.wait(RESTART_AFTER_S):
                    return
                if self.listen is not None:
                    try:
                        check_free(self.listen)
                    except PortTaken as taken:  # it will not listen again: say why, once
                        log.error("%s; the server goes on without it", taken)
                        return
                self.spawn()
            self._stopping.wait(1.0)

    def stop(self, grace_s: float = 10.0) -> None:
        self._stopping.set()
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._thread is not None:
            self._thread.join(5.0)


def start(home: Path, settings: RegistrySettings, *, aicc_url: str) -> Supervised | None:
    """The embedded registry, started; None (said once in the log) where it is off or
    `docker-registry` is missing. PortTaken where its address is another process's."""
    if not settings.embedded:
        return None
    if not settings.binary.exists():
        log.warning(
            "images need the center registry: %s is not installed (Debian: apt install "
            "docker-registry); serving without one",
            settings.binary,
        )
        return None
    check_free(settings.listens_on)
    where = embedded.write_config(home, settings, aicc_url=aicc_url)
    registry = Supervised(settings.binary, where, listen=settings.listens_on)
    registry.start()
    log.info(
        "center registry on %s (registry.listen; storage %s)",
        settings.address(),
        registry.where.storage,
    )
    return registry
