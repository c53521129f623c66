"""`aicc serve` starts the embedded registry it configured (token server, notifications) and
stops it with itself, also when the server is killed; where `docker-registry` is missing the
server says once that images need it, and serves everything else."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from aicc.sdk.client import Client
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
