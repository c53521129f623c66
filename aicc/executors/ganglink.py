"""The gang link: a private Ethernet segment between a job attempt's namespaces on several nodes.

Why: every replica runs in its job's own network namespace on its node (netns.py), where it
reaches nothing of the node's network. A gang spread over several nodes (Slurm, Ray) must still
meet: each of its namespaces gets a tap device (`gang0`, address `10.254.0.(NODE_RANK+1)` of
SUBNET, so MASTER_ADDR is 10.254.0.1), and this relay carries the tap's frames between the
job's nodes over TCP. Nothing else is on the segment: no route leads off it, so the gang reaches
its own namespaces and nothing of the nodes, the control plane or other tenants.

The relay is a process of the NODE's network, started by the namespace's holder before it
unshares (netns.py `hold`), which creates the tap inside and passes its descriptor here over a
Unix socket pair; the relay ends with the holder (a pipe whose other end the holder keeps, as
slirp4netns's `--exit-fd`), and the tap (not persistent) with the relay's descriptor. Not at
once: it carries frames LINGER_S longer (the last replica's closing bytes are in flight when
the holder ends), and the hub stays while other nodes' relays are joined (node rank 0's replicas
may end first; on Slurm and Ray the hub still ends with their job, whose processes the engine
kills). A node's address and MAC (02:aa + the address) follow from its node rank: no two clash.

Topology: node rank 0's relay is the hub; it listens on TCP at its node's address, on the port
the rendezvous chose (`AICC_GANG_LINK_PORT`); the others connect to it, retrying until
LINK_TIMEOUT_S (a gang's replicas start about together). The hub forwards a frame to the peer
that owns its destination MAC (learned from the frames each peer sent), its own tap included,
and floods broadcast, multicast and unknown destinations to all but the sender.

Authentication: a per-attempt secret of 32 random bytes (`write_key`, 0600, in the job's
`net/` directory that no sandbox shows and that the nodes share as they share run directories).
The hub sends a nonce, the peer answers with its own nonce and HMAC-SHA256(key, "peer" + both),
the hub proves itself back with HMAC-SHA256(key, "hub" + both); compared in constant time. A
connection that fails is closed at once, before any frame of the segment reaches it; a peer
joins the switch as the hub sends its proof, so no frame for it is lost in between. At most
MAX_PENDING handshakes (HANDSHAKE_TIMEOUT_S each) at once: a flood is closed, not threaded.

Wire: after the handshake, each frame is a 4-byte big-endian length then the frame (at most
MAX_FRAME bytes; a longer one ends the connection), TCP_NODELAY on.

Usage (netns.py writes it): `python -I -S .../ganglink.py --rank N --hub HOST:PORT --key PATH
--tap-socket FD --exit-fd FD --ready-fd FD`. The ready descriptor gets `1` once the relay holds
the tap and is listening (hub) or joined (peer), else `0` and why. It imports the standard
library alone.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import hmac
import ipaddress
import os
import secrets
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

SUBNET = ipaddress.IPv4Network("10.254.0.0/16")  # the segment: node rank N is host N + 1
DEVICE = "gang0"
MTU = 65000
KEY_BYTES = 32
MAGIC = b"AICCLNK1"
MAX_FRAME = MTU + 14 + 4  # Ethernet header (and a VLAN tag)
LINK_TIMEOUT_S = 120.0  # how long a peer retries the hub
HANDSHAKE_TIMEOUT_S = 5.0
MAX_PENDING = 16  # handshakes under way at once: more are closed at once
RETRY_S = 0.05
LINGER_S = 2.0  # how long a relay carries frames after its namespace's holder ended
LOG = "ganglink.log"  # in the namespace's directory: what the relay said
TUNSETIFF, IFF_TAP, IFF_NO_PI, ARPHRD_ETHER = 0x400454CA, 0x0002, 0x1000, 1
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
SIOCSIFADDR, SIOCSIFNETMASK, SIOCSIFMTU, SIOCSIFHWADDR = 0x8916, 0x891C, 0x8922, 0x8924


def address(node_rank: int) -> str:
    """The gang device's address in node rank `node_rank`'s namespace."""
    if not 0 <= node_rank < SUBNET.num_addresses - 2:
        raise ValueError(f"node rank {node_rank} is beyond the gang link's {SUBNET}")
    return str(SUBNET.network_address + node_rank + 1)


def hub_address() -> str:
    """Where a gang over several nodes meets (MASTER_ADDR): node rank 0's gang device."""
    return address(0)


def mac(node_rank: int) -> bytes:
    """A locally administered MAC derived from the address, so two nodes never share one."""
    return b"\x02\xaa" + ipaddress.IPv4Address(address(node_rank)).packed


def write_key(path: Path) -> None:
    """The attempt's secret at `path` (0600), made once: a second call, on this node or any
    other that shares the directory, keeps the first one's. Written whole before it appears."""
    if path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another launcher's key is there: theirs stays
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def read_key(path: Path) -> bytes:
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise ValueError(f"the gang link's key {path} is not {KEY_BYTES} bytes")
    return key


def _proof(key: bytes, who: bytes, hub_nonce: bytes, peer_nonce: bytes) -> bytes:
    return hmac.new(key, who + hub_nonce + peer_nonce, hashlib.sha256).digest()


def _exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed during the handshake")
        data += chunk
    return data


def handshake_hub(sock: socket.socket, key: bytes) -> bytes | None:
    """The hub's side: None unless the peer proved it holds the key; else the hub's own
    proof, for the caller to send (the handshake's last message: the peer is joined then)."""
    hub_nonce = secrets.token_bytes(32)
    sock.sendall(MAGIC + hub_nonce)
    answer = _exact(sock, 64)
    peer_nonce, proof = answer[:32], answer[32:]
    if not hmac.compare_digest(proof, _proof(key, b"peer", hub_nonce, peer_nonce)):
        return None
    return _proof(key, b"hub", hub_nonce, peer_nonce)


class NoHello(ConnectionError):
    """The hub sent no hello: not serving yet, or busy with MAX_PENDING handshakes (try
    again)."""


def handshake_peer(sock: socket.socket, key: bytes) -> None:
    """A peer's side; ConnectionError when the other end is not the gang's hub."""
    try:
        hello = _exact(sock, len(MAGIC) + 32)
    except (ConnectionError, TimeoutError) as exc:  # not serving yet, or busy
        raise NoHello(str(exc) or "no hello") from None
    if hello[: len(MAGIC)] != MAGIC:
        raise ConnectionError("not a gang link at the other end")
    hub_nonce, peer_nonce = hello[len(MAGIC) :], secrets.token_bytes(32)
    sock.sendall(peer_nonce + _proof(key, b"peer", hub_nonce, peer_nonce))
    try:
        answer = _exact(sock, 32)
    except ConnectionError:
        raise ConnectionError("the hub refused this node's proof of the attempt's key") from None
    if not hmac.compare_digest(answer, _proof(key, b"hub", hub_nonce, peer_nonce)):
        raise ConnectionError("the hub does not hold the attempt's key")


# ------------------------------------------------------------------ the holder's side


def make_tap(node_rank: int) -> int:
    """The gang device in the calling process's namespace, whose network administrator it
    is (netns.py's holder): its MAC, MTU, address and netmask set, up; returns the descriptor
    that carries its frames. Not persistent: it goes with its last descriptor (the relay's)
    or its namespace. Ioctls alone: iproute2 may be absent."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        name = DEVICE.encode()
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name, IFF_TAP | IFF_NO_PI))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            fcntl.ioctl(
                sock, SIOCSIFHWADDR, struct.pack("16sH6s16x", name, ARPHRD_ETHER, mac(node_rank))
            )
            fcntl.ioctl(sock, SIOCSIFMTU, struct.pack("16si20x", name, MTU))
            for request, value in (
                (SIOCSIFADDR, address(node_rank)),
                (SIOCSIFNETMASK, str(SUBNET.netmask)),
            ):
                packed = socket.inet_aton(value)
                fcntl.ioctl(sock, request, struct.pack("16sH2x4s16x", name, socket.AF_INET, packed))
            got = fcntl.ioctl(sock, SIOCGIFFLAGS, struct.pack("16sH22x", name, 0))
            flags = struct.unpack("16sH22x", got)[1]
            fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH22x", name, flags | IFF_UP))
    except BaseException:
        os.close(fd)
        raise
    return fd


class Place(Protocol):
    """netns.Link: this node's place on the link."""

    @property
    def rank(self) -> int: ...
    @property
    def hub(self) -> str: ...
    @property
    def key(self) -> Path: ...


class Relay:
    """The holder's handle on this node's relay, started (this file, run as a script) in the
    node's network before the holder unshares: `give` it the tap from inside, then `wait`."""

    def __init__(self, directory: Path, place: Place, exit_fd: int) -> None:
        self.channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ready_r, ready_w = os.pipe()
        argv = [sys.executable, "-I", "-S", os.path.abspath(__file__)]
        argv += ["--rank", str(place.rank), "--hub", place.hub, "--key", str(place.key)]
        argv += ["--tap-socket", str(theirs.fileno()), "--exit-fd", str(exit_fd)]
        argv += ["--ready-fd", str(ready_w)]
        try:
            with open(directory / LOG, "ab") as log:
                subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=(theirs.fileno(), exit_fd, ready_w),
                )
        finally:
            theirs.close()
            os.close(ready_w)
        self.ready = ready_r

    def give(self, tap: int) -> None:
        """From the holder, inside: the tap's descriptor to the relay."""
        socket.send_fds(self.channel, [b"t"], [tap])
        os.close(tap)
        self.channel.close()

    def given(self) -> None:
        """In the holder's parent: its copy of the channel closed, so a holder that dies
        before `give` ends the relay's wait."""
        self.channel.close()

    def wait(self) -> str | None:
        """None once the relay is up; else why not (its own words, or its silence)."""
        deadline = time.monotonic() + LINK_TIMEOUT_S + 30
        said = b""
        while time.monotonic() < deadline:
            if not select.select([self.ready], [], [], deadline - time.monotonic())[0]:
                break
            chunk = os.read(self.ready, 4096)
            if not chunk:
                break
            said += chunk
        os.close(self.ready)
        if said == b"1":
            return None
        return said[1:].decode(errors="replace") or f"the gang link's relay ended (see {LOG})"


# ------------------------------------------------------------------ frames


class Peer:
    """A connection that carries frames, its writes serialized (several threads send)."""

    def __init__(self, sock: socket.socket) -> None:
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.reader = sock.makefile("rb", buffering=1 << 20)
        self.lock = threading.Lock()

    def send(self, frame: bytes) -> None:
        with self.lock:
            self.sock.sendall(struct.pack(">I", len(frame)) + frame)

    def receive(self) -> bytes | None:
        """The next frame, None at the end (or a frame too long: a broken peer)."""
        head = self.reader.read(4)
        if len(head) < 4:
            return None
        (size,) = struct.unpack(">I", head)
        if size > MAX_FRAME:
            return None
        frame = self.reader.read(size)
        return frame if len(frame) == size else None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class Hub:
    """Node rank 0's switch: its own tap and every authenticated peer, MACs learned."""

    def __init__(self, tap: int, key: bytes, listener: socket.socket) -> None:
        self.tap, self.key, self.listener = tap, key, listener
        self.peers: set[Peer] = set()
        self.owner: dict[bytes, Peer | None] = {}  # MAC -> peer (None: this node's tap)
        self.lock = threading.Lock()
        self.pending = threading.BoundedSemaphore(MAX_PENDING)

    def serve(self) -> None:
        threading.Thread(target=self._from_tap, daemon=True).start()
        while True:
            conn, _ = self.listener.accept()
            if not self.pending.acquire(blocking=False):
                conn.close()
                continue
            threading.Thread(target=self._admit, args=(conn,), daemon=True).start()

    def _admit(self, conn: socket.socket) -> None:
        who: object = "?"
        peer = None
        try:
            who = conn.getpeername()
            conn.settimeout(HANDSHAKE_TIMEOUT_S)
            proof = handshake_hub(conn, self.key)
            if proof is not None:
                with self.lock:  # joined with the handshake's last message: no frame is lost
                    conn.sendall(proof)
                    peer = Peer(conn)
                    self.peers.add(peer)
        except OSError:
            pass
        finally:
            self.pending.release()
        if peer is None:
            conn.close()  # nothing of the segment reached it
            _say(f"refused {who}: no proof of the attempt's key")
            return
        _say(f"admitted a node's relay from {who}")
        try:
            while (frame := peer.receive()) is not None:
                if len(frame) >= 14:
                    with self.lock:
                        self.owner[frame[6:12]] = peer
                    self._deliver(frame, peer)
        except OSError:
            pass
        finally:
            with self.lock:
                self.peers.discard(peer)
                for known in [m for m, p in self.owner.items() if p is peer]:
                    del self.owner[known]
            peer.close()
            _say(f"the relay from {who} left")

    def _from_tap(self) -> None:
        while True:
            try:
                frame = os.read(self.tap, BUFFER)
            except OSError as exc:  # the namespace is gone: the hub still switches its peers
                _say(f"this node's tap ended: {exc}")
                return
            if len(frame) >= 14:
                with self.lock:
                    self.owner[frame[6:12]] = None
                self._deliver(frame, None)

    def _deliver(self, frame: bytes, source: Peer | None) -> None:
        """To the destination's owner, or (broadcast, multicast, unknown) to all but `source`."""
        with self.lock:
            flood = bool(frame[0] & 1) or frame[:6] not in self.owner
            targets: list[Peer | None] = [None, *self.peers] if flood else [self.owner[frame[:6]]]
        for target in targets:
            if target is source:
                continue
            if target is None:
                with contextlib.suppress(OSError):
                    os.write(self.tap, frame)
            else:
                with contextlib.suppress(OSError):
                    target.send(frame)


BUFFER = 1 << 17  # more than a frame: a tap read returns one frame


def _to_hub(tap: int, hub: Peer) -> None:
    try:
        while True:
            hub.send(os.read(tap, BUFFER))
    except OSError as exc:
        _say(f"the link to the hub broke: {exc}")
    os._exit(0)


def spoke(tap: int, hub: Peer) -> None:
    """A peer's relay: every frame of the tap to the hub, every frame of the hub to the tap;
    ends when the hub goes (its gang's link is gone)."""
    threading.Thread(target=_to_hub, args=(tap, hub), daemon=True).start()
    with contextlib.suppress(OSError):
        while (frame := hub.receive()) is not None:
            os.write(tap, frame)
    _say("the hub left")


def connect(hub: tuple[str, int], key: bytes, timeout: float) -> Peer:
    """Join the hub, retrying until `timeout` (it may start after us). ConnectionError says
    why it failed."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            sock = socket.create_connection(hub, timeout=HANDSHAKE_TIMEOUT_S)
        except OSError as exc:
            last = exc
            time.sleep(RETRY_S)
            continue
        try:
            handshake_peer(sock, key)
        except NoHello as exc:
            sock.close()
            last = exc
            time.sleep(RETRY_S)
            continue
        except OSError as exc:
            sock.close()
            raise ConnectionError(f"node rank 0's relay at {hub[0]}:{hub[1]}: {exc}") from None
        return Peer(sock)
    raise ConnectionError(
        f"node rank 0's relay did not answer at {hub[0]}:{hub[1]} within {timeout:.0f} s"
        f" ({type(last).__name__}: {last})"
    )


def listen(hub: tuple[str, int]) -> socket.socket:
    family = socket.AF_INET6 if ":" in hub[0] else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(hub)
    listener.listen(64)
    return listener


def _say(what: str) -> None:
    """A line of the relay's log (LOG, in its namespace's directory)."""
    print(
        f"{time.strftime('%Y-%m-%dT%H:%M:%S')} aicc gang link: {what}", file=sys.stderr, flush=True
    )


def _receive_tap(channel: socket.socket) -> int:
    channel.settimeout(30)
    _, fds, _, _ = socket.recv_fds(channel, 1, 1)
    if not fds:
        raise ConnectionError("the holder sent no tap")
    return fds[0]


def _watch_exit(fd: int, busy: list[Callable[[], bool]]) -> None:
    """End with the holder: its end of the pipe closes when it ends, kill -9 included. Not at
    once: frames still in flight (the closing bytes of the node's last replica) get LINGER_S,
    and the hub stays while nodes' relays are joined (node rank 0's replicas may end first;
    on Slurm and Ray the hub ends with their job all the same)."""
    try:
        select.select([fd], [], [])
        _say("its namespace's holder ended")
    except OSError as exc:
        _say(f"cannot watch the holder: {exc}")
    time.sleep(LINGER_S)
    while busy[0]():
        time.sleep(RETRY_S)
    os._exit(0)


def relay(
    rank: int,
    hub: tuple[str, int],
    key_path: Path,
    channel: socket.socket,
    ready: Callable[[str | None], None],
    timeout: float = LINK_TIMEOUT_S,
    busy: list[Callable[[], bool]] | None = None,
) -> int:
    """Hold the tap, then serve as the hub (rank 0) or join it; `ready(None)` once up, else
    `ready(why)` and 1. The hub sets `busy[0]`: whether nodes' relays are joined."""
    try:
        key = read_key(key_path)
        listener = listen(hub) if rank == 0 else None
        tap = _receive_tap(channel)
        channel.close()
        peer = None if listener is not None else connect(hub, key, timeout)
    except (OSError, ValueError) as exc:
        ready(f"the gang link: {exc}")
        return 1
    ready(None)
    _say(f"node rank {rank} up, the hub at {hub[0]}:{hub[1]}")
    if listener is not None:
        switch = Hub(tap, key, listener)
        if busy is not None:
            busy[0] = lambda: bool(switch.peers)
        switch.serve()
    elif peer is not None:
        spoke(tap, peer)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ganglink.py")
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--hub", required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--tap-socket", type=int, required=True)
    parser.add_argument("--exit-fd", type=int, required=True)
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=LINK_TIMEOUT_S)
    options = parser.parse_args(argv)
    busy: list[Callable[[], bool]] = [lambda: False]
    threading.Thread(target=_watch_exit, args=(options.exit_fd, busy), daemon=True).start()
    host, _, port = options.hub.rpartition(":")

    def ready(why: str | None) -> None:
        os.write(options.ready_fd, b"1" if why is None else b"0" + why.encode()[-2000:])
        os.close(options.ready_fd)

    channel = socket.socket(fileno=options.tap_socket)
    hub = (host.strip("[]"), int(port))
    return relay(options.rank, hub, options.key, channel, ready, options.timeout, busy)


if __name__ == "__main__":
    sys.exit(main())
