"""The gang link (aicc/executors/ganglink.py) with real processes: two namespaces of one job
attempt on this machine, standing for node ranks 0 and 1 of a gang over two nodes, meet over
their `gang0` devices and reach nothing of the node's network; the hub's port answers no one
without the attempt's key; killing the replicas leaves no holder, relay or namespace behind."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aicc.executors import ganglink, netns
from aicc.loops.scheduling import rendezvous
from aicc.scheduler.snapshot import Bind, Placement
from aicc.store.tables.nodes import NodeRow
from aicc.testing.isolation import Listener, listening

SERVE = """
import socket, sys
server = socket.create_server(("10.254.0.2", int(sys.argv[1])))
print("listening", flush=True)
conn, _ = server.accept()
conn.sendall(b"pong " + conn.recv(100))
conn.close()
"""

PROBE = """
import socket, sys, time
port, outside, node = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for _ in range(300):
    try:
        with socket.create_connection(("10.254.0.2", port), timeout=2) as conn:
            conn.sendall(b"ping")
            print(conn.recv(100).decode(), flush=True)
            break
    except OSError:
        time.sleep(0.1)
for host in ("127.0.0.1", node):
    try:
        socket.create_connection((host, outside), timeout=3).close()
        print(host, "reached", flush=True)
    except OSError as exc:
        print(host, type(exc).__name__, flush=True)
"""

CHATTER = """
import socket, time
print("up", flush=True)
while True:  # ARP requests for an absent neighbour: broadcast frames on the segment
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"x", ("10.254.0.9", 9))
    time.sleep(0.1)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gang:
    """A job attempt's net directory on this machine, its key, and its replicas (killed at the
    end, whatever happened)."""

    def __init__(self, root: Path) -> None:
        self.job = root / "job"
        self.key = netns.link_key(self.job, 0)
        ganglink.write_key(self.key)
        self.hub = f"127.0.0.1:{_free_port()}"
        self.replicas: list[subprocess.Popen[str]] = []

    def directory(self, rank: int) -> Path:
        return netns.net_dir(self.job, 0, f"n{rank}")

    def start(
        self, rank: int, script: str, *args: str, egress: netns.Egress = "none"
    ) -> subprocess.Popen[str]:
        link = netns.Link(rank, self.hub, self.key)
        pre = netns.prefix(self.directory(rank), egress=egress, link=link)
        argv = [*pre, sys.executable, "-c", script]
        replica = subprocess.Popen(
            [*argv, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.replicas.append(replica)
        return replica

    def holder(self, rank: int) -> int:
        return int(json.loads((self.directory(rank) / netns.HOLDER_FILE).read_text())["pid"])

    def ours(self) -> list[str]:
        """Processes whose command line names this gang's directories (holders, relays)."""
        found = subprocess.run(["pgrep", "-af", str(self.job)], capture_output=True, text=True)
        return found.stdout.splitlines()

    def kill(self) -> None:
        for replica in self.replicas:
            with contextlib.suppress(ProcessLookupError):
                replica.kill()
            replica.communicate()


@pytest.fixture
def gang(tmp_path: Path) -> Iterator[Gang]:
    made = Gang(tmp_path)
    try:
        yield made
    finally:
        made.kill()
        for rank in (0, 1):  # a failed test leaves nothing either
            with contextlib.suppress(OSError, ValueError):
                os.kill(made.holder(rank), 9)


@pytest.fixture
def outside() -> Iterator[Listener]:
    """A listener on every address of the node, counting the connections it accepted."""
    with listening("0.0.0.0") as opened:
        yield opened


def _node_address() -> str:
    """An address of this machine other than its loopback (where a control plane listens)."""
    found = [a for a in netns.node_addresses() if ":" not in a and not a.startswith("127.")]
    if not found:
        pytest.skip("this machine has no address but its loopback")
    return found[0]


def _ended(pids: list[int], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{p}").exists() for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(Path(f"/proc/{p}").exists() for p in pids)


def _links(pid: int) -> list[str]:
    lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":")[0].strip() for line in lines)


@pytest.mark.parametrize(
    ("egress", "off_link"),
    [
        ("none", "OSError"),  # no route off the link: ENETUNREACH
        ("internet", "ConnectionRefusedError"),  # slirp4netns's route, the nftables reject
    ],
)
def test_two_nodes_meet_on_the_gang_link_and_reach_nothing_of_the_node(
    gang: Gang, outside: Listener, egress: netns.Egress, off_link: str
) -> None:
    """With egress `internet` too: its chain lets the link's subnet through on `gang0`
    alone, and still rejects the node's addresses."""
    port, node_port = _free_port(), outside.port
    node = _node_address()
    # node rank 1 starts first: it waits for the hub
    server = gang.start(1, SERVE, str(port), egress=egress)
    probe = gang.start(0, PROBE, str(port), str(node_port), node, egress=egress)
    assert server.stdout is not None and probe.stdout is not None
    assert server.stdout.readline() == "listening\n", server.stderr
    said, errors = probe.communicate(timeout=40)
    assert probe.returncode == 0, errors
    assert said.splitlines() == [
        "pong ping",  # node 0 to node 1's address on the link, and back
        "127.0.0.1 ConnectionRefusedError",  # its own loopback, not the node's
        f"{node} {off_link}",
    ], said
    assert outside.accepted == 0
    server.communicate(timeout=30)
    assert server.returncode == 0


def test_killed_replicas_leave_no_holder_relay_or_tap(gang: Gang) -> None:
    hub, peer = gang.start(0, CHATTER), gang.start(1, CHATTER)
    for replica in (hub, peer):
        assert replica.stdout is not None and replica.stdout.readline() == "up\n"
    holders = [gang.holder(0), gang.holder(1)]
    assert [_links(p) for p in holders] == [["gang0", "lo"], ["gang0", "lo"]]
    relays = [line for line in gang.ours() if "ganglink.py" in line]
    assert len(relays) == 2, gang.ours()
    relay_pids = [int(line.split()[0]) for line in relays]
    gang.kill()  # kill -9 the replicas: their launchers exec'd into them
    assert _ended(holders + relay_pids), gang.ours()
    assert gang.ours() == []  # nothing of the gang runs; its taps went with their namespaces


def _hello(port: int) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = b""
    while len(head) < len(ganglink.MAGIC) + 32:
        chunk = client.recv(100)
        assert chunk, "the hub closed before its hello"
        head += chunk
    assert head.startswith(ganglink.MAGIC)
    return client


def _rest(client: socket.socket) -> bytes:
    """Everything the hub sends until it closes (within 15 s)."""
    client.settimeout(15)
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := client.recv(65536):
            data += chunk
    return data


def test_the_hubs_port_answers_no_one_without_the_attempts_key(gang: Gang) -> None:
    """The hub (node rank 0) floods its broadcasts to every peer: a connection on the node
    with a wrong proof, or none, gets no frame and is closed; the key's holder gets frames."""
    chatter = gang.start(0, CHATTER)
    assert chatter.stdout is not None and chatter.stdout.readline() == "up\n"
    port = int(gang.hub.rpartition(":")[2])

    wrong = _hello(port)
    wrong.sendall(os.urandom(64))  # a nonce and a proof made without the key
    assert _rest(wrong) == b""
    wrong.close()

    silent = _hello(port)  # sends nothing: closed at the handshake's deadline
    started = time.monotonic()
    assert _rest(silent) == b""
    assert time.monotonic() - started < ganglink.HANDSHAKE_TIMEOUT_S + 5
    silent.close()

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        ganglink.handshake_peer(sock, ganglink.read_key(gang.key))
        frame = ganglink.Peer(sock).receive()
    # flooded to every peer: a broadcast or multicast of node rank 0 (ARP, IPv6's neighbour
    # and router solicitations: whichever the kernel sends first)
    assert frame is not None and frame[0] & 1, frame[:14]
    assert frame[6:12] == ganglink.mac(0)


def test_a_node_without_the_attempts_key_fails_its_replica_saying_why(gang: Gang) -> None:
    """Node rank 1 with another attempt's key: its relay is refused by the hub, and its replica
    does not start (exit 126) with a message that names the gang link and the key."""
    chatter = gang.start(0, CHATTER)
    assert chatter.stdout is not None and chatter.stdout.readline() == "up\n"
    gang.key = netns.link_key(gang.job, 1)  # another attempt's
    ganglink.write_key(gang.key)
    stray = gang.start(1, "print('started')")
    out, err = stray.communicate(timeout=60)
    assert (stray.returncode, out) == (126, ""), err
    assert "the gang link" in err and "refused this node's proof of the attempt's key" in err, err


def test_a_node_whose_hub_never_answers_gives_up_saying_so(tmp_path: Path) -> None:
    key = tmp_path / "0.key"
    ganglink.write_key(key)
    port = _free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(ConnectionError, match=rf"did not answer at 127.0.0.1:{port} within 1 s"):
        ganglink.connect(("127.0.0.1", port), ganglink.read_key(key), timeout=1)
    assert time.monotonic() - started < 5


def test_a_gang_over_several_nodes_gets_a_link_port_from_its_rendezvous() -> None:
    nodes = {
        n: NodeRow(name=n, executor="slurm", address=f"10.0.0.{i}", labels={})
        for i, n in enumerate(("n1", "n2"), start=1)
    }
    spread = rendezvous(Bind("job_1", (Placement(0, "n1"), Placement(1, "n2"))), nodes)
    assert [e["MASTER_ADDR"] for e in spread] == ["10.0.0.1"] * 2  # where the relays meet
    ports = {e["AICC_GANG_LINK_PORT"] for e in spread}
    assert len(ports) == 1 and ports != {spread[0]["MASTER_PORT"]}
    one = rendezvous(Bind("job_2", (Placement(0, "n1"), Placement(1, "n1"))), nodes)
    here = rendezvous(
        Bind("job_3", (Placement(0, "n1"), Placement(1, "n2"))), nodes, frozenset({"slurm"})
    )
    assert all("AICC_GANG_LINK_PORT" not in e for e in [*one, *here])
    assert netns.net_dir(Path("j"), 0, "n1") != netns.net_dir(Path("j"), 1, "n1")
    assert [ganglink.address(r) for r in (0, 1, 255)] == ["10.254.0.1", "10.254.0.2", "10.254.1.0"]
