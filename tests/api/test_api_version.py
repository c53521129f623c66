"""The SDK and CLI send the API version they speak, and a server of another version says so,
naming both, instead of answering what the client would misread; the other way round, an SDK
refuses the answers of a server of another version."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from aicc import API_VERSION, __version__
from aicc.sdk.client import Client
from aicc.sdk.errors import ApiError
from aicc.sdk.transport import VERSION_HEADER
from aicc.testing.servers import over_http


def test_a_client_of_another_api_version_is_told_both_versions(tmp_path: Path) -> None:
    with over_http(tmp_path / "home", loops=False) as (url, token, _state):
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=auth, timeout=30) as http:
            plain = http.get("/api/v1/me")  # curl sends no version: served as it is
            assert plain.status_code == 200 and plain.headers[VERSION_HEADER] == API_VERSION
            newer = http.get(
                "/api/v1/me", headers={VERSION_HEADER: "2", "User-Agent": "aicc/9.0.0"}
            )
            assert newer.status_code == 400, newer.text
            said = newer.json()["detail"]
            assert f"API version {API_VERSION}" in said and "version 2" in said
            assert "aicc/9.0.0" in said and f"aicc=={__version__}" in said
        with Client(url, token) as sdk:  # the SDK sends its version and is served
            assert sdk.me().user.name == "admin"


class _Newer(BaseHTTPRequestHandler):
    """A server of a later API version, as far as its answers' headers go."""

    def do_GET(self) -> None:
        body = json.dumps({"id": "u", "name": "admin"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header(VERSION_HEADER, "7")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_sdk_refuses_a_server_of_another_api_version() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Newer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with Client(url, "token") as sdk, pytest.raises(ApiError) as refused:
            sdk.me()
        said = str(refused.value)
        assert "server speaks AICC API version 7" in said and f"version {API_VERSION}" in said
    finally:
        server.shutdown()
        server.server_close()
