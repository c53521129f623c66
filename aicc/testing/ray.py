"""A private one-node Ray cluster for tests, benchmarks and demos, on 127.0.0.1 only.

`ray start --head` with its own temporary directory and free ports, so it neither meets nor
disturbs a developer's cluster; GPUs are declared (`--num-gpus`), so Ray hands out device
indices in `CUDA_VISIBLE_DEVICES` on a machine that has none. Stopping it ends exactly the
processes of this cluster (its session and their descendants), never another Ray on the
machine, which `ray stop` would.

    python -m aicc.testing.ray      # start one, print its address, stop it on Ctrl-C
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from aicc.testing import startup
from aicc.testing.servers import free_port


class RayNotInstalled(RuntimeError):
    """Ray (with its dashboard) cannot be imported or run here."""


@dataclass
class RayCluster:
    address: str  # the dashboard: Jobs and State APIs
    gcs_address: str
    temp_dir: Path
    session: int  # the session id of `ray start`, which every daemon of the cluster keeps
    command: list[str] = field(default_factory=list)  # the `ray start` that made it (restart)
    env: dict[str, str] = field(default_factory=dict)

    def processes(self) -> list[psutil.Process]:
        """Every process of this cluster: its session, and what those processes started
        (job entrypoints run in sessions of their own)."""
        found: dict[int, psutil.Process] = {}
        for proc in psutil.process_iter():
            try:
                if os.getsid(proc.pid) != self.session:
                    continue
                found[proc.pid] = proc
                for child in proc.children(recursive=True):
                    found[child.pid] = child
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
        found.pop(os.getpid(), None)
        return list(found.values())

    def stop(self, timeout: float = 3.0) -> None:
        """SIGTERM to every process of the cluster, SIGKILL to what is left after `timeout`
        (gcs_server and raylet take their time to wind down, and a test cluster has nothing to
        save), then the temporary directory goes."""
        procs = self.processes()
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        _, alive = psutil.wait_procs(procs, timeout=timeout)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def kill_head(self) -> int:
        """Lose the head node as a machine is lost: SIGKILL to every process of the cluster at
        once (GCS, raylet, dashboard, workers, job entrypoints), nothing told beforehand. The
        temporary directory stays, for `restart`. Returns how many processes died."""
        procs = self.processes()
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(procs, timeout=10)
        return len(procs)

    def restart(self, timeout: float | None = None) -> None:
        """Start the head again after `kill_head`, as an operator would: the same `ray start`,
        on the same ports and temporary directory, so the address clients hold answers again.
        It comes back empty: without GCS fault tolerance (an external Redis) Ray forgets its
        jobs and actors with its head. Blocking, until the Jobs API answers."""
        self._boot(timeout)

    def _boot(self, timeout: float | None) -> None:
        """`ray start` in a session of its own (its daemons keep it, so `processes` finds
        them), until the Jobs API answers (within `timeout`, the suite's start cap unless
        given); when it fails or is interrupted, what it started is stopped."""
        timeout = startup.start_timeout_s() if timeout is None else timeout
        log_path = self.temp_dir / "ray-start.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
        self.session = proc.pid
        try:
            code = proc.wait(timeout=timeout)
            if code != 0:
                raise RuntimeError(f"ray start failed (exit {code}):\n{_tail(log_path)}")
            _wait_for_jobs_api(self.address, time.monotonic() + timeout)
        except BaseException:
            if proc.poll() is None:
                proc.kill()
            self.stop(timeout=5)
            raise


def ray_command() -> Path:
    """The `ray` CLI of this interpreter's environment; RayNotInstalled when it is missing."""
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("aiohttp") is None:
        raise RayNotInstalled("Ray is not installed: pip install 'aicc[ray]' (ray[default])")
    command = Path(sys.executable).parent / "ray"
    if not command.exists():
        raise RayNotInstalled(f"Ray is installed but {command} is missing")
    return command


def start(*, num_cpus: int = 2, num_gpus: int = 2, timeout: float | None = None) -> RayCluster:
    """Start a head node on 127.0.0.1 and wait until its Jobs API answers. Blocking."""
    command = ray_command()
    temp_dir = Path(tempfile.mkdtemp(prefix="aicc-ray-", dir="/tmp"))  # short: socket paths
    gcs_port, dashboard_port = free_port(), free_port()
    args = [
        str(command), "start", "--head",
        "--node-ip-address", "127.0.0.1",
        "--num-cpus", str(num_cpus),
        "--num-gpus", str(num_gpus),
        "--port", str(gcs_port),
        "--dashboard-host", "127.0.0.1",
        "--dashboard-port", str(dashboard_port),
        "--include-dashboard", "true",
        "--temp-dir", str(temp_dir),
        "--disable-usage-stats",
        # Every other port of its own, so two clusters on one machine never collide.
        "--ray-client-server-port", str(free_port()),
        "--dashboard-agent-listen-port", str(free_port()),
        "--dashboard-agent-grpc-port", str(free_port()),
        "--metrics-export-port", str(free_port()),
        "--runtime-env-agent-port", str(free_port()),
        "--node-manager-port", str(free_port()),
        "--object-manager-port", str(free_port()),
    ]  # fmt: skip
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(command.parent), os.environ.get("PATH", "")]),
        "RAY_USAGE_STATS_ENABLED": "0",
        # A one-node cluster: keep 127.0.0.1 instead of the machine's routable address.
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    cluster = RayCluster(
        address=f"http://127.0.0.1:{dashboard_port}",
        gcs_address=f"127.0.0.1:{gcs_port}",
        temp_dir=temp_dir,
        session=0,
        command=args,
        env=env,
    )
    cluster._boot(timeout)
    return cluster


def _wait_for_jobs_api(address: str, deadline: float) -> None:
    """Until the Jobs API lists jobs (the head answers /api/version earlier than that)."""
    while not startup.answers(f"{address}/api/jobs/"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"Ray's Jobs API at {address} did not answer")
        time.sleep(0.2)


def _tail(path: Path, size: int = 4000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else ""


@contextlib.contextmanager
def cluster(*, num_cpus: int = 2, num_gpus: int = 2) -> Iterator[RayCluster]:
    started = start(num_cpus=num_cpus, num_gpus=num_gpus)
    try:
        yield started
    finally:
        started.stop()


if __name__ == "__main__":
    with cluster() as dev:
        print(f"Ray dashboard and Jobs API: {dev.address} (Ctrl-C stops the cluster)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
