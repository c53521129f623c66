"""Real AICC servers for tests and benchmarks: in-process (fast) or as a process (to kill -9)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from fastapi.testclient import TestClient

from aicc.config import Settings
from aicc.testing import leftovers, startup

if TYPE_CHECKING:
    from aicc.core.tenancy import Principal
    from aicc.server import ServerState


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kill_leftover_replicas(home: Path) -> None:
    """SIGKILL the replicas and supervisors still alive under `home`. Replicas outlive their
    server by design (a restart finds them); a test's server that has ended must not leave its
    services, notebooks and sleeping jobs running for the rest of the run, nor a replica's
    container, which outlives podman."""
    from aicc.executors.local import runtime

    for status_file in (home / "runs").glob("*/*/*/status.json"):
        data = runtime.read_json(status_file) or {}
        runtime.stop_container(data)
        for pid in runtime.replica_pids(data):  # its group and cgroup, leader dead or alive
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        sup, sup_created = data.get("supervisor_pid"), data.get("supervisor_create_time")
        if sup and runtime.process_alive(sup, sup_created):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(sup, signal.SIGKILL)
    _kill_under(home / "runs")


def _kill_under(runs: Path) -> None:
    """SIGKILL what still runs from `runs`: a supervisor launched just before the server ended
    writes its status only once its replica runs, so the status files miss it and the replica
    it starts (a test that starts a notebook and ends left JupyterLab running). Found by its
    command line or working directory, twice, for a supervisor that spawned meanwhile."""
    import psutil

    where = str(runs.absolute())
    for _ in range(2):
        found = []
        for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
            with contextlib.suppress(psutil.Error):
                line = " ".join(proc.info["cmdline"] or ())
                cwd = proc.info["cwd"] or ""
                if proc.pid != os.getpid() and (where in line or cwd.startswith(where)):
                    found.append(proc)
        for proc in found:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        if not found:
            return
        psutil.wait_procs(found, timeout=5)


_MIGRATED: Path | None = None  # this process's SQLite database at the newest revision


def seeded(home: Path, db: str | None) -> None:
    """Give a new home on SQLite a copy of a database migrated once per process: a server's
    start then finds its schema at the newest revision, and skips the 0.4 s of DDL that every
    test's server spent on the same 44 migrations (PostgreSQL's are its TEMPLATE, postgres.py).
    A home that has a database already keeps it. The copy's folder is removed when the process
    exits (`forget_migrated`, also called at the end of a test session)."""
    global _MIGRATED
    target = home / "aicc.db"
    if db or target.exists():
        return
    if _MIGRATED is None or not _MIGRATED.exists():  # (a check removed it: a new one)
        import atexit
        import tempfile

        from aicc.store.db import database_url, migrate

        folder = Path(tempfile.mkdtemp(prefix=leftovers.folder_prefix(leftovers.MIGRATED_FOLDER)))
        atexit.register(forget_migrated)
        try:
            migrate(database_url(None, folder))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        _MIGRATED = folder / "aicc.db"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_MIGRATED, target)


def forget_migrated() -> None:
    """Remove this process's migrated copy (`seeded`), if it made one: nothing of a test
    session outlives it. A later `seeded` migrates a new one."""
    global _MIGRATED
    if _MIGRATED is not None:
        shutil.rmtree(_MIGRATED.parent, ignore_errors=True)
        _MIGRATED = None


# The per-token bucket's defaults bite a quick loop of requests on one token (issue 35), as a
# test's admin token is: a test that does not configure `limits.rate_limit` itself gets buckets
# no test empties (still counted); a test of the limiter names its own, or `{}` for the defaults.
TEST_RATE_LIMIT = {
    f"per_{who}_{what}": 10**6 for who in ("token", "address") for what in ("per_s", "burst")
}


def admin(state: ServerState, home: Path) -> Principal:
    """The center admin that `build` made in `home`, as services see a caller: for benchmarks
    and tests that call services in-process."""
    from aicc.services.tenancy import tokens

    secret = (home / "admin.token").read_text().strip()
    with state.db.reader() as session:
        caller, _ = tokens.authenticate(session, tokens.digest(secret))
    assert caller is not None, "no admin token in this home"
    return caller.who


def _test_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """A test's server: fast loops, bwrap, a high rate limit, and no prices unless the test
    gives `pricing` (the shipped `config.DEFAULT_PRICING` would put money on every test's
    bills and budgets; a test of prices says which it uses)."""
    settings.setdefault("loop_interval_s", 0.2)
    settings.setdefault("pricing", {"name": "center"})
    settings.setdefault("sandbox", "bwrap")  # tests run replicas as a server with bwrap does
    limits = settings.get("limits")
    if limits is None:
        settings["limits"] = {"rate_limit": TEST_RATE_LIMIT}
    elif isinstance(limits, dict) and "rate_limit" not in limits:
        settings["limits"] = {**limits, "rate_limit": TEST_RATE_LIMIT}
    return settings


@contextmanager
def in_process(
    home: Path, db: str | None = None, *, keep_replicas: bool = False, **settings: Any
) -> Iterator[tuple[TestClient, ServerState]]:
    """The whole server (control loops included) in this process, reached through TestClient.
    Its replicas are killed when it ends, unless `keep_replicas` (a test of a restart)."""
    from aicc.server import build

    seeded(home, db)
    app, state = build(Settings(home=home, db=db, **_test_settings(settings)))
    state.controller.start()
    try:
        with TestClient(app) as client:
            client.headers["Authorization"] = "Bearer " + (home / "admin.token").read_text().strip()
            yield client, state
    finally:
        state.controller.stop()
        state.db.dispose()
        if not keep_replicas:
            kill_leftover_replicas(home)


@contextmanager
def over_http(
    home: Path,
    db: str | None = None,
    *,
    loops: bool = True,
    port: int | None = None,
    tls: bool = False,
    **settings: Any,
) -> Iterator[tuple[str, str, ServerState]]:
    """The whole server in this process behind a real socket (uvicorn in a thread), for the CLI
    and the SDK: yields (url, admin token, state). `loops=False` serves the API alone: jobs are
    accepted and queued but never started (the fuzzer's random commands must not run). `port`:
    one chosen before (a single sign-on provider must know the server's address first). `tls`:
    HTTPS with a self-signed certificate (clients skip verifying it), for clients that speak
    otherwise over TLS (boto3 streams a PUT's body aws-chunked only there). The server knows
    its port, so its jobs reach its S3 endpoint through its job socket (`job_s3_route`)."""
    from aicc.config import registry_port
    from aicc.server import build, listen_for_jobs

    seeded(home, db)
    port = port or free_port()
    registry = settings.get("registry")
    if registry is None or (isinstance(registry, dict) and "listen" not in registry):
        # where it was before the port was known (8080's): not a random port's
        listen = f"127.0.0.1:{registry_port(8080)}"
        settings["registry"] = {**(registry or {}), "listen": listen}
    app, state = build(Settings(home=home, db=db, port=port, **_test_settings(settings)))
    if loops:
        state.controller.start()
    jobs = None
    try:
        jobs = listen_for_jobs(state.settings)
        tls_files = self_signed(home / "tls") if tls else None
        with serving(app, port, tls=tls_files, jobs=jobs.sock if jobs else None) as url:
            yield url, (home / "admin.token").read_text().strip(), state
    finally:
        if jobs is not None:
            jobs.close()
        state.controller.stop()
        state.db.dispose()
        if loops:
            kill_leftover_replicas(home)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key, and the key: (cert, key) files."""
    from datetime import UTC, datetime, timedelta
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@contextmanager
def serving(
    app: Any,
    port: int | None = None,
    *,
    tls: tuple[Path, Path] | None = None,
    jobs: socket.socket | None = None,
) -> Iterator[str]:
    """`app` behind a real socket on 127.0.0.1 (uvicorn in a thread) while the block runs, for
    a browser or a client that needs one; yields its URL. Stopped when the block ends. `tls`:
    (certificate, key) files to serve HTTPS with. `jobs`: the server's job socket, served too
    (`aicc.server.listen_for_jobs`)."""
    import threading

    import uvicorn

    from aicc.server import uvicorn_config

    port = port or free_port()
    config = uvicorn_config(app, "127.0.0.1", port, "warning")
    if tls is not None:
        config.ssl_certfile, config.ssl_keyfile = str(tls[0]), str(tls[1])
        # a client's idle TLS connection is not closed at shutdown as a plain one is: uvicorn
        # would wait for it (the 30 s join below); close what is left after a second
        config.timeout_graceful_shutdown = 1
    server = uvicorn.Server(config)
    sockets = None if jobs is None else [config.bind_socket(), jobs]
    thread = threading.Thread(
        target=server.run, args=(sockets,), name="aicc-test-http", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + startup.start_timeout_s()
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the in-process HTTP server did not start")
            time.sleep(0.02)
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@dataclass
class ServerProcess:
    """`aicc serve` as a child process, so tests can kill it like a crash would."""

    home: Path
    port: int
    db: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    wrap: list[str] = field(default_factory=list)  # runs `aicc serve` under it (unshare ...)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.home / "admin.token").read_text().strip()

    def env(self) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        return {
            **os.environ,
            "AICC_HOME": str(self.home),
            "AICC_SERVER": self.url,
            "AICC_TOKEN": self.token if (self.home / "admin.token").exists() else "",
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        }

    def start(self, timeout: float | None = None) -> ServerProcess:
        """Start `aicc serve` and wait until /healthz answers, as long as it makes progress
        (`startup.wait_started`; `timeout` caps the wait, `AICC_TEST_START_TIMEOUT_S` unless
        given). A start that fails (exits, hangs, runs out of time, or is interrupted) stops
        the process before the error goes on: a caller that gives up leaves no server running.
        (What a server launched before it answered, on a home with work, is `close`'s.)"""
        self.spawn()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def spawn(self) -> None:
        """Only the process, not yet answering: `wait_ready` then waits for it. The caller
        owns it from here, failure included (`close`)."""
        args = [
            *self.wrap,
            str(Path(sys.executable).parent / "aicc"),
            "serve",
            "--port",
            str(self.port),
            "--home",
            str(self.home),
        ]
        if self.db:
            args += ["--db", self.db]
        # A new home on SQLite starts from this process's copy at the newest revision, as an
        # in-process server's does (`seeded`): 1.5 s of migrations less a start on a busy CI
        # machine; a home with a database keeps it (a restart, an upgrade, a restore).
        self.home.mkdir(parents=True, exist_ok=True)
        seeded(self.home, self.db)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "AICC_HOME": str(self.home)},
            )

    @property
    def log_path(self) -> Path:
        return self.home.parent / f"server-{self.port}.log"

    def wait_ready(self, timeout: float | None = None) -> float:
        """Until /healthz answers 200 (see `start`); seconds waited. Stops nothing itself."""
        assert self.proc is not None, "spawn() first"

        return startup.wait_started(
            f"aicc serve on {self.url} (log: {self.log_path})",
            lambda: startup.answers(self.url + "/healthz", timeout=1),
            exited=self.proc.poll,
            progress=startup.progress_of(self.proc.pid, self.log_path),
            timeout=timeout,
        )

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()

    def close(self) -> None:
        """Stop the server and what it started: its replicas outlive a `stop` by design."""
        self.stop()
        kill_leftover_replicas(self.home)

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )


def start_all(servers: Sequence[ServerProcess], timeout: float | None = None) -> list[float]:
    """Start independent `servers` side by side: every process first, then their waits at
    once, so three starts on a loaded machine take as long as the slowest, not the sum; the
    seconds each took to answer. When one fails (or the wait is interrupted), every one of
    them is closed and the first error raised: a fixture that gives up leaves none running."""
    try:
        for server in servers:
            server.spawn()
        with ThreadPoolExecutor(max(1, len(servers))) as pool:
            waits = [pool.submit(server.wait_ready, timeout) for server in servers]
        errors = [error for error in (w.exception() for w in waits) if error is not None]
        if errors:
            raise errors[0]
        return [w.result() for w in waits]
    except BaseException:
        close_all(servers)
        raise


def close_all(servers: Iterable[ServerProcess]) -> None:
    """`close` each of `servers`, every one even when one of them raises (the first error is
    raised after)."""
    first: BaseException | None = None
    for server in servers:
        try:
            server.close()
        except BaseException as error:  # the others are closed all the same
            first = first or error
    if first is not None:
        raise first
