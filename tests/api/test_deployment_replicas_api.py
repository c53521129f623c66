"""What `GET /deployments/{name}` says of its replicas' addresses (issue 35): a sandboxed replica
on this machine is reached through a Unix socket and has no TCP port at all, so it shows no
`url` (before, `http://127.0.0.1:PORT`, where nothing answers) and `reached_via: socket`; without
a sandbox it listens on TCP and shows the address it answers at. Real server, real replicas."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from aicc.services.jobs import endpoints
from aicc.testing.deployments import deploy
from aicc.testing.servers import in_process


def _replica(api: httpx.Client, name: str) -> dict[str, object]:
    shown = api.get(f"/api/v1/deployments/{name}")
    assert shown.status_code == 200, shown.text
    (replica,) = shown.json()["replicas"]
    return dict(replica)


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize("sandbox", ["bwrap", "off"])
def test_a_replica_shows_the_address_it_is_reached_at(tmp_path: Path, sandbox: str) -> None:
    with in_process(tmp_path / "home", sandbox=sandbox) as (api, state):
        made = deploy(api, "chat")
        replica = _replica(api, "chat")
        assert replica["job_id"] == made.jobs[0] and replica["ready"] is True
        with state.db.reader() as session:  # the port it was given, as the server knows it
            (found,) = endpoints.of_job(session, made.jobs[0])
        port = urlsplit(found.url).port or 0
        if sandbox == "bwrap":
            assert (replica["url"], replica["reached_via"]) == (None, "socket"), replica
            assert not _answers(port)  # what the old `url` named: nothing there
        else:
            assert replica["reached_via"] == "tcp", replica
            assert urlsplit(str(replica["url"])).port == port and _answers(port), replica
        listed = api.get("/api/v1/deployments").json()
        (first,) = listed if isinstance(listed, list) else listed["items"]
        assert first["replicas"] == [replica]  # the list says the same
