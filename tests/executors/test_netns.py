"""A job's network namespace (aicc/executors/netns.py) with real processes: egress `none` has a
loopback alone, `internet` a slirp4netns tap with a default route and DNS while the machine's
loopback stays out of reach; two launchers of one job share one namespace, and nothing of it
outlives its last process."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aicc.executors import netns, replicaforward
from aicc.testing.isolation import Listener, listening

REPORT = """
import os, socket, sys
links = [l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:]]
routes = [l.split()[:3] for l in open("/proc/net/route").read().splitlines()[1:]]
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3).close()
    host = "reached"
except OSError as exc:
    host = type(exc).__name__
print(" ".join(sorted(links)), "|", routes, "|", host, "|", os.readlink("/proc/self/ns/net"))
"""


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A listener on the machine's loopback, counting the connections it accepted."""
    with listening() as opened:
        yield opened


def _launch(directory: Path, egress: str, port: int) -> list[str]:
    argv = netns.prefix(directory, egress=egress)  # type: ignore[arg-type]
    done = subprocess.run(
        [*argv, sys.executable, "-c", REPORT, str(port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split(" | ")


def _gone(directory: Path) -> bool:
    pid = json.loads((directory / netns.HOLDER_FILE).read_text())["pid"]
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return not Path(f"/proc/{pid}").exists()


def test_egress_none_has_its_loopback_alone(tmp_path: Path, listener: Listener) -> None:
    port = listener.port
    links, routes, host, inode = _launch(tmp_path / "net", "none", port)
    assert (links, routes, host) == ("lo", "[]", "ConnectionRefusedError")
    assert inode != os.readlink("/proc/self/ns/net")
    assert listener.accepted == 0
    assert _gone(tmp_path / "net")


def test_egress_internet_routes_through_slirp4netns_but_not_to_the_machines_loopback(
    tmp_path: Path, listener: Listener
) -> None:
    port = listener.port
    links, routes, host, _ = _launch(tmp_path / "net", "internet", port)
    assert links == "lo tap0"
    assert "['tap0', '00000000', '0202000A']" in routes  # default via 10.0.2.2
    assert host == "ConnectionRefusedError" and listener.accepted == 0
    assert _gone(tmp_path / "net")
    slirps = subprocess.run(["pgrep", "-f", f"slirp4netns.*{tmp_path}"], capture_output=True)
    assert slirps.stdout == b""


def test_two_launchers_of_one_job_share_its_namespace_while_one_runs(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    first = subprocess.Popen(
        [*netns.prefix(directory), sys.executable, "-c", "import time; time.sleep(30)"]
    )
    try:
        deadline = time.monotonic() + 30
        while not (directory / netns.HOLDER_FILE).exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)  # the first has joined
        holder = json.loads((directory / netns.HOLDER_FILE).read_text())
        shared = os.readlink(f"/proc/{holder['pid']}/ns/net")
        second = subprocess.run(
            [*netns.prefix(directory), "readlink", "/proc/self/ns/net"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.stdout.strip() == shared
    finally:
        first.kill()
        first.wait()
    assert _gone(directory)  # its last user is gone: so is the holder, and the namespace


def test_a_retry_never_joins_its_earlier_attempts_namespace(tmp_path: Path) -> None:
    """The namespace is the attempt's (`net_dir`): while a replica of attempt 0 still runs on
    the node, attempt 1's replica there gets a namespace (and a gang link) of its own."""
    job = tmp_path / "job"
    first = subprocess.Popen(
        [*netns.prefix(netns.net_dir(job, 0, "n1")), "sleep", "30"], stdout=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while not (netns.net_dir(job, 0, "n1") / netns.HOLDER_FILE).exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        holder = json.loads((netns.net_dir(job, 0, "n1") / netns.HOLDER_FILE).read_text())
        earlier = os.readlink(f"/proc/{holder['pid']}/ns/net")
        retry = subprocess.run(
            [*netns.prefix(netns.net_dir(job, 1, "n1")), "readlink", "/proc/self/ns/net"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert retry.returncode == 0, retry.stderr
        assert retry.stdout.strip() not in (earlier, os.readlink("/proc/self/ns/net"))
    finally:
        first.kill()
        first.wait()
    assert _gone(netns.net_dir(job, 0, "n1")) and _gone(netns.net_dir(job, 1, "n1"))


SERVE = """
import os, socket
server = socket.create_server(("127.0.0.1", int(os.environ["PORT"])))
print("listening", os.environ["AICC_SERVICE_HOST"], flush=True)
while True:
    conn, _ = server.accept()
    data = conn.recv(65536)
    conn.sendall(b"echo " + data)
    conn.close()
"""


def test_a_listening_replica_is_reached_through_its_socket_alone(tmp_path: Path) -> None:
    """`--socket`: the replica listens on $PORT in its namespace; the launcher's forwarder
    listens on a Unix socket (0600 in a 0700 directory) whose path is longer than a socket
    address holds, and binds no TCP port on the machine."""
    port = _free_port()
    path = tmp_path / ("d" * 100) / netns.SERVICE_DIR / netns.SERVICE_SOCKET
    assert len(str(path)) > 108  # sun_path's size: bound and dialled through /proc/self/fd
    argv = netns.prefix(tmp_path / "net", forward=f"127.0.0.1:{port}", socket_path=path)
    env = {**os.environ, "PORT": str(port)}
    replica = subprocess.Popen(
        [*argv, sys.executable, "-c", SERVE], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert replica.stdout is not None
        assert replica.stdout.readline() == "listening 127.0.0.1\n"
        with netns.reachable(path) as short:
            client = socket.socket(socket.AF_UNIX)
            client.connect(short)
        with client:
            client.sendall(b"hello")
            assert client.recv(100) == b"echo hello"
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=3).close()
    finally:
        replica.kill()
        replica.wait()
    assert _gone(tmp_path / "net")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_head_token_reads_the_one_token_header_of_a_request_head() -> None:
    """The forwarder's parser (pure, stdlib): the header's name in any case, its value without
    the spaces around it; none, two, one in the request line or a line without a colon: None."""
    line = b"GET /x HTTP/1.1\r\nHost: n1:8000\r\n"
    assert replicaforward.head_token(line + b"x-aicc-replica-token:  abc \r\n") == b"abc"
    assert replicaforward.head_token(line + b"X-AICC-Replica-Token: abc\r\nA: b\r\n") == b"abc"
    assert replicaforward.head_token(line) is None
    two = b"X-AICC-Replica-Token: abc\r\nX-AICC-Replica-Token: abc\r\n"
    assert replicaforward.head_token(line + two) is None
    assert replicaforward.head_token(b"X-AICC-Replica-Token: abc\r\nHost: x\r\n") is None
    assert replicaforward.head_token(line + b"X-AICC-Replica-Token abc\r\n") is None
    assert replicaforward.head_token(line + b"X-AICC-Replica-Token-2: abc\r\n") is None


def test_a_token_is_made_once_0600_in_a_0700_directory(tmp_path: Path) -> None:
    path = netns.make_token(netns.service_token(tmp_path))
    token = netns.read_token(path)
    assert len(token) == 64 and int(token, 16) >= 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert netns.read_token(netns.make_token(path)) == token  # a launch tried again keeps it
    link = tmp_path / "link"
    link.symlink_to(path)
    with pytest.raises(OSError):
        netns.read_token(link)
