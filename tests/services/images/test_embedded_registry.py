"""`aicc serve` starts the embedded registry it configured (token server, notifications) and
stops it with itself, also when the server is killed; where `docker-registry` is missing the
server says once that images need it, and serves everything else."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from aicc.config import RegistrySettings
from aicc.registry_process import PortTaken, Supervised, check_free
from aicc.sdk.client import Client
from aicc.services.images import embedded
from aicc.testing import registry
from aicc.testing.polling import wait
from aicc.testing.registry import layer_tar, oci_layout
from aicc.testing.servers import ServerProcess, free_port


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v2/", timeout=2).status_code == 401
    except httpx.HTTPError:
        return False


def serve(home: Path, **section: object) -> ServerProcess:
    home.mkdir(parents=True)
    config = {"sandbox": "auto", "registry": section}
    (home / "config.yaml").write_text(yaml.safe_dump(config))
    return ServerProcess(home, free_port())


@pytest.mark.skipif(not registry.installed(), reason=registry.INSTALL_HINT)
@pytest.mark.parametrize("ending", ["stop", "kill9"])
def test_the_server_runs_its_registry(
    tmp_path: Path, ending: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AICC_REGISTRY__EMBEDDED", raising=False)  # tests/conftest.py's
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = serve(tmp_path / "home", listen=f"127.0.0.1:{port}")
    try:
        server.start()
        wait("the embedded registry", lambda: _answers(url))
        oci_layout(tmp_path / "img", layer_tar({"a.txt": b"a"}))
        api = Client(server.url, server.token)
        assert api.images.push("demo:1", tmp_path / "img").registry_url == url
        wait("the push booked", lambda: api.images.list())
        getattr(server, ending)()
        wait("the registry gone with its server", lambda: not _answers(url))
    finally:
        server.close()


def test_without_docker_registry_the_server_still_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AICC_REGISTRY__EMBEDDED", raising=False)
    server = serve(tmp_path / "home", binary="/nonexistent/docker-registry")
    try:
        server.start()
        with server.client() as http:
            assert http.get("/api/v1/images").json()["items"] == []
        log = server.log_path.read_text()
        assert log.count("images need the center registry") == 1
    finally:
        server.close()


def test_a_taken_registry_address_stops_the_server_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 58: not "registry exited with 1 ... starting it again" every few seconds, but a
    server that does not start and says what to change. Any existing file stands for the
    binary: the address is refused before it runs."""
    monkeypatch.delenv("AICC_REGISTRY__EMBEDDED", raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        server = serve(tmp_path / "home", listen=listen, binary=sys.executable)
        try:
            with pytest.raises(RuntimeError):
                server.start()
            assert server.proc is not None and server.proc.wait(30) == 1
            log = server.log_path.read_text()
            assert f"cannot listen on {listen}" in log and "registry.listen" in log, log
            assert "AICC_REGISTRY__LISTEN" in log and "starting it again" not in log
        finally:
            server.close()


def test_a_registry_that_lost_its_address_is_not_started_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The supervisor's side: a registry that died while another process took its address is
    said once, not restarted every few seconds."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(PortTaken, match=r"registry\.listen"):
            check_free(listen)
        where = embedded.write_config(
            tmp_path, RegistrySettings(listen=listen), aicc_url="http://127.0.0.1:1"
        )
        supervised = Supervised(Path("/bin/false"), where, listen=listen)
        supervised.start()
        try:
            wait("the supervisor gives up", lambda: not supervised._thread.is_alive(), timeout=30)
            assert supervised.process is not None and supervised.process.returncode == 1
            assert "registry.listen" in caplog.text and "goes on without it" in caplog.text
        finally:
            supervised.stop()
