"""A replica in its image: the podman command line that runs it confined as the sandbox does.

A job that names an `image:` runs in it on the local, Slurm and Ray executors instead of in the
bubblewrap sandbox (sandbox.py), with the same walls: the container sees the image's own files,
and of this machine only what the sandbox would bind, namely its working copy, the job's outputs
and checkpoints (read-write, at their own paths), its data sets' view (read-only), a private
`/tmp` and `$HOME` (or its persistent home), its job's resolv.conf and, when it was given any,
the GPU devices. The control plane's files ($AICC_HOME, the database, other run directories)
are in no bind, so they are not there. netns.py puts the process in the job's own network
namespace before podman starts, so `--network host` is that namespace (the node's loopback
services are not in it), which a gang's replicas on one node share as under the sandbox.

Limits: the replica's CPU and memory request as `--cpus` and `--memory` (cgroups enforce them),
a pids limit, every capability dropped and no new privileges. The `--ulimit`s are the caller's
own: podman's defaults exceed them and, without CAP_SYS_RESOURCE, the runtime then fails to set
them ("error setting rlimit").

Runtimes: crun first (smaller, faster), then runc: on a host whose cgroups are in hybrid mode
(v1 controllers, a v2 mount with none of them), crun refuses ("cgroups in hybrid mode not
supported") where runc works. `detect` runs one trivial container with each to find which.

Environment: by NAME only (`-e NAME`): podman takes the values from its own environment, which
the engine's script sourced from the 0600 env file, so no secret stands on a command line.

Signals: podman passes SIGTERM on (`--sig-proxy`), `--init` (catatonit) hands it to the command
and reaps; exit codes pass through, a signal N giving 128+N. podman killed by SIGKILL leaves
conmon and the container running, so whoever stops a replica removes its container by name
(`remove_argv`, `podman rm -f`).

A build job's podman command lines are image_build.py's; the node side of a build (`_build`:
its pulls, build and push, then its cgroup and working containers cleaned) runs here, in the same
stand-alone script as the pull.

Images are pulled once per node (`pull`): under a file lock per reference, not at all when
podman's storage holds a fixed tag already; a moving one (`:latest`, no tag) is pulled again,
its layers shared, and so is one pulled with a credential (the registry then says again whether
this tenant may have it). `python -I -S container.py pull ...` (the standard library alone) is
what the local supervisor and the Slurm and Ray scripts run before the container; its failure
is the replica's `image_unavailable`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Mode = Literal["auto", "podman", "off"]

RUNTIMES = ("crun", "runc")  # in the order tried (see the module's docstring)
NAME_PREFIX = "aicc-"  # every replica container's name starts so (cleanup, leftovers)
PIDS_LIMIT = 4096
PODMAN_NPROC = 32768  # podman's own default process limit (`caller_ulimits`)
IMAGES_DIR = ".images"  # BASE/.images: the per-node pull locks
AUTH_FILE = "pull-auth.json"  # RUN_DIR/pull-auth.json: 0600, removed after the pull
UNAVAILABLE_FILE = "image_unavailable"  # RUN_DIR/image_unavailable: why the pull failed
UNAVAILABLE_EXIT = 125  # what a failed pull exits with (podman's own errors' code)
# Host settings a container must not inherit by name: its image has its own PATH, and the
# server's Python, source checkout and temporary directory are not in it.
HOST_ONLY = frozenset({"PATH", "PYTHONPATH", "TMPDIR", "SHELL", "VIRTUAL_ENV", "PYTHONHOME"})
# What podman takes for a reference (the distribution spec's grammar, loosely): no option, no
# space, nothing a shell or podman would read otherwise.
REFERENCE = re.compile(r"[a-z0-9][a-zA-Z0-9._/:@+-]{0,254}")
# The pull and a build run as this file, isolated (-I) and without site (-S), as netns.py
# does: the standard library alone, so a replica's start pays for an interpreter, not for
# `import aicc`.
SELF_ARGV = (sys.executable, "-I", "-S", os.path.abspath(__file__))
PROBE = "/busybox"  # busybox runs the applet named by its first argument when so called


class ContainerUnavailable(RuntimeError):
    """`container: podman` was asked for and podman, or every OCI runtime, fails here."""


def container_name(job_id: str, attempt: int, index: int) -> str:
    """`aicc-JOB-ATTEMPT-REPLICA`: unique per replica attempt on a node, found again by name."""
    return f"{NAME_PREFIX}{job_id.lower()}-{attempt}-{index}"


def registry_of(ref: str) -> str | None:
    """The registry host of an image reference (`HOST[:PORT]/...`), or None for a short name."""
    first, sep, _ = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def moving_tag(ref: str) -> bool:
    """Whether the reference may name other content tomorrow: `:latest` or no tag (a digest
    never moves)."""
    if "@" in ref:
        return False
    last = ref.rsplit("/", 1)[-1]
    return ":" not in last or last.endswith(":latest")


def _bind(src: str | Path, *, ro: bool = False, dst: str | Path | None = None) -> list[str]:
    """A `--mount` bind; a comma would end the option, so such a path is refused."""
    src, dst = str(src), str(dst if dst is not None else src)
    if "," in src or "," in dst:
        raise ValueError(f"a path with a comma cannot be bound into a container: {src!r}")
    return ["--mount", f"type=bind,source={src},destination={dst}" + (",ro=true" if ro else "")]


@dataclass(frozen=True)
class Container:
    """podman and the OCI runtime that work on this machine, and how replicas run in them."""

    podman: str  # absolute path
    runtime: str  # absolute path of the OCI runtime (crun or runc)
    user: str = "0:0"  # UID:GID the replica runs as: the caller's own
    ulimits: tuple[tuple[str, int, int], ...] = ()  # (name, soft, hard), the caller's
    devices: tuple[str, ...] = ()  # GPU device nodes (sandbox.GPU_DEVICES present here)
    insecure: tuple[str, ...] = ()  # registries (HOST:PORT) pulled from without TLS checks
    # A server not run as root runs rootless podman: its own UID inside (`--userns keep-id`),
    # so the binds it owns stay writable (untested here: the tests run as root).
    rootless: bool = False

    def argv(
        self,
        *,
        name: str,
        image: str,
        writable: Sequence[str | Path],
        cwd: str | Path,
        env_names: Iterable[str],
        read_only: Sequence[str | Path] = (),
        home: str | None = None,
        resolv_conf: str | Path | None = None,
        gpus: bool = False,
        cpu_milli: int = 0,
        memory_mib: int = 0,
        remove: bool = True,
    ) -> list[str]:
        """The command line to put before a replica's argv: `writable` paths bound read-write
        and `read_only` ones read-only at their own paths, `cwd` entered, `home` (the private
        $HOME) an empty tmpfs, `resolv_conf` shown as /etc/resolv.conf, the GPU devices with
        `gpus`, the environment's `env_names` passed by name. `remove`: podman removes the
        container when it ends (else the caller does, `remove_argv`, after reading its end)."""
        args = [self.podman, "--runtime", self.runtime, "run", "--name", name, "--pull", "never"]
        args += ["--rm"] if remove else []
        args += ["--network", "host", "--no-hosts", "--init", "--log-driver", "none"]
        args += ["--cap-drop", "all", "--security-opt", "no-new-privileges"]
        args += ["--pids-limit", str(PIDS_LIMIT), "--user", self.user]
        args += ["--userns", "keep-id"] if self.rootless else []
        if memory_mib > 0:
            args += ["--memory", f"{memory_mib}m", "--memory-swap", f"{memory_mib}m"]
        if cpu_milli > 0:
            args += ["--cpus", f"{cpu_milli / 1000:g}"]
        for limit, soft, hard in self.ulimits:
            args += ["--ulimit", f"{limit}={soft}:{hard}"]
        args += ["--tmpfs", "/tmp:rw,mode=1777", "--tmpfs", "/dev/shm:rw,mode=1777"]
        if home and _private_home_ok(home):
            args += ["--tmpfs", f"{home}:rw,mode=0700"]
        if resolv_conf is not None:
            args += _bind(resolv_conf, ro=True, dst="/etc/resolv.conf")
        if gpus:
            for path in self.devices:
                if os.path.exists(path):
                    args += ["--device", path]
        for place in writable:
            args += _bind(place)
        for place in read_only:
            args += _bind(place, ro=True)
        args += ["--workdir", str(cwd), "-e", "TMPDIR=/tmp"]
        for env_name in sorted(set(env_names) - HOST_ONLY):
            args += ["-e", env_name]
        return [*args, "--", image]

    def pull_argv(
        self,
        image: str,
        lock_dir: Path,
        authfile: Path | None = None,
        unavailable: Path | None = None,
    ) -> list[str]:
        """`python -I -S container.py pull`: the node's pull of `image`, once."""
        return pull_argv(
            self.podman, image, lock_dir, authfile, insecure=self.insecure, unavailable=unavailable
        )

    def remove_argv(self, name: str, grace_s: float = 0) -> list[str]:
        return remove_argv(self.podman, name, grace_s)


def _private_home_ok(home: str) -> bool:
    path = os.path.normpath(home)
    return path.startswith("/") and path not in ("/", "/tmp", "/etc", "/proc", "/dev", "/sys")


def pull_argv(
    podman: str,
    image: str,
    lock_dir: Path,
    authfile: Path | None = None,
    *,
    insecure: Sequence[str] = (),
    unavailable: Path | None = None,
) -> list[str]:
    """The pull as a command line (the supervisor's, or a script's line before the container);
    `unavailable`: where it writes why it failed, for engines that read the reason from there."""
    argv = [*SELF_ARGV, "pull", "--podman", podman]
    argv += ["--lock-dir", str(lock_dir)]
    if authfile is not None:
        argv += ["--authfile", str(authfile)]
    if registry_of(image) in insecure:
        argv += ["--insecure"]
    if unavailable is not None:
        argv += ["--unavailable", str(unavailable)]
    return [*argv, "--", image]


def remove_argv(podman: str, name: str, grace_s: float = 0) -> list[str]:
    """Stop (SIGTERM, SIGKILL after `grace_s`) and remove a container, if there is one."""
    return [podman, "rm", "--force", "--ignore", "--time", str(int(grace_s)), name]


def write_auth(run_dir: Path, image: str, token: str) -> Path:
    """The 0600 podman auth file for `image`'s registry: `token` as USER:SECRET (a basic
    credential), or a bare token (sent as the password of user `aicc`, as AICC's token server
    takes a job's pull credential)."""
    from aicc.executors.environment import write_private

    host = registry_of(image)
    if host is None:
        raise ValueError(f"image {image!r} names no registry to give its credential to")
    basic = token if ":" in token else f"aicc:{token}"
    auth = base64.b64encode(basic.encode()).decode()
    path = run_dir / AUTH_FILE
    write_private(path, json.dumps({"auths": {host: {"auth": auth}}}), 0o600)
    return path


def pull(
    podman: str,
    image: str,
    lock_dir: Path,
    *,
    authfile: Path | None = None,
    insecure: bool = False,
) -> str | None:
    """Make `image` present in this node's storage; None when it is, else why not (podman's
    message). Concurrent pulls of one reference on the node wait on one lock and pull once.
    With `authfile` the registry is asked every time, the image held or not: who may pull it
    is the registry's to say per tenant, and the node's storage is every tenant's (what is
    held is not fetched again, only its manifest)."""
    try:
        if not REFERENCE.fullmatch(image):
            return f"{image!r} is not an image reference (REGISTRY/NAME:TAG or @sha256:...)"
        if not (os.path.isabs(podman) and os.access(podman, os.X_OK)):
            return "this node has no container runtime (podman) to run an image in"
        lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = hashlib.sha256(image.encode()).hexdigest()[:32]
        fd = os.open(lock_dir / f"{key}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            present = _run([podman, "image", "exists", image]).returncode == 0
            if present and not moving_tag(image) and authfile is None:
                return None
            argv = [podman, "pull"]  # what it copied, and what it had, to stderr
            argv += ["--authfile", str(authfile)] if authfile is not None else []
            argv += ["--tls-verify=false"] if insecure else []
            done = _run([*argv, "--", image])
            if done.returncode == 0:
                return None
            said = done.stderr.strip()
            if said:  # the whole of it in the replica's stderr log; its last line as the reason
                print(said[-8000:], file=sys.stderr)
            why = said.splitlines()[-1][-500:] if said else f"podman pull exited {done.returncode}"
            if present and authfile is None:  # a moving tag not refreshed: the copy held here
                print(f"aicc: {image} not refreshed, the node's copy runs: {why}", file=sys.stderr)
                return None
            return why
        finally:
            os.close(fd)
    except OSError as exc:
        return f"cannot pull {image}: {exc}"
    finally:
        if authfile is not None:
            with contextlib.suppress(OSError):
                authfile.unlink()


def _run(argv: list[str], timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )


def caller_ulimits() -> tuple[tuple[str, int, int], ...]:
    """This process's open-file and process limits, as `--ulimit` wants them. podman (4.3)
    lowers its own process limit to its default, 32768, before conmon and the runtime start,
    so nproc is at most that (more fails "error setting rlimit type 6")."""
    found = []
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        soft, hard = resource.getrlimit(which)
        if name == "nproc":
            hard = PODMAN_NPROC if hard == resource.RLIM_INFINITY else min(hard, PODMAN_NPROC)
        if hard != resource.RLIM_INFINITY:
            soft = hard if soft == resource.RLIM_INFINITY else min(soft, hard)
            found.append((name, soft, hard))
    return tuple(found)


def detect(mode: Mode, *, insecure: Sequence[str] = ()) -> Container | None:
    """The container runtime of this machine: None when `mode` is off, or auto and nothing
    works (jobs naming an image then fail `image_unavailable`). Raises ContainerUnavailable
    when podman was asked for and does not work."""
    from aicc.executors.sandbox import present_devices

    if mode == "off":
        return None
    podman = shutil.which("podman")
    problems = [] if podman else ["podman is not installed (Debian package podman)"]
    for runtime in RUNTIMES if podman else ():
        path = shutil.which(runtime) or next(
            (p for p in (f"/usr/sbin/{runtime}", f"/usr/bin/{runtime}") if os.access(p, os.X_OK)),
            None,
        )
        if path is None:
            problems.append(f"{runtime} is not installed")
            continue
        assert podman is not None
        found = Container(
            podman=podman,
            runtime=path,
            user=f"{os.getuid()}:{os.getgid()}",
            ulimits=caller_ulimits(),
            devices=present_devices(),
            insecure=tuple(insecure),
            rootless=os.geteuid() != 0,
        )
        problem = _try(found)
        if problem is None:
            return found
        problems.append(f"{runtime}: {problem}")
    if mode == "podman":
        raise ContainerUnavailable("container: podman was asked for, but " + "; ".join(problems))
    log.info("no container runtime for jobs' images: %s", "; ".join(problems))
    return None


@functools.cache
def detected(mode: Mode, insecure: tuple[str, ...] = ()) -> Container | None:
    """`detect`, once per process: an executor asks when its first job names an image."""
    return detect(mode, insecure=insecure)


def _try(container: Container) -> str | None:
    """Why `container` cannot run a trivial container here, or None when it can: an empty
    root file system with this machine's busybox (when it has one) bound as the probe, so no
    image is needed; without busybox, reaching the probe's exec is proof enough."""
    busybox = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if os.path.isfile(p)), None)
    with tempfile.TemporaryDirectory(prefix="aicc-probe-") as root:
        for sub in ("proc", "sys", "dev", "etc", "tmp"):
            os.mkdir(os.path.join(root, sub))
        argv = [container.podman, "--runtime", container.runtime, "run", "--rm"]
        argv += ["--network", "none", "--cap-drop", "all", "--log-driver", "none"]
        for limit, soft, hard in container.ulimits:
            argv += ["--ulimit", f"{limit}={soft}:{hard}"]
        argv += _bind(busybox, ro=True, dst=PROBE) if busybox else []
        argv += ["--rootfs", root, PROBE, *(["true"] if busybox else [])]
        try:
            done = _run(argv, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"podman cannot run: {exc}"
    if done.returncode == 0 or (not busybox and PROBE in done.stderr and done.returncode == 127):
        return None
    return (done.stderr.strip() or f"exit {done.returncode}")[-500:]


def runroot(storage: Path) -> Path:
    """The run root (podman's state, locks) of a project's build storage: on the node's
    /run, as podman's own, since podman takes one of at most 50 characters."""
    top = "/run" if os.geteuid() == 0 else tempfile.gettempdir()
    return Path(top) / "aicc-builds" / hashlib.sha256(str(storage).encode()).hexdigest()[:16]


def storage_args(storage: Path) -> list[str]:
    """podman's options that keep a build's images, layers, state and events in its project's
    build storage (image_build.py's `BUILDS_DIR/PROJECT`), not the node's."""
    return [
        "--root", str(storage / "storage"), "--runroot", str(runroot(storage)),
        "--tmpdir", str(storage / "libpod"), "--events-backend", "none",
        "--cgroup-manager", "cgroupfs",
    ]  # fmt: skip


def _build(
    build: list[str],
    push: list[str],
    authfile: Path | None,
    cgroup: str | None = None,
    *,
    pulls: Sequence[Sequence[str]] = (),
    confine: Sequence[str] = (),
    storage: Path | None = None,
) -> int:
    """Run the pulls, the build (in `confine`) and the push with this process's output (the
    job's logs); what they exit with, and the auth file removed whatever happens (a cancel's
    SIGTERM too: podman, in this process group, has it as well). A RUN step is in a session
    of its own, outside the replica's process group, and podman stopped leaves it running and
    its working container in the build's storage: both are removed here, found by `cgroup`."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    env = _podman_env(os.environ, storage)
    try:
        if storage is not None:
            for place in (storage / "storage", storage / "libpod", storage / "tmp"):
                place.mkdir(mode=0o700, parents=True, exist_ok=True)
            runroot(storage).mkdir(mode=0o700, parents=True, exist_ok=True)
        for pull_argv in pulls:
            done = subprocess.run(pull_argv, stdin=subprocess.DEVNULL, env=env)
            if done.returncode != 0:
                print(f"aicc: the pull of {pull_argv[-1]} failed (exit {done.returncode})")
                return done.returncode
        done = subprocess.run([*confine, *build], stdin=subprocess.DEVNULL, env=env)
        if done.returncode != 0:
            print(f"aicc: the build failed (podman build exited {done.returncode})", flush=True)
            return done.returncode
        done = subprocess.run(push, stdin=subprocess.DEVNULL, env=env)
        if done.returncode != 0:
            print(f"aicc: the push failed (podman push exited {done.returncode})", flush=True)
            return done.returncode
        print(f"aicc: pushed {push[-1]}", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not stop the cleaning
        if authfile is not None:
            with contextlib.suppress(OSError):
                authfile.unlink()
        if cgroup:
            _clean_build(build[0], cgroup, storage)


CGROUP_ROOT = Path("/sys/fs/cgroup")
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ROOTLESS_ENV = ("HOME", "USER", "LOGNAME", "XDG_RUNTIME_DIR")


def _podman_env(given: Mapping[str, str], storage: Path | None = None) -> dict[str, str]:
    """podman's environment for a build: none of the job's. The job's `env:` is the tenant's,
    and podman reads its configuration, storage, runtime and isolation from variables
    (CONTAINERS_CONF, BUILDAH_ISOLATION, ...): a build runs as this server's user, so only
    a fixed PATH, a rootless podman's own places and, with `storage`, the project's own
    temporary directory (buildah's `RUN --mount=type=cache` lives under $TMPDIR) reach it."""
    env = {"PATH": SAFE_PATH, "LANG": "C.UTF-8"}
    if storage is not None:
        env["TMPDIR"] = str(storage / "tmp")
    if os.geteuid() != 0:
        env.update({k: given[k] for k in ROOTLESS_ENV if k in given})
    return env


def _cgroup_dirs(cgroup: str) -> list[Path]:
    """The build's cgroup in every hierarchy that has it (v1's, or v2's one), deepest first."""
    found: list[Path] = []
    relative = cgroup.strip("/")
    if not relative or ".." in relative.split("/"):
        return found
    for root in [CGROUP_ROOT, *sorted(p for p in CGROUP_ROOT.glob("*") if p.is_dir())]:
        top = root / relative
        if (top / "cgroup.procs").exists():
            found += [*sorted((d for d in top.rglob("*") if d.is_dir()), reverse=True), top]
    return found


def _clean_build(podman: str, cgroup: str, storage: Path | None = None) -> None:
    """Kill what runs in the build's cgroup (a RUN step's init ignores SIGTERM: SIGKILL),
    remove the working containers whose build used it, and the cgroup itself."""
    for _ in range(50):
        pids = set()
        for place in _cgroup_dirs(cgroup):
            with contextlib.suppress(OSError, ValueError):
                pids |= {int(p) for p in (place / "cgroup.procs").read_text().split()}
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    where = storage_args(storage) if storage is not None else []
    for container in _working_containers(podman, cgroup, where):
        _run([podman, *where, "rm", "--force", container])
    for place in _cgroup_dirs(cgroup):
        with contextlib.suppress(OSError):
            place.rmdir()


def _working_containers(podman: str, cgroup: str, where: Sequence[str] = ()) -> list[str]:
    """The ids of buildah's working containers that a build with this cgroup made: podman
    lists them (`--external`), their builder's record in its storage names the cgroup."""
    store = "{{.Store.GraphRoot}} {{.Store.GraphDriverName}}"
    try:
        listed = _run(
            [podman, *where, "ps", "--all", "--external", "--no-trunc", "--format", "{{.ID}}"]
        )
        info = _run([podman, *where, "info", "--format", store])
        root, driver = info.stdout.split()
    except (OSError, ValueError):
        return []
    found = []
    for container in listed.stdout.split():
        record = Path(root) / f"{driver}-containers" / container / "userdata" / "buildah.json"
        try:
            data = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        options = data.get("CommonBuildOpts") if isinstance(data, dict) else None
        if isinstance(options, dict) and options.get("CgroupParent") == cgroup:
            found.append(container)
    return found


def run_line(command: Sequence[str], remove: Sequence[str] = (), redirect: str = "") -> str:
    """A Slurm or Ray script's last lines: `exec` the command; with `remove` (a container),
    wait for it instead, passing the stop signals on, and remove the container once podman is
    gone."""
    if not remove:
        return f"exec {shlex.join(command)}{redirect}\n"
    return (
        f"{shlex.join(command)}{redirect} &\n"
        "child=$!\n"
        "trap 'kill -TERM $child 2>/dev/null' TERM INT HUP\n"
        "while :; do wait $child; rc=$?; kill -0 $child 2>/dev/null || break; done\n"
        f"{shlex.join(remove)} >/dev/null 2>&1\n"
        "exit $rc\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -I -S container.py")
    commands = parser.add_subparsers(dest="command", required=True)
    puller = commands.add_parser("pull", help="pull an image once on this node")
    puller.add_argument("--podman", default="podman")
    puller.add_argument("--lock-dir", type=Path, required=True)
    puller.add_argument("--authfile", type=Path)
    puller.add_argument("--insecure", action="store_true")
    puller.add_argument("--unavailable", type=Path, help="where to write why it failed")
    puller.add_argument("image")
    builder = commands.add_parser("build", help="build an image, then push it")
    builder.add_argument("--push", required=True, help="the push's argv, as JSON")
    builder.add_argument("--authfile", type=Path)
    builder.add_argument("--cgroup", help="the build's cgroup, cleaned when it ends")
    builder.add_argument("--pulls", default="[]", help="the pulls' argvs, as JSON")
    builder.add_argument("--confine", default="[]", help="what goes before the build, as JSON")
    builder.add_argument("--storage", type=Path, help="the project's build storage")
    builder.add_argument("build", nargs=argparse.REMAINDER)
    refuser = commands.add_parser("refuse", help="fail as a pull does, saying why")
    refuser.add_argument("--unavailable", type=Path, required=True)
    refuser.add_argument("message")
    options = parser.parse_args(argv)
    if options.command == "refuse":
        said = f"aicc: {options.message}"
        print(said, file=sys.stderr)
        with contextlib.suppress(OSError):
            options.unavailable.write_text(said + "\n")
        return UNAVAILABLE_EXIT
    if options.command == "build":
        build = options.build[1:] if options.build[:1] == ["--"] else options.build
        return _build(
            build,
            json.loads(options.push),
            options.authfile,
            options.cgroup,
            pulls=json.loads(options.pulls),
            confine=json.loads(options.confine),
            storage=options.storage,
        )
    podman = options.podman if os.path.isabs(options.podman) else shutil.which(options.podman)
    why = pull(
        podman or "",
        options.image,
        options.lock_dir,
        authfile=options.authfile,
        insecure=options.insecure,
    )
    if why is None:
        return 0
    message = f"aicc: image {options.image} is unavailable on this node: {why}"
    print(message, file=sys.stderr)
    if options.unavailable is not None:
        with contextlib.suppress(OSError):
            options.unavailable.write_text(message + "\n")
    return UNAVAILABLE_EXIT


if __name__ == "__main__":
    sys.exit(main())
