"""A real, throwaway S3-protocol server for tests and benchmarks: moto's, in its own process.

The S3 chunk store is tested over real HTTP, signatures, retries and error codes included, not
against an in-process patch of boto3. moto keeps objects in the server process's memory; the
server listens on 127.0.0.1 on a free port and takes any credentials.
"""

from __future__ import annotations

import atexit
import importlib.util
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from aicc.testing import startup

if TYPE_CHECKING:
    from aicc.store.s3 import S3Chunks

INSTALL_HINT = "pip install 'moto[server]'"
REGION = "us-east-1"


def moto_installed() -> bool:
    return importlib.util.find_spec("moto") is not None


@dataclass
class S3Server:
    """A running server with one bucket; `stop()` (or interpreter exit) ends it."""

    endpoint_url: str
    bucket: str
    region: str = REGION
    access_key_id: str = "aicc-test"
    secret_access_key: str = "aicc-test-secret"
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log: Path | None = field(default=None, repr=False)

    def settings(self, prefix: str = "") -> dict[str, Any]:
        """The `data.s3` section of config.yaml that points a server at this one."""
        return {
            "endpoint_url": self.endpoint_url,
            "bucket": self.bucket,
            "region": self.region,
            "prefix": prefix,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
        }

    def chunks(self, prefix: str = "") -> S3Chunks:
        """A chunk store in this server's bucket; a prefix of its own keeps a test's chunks
        apart from every other test's."""
        from aicc.config import S3Settings
        from aicc.store.s3 import S3Chunks

        return S3Chunks.from_settings(S3Settings.model_validate(self.settings(prefix)))

    def stop(self) -> None:
        atexit.unregister(self.stop)
        startup.stop(self._process)
        if self._log:
            self._log.unlink(missing_ok=True)


def start_s3(bucket: str = "aicc-test", timeout_s: float | None = None) -> S3Server:
    """Start moto's server on a free port and create `bucket`; raise with its log if it fails
    (the server stopped). Waits while it makes progress (`startup.wait_started`)."""
    if not moto_installed():
        raise RuntimeError(f"moto is not installed: {INSTALL_HINT}")
    port = _free_port()
    fd, log_name = tempfile.mkstemp(prefix="aicc-moto-", suffix=".log")
    log = Path(log_name)
    with open(fd, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = S3Server(f"http://127.0.0.1:{port}", bucket, _process=process, _log=log)
    atexit.register(server.stop)
    try:
        _wait_ready(server.endpoint_url, process, log, timeout_s)
        import boto3

        boto3.session.Session().client(
            "s3",
            endpoint_url=server.endpoint_url,
            region_name=server.region,
            aws_access_key_id=server.access_key_id,
            aws_secret_access_key=server.secret_access_key,
        ).create_bucket(Bucket=bucket)
    except BaseException as err:
        text = log.read_text(errors="replace")[-4000:]
        server.stop()
        raise RuntimeError(f"moto's S3 server did not start: {err}\nits log:\n{text}") from err
    return server


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float | None
) -> None:
    def answers() -> bool:
        try:
            startup.get(f"{url}/moto-api/", timeout=2.0)
        except httpx.TransportError:
            return False
        return True

    startup.wait_started(
        f"moto's S3 server at {url}",
        answers,
        exited=process.poll,
        progress=startup.progress_of(process.pid, log),
        timeout=timeout_s,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
