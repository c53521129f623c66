"""Small images for tests of jobs in images (no registry outside can be reached here): a root
file system of busybox-static plus marker files, made an image by `podman import`, removed with
every container of the test's jobs when the block ends."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from aicc.executors import container as containers

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
