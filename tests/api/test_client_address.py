"""Whose address a request comes from: the socket's peer, or what trusted proxies forwarded.

The sign-in throttle counts by this address, so a client that could choose it (by writing its
own X-Forwarded-For) could guess passwords without end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.requests import Request

from aicc.api.deps import client_address
from aicc.testing.servers import in_process


def request(app: FastAPI, peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", line.encode()) for line in forwarded]
    return Request({"type": "http", "app": app, "client": (peer, 40000), "headers": headers})


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """A server behind two layers of proxies: 10.0.0.0/8 and one IPv6 load balancer."""
    home = tmp_path_factory.mktemp("proxied") / "home"
    with in_process(home, trusted_proxies=["10.0.0.0/8", "2001:db8::1"]) as (api, _):
        assert isinstance(api.app, FastAPI)
        yield api.app


def test_without_trusted_proxies_the_peer_is_the_client(tmp_path: Path) -> None:
    with in_process(tmp_path / "home") as (api, _):
        assert isinstance(api.app, FastAPI)
        assert client_address(request(api.app, "127.0.0.1", "192.0.2.7")) == "127.0.0.1"


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("10.0.0.2", ["192.0.2.7"], "192.0.2.7"),  # one proxy
        ("10.0.0.2", ["192.0.2.7, 10.1.1.1"], "192.0.2.7"),  # two proxies, one header
        ("10.0.0.2", ["192.0.2.7", "10.1.1.1"], "192.0.2.7"),  # two proxies, two header lines
        ("2001:db8::1", ["2001:db8::99"], "2001:db8::99"),
        # the client wrote a hop of its own: the right-most one a proxy saw wins
        ("10.0.0.2", ["6.6.6.6, 192.0.2.7"], "192.0.2.7"),
        ("10.0.0.2", ["10.9.9.9, 192.0.2.7"], "192.0.2.7"),
        ("10.0.0.2", ["192.0.2.7, not-an-address"], "not-an-address"),
        ("10.0.0.2", [], "10.0.0.2"),  # a proxy's own request
        ("10.0.0.2", ["10.3.3.3"], "10.3.3.3"),  # only proxies: the farthest
        ("192.0.2.50", ["198.51.100.1"], "192.0.2.50"),  # not a proxy: its header is ignored
    ],
)
def test_trusted_proxies_name_the_client_by_the_right_most_untrusted_hop(
    proxied: FastAPI, peer: str, forwarded: list[str], client: str
) -> None:
    assert client_address(request(proxied, peer, *forwarded)) == client
