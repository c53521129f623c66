"""Small images for tests of jobs in images (no registry outside can be reached here): a root
file system of busybox-static plus marker files, made an image by `podman import`, removed with
every container of the test's jobs when the block ends."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from aicc.executors import container as containers
from aicc.executors.base import Executor, ReplicaLaunch, ReplicaState
from aicc.services.common import new_id

BUSYBOX = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if Path(p).is_file()), None)
APPLETS = ("sh", "cat", "ls", "echo", "sleep", "dd", "nc", "ps", "id", "test", "true", "httpd")


def podman_or_skip() -> containers.Container:
    """The container runtime that works here, or a loud skip: these tests need podman with
    runc or crun and busybox-static (scripts/install-test-deps.sh installs them)."""
    import pytest  # only tests ask

    if BUSYBOX is None or shutil.which("podman") is None:
        pytest.skip(
            "JOBS IN IMAGES UNTESTED: podman or busybox-static is missing "
            "(scripts/install-test-deps.sh installs podman, runc, conmon, busybox-static)"
        )
    found = containers.detected("auto", ())
    if found is None:
        pytest.skip("JOBS IN IMAGES UNTESTED: podman is installed but no OCI runtime works here")
    return found


def rootfs_tar(files: dict[str, bytes]) -> bytes:
    """A root file system: busybox as /bin/busybox, its applets as links, and `files`."""
    assert BUSYBOX is not None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("bin", "usr", "usr/lib", "etc", "tmp", "proc", "sys", "dev", "root"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, "bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name.lstrip("/"))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_image(podman: str, tmp: Path, tag: str, files: dict[str, bytes]) -> str:
    """`localhost/aicc-test-<random>:<tag>` of `files` (podman import)."""
    ref = f"localhost/aicc-test-{uuid.uuid4().hex[:10]}:{tag}"
    tarball = tmp / f"{uuid.uuid4().hex}.tar"
    tarball.write_bytes(rootfs_tar(files))
    done = subprocess.run([podman, "import", "--quiet", str(tarball), ref], capture_output=True)
    tarball.unlink()
    assert done.returncode == 0, done.stderr.decode()
    return ref


def containers_of(podman: str, job_ids: Iterable[str]) -> list[str]:
    """The names of containers, running or not, that belong to these jobs."""
    done = subprocess.run(
        [podman, "ps", "--all", "--format", "{{.Names}}"], capture_output=True, text=True
    )
    prefixes = tuple(f"{containers.NAME_PREFIX}{j.lower()}-" for j in job_ids)
    return [n for n in done.stdout.split() if n.startswith(prefixes)]


@contextlib.contextmanager
def cleaned(podman: str, images: list[str], job_ids: list[str]) -> Iterator[None]:
    """Whatever the block ends with: the jobs' containers and the images removed."""
    try:
        yield
    finally:
        for name in containers_of(podman, job_ids):
            subprocess.run([podman, "rm", "--force", "--time", "0", name], capture_output=True)
        if images:
            subprocess.run([podman, "rmi", "--force", *images], capture_output=True)


# --- one engine's jobs in images (tests/executors/test_slurm.py, test_ray.py) ----------------

LIBS = ["/bin/sh", "-c", "cat /usr/lib/libdemo.so.*; ls /usr/lib"]
TRAP = 'trap "echo got TERM; exit 0" TERM; echo up; while :; do sleep 0.1; done'
LIBRARIES = {
    "v1": {"usr/lib/libdemo.so.1": b"libdemo 1.0\n"},
    "v2": {"usr/lib/libdemo.so.2": b"libdemo 2.0\n"},
}


def _replica(argv: list[str], node: str, image: str) -> ReplicaLaunch:
    return ReplicaLaunch(
        new_id("job"), 0, 0, argv, {"CUDA_VISIBLE_DEVICES": ""}, node, (), 500, 128, None,
        image=image,
    )  # fmt: skip


def _ended(executor: Executor, handle: str, timeout: float = 120) -> ReplicaState:
    deadline = time.monotonic() + timeout
    while (state := executor.poll(handle)).phase not in ("exited", "lost"):
        assert time.monotonic() < deadline, f"{handle} never ended"
        time.sleep(0.2)
    return state


@contextlib.contextmanager
def engine_images(podman: str, tmp: Path) -> Iterator[dict[str, str]]:
    """The two images of `LIBRARIES` (`make_image`), removed when the block ends."""
    made = {
        version: make_image(podman, tmp, version[1:], files) for version, files in LIBRARIES.items()
    }
    with cleaned(podman, list(made.values()), []):
        yield made


def check_engine(executor: Executor, nodes: list[str], podman: str, made: dict[str, str]) -> None:
    """On `executor`'s `nodes`: jobs in the two images of `LIBRARIES` (`made`: v1, v2) each see
    their own library, a missing image fails `image_unavailable` without running, and a cancel
    reaches the command through podman, its container removed after."""
    launched = [_replica(LIBS, nodes[i % len(nodes)], made[v]) for i, v in enumerate(made)]
    jobs = [r.job_id for r in launched]
    with cleaned(podman, [], jobs):
        handles = [executor.launch(r) for r in launched]
        ended = [_ended(executor, h) for h in handles]
        logs = [executor.logs(h) for h in handles]
        assert [s.reason for s in ended] == ["succeeded", "succeeded"], logs
        assert logs == ["libdemo 1.0\nlibdemo.so.1\n", "libdemo 2.0\nlibdemo.so.2\n"]

        missing = _replica(["/bin/sh", "-c", "echo ran"], nodes[0], "localhost/aicc-no-such:1")
        jobs.append(missing.job_id)
        handle = executor.launch(missing)
        state = _ended(executor, handle)
        assert state.reason == "image_unavailable", state
        assert "localhost/aicc-no-such:1" in state.message and executor.logs(handle) == ""

        stopped = _replica(["/bin/sh", "-c", TRAP], nodes[-1], made["v1"])
        jobs.append(stopped.job_id)
        handle = executor.launch(stopped)
        deadline = time.monotonic() + 120
        while "up" not in executor.logs(handle):
            assert time.monotonic() < deadline, executor.logs(handle, "stderr")
            time.sleep(0.2)
        assert containers_of(podman, [stopped.job_id])
        executor.cancel(handle)
        deadline = time.monotonic() + 60
        while (state := executor.poll(handle)).phase not in ("exited", "lost"):
            assert time.monotonic() < deadline
            executor.cancel(handle)  # past the grace, the engine ends it
            time.sleep(0.3)
        assert state.reason == "cancelled" and executor.logs(handle) == "up\ngot TERM\n"
        assert containers_of(podman, [stopped.job_id]) == []
