"""A job's own network: one network namespace per job attempt per node, shared by its replicas
there, and a gang link between a gang's namespaces on several nodes.

Why: the sandbox (sandbox.py) holds a job's files, but the network used to be the node's: a
template's `train.py` could POST the runner's data to a listener on 127.0.0.1, and a job could
call another tenant's replica, notebook or the control plane directly. In its own namespace a job
reaches its own loopback only (where a gang on one node meets: MASTER_ADDR 127.0.0.1) and, with
egress `internet`, public addresses through slirp4netns: the host's loopback cut off
(`--disable-host-loopback`) and, by an nftables chain inside the namespace, the private ranges
and the node's own addresses rejected, so not the control plane wherever it listens either.

A gang over several nodes (Slurm, Ray; `--link NODE_RANK@HOST:PORT --link-key PATH`): its
namespace on each node also gets `gang0`, a tap device on the attempt's private Ethernet
segment (ganglink.py: 10.254.0.0/16, node rank N at 10.254.0.(N+1), MASTER_ADDR 10.254.0.1),
whose frames a relay in the node's network carries to node rank 0's relay, the hub, over TCP
authenticated by the attempt's key (`JOB_DIR/net/ATTEMPT.key`, `link_key`). The holder starts
the relay before it unshares, makes the tap inside and hands the relay its descriptor; the
relay ends with the holder, the tap with the relay. The segment is the gang's alone: with
egress `none` it is the namespace's only way out, to the job's own namespaces; with
`internet` the nftables chain lets its subnet through on `gang0` alone. A node's relay that
cannot join the hub within ganglink.LINK_TIMEOUT_S fails its replica's start, saying why.

Layout, under `JOB_DIR/net/ATTEMPT-NODE` (a directory no sandbox shows; a retry's replicas
neither join nor link to an earlier attempt's namespace):
- `holder.json` the holder: the process whose namespace it is (pid, start time);
- `create.lock` held while one launcher looks for the holder or creates it;
- `users.lock`  a shared flock that every replica's processes hold for their whole life (the
  descriptor, read-only, is inherited through the sandbox: a replica that drops it only lets
  its job's later replicas on the node get a fresh namespace); the holder waits for an
  exclusive one;
- `slirp4netns.log`, `ganglink.log` what slirp4netns and the gang link's relay said.

Lifetime: the namespace lives as long as its processes. The holder ends once no replica holds
`users.lock` (a replica, its supervisor or the server killed: the lock goes with the last open
descriptor), slirp4netns with the holder (`--exit-fd`), and nothing is left on the host (no
mount, no interface). The holder runs in the cgroup of the replica that created it, so it also
ends with that replica: a replica joining after that one ended gets a fresh namespace (a gang's
replicas start together). A holder that got its exclusive lock is ending: a joiner waits for it.

Privileges: as root the holder unshares the network alone and replicas join it by setns; as any
other user it first unshares a user namespace mapping the user to itself (as unprivileged bwrap
does), and replicas join both. Python 3.11 has neither os.unshare nor os.setns: libc by ctypes.

Reaching a listening replica (`--forward HOST:PORT`): the launcher listens in the node's network
*before* joining the namespace, then forwards each connection to 127.0.0.1:PORT inside (a socket
keeps the namespace it was made in), and the replica gets AICC_SERVICE_HOST=127.0.0.1. So the
contract "a replica listens on $PORT" holds, and no job reaches it: every job is in a namespace
of its own, where the node's loopback does not exist. Where it listens:
- `--socket PATH` (every executor whose nodes are this machine, the local one): on a Unix
  socket, `RUN_DIR/service/socket` (`service_socket`), 0600 in a 0700 directory that the server
  makes and no sandbox shows. No TCP port is bound for the replica at all, so only the server's
  account (the gateway, the portal's notebook proxy, the loops) reaches it, not another Unix
  user nor any process of the machine's network. The server knows the socket from the
  replica's handle, its run directory: the directory `service/` exists before the handle is
  recorded, so a replica is reached through its socket or, without a sandbox (no namespace,
  the replica binds $PORT itself), on TCP, never one then the other
  (`aicc/services/jobs/endpoints.py`).
- `--token-file PATH` (Slurm, Ray: nodes other than this machine): on TCP, HOST:PORT at the
  node's address, where the server can reach it, and so can any process of that node or of
  a network that reaches it. So the connection must earn the replica first: the forwarder
  reads the first request's head (at most HEAD_MAX bytes within HEAD_TIMEOUT_S) and passes
  it on only with a header `X-AICC-Replica-Token: TOKEN` (`head_token`, compared in constant
  time); anything else gets a 403 (or, a head that never ends, a close) and never reaches
  the replica. The token is 32 random bytes of the replica's own, `RUN_DIR/service/token`
  (`service_token`, `make_token`): 0600 in a 0700 directory that no sandbox shows, written by
  the executor before the handle is recorded and read once by the forwarder before it
  listens; the server reads it from the run directory (on the file system nodes and server
  share) and every caller of the replica sends it (`aicc/services/jobs/endpoints.py`). An
  authenticated connection is piped as it is: any number of keep-alive requests, a
  websocket upgrade. The header is left in the request, not stripped: the forwarder parses
  the first head alone (later requests of a connection pass unparsed, carrying it too, so
  stripping it from one would hide it from nothing), and it names no more than the replica
  it is sent to, whose process is the owner's code and has no node network to use it from.
  At most MAX_PENDING heads are awaited at once: a flood of slow heads is closed, not
  served by a thread each. A forward on TCP without a token is refused (`main`).
Without a sandbox (`sandbox: off`) there is no namespace and no forwarder on any executor: the
replica binds $PORT on its node itself and is reached there with no socket and no token, as
before; a center that turns the sandbox off gives this guard up with the sandbox's others.
A Unix socket's path holds 107 bytes (`sun_path`); a longer one (a deep $AICC_HOME) is bound
and dialled through `/proc/self/fd/N/NAME` of its directory (`reachable`).

The route to the server (`--route PORT@SOCKET`, the local executor's): the holder itself, in
the namespace and outside the sandbox, listens on 127.0.0.1:PORT and relays each connection's
bytes to the server's job socket, which answers the S3 routes alone (serverroute.py); it ends
with the holder.

Usage, put before the sandbox's argv (it must run outside the sandbox, in the node's network):
`python -I -S .../aicc/executors/netns.py NET_DIR [--egress none|internet] [--forward HOST:PORT
(--socket PATH | --token-file PATH)] [--route PORT@SOCKET] -- CMD` (`prefix()` writes it). It
imports the standard library alone (and its siblings ganglink.py, serverroute.py, by path).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import importlib
import importlib.util
import ipaddress
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import string
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, NamedTuple, cast

Egress = Literal["none", "internet"]
EGRESS: tuple[Egress, ...] = ("none", "internet")
NET = "net"  # JOB_DIR/net/ATTEMPT-NODE
HOLDER_FILE = "holder.json"
CREATE_LOCK = "create.lock"
USERS_LOCK = "users.lock"
SLIRP_LOG = "slirp4netns.log"
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
START_TIMEOUT_S = 30.0
SERVICE_DIR = "service"  # RUN_DIR/service/socket: a listening replica's Unix socket
SERVICE_SOCKET = "socket"
SERVICE_TOKEN = "token"  # RUN_DIR/service/token: the replica's token, where it is on TCP
TOKEN_BYTES = 32  # random bytes, written as 64 hex digits

_LIBC = ctypes.CDLL(None, use_errno=True)
# This file run as a script, isolated (-I: neither the replica's working directory nor its
# environment chooses what it imports) and without site (-S): it needs the standard library
# alone, and a replica's start pays for an interpreter's start, not for `import aicc`'s.
_SELF = (sys.executable, "-I", "-S", os.path.abspath(__file__))


class NetworkUnavailable(RuntimeError):
    """The job's namespace cannot be made or joined here (no user namespaces, no slirp4netns)."""


class Link(NamedTuple):
    """A gang over several nodes: this node's place on the gang link (ganglink.py)."""

    rank: int  # NODE_RANK: the gang device's address, and rank 0 the hub
    hub: str  # HOST:PORT where node rank 0's relay listens, in the nodes' network
    key: Path  # the attempt's secret (ganglink.write_key)


def net_dir(job_dir: Path, attempt: int, node: str | None = None) -> Path:
    """Where a job attempt's namespace on `node` (this host by default) is recorded: a retry's
    replicas never join (nor link to) a namespace of an attempt before."""
    return job_dir / NET / f"{attempt}-{node or socket.gethostname()}"


def link_key(job_dir: Path, attempt: int) -> Path:
    """The secret of a job attempt's gang link, shared by the nodes as run directories are."""
    return job_dir / NET / f"{attempt}.key"


def service_socket(run_dir: Path) -> Path:
    """Where the server reaches a listening replica of this machine: the forwarder's socket."""
    return run_dir / SERVICE_DIR / SERVICE_SOCKET


def service_token(run_dir: Path) -> Path:
    """Where a listening replica on another machine keeps its token (`make_token`)."""
    return run_dir / SERVICE_DIR / SERVICE_TOKEN


def make_token(path: Path) -> Path:
    """The replica's token at `path` (32 random bytes, hex), made once: 0600 in a 0700
    directory that no sandbox shows, and kept as it is when a launch of the same run directory
    is tried again (its forwarder may have read it already). Returns `path`."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.parent.chmod(0o700)
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(TOKEN_BYTES))
        os.replace(tmp, path)
    return path


def read_token(path: str | os.PathLike[str]) -> str:
    """The token `make_token` wrote: OSError when it cannot be read (a link, not a regular
    file, gone), ValueError when it is not 64 hex digits."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        text = f.read(4 * TOKEN_BYTES).decode("ascii", errors="replace").strip()
    if len(text) != 2 * TOKEN_BYTES or text.strip(string.hexdigits):
        raise ValueError(f"{path} holds no replica token")
    return text


@contextlib.contextmanager
def reachable(path: str | os.PathLike[str]) -> Iterator[str]:
    """`path` as a Unix socket's address can hold it, whatever its length: through
    `/proc/self/fd/N/NAME`, N a descriptor of its directory held open until the block ends.
    OSError when the directory is gone."""
    fd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{os.path.basename(path)}"
    finally:
        os.close(fd)


def prefix(
    directory: Path,
    *,
    egress: Egress = "none",
    forward: str | None = None,
    socket_path: Path | None = None,
    token_file: Path | None = None,
    link: Link | None = None,
    route: tuple[int, Path] | None = None,
) -> list[str]:
    """The argv to put before the sandbox's: join (or create) the namespace, then exec.
    `link`: a gang over several nodes, whose namespaces meet on the gang link.
    `route`: (PORT, SOCKET): the holder relays 127.0.0.1:PORT inside to the server's job
    socket (serverroute.py).
    `forward`: `HOST:PORT` of a listening replica, reached through the launcher, on TCP at
    HOST or, with `socket_path`, on that Unix socket alone; on TCP with `token_file`
    (`make_token`), by a connection whose first request carries that token alone."""
    argv = [*_SELF, str(directory), "--egress", egress]
    if forward:
        argv += ["--forward", forward]
        if socket_path is not None:
            argv += ["--socket", str(socket_path)]
        if token_file is not None:
            argv += ["--token-file", str(token_file)]
    return [*argv, *_link_args(link), *_route_args(route), "--"]


def _link_args(link: Link | None) -> list[str]:
    if link is None:
        return []
    return ["--link", f"{link.rank}@{link.hub}", "--link-key", str(link.key)]


def _route_args(route: tuple[int, str | Path] | None) -> list[str]:
    return [] if route is None else ["--route", f"{route[0]}@{route[1]}"]


# ------------------------------------------------------------------ namespaces


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise NetworkUnavailable(f"{what}: {os.strerror(err)}")


def _unshare(userns: bool) -> None:
    """Into a new network namespace (and first a user namespace mapping us to ourselves)."""
    if userns:
        uid, gid = os.geteuid(), os.getegid()
        _check(_LIBC.unshare(CLONE_NEWUSER), "unshare(user)")
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    _check(_LIBC.unshare(CLONE_NEWNET), "unshare(net)")


def _loopback_up() -> None:
    """`ip link set lo up`, without iproute2: a new namespace's loopback starts down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _join(holder: dict[str, Any]) -> None:
    """Into the holder's namespaces (its user namespace first, when it has one)."""
    pid = int(holder["pid"])
    kinds = [("user", CLONE_NEWUSER)] if holder.get("userns") else []
    for kind, flag in [*kinds, ("net", CLONE_NEWNET)]:
        fd = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_LIBC.setns(fd, flag), f"setns({kind}) into the job's namespace")
        finally:
            os.close(fd)


# ------------------------------------------------------------------ the holder


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot): with the pid, names one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 and fields[0] not in (b"Z", b"X") else None


def _live_holder(directory: Path) -> dict[str, Any] | None:
    try:
        holder = json.loads((directory / HOLDER_FILE).read_text())
    except (OSError, ValueError):
        return None
    alive = isinstance(holder, dict) and _start_time(int(holder.get("pid", 0))) == holder.get(
        "start"
    )
    return cast(dict[str, Any], holder) if alive else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """An exclusive flock on `path`: released when the holder ends, even by kill -9."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure(
    directory: Path,
    egress: Egress = "none",
    link: Link | None = None,
    route: tuple[int, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """The namespace's holder, started when there is none, and a descriptor (close-on-exec)
    holding a shared lock on `users.lock`: while it is open the holder stays. Blocks up to
    START_TIMEOUT_S (and, with `link`, while the gang link is joined: ganglink.LINK_TIMEOUT_S more);
    raises NetworkUnavailable when no namespace can be made here."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with exclusive(directory / CREATE_LOCK):
        users = os.open(directory / USERS_LOCK, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            holder = _live_holder(directory)
            if holder is not None:
                try:
                    fcntl.flock(users, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:  # it holds the exclusive lock: it is ending
                    deadline = time.monotonic() + START_TIMEOUT_S
                    while _start_time(int(holder["pid"])) == holder["start"]:
                        if time.monotonic() > deadline:
                            why = "the job's old namespace does not end"
                            raise NetworkUnavailable(why) from None
                        time.sleep(0.01)
                    holder = None
            if holder is None:
                fcntl.flock(users, fcntl.LOCK_SH)
                holder = _start_holder(directory, egress, link, route)
            return users, holder
        except BaseException:
            os.close(users)
            raise


def _start_holder(
    directory: Path, egress: Egress, link: Link | None, route: tuple[int, str] | None
) -> dict[str, Any]:
    argv = [*_SELF, "--hold", str(directory)]
    try:
        done = subprocess.run(
            [*argv, "--egress", egress, *_link_args(link), *_route_args(route)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S + (_ganglink().LINK_TIMEOUT_S if link else 0),
            start_new_session=True,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkUnavailable(f"cannot start the job's network namespace: {exc}") from exc
    holder = _live_holder(directory)
    if done.returncode != 0 or holder is None:
        why = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise NetworkUnavailable(f"cannot start the job's network namespace: {why[0]}")
    return holder


def hold(
    directory: Path,
    egress: Egress,
    link: Link | None = None,
    route: tuple[int, str] | None = None,
) -> int:
    """The holder (`--hold`): fork the process that unshares and waits for `users.lock`
    alone; with `link`, start the gang link's relay first (it stays in the node's network)
    and hand it the tap the holder makes inside; with egress, start slirp4netns on it; exit
    once all are ready (the caller waits for this first process only: the holder is nobody's
    child). With `route`, the holder itself relays 127.0.0.1:PORT inside to the server's job
    socket (serverroute.py) for as long as it lives."""
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe()  # slirp4netns and the relay end when the holder's end closes
    relay = None if link is None else _ganglink().Relay(directory, link, exit_r)
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(exit_r)
        code = 1
        try:
            node = node_addresses() if egress == "internet" else []  # read before leaving
            _unshare(userns=os.geteuid() != 0)
            _loopback_up()
            if route is not None:
                _sibling("serverroute").start(*route)
            if relay is not None and link is not None:
                relay.give(_ganglink().make_tap(link.rank))
            if egress == "internet":
                _public_only(node, gang=link is not None)
            start = _start_time(os.getpid())
            info = {"pid": os.getpid(), "start": start, "userns": os.geteuid() != 0}
            _write_json(directory / HOLDER_FILE, {**info, "egress": egress})
            users = os.open(directory / USERS_LOCK, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)  # the starter waits for its pipes to close
            os.write(ready_w, b"1")
            os.close(ready_w)
            fcntl.flock(users, fcntl.LOCK_EX)  # granted when no replica holds it any more
            code = 0
        except BaseException as exc:  # the starter reads why on stderr
            print(f"aicc netns: {exc}", file=sys.stderr)
        os._exit(code)
    os.close(ready_w)
    os.close(exit_w)
    if relay is not None:
        relay.given()
    if os.read(ready_r, 1) != b"1":
        os.waitpid(pid, 0)
        return 1
    why = None if relay is None else relay.wait()
    if why is not None:
        print(f"aicc netns: {why}", file=sys.stderr)
        os.kill(pid, signal.SIGKILL)
        return 1
    if egress == "internet":
        return _slirp(directory, pid, exit_r)
    return 0


def _ganglink() -> ModuleType:
    return _sibling("ganglink")


def _replicaforward() -> ModuleType:
    return _sibling("replicaforward")


def _sibling(name: str) -> ModuleType:
    """A module beside this file (ganglink.py, serverroute.py, replicaforward.py), imported
    where aicc is, else (this file run as a script, -I -S) loaded by its path, once."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    try:
        return importlib.import_module(f"aicc.executors.{name}")
    except ImportError:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before it runs: a dataclass looks its module up there
        spec.loader.exec_module(module)
        return module


# Where egress `internet` does not go: private, shared, link-local, loopback, multicast and
# reserved ranges, so a job reaches neither a service of the center's own network nor, with
# the node's own addresses added, the control plane listening on the node (slirp4netns's
# --disable-host-loopback cuts 10.0.2.2 alone).
PRIVATE_V4 = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/3",
)  # fmt: skip
PRIVATE_V6 = ("::1/128", "fc00::/7", "fe80::/10", "ff00::/8")
SLIRP_DNS = "10.0.2.3"


def node_addresses() -> list[str]:
    """The node's own addresses (IPv4 from /proc/net/fib_trie's local entries, IPv6 from
    /proc/net/if_inet6), read in the node's network."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
        found |= {
            a.split()[-1] for a, b in itertools.pairwise(lines) if b.strip().endswith("host LOCAL")
        }
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            found.add(str(ipaddress.IPv6Address(bytes.fromhex(line.split()[0]))))
    return sorted(found)


def _public_only(node: Sequence[str], gang: bool = False) -> None:
    """In the job's namespace (whose network administrator the holder is): an nftables output
    chain that rejects every private range and the node's own addresses, but slirp4netns's DNS
    forwarder and, with `gang`, the gang link's subnet on its device (only the job's own
    namespaces are there). Without nft, egress `internet` is refused rather than left open."""
    nft = shutil.which("nft") or next(
        (p for p in ("/usr/sbin/nft", "/sbin/nft") if os.access(p, os.X_OK)), None
    )
    if nft is None:
        raise NetworkUnavailable("egress internet needs nft (Debian package nftables)")
    segment = _ganglink() if gang else None
    v4 = [*PRIVATE_V4, *(a for a in node if ":" not in a)]
    v6 = [*PRIVATE_V6, *(a for a in node if ":" in a)]
    rules = "\n".join(
        [
            "table inet aicc_egress {",
            " chain out {",
            "  type filter hook output priority 0; policy accept;",
            '  oifname "lo" accept',
            *(
                [f'  oifname "{segment.DEVICE}" ip daddr {segment.SUBNET} accept']
                if segment
                else []
            ),
            f"  ip daddr {SLIRP_DNS} meta l4proto {{ tcp, udp }} th dport 53 accept",
            f"  ip daddr {{ {', '.join(v4)} }} reject",
            f"  ip6 daddr {{ {', '.join(v6)} }} reject",
            " }",
            "}",
            "",
        ]
    )
    done = subprocess.run([nft, "-f", "-"], input=rules, capture_output=True, text=True)
    if done.returncode != 0:
        raise NetworkUnavailable(f"nft refused the egress rules: {done.stderr.strip()[-300:]}")


def _slirp(directory: Path, pid: int, exit_fd: int) -> int:
    """User-mode networking into the holder's namespace: a tap with a default route and a
    DNS forwarder (10.0.2.3), the node's loopback unreachable."""
    slirp = shutil.which("slirp4netns")
    if slirp is None:
        print("aicc netns: egress internet needs slirp4netns (Debian package)", file=sys.stderr)
        os.kill(pid, signal.SIGKILL)
        return 1
    ready_r, ready_w = os.pipe()
    argv = [slirp, "--configure", "--mtu=65520", "--disable-host-loopback"]
    argv += [f"--exit-fd={exit_fd}", f"--ready-fd={ready_w}", str(pid), "tap0"]
    with open(directory / SLIRP_LOG, "ab") as log:
        subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=(exit_fd, ready_w),
            start_new_session=True,
        )
    os.close(ready_w)
    os.close(exit_fd)
    if os.read(ready_r, 1) != b"1":
        print("aicc netns: slirp4netns did not start (see slirp4netns.log)", file=sys.stderr)
        os.kill(pid, signal.SIGKILL)
        return 1
    return 0


def listen_unix(path: str) -> socket.socket:
    """A 0600 Unix socket at `path`, in a 0700 directory (made here if the server did not)."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with reachable(path) as short:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(short)  # a socket left by an earlier start of this run directory
        umask = os.umask(0o177)
        try:
            listener.bind(short)
        finally:
            os.umask(umask)
    listener.listen(128)
    return listener


# ------------------------------------------------------------------ the launcher


def run(
    directory: Path,
    egress: Egress,
    forward: str | None,
    command: Sequence[str],
    socket_path: str | None = None,
    token_file: str | None = None,
    link: Link | None = None,
    route: tuple[int, str] | None = None,
) -> int:
    """Join the job's namespace and exec `command` in it, holding `users.lock` (inherited).
    `link`: where its holder, if this launcher starts it, joins the gang link; `route`:
    (PORT, SOCKET), what its holder relays to the server's job socket.
    With `forward`, connections to HOST:PORT (or to `socket_path`) reach PORT inside; with
    `token_file` (read here, once) only those whose first request carries its token."""
    token = read_token(token_file).encode() if forward and token_file else None
    users, holder = ensure(directory, egress, link, route)
    env = dict(os.environ)
    if forward:
        port = int(forward.rpartition(":")[2])
        # with a socket, nothing listens for the replica on TCP in the node's network
        listener = listen_unix(socket_path) if socket_path else _replicaforward().listen(forward)
        env["AICC_SERVICE_HOST"] = "127.0.0.1"  # where the replica listens, inside
    _join(holder)
    if forward:
        _replicaforward().start(listener, port, token)
    os.set_inheritable(users, True)
    os.execvpe(command[0], list(command), env)
    return 127  # not reached


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    split = args.index("--") if "--" in args else len(args)
    parser = argparse.ArgumentParser(prog="python -m aicc.executors.netns")
    parser.add_argument("directory", type=Path, nargs="?")
    parser.add_argument("--hold", type=Path)
    parser.add_argument("--egress", choices=EGRESS, default="none")
    parser.add_argument("--forward")
    parser.add_argument("--socket")
    parser.add_argument("--token-file")
    parser.add_argument("--link", help="NODE_RANK@HOST:PORT, the gang link (ganglink.py)")
    parser.add_argument("--link-key", type=Path)
    parser.add_argument("--route", help="PORT@SOCKET, the route to the server (serverroute.py)")
    options, command = parser.parse_args(args[:split]), args[split + 1 :]
    link = None
    if options.link:
        rank, _, hub = options.link.partition("@")
        link = Link(int(rank), hub, options.link_key)
    route = None
    if options.route:
        port, _, path = options.route.partition("@")
        route = (int(port), path)
    if options.hold is not None:
        return hold(options.hold, options.egress, link, route)
    if options.directory is None or not command:
        parser.error("NET_DIR and a command are needed")
    if options.forward and not (options.socket or options.token_file):
        parser.error("--forward on TCP needs --token-file: nothing answers anyone on the node")
    try:
        return run(
            options.directory,
            options.egress,
            options.forward,
            command,
            options.socket,
            options.token_file,
            link,
            route,
        )
    except (NetworkUnavailable, OSError, ValueError) as exc:
        print(f"aicc: the job's network: {exc}", file=sys.stderr)
        return 126


if __name__ == "__main__":
    sys.exit(main())
