"""A listening replica on another machine (Slurm, Ray) is reached on TCP at its node's address,
so any process of that node can connect there (issue 35: "Replicas answer anyone on the
machine"). Its forwarder (executors/netns.py, `--token-file`) now passes a connection on only
when its first request carries the replica's token: from the node, a request without the
header, with a wrong one, a head that never ends or a websocket upgrade without it gets 403 or
a close and 0 bytes of the replica, which never sees the connection; with the token, one
connection carries keep-alive requests and a websocket, as the gateway and the portal use them.

Real processes: the forwarder runs as a replica's launcher does, in front of an aiohttp server
(HTTP and websockets) in the job's own network namespace, which logs every request it gets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets.exceptions
from websockets.sync.client import connect

from aicc.executors import netns, replicaforward
from aicc.testing.polling import wait

REPLICA = """
import os, sys
from aiohttp import web, WSMsgType

seen = open(sys.argv[1], "a", buffering=1)

async def plain(request):
    peer = request.transport.get_extra_info("peername")
    token = request.headers.get("X-AICC-Replica-Token")
    seen.write(f"{request.method} {request.path} from {peer[1]}\\n")
    return web.Response(text=f"FROM-THE-REPLICA {request.path} via {peer[1]} token {bool(token)}")

async def echo(request):
    seen.write(f"WS {request.path}\\n")
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            await ws.send_str("FROM-THE-REPLICA echo " + message.data)
    return ws

app = web.Application()
app.router.add_get("/ws", echo)
app.router.add_route("*", "/{tail:.*}", plain)
web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None,
            handle_signals=True)
"""


@dataclass(frozen=True)
class Replica:
    port: int
    token: str
    seen: Path  # one line per request (or websocket) that reached the replica

    def requests(self) -> list[str]:
        return self.seen.read_text().splitlines() if self.seen.exists() else []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def replica(tmp_path: Path) -> Iterator[Replica]:
    """An aiohttp replica in its own namespace behind a forwarder on 127.0.0.1:PORT (the node's
    address on the dev cluster), with a token made as the executor makes it."""
    port = _free_port()
    (tmp_path / "run").mkdir()  # the run directory, as the executor has it
    token_file = netns.make_token(netns.service_token(tmp_path / "run"))
    argv = netns.prefix(tmp_path / "net", forward=f"127.0.0.1:{port}", token_file=token_file)
    seen = tmp_path / "seen.log"
    process = subprocess.Popen(
        [*argv, sys.executable, "-c", REPLICA, str(seen)],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        up = Replica(port, netns.read_token(token_file), seen)

        def answers() -> bool:  # the forwarder listens at once, the replica a moment later
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                got = httpx.get(f"http://127.0.0.1:{port}/up", headers=_token(up.token))
            except httpx.HTTPError:
                return False
            return got.status_code == 200

        wait("the replica through its forwarder", answers, timeout=60, every=0.05)
        seen.write_text("")  # what follows is the test's
        yield up
    finally:
        os.killpg(process.pid, 9)
        process.wait()
        if process.stderr:
            process.stderr.close()


def _token(token: str) -> dict[str, str]:
    return {replicaforward.TOKEN_HEADER: token}


def _raw(port: int, request: bytes) -> bytes:
    """What a process of the node gets for `request` sent as it is, to the connection's end."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(request)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except ConnectionResetError:
            pass
    return got


def test_a_process_of_the_node_gets_403_and_nothing_of_the_replica(replica: Replica) -> None:
    """No header, a wrong one, one of another length, two of them, the token in a body or in
    the query: 403 and the forwarder's line alone; the replica saw none of it."""
    url = f"http://127.0.0.1:{replica.port}"
    wrong = ("0" * 64, replica.token[:-1], replica.token + "0", "")
    with httpx.Client(timeout=10, trust_env=False) as http:
        answers = [http.get(f"{url}/v1/models")]
        answers += [http.get(f"{url}/v1/models", headers=_token(w)) for w in wrong]
        answers.append(
            http.post(f"{url}/v1/chat", content=f"X-AICC-Replica-Token: {replica.token}")
        )
        answers.append(http.get(f"{url}/v1/models", params={"token": replica.token}))
        answers.append(
            http.get(
                f"{url}/v1/models",
                headers=[
                    (replicaforward.TOKEN_HEADER, replica.token),
                    (replicaforward.TOKEN_HEADER, "0" * 64),
                ],
            )
        )
    for answer in answers:
        assert answer.status_code == 403, answer.text
        assert answer.text == "this replica answers AICC's gateway alone\n"
    head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    raw = _raw(replica.port, head)
    assert raw.startswith(b"HTTP/1.1 403 Forbidden\r\n") and b"FROM-THE-REPLICA" not in raw
    # a head that never ends within HEAD_MAX bytes: closed, not a byte back
    endless = b"GET / HTTP/1.1\r\nX-Pad: " + b"a" * (replicaforward.HEAD_MAX + 10)
    assert _raw(replica.port, endless) == b""
    # the token after the head (in the body of a request without it) opens nothing either
    smuggled = head.replace(b"\r\n\r\n", b"\r\nContent-Length: 90\r\n\r\n")
    smuggled += (
        f"GET /second HTTP/1.1\r\n{replicaforward.TOKEN_HEADER}: {replica.token}\r\n\r\n".encode()
    )
    assert b"FROM-THE-REPLICA" not in _raw(replica.port, smuggled)
    assert replica.requests() == []


def test_a_websocket_upgrade_without_the_token_is_refused(replica: Replica) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{replica.port}/ws", open_timeout=10).close()
    assert refused.value.response.status_code == 403
    assert replica.requests() == []


def test_with_the_token_one_connection_carries_keep_alive_requests(replica: Replica) -> None:
    """As the gateway's pooled client and the probes send: each request carries the header,
    the forwarder reads the first head alone, and the replica sees three requests over one
    connection of the forwarder (one peer port)."""
    with httpx.Client(timeout=10, trust_env=False, headers=_token(replica.token)) as http:
        answers = [http.get(f"http://127.0.0.1:{replica.port}/v1/{n}") for n in range(3)]
        posted = http.post(f"http://127.0.0.1:{replica.port}/v1/chat", content=b"x" * 200_000)
    assert [a.status_code for a in answers] == [200, 200, 200], answers
    assert posted.status_code == 200, posted.text
    peers = {a.text.split(" via ")[1].split()[0] for a in answers}
    assert len(peers) == 1, answers  # one connection, kept alive
    assert answers[0].text.endswith("token True")  # left in (netns.py says why)
    assert [r.split(" from ")[0] for r in replica.requests()] == [
        "GET /v1/0",
        "GET /v1/1",
        "GET /v1/2",
        "POST /v1/chat",
    ]


def test_with_the_token_a_websocket_works(replica: Replica) -> None:
    """The notebook proxy's kernels and terminals: the upgrade carries the token, then frames
    flow both ways as long as the connection lives."""
    uri = f"ws://127.0.0.1:{replica.port}/ws"
    with connect(uri, additional_headers=_token(replica.token), open_timeout=10) as ws:
        for n in range(3):
            ws.send(f"ping {n}")
            assert ws.recv(timeout=10) == f"FROM-THE-REPLICA echo ping {n}"
    assert replica.requests() == ["WS /ws"]


def test_a_forward_on_tcp_needs_a_readable_token(tmp_path: Path) -> None:
    """Without `--token-file` (and no socket) the launcher refuses to start; with a token file
    that is missing or not a token, it fails before the command runs: a replica on TCP is never
    open to anyone."""
    port = _free_port()
    ran = tmp_path / "ran"
    command = ["/bin/sh", "-c", f"touch {ran}"]
    bare = netns.prefix(tmp_path / "net", forward=f"127.0.0.1:{port}")
    done = subprocess.run([*bare, *command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "needs --token-file" in done.stderr
    bad = tmp_path / "bad-token"
    bad.write_text("not a token")
    for token_file in (tmp_path / "missing", bad):
        argv = netns.prefix(tmp_path / "net", forward=f"127.0.0.1:{port}", token_file=token_file)
        done = subprocess.run([*argv, *command], capture_output=True, text=True, timeout=60)
        assert done.returncode == 126, done.stderr
    assert not ran.exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
