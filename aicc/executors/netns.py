"""A job's own network: one network namespace per job per node, shared by its replicas there.

Why: the sandbox (sandbox.py) holds a job's files, but the network used to be the node's: a
template's `train.py` could POST the runner's data to a listener on 127.0.0.1, and a job could
call another tenant's replica, notebook or the control plane directly. In its own namespace a job
reaches its own loopback only (where a gang on one node meets: MASTER_ADDR 127.0.0.1) and, with
egress `internet`, public addresses through slirp4netns: the host's loopback cut off
(`--disable-host-loopback`) and, by an nftables chain inside the namespace, the private ranges
and the node's own addresses rejected, so not the control plane wherever it listens either.

Layout, under `JOB_DIR/net/NODE` (a directory no sandbox shows):
- `holder.json` the holder: the process whose namespace it is (pid, start time);
- `create.lock` held while one launcher looks for the holder or creates it;
- `users.lock`  a shared flock that every replica's processes hold for their whole life (the
  descriptor, read-only, is inherited through the sandbox: a replica that drops it only lets
  its job's later replicas on the node get a fresh namespace); the holder waits for an
  exclusive one.

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
  the replica binds $PORT itself), on TCP, never one then the other (`aicc/services/endpoints.py`).
- without `--socket` (Slurm, Ray: nodes other than this machine): on TCP, HOST:PORT at the
  node's address, where the server can reach it. A documented limitation: any process on
  that node (not a job, which has no node network) can connect to it there.
A Unix socket's path holds 107 bytes (`sun_path`); a longer one (a deep $AICC_HOME) is bound
and dialled through `/proc/self/fd/N/NAME` of its directory (`reachable`).

Usage, put before the sandbox's argv (it must run outside the sandbox, in the node's network):
`python -I -S .../aicc/executors/netns.py NET_DIR [--egress none|internet] [--forward HOST:PORT
[--socket PATH]] -- CMD` (`prefix()` writes it). It imports the standard library alone.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import ipaddress
import itertools
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, cast

Egress = Literal["none", "internet"]
EGRESS: tuple[Egress, ...] = ("none", "internet")
NET = "net"  # JOB_DIR/net/NODE
HOLDER_FILE = "holder.json"
CREATE_LOCK = "create.lock"
USERS_LOCK = "users.lock"
SLIRP_LOG = "slirp4netns.log"
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
PR_SET_PDEATHSIG = 1
START_TIMEOUT_S = 30.0
SERVICE_DIR = "service"  # RUN_DIR/service/socket: a listening replica's Unix socket
SERVICE_SOCKET = "socket"
BUFFER = 65536

_LIBC = ctypes.CDLL(None, use_errno=True)
# This file run as a script, isolated (-I: neither the replica's working directory nor its
# environment chooses what it imports) and without site (-S): it needs the standard library
# alone, and a replica's start pays for an interpreter's start, not for `import aicc`'s.
_SELF = (sys.executable, "-I", "-S", os.path.abspath(__file__))


class NetworkUnavailable(RuntimeError):
    """The job's namespace cannot be made or joined here (no user namespaces, no slirp4netns)."""


def net_dir(job_dir: Path, node: str | None = None) -> Path:
    """Where a job's namespace on `node` (this host by default) is recorded."""
    return job_dir / NET / (node or socket.gethostname())


def service_socket(run_dir: Path) -> Path:
    """Where the server reaches a listening replica of this machine: the forwarder's socket."""
    return run_dir / SERVICE_DIR / SERVICE_SOCKET


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
) -> list[str]:
    """The argv to put before the sandbox's: join (or create) the namespace, then exec.
    `forward`: `HOST:PORT` of a listening replica, reached through the launcher, on TCP at
    HOST or, with `socket_path`, on that Unix socket alone."""
    argv = [*_SELF, str(directory), "--egress", egress]
    if forward:
        argv += ["--forward", forward]
        if socket_path is not None:
            argv += ["--socket", str(socket_path)]
    return [*argv, "--"]


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


def ensure(directory: Path, egress: Egress = "none") -> tuple[int, dict[str, Any]]:
    """The namespace's holder, started when there is none, and a descriptor (close-on-exec)
    holding a shared lock on `users.lock`: while it is open the holder stays. Blocks up to
    START_TIMEOUT_S; raises NetworkUnavailable when no namespace can be made here."""
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
                holder = _start_holder(directory, egress)
            return users, holder
        except BaseException:
            os.close(users)
            raise


def _start_holder(directory: Path, egress: Egress) -> dict[str, Any]:
    argv = [*_SELF, "--hold", str(directory)]
    try:
        done = subprocess.run(
            [*argv, "--egress", egress],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            start_new_session=True,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkUnavailable(f"cannot start the job's network namespace: {exc}") from exc
    holder = _live_holder(directory)
    if done.returncode != 0 or holder is None:
        why = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise NetworkUnavailable(f"cannot start the job's network namespace: {why[0]}")
    return holder


def hold(directory: Path, egress: Egress) -> int:
    """The holder (`--hold`): fork the process that unshares and waits for `users.lock`
    alone; with egress, start slirp4netns on it; exit once it is ready (the caller waits for
    this first process only: the holder is nobody's child)."""
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe()  # slirp4netns ends when the holder's end closes
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(exit_r)
        code = 1
        try:
            node = node_addresses() if egress == "internet" else []  # read before leaving
            _unshare(userns=os.geteuid() != 0)
            _loopback_up()
            if egress == "internet":
                _public_only(node)
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
    if os.read(ready_r, 1) != b"1":
        os.waitpid(pid, 0)
        return 1
    if egress == "internet":
        return _slirp(directory, pid, exit_r)
    return 0


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


def _public_only(node: Sequence[str]) -> None:
    """In the job's namespace (whose network administrator the holder is): an nftables output
    chain that rejects every private range and the node's own addresses, but slirp4netns's DNS
    forwarder. Without nft, egress `internet` is refused rather than left open."""
    nft = shutil.which("nft") or next(
        (p for p in ("/usr/sbin/nft", "/sbin/nft") if os.access(p, os.X_OK)), None
    )
    if nft is None:
        raise NetworkUnavailable("egress internet needs nft (Debian package nftables)")
    v4 = [*PRIVATE_V4, *(a for a in node if ":" not in a)]
    v6 = [*PRIVATE_V6, *(a for a in node if ":" in a)]
    rules = "\n".join(
        [
            "table inet aicc_egress {",
            " chain out {",
            "  type filter hook output priority 0; policy accept;",
            '  oifname "lo" accept',
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


# ------------------------------------------------------------------ the forwarder


def _forward(listener: socket.socket, port: int) -> None:
    """Accept in the node's network, connect to 127.0.0.1:`port` in the job's namespace."""
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_pair, args=(client, port), daemon=True).start()


def _pair(client: socket.socket, port: int) -> None:
    try:
        inner = socket.create_connection(("127.0.0.1", port), timeout=10)
        inner.settimeout(None)
    except OSError:
        client.close()  # not listening yet: the caller sees a reset, as without us
        return
    # A relay passes each write on as it comes: Nagle's algorithm would hold a request's body
    # (written after its headers) for the peer's delayed ACK, 40 ms a request.
    for sock in (client, inner):
        if sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    back = threading.Thread(target=_pipe, args=(inner, client), daemon=True)
    back.start()
    _pipe(client, inner)
    back.join()
    client.close()
    inner.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(BUFFER):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _listen(forward: str) -> tuple[socket.socket, int]:
    host, _, port = forward.rpartition(":")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host.strip("[]"), int(port)))
    listener.listen(128)
    return listener, int(port)


def _listen_unix(path: str) -> socket.socket:
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


def _start_forwarder(listener: socket.socket, port: int) -> None:
    """A child that forwards for as long as this process (the replica after exec) lives."""
    parent = os.getpid()
    if os.fork() != 0:
        listener.close()
        return
    try:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(0)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        _forward(listener, port)
    finally:
        os._exit(0)


# ------------------------------------------------------------------ the launcher


def run(
    directory: Path,
    egress: Egress,
    forward: str | None,
    command: Sequence[str],
    socket_path: str | None = None,
) -> int:
    """Join the job's namespace and exec `command` in it, holding `users.lock` (inherited).
    With `forward`, connections to HOST:PORT (or to `socket_path`) reach PORT inside."""
    users, holder = ensure(directory, egress)
    env = dict(os.environ)
    if forward:
        port = int(forward.rpartition(":")[2])
        # with a socket, nothing listens for the replica on TCP in the node's network
        listener = _listen_unix(socket_path) if socket_path else _listen(forward)[0]
        env["AICC_SERVICE_HOST"] = "127.0.0.1"  # where the replica listens, inside
    _join(holder)
    if forward:
        _start_forwarder(listener, port)
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
    options, command = parser.parse_args(args[:split]), args[split + 1 :]
    if options.hold is not None:
        return hold(options.hold, options.egress)
    if options.directory is None or not command:
        parser.error("NET_DIR and a command are needed")
    try:
        return run(options.directory, options.egress, options.forward, command, options.socket)
    except (NetworkUnavailable, OSError) as exc:
        print(f"aicc: the job's network: {exc}", file=sys.stderr)
        return 126


if __name__ == "__main__":
    sys.exit(main())
