"""A real, throwaway PostgreSQL server for tests and benchmarks.

SQLite hides locking and concurrency bugs that only show on PostgreSQL, so the suite runs the
store against a real server. Each server is private to one test session: its own data
directory, a private unix socket directory, a random port on 127.0.0.1, and durability turned
off because the data is thrown away anyway.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aicc.testing.startup import start_timeout_s

USER = "aicc"
DATABASE = "aicc"
MIGRATED = "aicc_migrated"  # the template of `create_database(..., migrated=True)`
# PostgreSQL refuses to run as root; this system user (from Debian's package) runs it instead.
SERVER_USER = "postgres"
# Debian installs the binaries per major version, outside PATH.
SEARCH_GLOB = "/usr/lib/postgresql/*/bin"
INSTALL_HINT = "run scripts/install-test-deps.sh to install it"

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass
class PostgresServer:
    """A running server; `stop()` (or interpreter exit) removes it and its data."""

    url: str
    tcp_url: str
    data_dir: Path
    port: int
    socket_dir: Path
    _bin_dir: Path = field(repr=False)
    _run_as: int | None = field(repr=False)
    _cleanup: list[Path] = field(repr=False, default_factory=list)
    _stopped: bool = field(repr=False, default=False)
    _migrated: bool = field(repr=False, default=False)

    def stop(self) -> None:
        """Kill the server at once (no checkpoint: the data is discarded) and delete its dirs."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        if (self.data_dir / "postmaster.pid").exists():
            pg_ctl = str(self._bin_dir / "pg_ctl")
            _run(
                [pg_ctl, "stop", "-D", str(self.data_dir), "-m", "immediate"],
                self._run_as,
                check=False,
            )
        for path in self._cleanup:
            shutil.rmtree(path, ignore_errors=True)

    def durable(self) -> None:
        """Turn durability back on (fsync, synchronous commits): a test that crashes the server
        must not lose commits it acknowledged, as a throwaway server's settings allow."""
        import psycopg  # lazy: only the test extras install it

        with psycopg.connect(
            host=str(self.socket_dir), port=self.port, user=USER, dbname=DATABASE, autocommit=True
        ) as conn:
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                conn.execute(f"ALTER SYSTEM SET {setting} = on")  # names from the line above
            conn.execute("SELECT pg_reload_conf()")

    def restart(self) -> None:
        """Stop at once, as a crash would (`-m immediate`: no checkpoint, every connection cut),
        and start again on the same port and socket; for fault tests."""
        self.crash()
        self.start()

    def crash(self) -> None:
        """Stop at once (`-m immediate`), keeping the data: `start()` brings it back."""
        self._pg_ctl("stop", "-w", "-m", "immediate")

    def start(self) -> None:
        log = str(self.data_dir.parent / "server.log")
        self._pg_ctl("start", "-w", "-t", _wait_s(), "-l", log)

    def _pg_ctl(self, *args: str) -> None:
        pg_ctl = str(self._bin_dir / "pg_ctl")
        _run([pg_ctl, *args, "-D", str(self.data_dir)], self._run_as, cwd=self.data_dir.parent)

    def create_database(
        self, name: str, *, migrated: bool = False, template: str | None = None
    ) -> str:
        """Create a database so a test can have state nobody else touches: empty, or
        `migrated`, a copy of one brought to the newest revision once per server (PostgreSQL's
        TEMPLATE: a file copy, where 44 migrations cost every test's server 0.4 s), or a copy
        of the database `template` (nobody may be connected to it: a server on it stopped)."""
        if not _DB_NAME.match(name) or (template is not None and not _DB_NAME.match(template)):
            raise ValueError(f"invalid database name: {name!r} (template {template!r})")
        import psycopg  # lazy: only the test extras install it

        if migrated and not self._migrated:
            from aicc.store.db import migrate

            self.create_database(MIGRATED)
            migrate(_socket_url(self.socket_dir, self.port, MIGRATED))  # disposes its engine
            self._migrated = True
        with psycopg.connect(
            host=str(self.socket_dir), port=self.port, user=USER, dbname=DATABASE, autocommit=True
        ) as conn:
            source = template or (MIGRATED if migrated else None)
            copy = f' TEMPLATE "{source}"' if source else ""
            conn.execute(f'CREATE DATABASE "{name}"{copy}')  # names are validated above
        return _socket_url(self.socket_dir, self.port, name)

    def drop_database(self, name: str) -> None:
        """Drop a test's database when the test is over, cutting what is still connected to it:
        a session's server then holds only the databases of the tests running."""
        if not _DB_NAME.match(name):
            raise ValueError(f"invalid database name: {name!r}")
        import psycopg  # lazy: only the test extras install it

        with psycopg.connect(
            host=str(self.socket_dir), port=self.port, user=USER, dbname=DATABASE, autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # validated above


def start_postgres(base_dir: Path, *, in_memory: bool = False) -> PostgresServer:
    """Initialise and start a fresh server; its data lives under `base_dir` when possible.

    As root, the server runs as the `postgres` user and its files go to a new directory under
    /tmp owned by that user, because pytest's tmp dirs are usually 0700 root. `in_memory` puts
    them on /dev/shm (a tmpfs) where it has room: the suite creates a database for each test, and
    on the VMs' disks (ext4 mounted with `discard`) a copy of the migrated template took 0.095 s
    on a quiet machine and 0.72 s on a loaded one, deleting 25 of them 24 s; on tmpfs 0.05 and
    0.11 s. (Shared memory as files of the data directory, `dynamic_shared_memory_type = mmap`,
    made the walks of every route 27 % slower: left at POSIX segments.)
    A benchmark's server (gigabytes of jobs) stays on disk.
    """
    bin_dir = find_bin_dir()
    run_as = _server_uid()
    memory = _memory_dir() if in_memory else None
    if memory is not None:
        base_dir = memory
    if run_as is None:
        base_dir.mkdir(parents=True, exist_ok=True)
        if memory is not None:
            sweep_abandoned(memory)
        work = Path(tempfile.mkdtemp(prefix="aicc-pg-", dir=base_dir))
        # A unix socket path is limited to ~107 bytes; pytest's tmp paths can be longer.
        if len(str(work)) > 60:
            sock = Path(tempfile.mkdtemp(prefix="aicc-pgs-", dir="/tmp"))
            cleanup = [work, sock]
        else:
            sock = work / "s"
            sock.mkdir()
            cleanup = [work]
    else:
        parent = memory or Path("/tmp")
        sweep_abandoned(parent)
        work = Path(tempfile.mkdtemp(prefix="aicc-pg-", dir=parent))
        sock = work / "s"
        sock.mkdir(mode=0o700)
        for path in (work, sock):
            os.chown(path, run_as, -1)
        cleanup = [work]

    data_dir = work / "data"
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            run_as,
            cwd=work,
        )
        port = _start(bin_dir, data_dir, sock, work / "server.log", run_as)
    except BaseException:
        # pg_ctl gives up at its timeout but leaves the server starting: stop it too
        if (data_dir / "postmaster.pid").exists():
            pg_ctl = str(bin_dir / "pg_ctl")
            _run([pg_ctl, "stop", "-D", str(data_dir), "-m", "immediate"], run_as, check=False)
        for path in cleanup:
            shutil.rmtree(path, ignore_errors=True)
        raise

    server = PostgresServer(
        url=_socket_url(sock, port, DATABASE),
        tcp_url=f"postgresql+psycopg://{USER}@127.0.0.1:{port}/{DATABASE}",
        data_dir=data_dir,
        port=port,
        socket_dir=sock,
        _bin_dir=bin_dir,
        _run_as=run_as,
        _cleanup=cleanup,
    )
    atexit.register(server.stop)
    try:
        import psycopg  # lazy: only the test extras install it

        with psycopg.connect(
            host=str(sock), port=port, user=USER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
    except BaseException:
        server.stop()
        raise
    return server


MEMORY_DIR = Path("/dev/shm")
MEMORY_FREE_GIB = 4.0  # what tmpfs must have free for a test session's server to go there


def _memory_dir() -> Path | None:
    """/dev/shm when it is a writable directory with `MEMORY_FREE_GIB` free (a container's is
    often 64 MiB), else None: the server then stays on disk."""
    try:
        stat = os.statvfs(MEMORY_DIR)
    except OSError:
        return None
    free_gib = stat.f_bavail * stat.f_frsize / 2**30
    return MEMORY_DIR if free_gib >= MEMORY_FREE_GIB and os.access(MEMORY_DIR, os.W_OK) else None


ABANDONED_S = 3600.0  # a server's directory this old whose server is not running was left behind


def sweep_abandoned(parent: Path, now: float | None = None) -> list[Path]:
    """Remove the directories under `parent` of servers that no process stopped: a run killed
    (SIGKILL, or a SIGTERM that ran no exit handler) leaves its data behind, gigabytes after a
    benchmark. Only directories untouched for `ABANDONED_S` whose server is not running (no
    `postmaster.pid`, or its process gone); what was removed."""
    now = time.time() if now is None else now
    removed = []
    for work in parent.glob("aicc-pg-*"):
        try:
            if now - work.stat().st_mtime < ABANDONED_S or _running(work / "data"):
                continue
        except OSError:
            continue
        shutil.rmtree(work, ignore_errors=True)
        removed.append(work)
    return removed


def _running(data_dir: Path) -> bool:
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_bin_dir(search_glob: str = SEARCH_GLOB) -> Path:
    """Directory with initdb and pg_ctl: Debian's newest major version first, then PATH."""

    def version(path: str) -> tuple[int, ...]:
        digits = re.findall(r"\d+", Path(path).parent.name)
        return tuple(int(d) for d in digits)

    for candidate in sorted(glob.glob(search_glob), key=version, reverse=True):
        bin_dir = Path(candidate)
        if (bin_dir / "initdb").is_file() and (bin_dir / "pg_ctl").is_file():
            return bin_dir
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    raise RuntimeError(f"PostgreSQL server binaries (initdb, pg_ctl) not found: {INSTALL_HINT}")


def _start(bin_dir: Path, data_dir: Path, sock: Path, log: Path, run_as: int | None) -> int:
    """Start on a free port; retry if another process grabbed the port in the meantime."""
    last_error: RuntimeError | None = None
    for _ in range(3):
        port = _free_port()
        settings = {
            "port": str(port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{sock}'",
            "max_connections": "200",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        conf = "".join(f"{key} = {value}\n" for key, value in settings.items())
        (data_dir / "postgresql.auto.conf").write_text(conf)
        try:
            _run(
                [
                    str(bin_dir / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    _wait_s(),
                    "-D",
                    str(data_dir),
                    "-l",
                    str(log),
                ],
                run_as,
                cwd=data_dir.parent,
            )
            return port
        except RuntimeError as exc:
            log_text = log.read_text(errors="replace") if log.exists() else ""
            last_error = RuntimeError(f"{exc}\nserver log:\n{log_text}")
            if "Address already in use" not in log_text:
                break
    assert last_error is not None
    raise last_error


def _wait_s() -> str:
    """pg_ctl's wait for the server to accept connections: the suite's start cap."""
    return str(round(start_timeout_s()))


def _socket_url(sock: Path, port: int, database: str) -> str:
    """SQLAlchemy URL over the unix socket, the faster transport for tests."""
    return f"postgresql+psycopg://{USER}@/{database}?host={sock}&port={port}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _server_uid() -> int | None:
    """Uid to run the server as: None means the current user, which works unless it is root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER).pw_uid
    except KeyError:
        raise RuntimeError(
            f"running as root but there is no '{SERVER_USER}' user to run PostgreSQL as: "
            f"{INSTALL_HINT}"
        ) from None


def _run(
    cmd: Sequence[str], run_as: int | None, *, cwd: Path | None = None, check: bool = True
) -> None:
    """Run a server tool, as `run_as` if given; raise with its output when it fails."""
    # PG* variables from the caller's environment would redirect the tools elsewhere.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    gid: int | None = None
    groups: list[int] | None = None
    if run_as is not None:
        entry = pwd.getpwuid(run_as)
        gid, groups = entry.pw_gid, []
        env["HOME"] = entry.pw_dir
        env["USER"] = env["LOGNAME"] = entry.pw_name
    proc = subprocess.run(
        list(cmd),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        user=run_as,
        group=gid,
        extra_groups=groups,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n{proc.stdout}{proc.stderr}"
        )
