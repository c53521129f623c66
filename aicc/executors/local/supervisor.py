"""The per-replica supervisor: `python -m aicc.executors.local.supervisor RUN_DIR`.

It outlives the server and talks to it only through files in RUN_DIR (see runtime.py): it starts
the command in its own process group, keeps size-capped logs, enforces the wall-clock and memory
limits, forwards a cancel (SIGTERM to itself, or the `cancel` file), and writes status.json at
start and at the end. It never dies silently: any failure ends as reason "supervisor_error".

It forks once more as it starts (the first process records the child's pid in RUN_DIR and
ends), so it is nobody's child and does not die with the server; once it holds the
environment it rewrites launch.json without its values (`runtime.forget_env`), so secrets live
on only in the replica.

Memory: a child cgroup v2 with memory.max when the supervisor's own cgroup allows one; otherwise
the RSS of every process in the replica's group is summed every SAMPLE_S and the group is killed
when the sum exceeds the limit. RLIMIT_AS is never used (it breaks CUDA/PyTorch address space).

A replica in its image (container.py) is pulled first, here, so the server's launch does not
wait for a long pull; a failed pull ends it `image_unavailable` with podman's message in its
stderr log. Its container is removed on the way out, since podman killed after the grace leaves
it running. The container's cgroup holds its memory limit; the kernel's OOM kill there reaches
podman only as exit 137 (cgroup v1 tells podman nothing more), so a container replica that
exits 137 unasked is `oom_killed`.

If the supervisor itself is killed, its replica must not run on untracked: the command gets
SIGTERM when the supervisor dies (PR_SET_PDEATHSIG), and status.json names its process group and
its cgroup (a cgroup v2 without the memory controller still holds every process, `setsid` or not)
from before it runs, so a server finds and stops what is left (`runtime.stop_orphan`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import selectors
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import psutil

from aicc.executors.cancel import CANCEL_FILE
from aicc.executors.local import runtime as rt
from aicc.executors.local.logfiles import DISK_FULL, LogLayout, StreamLog
from aicc.executors.local.runtime import LaunchSpec

SAMPLE_S = 0.2  # period of the memory, runtime and cancel-file checks
SCAN_S = 1.0  # period of the full /proc scan for members of the replica's group (no cgroup)
DRAIN_S = 2.0  # how long to read pipes still held open after the leader exited
MIB = 1024 * 1024
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


class _Flags:
    stop_signal: int | None = None


def _on_stop(signum: int, frame: object) -> None:
    _Flags.stop_signal = signum


def _wake_only(signum: int, frame: object) -> None:
    """A Python-level handler, so the signal reaches the wakeup fd (and resets on exec)."""


def _rss_bytes(pids: list[str], pgid: int | None = None) -> tuple[int, list[str]]:
    """Summed resident bytes of those `pids` that live (in group `pgid` if given), and them."""
    total, members = 0, []
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rfind(b")") + 2 :].split()  # fields[0] is field 3, "state"
            if pgid is None or int(fields[2]) == pgid:
                total += int(fields[21]) * PAGE_SIZE
                members.append(pid)
    return total, members


def _own_cgroup_dir() -> Path:
    """The supervisor's cgroup v2 directory, from /proc/self/cgroup and /proc/self/mountinfo."""
    rel = next(
        (ln[3:] for ln in Path("/proc/self/cgroup").read_text().splitlines() if ln[:3] == "0::"),
        None,
    )
    if rel is None:
        raise OSError("no cgroup v2 hierarchy")
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        if right.split()[:1] == ["cgroup2"]:
            fields = left.split()
            mounts.append((fields[4] != "/sys/fs/cgroup", fields[3], fields[4]))
    if not mounts:
        raise OSError("cgroup2 is not mounted")
    _, root, point = min(mounts)
    if root != "/":
        if rel != root and not rel.startswith(root + "/"):
            raise OSError(f"own cgroup {rel} is outside the cgroup2 mount")
        rel = rel[len(root) :]
    return Path(point) / rel.lstrip("/")


class Cgroup:
    """A child cgroup v2 holding the replica, with memory.max and OOM accounting when the memory
    controller is there (`memory`), and as the one list of its processes in any case."""

    def __init__(self, path: Path, procs_fd: int, memory: bool) -> None:
        self.path, self.procs_fd, self.memory = path, procs_fd, memory

    @classmethod
    def create(cls, memory_limit_mib: int | None) -> Cgroup:
        """Raises OSError when cgroup v2 is not usable here (the caller falls back)."""
        own = _own_cgroup_dir()
        memory = "memory" in (own / "cgroup.controllers").read_text().split()
        if memory and "memory" not in (own / "cgroup.subtree_control").read_text().split():
            try:
                (own / "cgroup.subtree_control").write_text("+memory")
            except OSError:
                memory = False  # still worth a group that tracks the processes
        path = own / f"aicc-replica-{os.getpid()}"
        with contextlib.suppress(OSError):
            path.rmdir()  # a stale empty group from a previous supervisor with our pid
        path.mkdir()
        try:
            if memory:
                limit = "max" if memory_limit_mib is None else str(memory_limit_mib * MIB)
                (path / "memory.max").write_text(limit)
                for name, value in (("memory.oom.group", "1"), ("memory.swap.max", "0")):
                    if memory_limit_mib is not None:
                        with contextlib.suppress(OSError):
                            (path / name).write_text(value)
            procs_fd = os.open(path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            path.rmdir()
            raise
        return cls(path, procs_fd, memory)

    def join(self) -> None:
        """Runs in the forked child before exec: move it (and all it will spawn) into the group."""
        os.write(self.procs_fd, b"0")

    def pids(self) -> list[str]:
        with contextlib.suppress(OSError):
            return (self.path / "cgroup.procs").read_text().split()
        return []

    def oom_kills(self) -> int:
        with contextlib.suppress(OSError, ValueError):
            for line in (self.path / "memory.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def kill_all(self) -> None:
        try:
            (self.path / "cgroup.kill").write_text("1")
        except OSError:
            for pid in self.pids():
                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)

    def remove(self) -> None:
        """Kill what is left and remove the group (it must be empty first)."""
        with contextlib.suppress(OSError):
            os.close(self.procs_fd)
        for _ in range(40):
            if not self.path.exists():
                return
            self.kill_all()
            with contextlib.suppress(OSError):
                self.path.rmdir()
            time.sleep(0.05)
        print(f"supervisor: could not remove cgroup {self.path}", file=sys.stderr)


class Supervisor:
    """Runs one replica to its end and records its fate in status.json."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.state: dict[str, Any] = {
            "phase": "starting",
            "supervisor_pid": os.getpid(),
            "supervisor_create_time": psutil.Process().create_time(),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.cgroup: Cgroup | None = None
        self.logs: dict[str, StreamLog] = {}
        self.spec: LaunchSpec | None = None
        self.stop_reason: str | None = None
        self.terminating = False
        self.kill_at: float | None = None
        self.peak_rss = 0
        self.members: list[str] = []  # the replica group's pids at the last sample
        self.next_scan = 0.0

    def main(self) -> int:
        try:
            self._run()
            return 0
        except BaseException as exc:  # never crash silently: the server must learn why
            traceback.print_exc()
            self._signal_group(signal.SIGKILL)
            rc = None
            with contextlib.suppress(Exception):
                rc = self.proc.wait(timeout=5) if self.proc is not None else None
            with contextlib.suppress(BaseException):
                self._finish(rc, "supervisor_error", f"{type(exc).__name__}: {exc}")
            return 1

    def _save(self, **changes: Any) -> None:
        """Record the state. On a full disk a passing state is skipped (the next save writes
        it all), and the final one waits for room: the replica's true end must be recorded,
        or the server reads a dead supervisor as a lost replica and runs it again."""
        self.state.update(changes)
        if self.state.get("phase") == "exited":
            rt.write_json_waiting(self.run_dir / rt.STATUS_FILE, self.state)
            return
        try:
            rt.write_json_atomic(self.run_dir / rt.STATUS_FILE, self.state)
        except OSError as err:
            if err.errno not in DISK_FULL:
                raise

    def _run(self) -> None:
        data = rt.read_json(self.run_dir / rt.LAUNCH_FILE)
        if data is None:
            raise FileNotFoundError(f"{self.run_dir / rt.LAUNCH_FILE} is missing")
        spec = self.spec = rt.spec_from_dict(data)
        rt.forget_env(self.run_dir, spec)
        self._save()
        layout = LogLayout.for_limit(spec.log_limit_bytes)
        self.logs = {s: StreamLog(self.run_dir, s, layout) for s in ("stdout", "stderr")}
        if self._cancel_requested():
            self._finish(None, "cancelled")
            return
        if spec.container is not None:  # found again by name should we be killed
            self._save(container=spec.container, remove=spec.remove)
        if spec.pull and not self._pull(spec):
            return
        try:
            self.cgroup = Cgroup.create(spec.memory_limit_mib)
        except OSError as exc:
            print(f"supervisor: cgroup v2 not usable ({exc}); sampling RSS", file=sys.stderr)
        else:
            self._save(cgroup=str(self.cgroup.path))  # found again should we be killed
        try:
            self.proc = self._spawn(spec)
        except OSError as exc:
            message = f"cannot start {spec.command[0]!r} in {spec.cwd!r}: {exc}"
            self.logs["stderr"].write(f"aicc: {message}\n".encode())
            self._finish(127 if exc.errno == errno.ENOENT else 126, "exit_code", message)
            return
        try:
            replica_create_time: float | None = psutil.Process(self.proc.pid).create_time()
        except psutil.Error:
            replica_create_time = None
        self._save(
            phase="running",
            pid=self.proc.pid,
            started_at=time.time(),
            replica_create_time=replica_create_time,
            memory_enforcement="cgroup" if self.cgroup and self.cgroup.memory else "rss_sampling",
        )
        self._watch(spec, self.proc)

    def _pull(self, spec: LaunchSpec) -> bool:
        """The node's pull of the replica's image (container.py), its messages in the replica's
        stderr log; False once the replica ended (the pull failed, or it was cancelled)."""
        proc = subprocess.Popen(
            spec.pull,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            close_fds=True,
            start_new_session=True,
        )
        while True:
            try:
                _, said = proc.communicate(timeout=SAMPLE_S)
                break
            except subprocess.TimeoutExpired:
                if self._cancel_requested():
                    proc.kill()
                    proc.communicate()
                    self._finish(None, "cancelled")
                    return False
        if said:
            self.logs["stderr"].write(said)
        if proc.returncode == 0:
            return True
        lines = said.decode("utf-8", errors="replace").strip().splitlines()
        message = lines[-1] if lines else f"the pull exited {proc.returncode}"
        self._finish(proc.returncode, "image_unavailable", message)
        return False

    def _spawn(self, spec: LaunchSpec) -> subprocess.Popen[bytes]:
        """The replica in its own session/process group, joined to the cgroup before exec."""
        while True:
            try:
                return subprocess.Popen(
                    [*spec.sandbox, *spec.command],
                    cwd=spec.cwd,
                    env=spec.env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                    close_fds=True,
                    preexec_fn=self._in_child,
                )
            except subprocess.SubprocessError as exc:  # joining the cgroup failed in the child
                if self.cgroup is None:
                    raise
                print(f"supervisor: cannot join cgroup ({exc}); sampling RSS", file=sys.stderr)
                self.cgroup.remove()
                self.cgroup = None
                self._save(cgroup=None)

    def _in_child(self) -> None:
        """Runs in the forked child before exec: join the cgroup, get SIGTERM should the
        supervisor die (a grandchild is not covered: the group and cgroup are, by a server), and
        record the pid (= process group) in status.json before the command can run, since a
        command that kills its supervisor at once does so before the supervisor records it."""
        if self.cgroup is not None:
            self.cgroup.join()
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != self.state["supervisor_pid"]:  # it died before prctl: do not run
            os._exit(1)
        self._save(pid=os.getpid(), replica_create_time=psutil.Process().create_time())

    def _watch(self, spec: LaunchSpec, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, _wake_only)
        sel = selectors.DefaultSelector()
        sel.register(wake_r, selectors.EVENT_READ, None)
        pipes = {"stdout": proc.stdout, "stderr": proc.stderr}
        for name, pipe in pipes.items():
            os.set_blocking(pipe.fileno(), False)
            sel.register(pipe.fileno(), selectors.EVENT_READ, name)
        started = time.monotonic()
        next_tick = started
        ended_at: float | None = None
        drain_until = float("inf")
        while True:
            now = time.monotonic()
            deadline = min(next_tick, drain_until, self.kill_at or float("inf"))
            for key, _ in sel.select(max(0.0, deadline - now)):
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 4096)
                    continue
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if chunk:
                    self.logs[key.data].write(chunk)
                else:
                    sel.unregister(key.fd)
                    pipes.pop(key.data).close()
            now = time.monotonic()
            if ended_at is None and proc.poll() is not None:
                ended_at = time.time()
                self._sample_memory(proc.pid)
                self._signal_group(signal.SIGKILL)  # leftovers of the replica's group
                drain_until = now + DRAIN_S
            if ended_at is None:
                if _Flags.stop_signal is not None:
                    self._stop("cancelled")
                if now >= next_tick:
                    next_tick = now + SAMPLE_S
                    self._tick(spec, proc.pid, now - started)
                if self.kill_at is not None and now >= self.kill_at:
                    self.kill_at = None
                    self._signal_group(signal.SIGKILL)
            elif not pipes or now >= drain_until:
                break
        for pipe in pipes.values():
            pipe.close()
        signal.set_wakeup_fd(-1)
        sel.close()
        os.close(wake_r)
        os.close(wake_w)
        self._finish(proc.returncode, None, ended_at=ended_at)

    def _tick(self, spec: LaunchSpec, pid: int, elapsed: float) -> None:
        """Periodic checks: cancel file, wall-clock limit, memory."""
        if self._cancel_requested():
            self._stop("cancelled")
        if spec.max_runtime_s is not None and elapsed > spec.max_runtime_s:
            self._stop("runtime_exceeded")
        rss = self._sample_memory(pid)
        if self.cgroup is not None and self.cgroup.memory:
            if self.cgroup.oom_kills() > 0:
                self._stop("oom_killed", grace_s=0.0)
        elif spec.memory_limit_mib is not None and rss > spec.memory_limit_mib * MIB:
            print(f"supervisor: replica RSS {rss // MIB} MiB over the limit", file=sys.stderr)
            self._stop("oom_killed", grace_s=0.0)

    def _sample_memory(self, pid: int) -> int:
        """Summed RSS of the replica; without a cgroup the group's members are found by a /proc
        scan every SCAN_S only (it reads every process's stat), and re-read every sample."""
        if self.cgroup is not None:
            rss, _ = _rss_bytes(self.cgroup.pids())
        else:
            now = time.monotonic()
            candidates = self.members
            if now >= self.next_scan:
                self.next_scan = now + SCAN_S
                candidates = [p for p in os.listdir("/proc") if p.isdigit()]
            rss, self.members = _rss_bytes(candidates, pgid=pid)
        self.peak_rss = max(self.peak_rss, rss)
        return rss

    def _cancel_requested(self) -> bool:
        return _Flags.stop_signal is not None or (self.run_dir / CANCEL_FILE).exists()

    def _stop(self, reason: str, grace_s: float | None = None) -> None:
        """First reason wins; SIGTERM to the group now, SIGKILL after the grace (0: at once)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if grace_s is None:
            grace_s = self.spec.grace_s if self.spec is not None else 10.0
        if grace_s <= 0:
            self._signal_group(signal.SIGKILL)
            self.kill_at = None
        elif not self.terminating:
            self._signal_group(signal.SIGTERM)
            self.kill_at = time.monotonic() + grace_s
        self.terminating = True

    def _signal_group(self, sig: int) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)
        if sig == signal.SIGKILL and self.cgroup is not None:
            self.cgroup.kill_all()

    def _finish(
        self,
        exit_code: int | None,
        reason: str | None,
        error: str | None = None,
        ended_at: float | None = None,
    ) -> None:
        if reason is None:
            if self.stop_reason is not None:
                reason = self.stop_reason
            elif self.spec is not None and self.spec.container is not None and exit_code == 137:
                reason = "oom_killed"  # SIGKILL unasked: the container's memory limit
            elif self.cgroup is not None and exit_code != 0 and self.cgroup.oom_kills() > 0:
                reason = "oom_killed"
            elif exit_code == 0:
                reason = "succeeded"
            else:
                reason = "signal" if exit_code is not None and exit_code < 0 else "exit_code"
        for log in self.logs.values():
            log.close()
        cgroup, self.cgroup = self.cgroup, None
        if cgroup is not None:
            cgroup.remove()
        if self.spec is not None and self.spec.remove and self.proc is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(self.spec.remove, capture_output=True, timeout=60)
        self._save(
            phase="exited",
            ended_at=ended_at or time.time(),
            exit_code=exit_code,
            reason=reason,
            error=error,
            peak_rss_mib=round(self.peak_rss / MIB, 1),
            stdout_bytes=self.logs["stdout"].total if "stdout" in self.logs else 0,
            stderr_bytes=self.logs["stderr"].total if "stderr" in self.logs else 0,
        )


def main(argv: list[str] | None = None) -> int:
    """Fork once so the supervisor is nobody's child; the first process records its pid.

    LOCK_FD is the run directory's launch lock, which `runtime.launch` hands over: the first
    process holds it until the pid is recorded (it ends then), and the supervisor lets go."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2) or not args[-1]:
        print("usage: python -m aicc.executors.local.supervisor RUN_DIR [LOCK_FD]", file=sys.stderr)
        return 2
    run_dir = Path(args[0]).absolute()
    lock_fd = int(args[1]) if len(args) == 2 else None
    # Installed before the fork, so a cancel that arrives at once is recorded, not fatal.
    signal.signal(signal.SIGTERM, _on_stop)
    signal.signal(signal.SIGINT, _on_stop)
    signal.signal(signal.SIGHUP, _wake_only)
    child = os.fork()
    if child:
        # Waits for room on a full disk: the supervisor runs from here on, and a server that
        # cannot find it would call the replica lost while it runs.
        rt.write_json_waiting(
            run_dir / rt.SUPERVISOR_FILE,
            {"pid": child, "create_time": psutil.Process(child).create_time()},
        )
        return 0
    if lock_fd is not None:
        os.close(lock_fd)
    return Supervisor(run_dir).main()


if __name__ == "__main__":
    sys.exit(main())
