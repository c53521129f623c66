"""Server side of the local executor's per-replica supervisor: launch, status, cancel, logs.

Each replica runs under `python -m aicc.executors.local.supervisor RUN_DIR`, a detached process
that outlives the server. The two sides share nothing but files in the run directory, so a
server that was `kill -9`'d and restarted learns every replica's fate from those files alone:

- `launch.json`     the LaunchSpec (written by `launch`);
- `supervisor.json` pid and create time of the supervisor (written once it has forked);
- `status.json`     the replica's status (written only by the supervisor);
- `cancel_requested` present once someone asked to stop the replica;
- `orphan.json`     when a server first signalled a replica whose supervisor had vanished;
- `STREAM.log`      the first half of the log budget; `STREAM.tail.K` rotating tail chunks.

JSON files are replaced atomically (temp file + os.replace), so a reader never sees half a file.

Without a sandbox the job runs as the server's user and may replace any of these files (its
`$AICC_OUTPUT_DIR` is inside the run directory): by a symbolic link to another tenant's log, a
hard link, a FIFO whose reader would block the API. So the server reads them only through the
guard of job-written files (`jobfiles.open_regular`: no link followed, never blocking, regular
files of one name only), which raises `jobfiles.Refused` for anything else (a 422 at the API,
services/jobs/logs.py), and writes its own files only as new ones (`O_EXCL`), never through a name
the job left; the one it appends to, `supervisor.log`, is opened without following a link or
waiting on a FIFO and checked on its fd (`open_append`: anything but a regular file of one name
fails the launch, saying so).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import psutil

from aicc.executors import jobfiles
from aicc.executors.cancel import mark as mark_cancel
from aicc.executors.local import logfiles
from aicc.executors.local.logfiles import DISK_FULL, LogLayout

Stream = Literal["stdout", "stderr"]
Phase = Literal["starting", "running", "exited", "lost"]

LAUNCH_FILE = "launch.json"
SUPERVISOR_FILE = "supervisor.json"
STATUS_FILE = "status.json"
LOCK_FILE = "launch.lock"
SUPERVISOR_LOG = "supervisor.log"
ORPHAN_FILE = "orphan.json"
CREATE_TIME_TOLERANCE_S = 1.0  # /proc/stat btime may drift by a second between readers
LAUNCH_TIMEOUT_S = 60.0
MAX_JSON_BYTES = 1 << 20  # a run directory's JSON records are a few hundred bytes
_PHASES = ("starting", "running", "exited", "lost")


@dataclass(frozen=True)
class LaunchSpec:
    """What to run for one replica; the server builds it, the supervisor obeys it."""

    command: list[str]  # argv to exec (a shell string arrives as ["/bin/sh", "-c", s])
    cwd: str  # absolute path of the materialized workdir
    env: dict[str, str]  # the COMPLETE environment of the replica
    max_runtime_s: float | None  # wall-clock limit; exceeded -> reason "runtime_exceeded"
    memory_limit_mib: int | None  # exceeded -> reason "oom_killed"
    log_limit_bytes: int = 64 * 1024 * 1024  # cap per stream; head and tail kept
    grace_s: float = 10.0  # SIGTERM -> wait grace_s -> SIGKILL, for cancel and time limits
    sandbox: list[str] = dataclasses.field(default_factory=list)  # argv put before `command`
    # A replica in its image (container.py): the node's pull, run first (its failure ends the
    # replica `image_unavailable`), the container's name, and what removes it if left behind.
    pull: list[str] = dataclasses.field(default_factory=list)
    container: str | None = None
    remove: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class ReplicaStatus:
    """A replica's fate as the run directory tells it.

    reason is None while running; on exit one of "succeeded", "exit_code", "runtime_exceeded",
    "oom_killed", "cancelled", "signal", "supervisor_error", "image_unavailable";
    "supervisor_lost" when phase is lost.
    exit_code is negative (minus the signal number) when the command died of a signal.
    orphaned: the supervisor vanished but processes of the replica still run; the phase stays
    "running" until `stop_orphan` has them gone, so no one takes the replica for ended too soon.
    """

    phase: Phase
    pid: int | None  # the replica's own pid (= its process group id)
    supervisor_pid: int | None
    started_at: float | None  # unix time the replica started
    ended_at: float | None
    exit_code: int | None
    reason: str | None
    peak_rss_mib: float | None = None  # summed RSS of the replica's processes, sampled
    error: str | None = None  # why the command could not start or the supervisor failed
    orphaned: bool = False


def spec_from_dict(data: dict[str, Any]) -> LaunchSpec:
    names = {f.name for f in dataclasses.fields(LaunchSpec)}
    return LaunchSpec(**{k: v for k, v in data.items() if k in names})


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write to a temp file in the same directory, fsync, then rename over `path`.

    Mode 0600: launch.json holds the replica's environment, secrets included."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # whatever a job left under the name: a link is not followed
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with open(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not keep half a file
        raise


def write_json_waiting(path: Path, data: dict[str, Any], every_s: float = 1.0) -> None:
    """`write_json_atomic`, waiting for room on a full disk: for the records a replica cannot
    be tracked without (who supervises it, how it ended)."""
    while True:
        try:
            write_json_atomic(path, data)
            return
        except OSError as err:
            if err.errno not in DISK_FULL:
                raise
            time.sleep(every_s)


def forget_env(run_dir: Path, spec: LaunchSpec) -> None:
    """Rewrite launch.json without the environment's values (secrets among them), once the
    supervisor holds them: they live on only in the replica. A relaunch never needs them, as
    `launch` writes a whole launch.json whenever it starts a supervisor."""
    public = {**dataclasses.asdict(spec), "env": None, "env_names": sorted(spec.env)}
    write_json_waiting(run_dir / LAUNCH_FILE, public)  # no secrets left behind for want of room


def read_json(path: Path) -> dict[str, Any] | None:
    """The file's object, or None when it does not exist (yet). Read through the guard: a
    link, a FIFO or a file over MAX_JSON_BYTES there is `jobfiles.Refused`, never a wait."""
    try:
        f = jobfiles.open_regular(path, _JSON_LIMITS)
    except FileNotFoundError:
        return None
    with f:
        data = json.loads(f.read(MAX_JSON_BYTES + 1))
    return cast(dict[str, Any], data) if isinstance(data, dict) else None


_JSON_LIMITS = jobfiles.Limits(file_bytes=MAX_JSON_BYTES)


class UnsafeFile(RuntimeError):
    """A name in a run directory that the server will not write through: a symbolic link, a
    FIFO, a socket, a device or a hard link. The launch fails with this message."""


def open_append(path: Path) -> int:
    """An fd appending to the regular file `path` (made 0600 when missing), for the server's
    own log in a run directory. Never follows a link (O_NOFOLLOW), never waits on a FIFO
    (O_NONBLOCK: one without a reader is ENXIO) and checks the type on the opened fd: anything
    but a regular file of one name is `UnsafeFile`, so no one makes the server append to a file
    of their choosing, or block."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as err:
        if err.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise
        raise UnsafeFile(_unsafe(path, _kind_of(path))) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(_unsafe(path, _kind_of(path, st.st_mode)))
        if st.st_nlink != 1:
            raise UnsafeFile(_unsafe(path, f"file of {st.st_nlink} names (a hard link)"))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _kind_of(path: Path, mode: int | None = None) -> str:
    if mode is None:
        try:
            mode = path.lstat().st_mode
        except OSError:
            return "special file"
    return jobfiles.kind(mode)


def _unsafe(path: Path, kind: str) -> str:
    return (
        f"{path.name} in the run directory {path.parent} is a {kind}, not a regular file of "
        "the server's: it launches no replica there"
    )


def process_alive(pid: int | None, create_time: float | None) -> bool:
    """True if `pid` runs, is not a zombie, and (when known) was created at `create_time`.

    kill -0 alone is not enough: a dead child not yet reaped is still signalable, and a pid can be
    reused by an unrelated process after the original one died.
    """
    if not pid or pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("State:"):
                    if line.split()[1] in ("Z", "X", "x"):
                        return False
                    break
    except OSError:
        return False
    if create_time is None:
        return True
    try:
        actual = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
    return abs(actual - create_time) <= CREATE_TIME_TOLERANCE_S


@contextlib.contextmanager
def _launch_lock(run_dir: Path) -> Iterator[int]:
    """The run directory's launch lock, held while this yields its fd. The supervisor's first
    process is handed the fd and holds the lock too, until it has recorded the supervisor: a
    server killed mid-launch leaves no gap in which another server starts a second one."""
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
    fd = os.open(run_dir / LOCK_FILE, flags, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def _launch_in_progress(run_dir: Path) -> bool:
    """True while some `launch` holds the lock of this run directory."""
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK  # never waits on a FIFO
    try:
        fd = os.open(run_dir / LOCK_FILE, flags)
    except OSError:  # missing, or a link a job put there: no launch holds it
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _existing_supervisor_pid(run_dir: Path) -> int | None:
    for name, key in ((STATUS_FILE, "supervisor_pid"), (SUPERVISOR_FILE, "pid")):
        data = read_json(run_dir / name)
        if data is not None and data.get(key):
            return int(data[key])
    return None


def launch(run_dir: Path, spec: LaunchSpec) -> int:
    """Start a detached supervisor for `spec` in `run_dir`; return the supervisor's pid.

    Idempotent: once a supervisor was started for `run_dir` (alive, finished or lost), no second
    one is started and the existing pid is returned. The supervisor double-forks, so it is never
    the server's child (no zombies in the server, survives its death); this call waits only for
    the short-lived first process, which records the real pid in supervisor.json.
    """
    run_dir = Path(run_dir).absolute()
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir.chmod(0o700)  # logs and the launch spec are the tenant's alone
    with _launch_lock(run_dir) as lock_fd:
        existing = _existing_supervisor_pid(run_dir)
        if existing is not None:
            return existing
        write_json_atomic(run_dir / LAUNCH_FILE, dataclasses.asdict(spec))
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[3])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        supervisor = "aicc.executors.local.supervisor"
        argv = [sys.executable, "-m", supervisor, str(run_dir), str(lock_fd)]
        with open(open_append(run_dir / SUPERVISOR_LOG), "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd="/",
                env=env,
                start_new_session=True,
                close_fds=True,
                pass_fds=(lock_fd,),
            )
        try:
            rc = proc.wait(timeout=LAUNCH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"supervisor for {run_dir} did not start in time") from None
        pid = _existing_supervisor_pid(run_dir)
        if rc != 0 or pid is None:
            raise RuntimeError(
                f"supervisor for {run_dir} failed to start (exit {rc}); see {SUPERVISOR_LOG}"
            )
        return pid


def _status_from_dict(data: dict[str, Any]) -> ReplicaStatus:
    fields: dict[str, Any] = {f.name: data.get(f.name) for f in dataclasses.fields(ReplicaStatus)}
    if fields["phase"] not in _PHASES:
        fields["phase"] = "starting"
    fields["orphaned"] = False  # never read from the file: only `status` finds an orphan
    return ReplicaStatus(**fields)


def status(run_dir: Path) -> ReplicaStatus:
    """The replica's status from the run directory alone (no server memory needed).

    A status that says starting/running whose supervisor is gone (dead, zombie, or its pid reused)
    reads as phase "lost", reason "supervisor_lost", once no process of the replica is left; so
    does a directory with no supervisor at all. While some are left it reads as running and
    `orphaned` (see `stop_orphan`): a replica is never reported ended while it may still run.
    """
    run_dir = Path(run_dir)
    current = ReplicaStatus("lost", None, None, None, None, None, None)
    data: dict[str, Any] | None = None
    for _ in range(2):  # the supervisor may end between our read and our liveness check
        data = read_json(run_dir / STATUS_FILE)
        if data is None:
            sup = read_json(run_dir / SUPERVISOR_FILE)
            if sup is None:  # no supervisor yet: is a launch() still at work?
                if (run_dir / LAUNCH_FILE).exists() and _launch_in_progress(run_dir):
                    return dataclasses.replace(current, phase="starting")
                break
            data = {"phase": "starting", "supervisor_pid": sup.get("pid")}
            data["supervisor_create_time"] = sup.get("create_time")
        current = _status_from_dict(data)
        alive = process_alive(current.supervisor_pid, data.get("supervisor_create_time"))
        if current.phase == "exited" or alive:
            return current
    if data is not None and (replica_pids(data) or _container_alive(data)):
        why = "the supervisor vanished; its replica is being stopped"
        return dataclasses.replace(current, phase="running", orphaned=True, error=why)
    return dataclasses.replace(current, phase="lost", reason="supervisor_lost")


def _group_members(pgid: int) -> set[int]:
    """Pids of the live processes in process group `pgid` (a scan of /proc)."""
    members = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rfind(b")") + 2 :].split()  # fields[0] is "state", [2] "pgrp"
            if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X", b"x"):
                members.add(int(name))
    return members


def _own_group(data: dict[str, Any]) -> int | None:
    """The replica's process group id, unless its leader's pid now names another process.

    A pid that still leads or belongs to a live group is never handed out again, so a group with
    this id is the replica's as long as its leader is the recorded process or is gone."""
    pgid = data.get("pid")
    if not pgid:
        return None
    created = data.get("replica_create_time")
    if process_alive(pgid, None) and not process_alive(pgid, created):
        return None
    return int(pgid)


def _cgroup_dir(data: dict[str, Any]) -> Path | None:
    path = data.get("cgroup")
    return Path(path) if path and Path(path).name.startswith("aicc-replica-") else None


def replica_pids(data: dict[str, Any]) -> set[int]:
    """The live processes of the replica that `data` (its status.json) describes: the members
    of its cgroup (which a `setsid` does not leave) and of its process group."""
    found: set[int] = set()
    cgroup = _cgroup_dir(data)
    if cgroup is not None:
        with contextlib.suppress(OSError, ValueError):
            found.update(int(p) for p in (cgroup / "cgroup.procs").read_text().split())
    pgid = _own_group(data)
    if pgid is not None:
        found |= _group_members(pgid)
    return {pid for pid in found if process_alive(pid, None)}


def _container_of(data: dict[str, Any]) -> tuple[str, str] | None:
    """podman and the name of the replica's container, as status.json records them (checked:
    a job without a sandbox could have written the file)."""
    name, remove = data.get("container"), data.get("remove")
    if not isinstance(name, str) or not isinstance(remove, list) or not remove:
        return None
    podman = remove[0]
    named = re.fullmatch(r"aicc-[a-z0-9_]+-[0-9]+-[0-9]+", name)
    runnable = isinstance(podman, str) and os.path.isabs(podman) and os.access(podman, os.X_OK)
    if not named or not runnable or os.path.basename(podman) != "podman":
        return None
    return podman, name


def _container_alive(data: dict[str, Any]) -> bool:
    """Whether the replica's container still exists: podman killed by SIGKILL leaves conmon and
    the container running, outside the replica's process group and cgroup."""
    found = _container_of(data)
    if found is None:
        return False
    podman, name = found
    done = subprocess.run(
        [podman, "container", "exists", name], capture_output=True, stdin=subprocess.DEVNULL
    )
    return done.returncode == 0


def stop_container(data: dict[str, Any], sig: int = signal.SIGKILL) -> None:
    """SIGTERM to the replica's container (podman kill returns at once), or with SIGKILL its
    removal; nothing when its status.json names none."""
    found = _container_of(data)
    if found is None:
        return
    podman, name = found
    argv = [podman, "kill", "--signal", "TERM", name]
    if sig == signal.SIGKILL:
        argv = [podman, "rm", "--force", "--ignore", "--time", "0", name]
    subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL)


def stop_orphan(run_dir: Path) -> bool:
    """Stop a replica whose supervisor vanished: SIGTERM to every process of it, SIGKILL to
    those left after the launch's grace_s. True once none is left. A replica's container, which
    outlives podman, is sent SIGTERM and after the grace removed.

    Called on every poll, by whichever server polls, so the one fact it must remember, when
    SIGTERM went out, is kept in orphan.json rather than in memory.
    """
    run_dir = Path(run_dir)
    data = read_json(run_dir / STATUS_FILE) or {}
    pids = replica_pids(data)
    cgroup = _cgroup_dir(data)
    if not pids and not _container_alive(data):
        if cgroup is not None:
            with contextlib.suppress(OSError):
                cgroup.rmdir()  # the supervisor would have removed it on its way out
        return True
    orphan = read_json(run_dir / ORPHAN_FILE)
    now = time.time()
    if orphan is None:
        write_json_atomic(run_dir / ORPHAN_FILE, {"term_at": now})
        sig = signal.SIGTERM
    else:
        grace_s = float((read_json(run_dir / LAUNCH_FILE) or {}).get("grace_s", 10.0))
        if now < float(orphan.get("term_at", 0.0)) + grace_s:
            return False
        sig = signal.SIGKILL
        if cgroup is not None:
            with contextlib.suppress(OSError):
                (cgroup / "cgroup.kill").write_text("1")
    stop_container(data, sig)
    pgid = _own_group(data)
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    return False


def poll(run_dir: Path) -> ReplicaStatus:
    """`status`, plus what it asks of the server: a replica whose supervisor vanished is stopped
    (`stop_orphan`), and its cgroup removed once none of it is left."""
    current = status(run_dir)
    if (current.orphaned or current.phase == "lost") and stop_orphan(run_dir):
        current = status(run_dir)
    return current


def cancel(run_dir: Path) -> None:
    """Ask the supervisor to stop the replica (SIGTERM to its group, grace, SIGKILL).

    Idempotent and a no-op once the replica ended. A replica whose supervisor vanished is
    stopped directly (`stop_orphan`; the executor's polls send SIGKILL after the grace).
    """
    run_dir = Path(run_dir)
    current = status(run_dir)
    if current.phase == "exited" or not run_dir.is_dir():
        return
    mark_cancel(run_dir)
    if current.orphaned or current.phase == "lost":
        stop_orphan(run_dir)
        return
    data = read_json(run_dir / STATUS_FILE) or {}
    sup = read_json(run_dir / SUPERVISOR_FILE) or {}
    pid = data.get("supervisor_pid") or sup.get("pid")
    create_time = data.get("supervisor_create_time") or sup.get("create_time")
    if pid and process_alive(pid, create_time):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def _layout(run_dir: Path) -> LogLayout | None:
    data = read_json(run_dir / LAUNCH_FILE)
    return None if data is None else LogLayout.for_limit(int(data.get("log_limit_bytes", 0)))


def log_size(run_dir: Path, stream: Stream = "stdout") -> int:
    """Total bytes the replica ever wrote to `stream`, kept or not (offsets for `logs --follow`)."""
    return logfiles.size(Path(run_dir), stream, _layout(Path(run_dir)))


def read_log(run_dir: Path, stream: Stream = "stdout", tail_bytes: int | None = None) -> str:
    """The stream as kept (`logfiles.read`), its budget read from launch.json."""
    return logfiles.read(Path(run_dir), stream, _layout(Path(run_dir)), tail_bytes)
