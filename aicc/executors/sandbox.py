"""The replica sandbox: a bubblewrap command line that lets a job see only what is its own.

Jobs run under the server's Unix account, so without a sandbox a job could read
`$AICC_HOME/admin.token`, the database, other jobs' run directories and `/proc/<pid>/environ` of
the server. Inside the sandbox a replica sees read-only system directories (`/usr`, `/etc` less
its secrets, `/sys`), the Python it runs with, the devices it was given, a private `/tmp`, `$HOME`
and `/proc` (its own PID namespace), and, read-write, only its working copy, the job's outputs and
checkpoints. bwrap keeps the network namespace it starts in: the job's own, which netns.py puts
before this command line (one per job per node, so a gang's replicas on a node meet on its
loopback; bwrap's `--unshare-net` would give each replica a namespace of its own).

Names: the host's `/etc/resolv.conf` names resolvers of the host's network (127.0.0.53 of
systemd-resolved, a private address), which the job's namespace cannot and must not reach. So a
replica's `/etc/resolv.conf` is one the executor writes in its run directory (`resolv_conf`):
slirp4netns's resolver (`netns.SLIRP_DNS`) with egress `internet`, no nameserver at all with
egress `none` (a lookup fails at once instead of waiting on an address it cannot reach, and the
host's search domains and addresses stay the host's).

One builder serves every executor whose replicas run from a run directory: the local supervisor
puts `argv()` before the command, Slurm's batch script and Ray's entry script exec it. `argv()`
is pure; `detect()` alone looks at this machine (which is assumed to be laid out like the nodes
replicas run on).

Signals: bubblewrap's outer process dies of SIGTERM without passing it on, and its death kills
the sandbox (`--die-with-parent`), so a cancel would lose its grace period. The outer process
therefore ignores the stop signals (`env --ignore-signal`) and the command gets them back
(`env --default-signal`); it shares the caller's process group, so a group signal reaches it.
A replica killed by a signal N exits 128+N, as under a shell.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aicc.executors.environment import source_root, write_private
from aicc.executors.netns import SLIRP_DNS, Egress
from aicc.executors.workdir import Prepared

log = logging.getLogger(__name__)

Mode = Literal["auto", "bwrap", "off"]

# Read-only system directories (a symlink, as in a merged /usr, is recreated as one).
SYSTEM: tuple[str, ...] = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM += ("/etc", "/sys", "/run/systemd/resolve")  # resolv.conf's target under systemd-resolved
# Secrets of the machine under those directories, hidden when present.
HIDDEN_FILES = (
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/security/opasswd",
    "/etc/slurm/slurmdbd.conf",  # slurmdbd's database password
    "/etc/ssh/ssh_host_*key",
)
HIDDEN_DIRS = ("/etc/munge", "/etc/sudoers.d", "/etc/ssl/private", "/etc/aicc")
# Device nodes of GPUs (NVIDIA, AMD), bound when present for replicas given devices. Which GPU
# a replica uses is its CUDA_VISIBLE_DEVICES (or Slurm's cgroup), as without a sandbox.
GPU_DEVICES = (
    "/dev/davinci_manager",  # Huawei Ascend (docs/accelerators.md): its chips are /dev/davinciN
    "/dev/devmm_svm",
    "/dev/hisi_hdc",
    "/dev/cambricon_ctl",  # Cambricon: its cards are /dev/cambricon_devN
    "/dev/nvidiactl",
    "/dev/nvidia-uvm",
    "/dev/nvidia-uvm-tools",
    "/dev/nvidia-modeset",
    "/dev/nvidia-caps",
    "/dev/kfd",
    "/dev/dri",
    *(f"/dev/nvidia{i}" for i in range(16)),
)
STOP_SIGNALS = "TERM,INT,HUP,QUIT,USR1,USR2"  # what a supervisor, Slurm or Ray may send
RESOLV_CONF = "resolv.conf"  # RUN_DIR/resolv.conf: the replica's /etc/resolv.conf
HOST_RESOLV_CONF = "/etc/resolv.conf"


class SandboxUnavailable(RuntimeError):
    """`sandbox: bwrap` was asked for and bubblewrap is missing or does not work here."""


@dataclass(frozen=True)
class Sandbox:
    """What replicas may see of this machine, and the bubblewrap that confines them."""

    bwrap: str  # absolute path of the bwrap binary
    system: tuple[tuple[str, str | None], ...]  # (dir, symlink target or None for a bind)
    hidden_files: tuple[str, ...] = ()  # covered by an empty file
    hidden_dirs: tuple[str, ...] = ()  # covered by an empty directory
    runtimes: tuple[str, ...] = ()  # read-only: the Python prefixes replicas run with
    packages: tuple[str, ...] = ()  # read-only where present: a source checkout's `aicc`
    devices: tuple[str, ...] = GPU_DEVICES
    env_tool: str = "/usr/bin/env"
    extra_hidden: tuple[str, ...] = field(default=())  # site secrets (secret_key_file)
    # Where a replica's own resolv.conf is bound so that its /etc/resolv.conf shows it
    # (`resolver_place`); None: nowhere it can go (the host has none).
    resolv_place: str | None = HOST_RESOLV_CONF

    def argv(
        self,
        *,
        writable: Sequence[str | Path],
        cwd: str | Path,
        home: str | None = None,
        gpus: bool = False,
        read_only: Sequence[str | Path] = (),
        resolv_conf: str | Path | None = None,
    ) -> list[str]:
        """The command line to put before a replica's argv: `writable` paths (its working copy,
        outputs, checkpoints) are bound read-write at their own paths, `read_only` ones (its
        data sets) read-only, `cwd` is entered, `home` (the replica's $HOME) is an empty
        private directory, `gpus` binds the GPU devices, and `resolv_conf` (a file) is shown,
        read-only, as its /etc/resolv.conf instead of the host's."""
        args = [self.env_tool, f"--ignore-signal={STOP_SIGNALS}", self.bwrap]
        for path, target in self.system:
            args += ["--symlink", target, path] if target else ["--ro-bind-try", path, path]
        for path in (*self.hidden_files, *self.extra_hidden):
            args += ["--ro-bind-try", "/dev/null", path]
        for path in self.hidden_dirs:
            args += ["--tmpfs", path]  # private and empty: what is under it is not there
        if resolv_conf is not None and self.resolv_place is not None:
            args += ["--ro-bind", str(resolv_conf), self.resolv_place]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm", "--tmpfs", "/tmp"]
        if home and _private_home_ok(home):
            args += ["--tmpfs", home]
        for path in self.runtimes:
            args += ["--ro-bind", path, path]
        for path in self.packages:
            args += ["--ro-bind-try", path, path]
        if gpus:
            for path in self.devices:
                args += ["--dev-bind-try", path, path]
        for place in writable:
            args += ["--bind", str(place), str(place)]
        for place in read_only:
            args += ["--ro-bind", str(place), str(place)]
        args += ["--chdir", str(cwd), "--setenv", "TMPDIR", "/tmp"]
        args += ["--unshare-pid", "--unshare-ipc", "--die-with-parent"]
        args += ["--", self.env_tool, f"--default-signal={STOP_SIGNALS}"]
        return args

    def build_argv(
        self,
        *,
        writable: Sequence[str | Path],
        read_only: Sequence[str | Path],
        resolv_conf: str | Path | None = None,
    ) -> list[str]:
        """The command line to put before a build's podman (container.py): podman runs as the
        server's user with its capabilities (it mounts layers and starts the RUN steps'
        containers), so what it may be made to read (a transport in a FROM that buildah's own
        parse finds) is what this shows: the system's directories, `/sys` read-write (the
        build's cgroup), the devices, a fresh `/proc` of its own pid namespace (not the host's
        processes' roots), empty `/tmp`, `/var/tmp` and `/run`, and `writable` (the project's
        build storage) and `read_only` (the context, the resolved Containerfile) paths."""
        args = [self.env_tool, f"--ignore-signal={STOP_SIGNALS}", self.bwrap]
        args += ["--tmpfs", "/run", "--tmpfs", "/var/tmp"]
        for path, target in self.system:
            if path == "/sys":
                continue
            args += ["--symlink", target, path] if target else ["--ro-bind-try", path, path]
        for path in (*self.hidden_files, *self.extra_hidden):
            args += ["--ro-bind-try", "/dev/null", path]
        for path in self.hidden_dirs:
            args += ["--tmpfs", path]
        if resolv_conf is not None and self.resolv_place is not None:
            args += ["--ro-bind", str(resolv_conf), self.resolv_place]
        args += ["--bind", "/sys", "/sys", "--dev-bind", "/dev", "/dev", "--proc", "/proc"]
        args += ["--tmpfs", "/tmp"]
        for place in writable:
            args += ["--bind", str(place), str(place)]
        for place in read_only:
            args += ["--ro-bind", str(place), str(place)]
        args += ["--chdir", "/", "--unshare-pid", "--unshare-ipc"]
        args += ["--cap-add", "ALL"] if os.geteuid() == 0 else []  # bwrap allows it root alone
        args += ["--die-with-parent", "--", self.env_tool, f"--default-signal={STOP_SIGNALS}"]
        return args


def for_replica(
    sandbox: Sandbox | None,
    prepared: Prepared,
    env: Mapping[str, str],
    gpus: bool,
    read_only: Sequence[Path] = (),
    home: Path | None = None,
    *,
    run_dir: Path | None = None,
    egress: Egress = "none",
) -> list[str]:
    """What goes before a replica's argv: nothing without a sandbox; else the sandbox in which
    its working copy, the job's outputs and checkpoints (and, read-only, its data sets' view)
    are all it sees of the run directories and of the node's data cache. `home`: a persistent
    home, bound read-write as its $HOME instead of an empty private one. `run_dir`: where its
    resolv.conf for `egress` is written (`resolv_conf`), shown as its /etc/resolv.conf."""
    if sandbox is None:
        return []
    paths = [prepared.workdir, prepared.outputs, prepared.checkpoints]
    if home is not None:
        paths.append(home)
    private = None if home is not None else env.get("HOME")
    resolv = None if run_dir is None else write_resolv_conf(run_dir, egress)
    return sandbox.argv(
        writable=paths,
        cwd=prepared.workdir,
        home=private,
        gpus=gpus,
        read_only=read_only,
        resolv_conf=resolv,
    )


def resolv_conf(egress: Egress) -> str:
    """A replica's /etc/resolv.conf in its job's namespace: slirp4netns's resolver with egress
    `internet`, none with `none` (glibc then asks its own loopback, where nothing answers)."""
    if egress == "internet":
        return f"# AICC: slirp4netns resolves the job's names\nnameserver {SLIRP_DNS}\n"
    return "# AICC: the job has no egress, so no resolver\n"


def write_resolv_conf(run_dir: Path, egress: Egress) -> Path:
    """`resolv_conf(egress)` as `RUN_DIR/resolv.conf`, which the sandbox binds read-only; made
    new and renamed over the name (whatever a job left there, a link too, is not followed)."""
    path = run_dir / RESOLV_CONF
    write_private(path, resolv_conf(egress), 0o644)
    return path


def resolver_place(host: str = HOST_RESOLV_CONF) -> str | None:
    """Where to bind a replica's resolv.conf so that its `/etc/resolv.conf` shows it: that
    file, or where its link points when it is one (systemd-resolved's
    `/run/systemd/resolve/stub-resolv.conf`): bwrap mounts over a link's target, and it finds
    an absolute one only where it exists. None when the host has no resolv.conf (a file cannot
    be made in the read-only /etc)."""
    if not os.path.exists(host):  # missing, or a link to nothing
        return None
    return os.path.realpath(host) if os.path.islink(host) else host


def _private_home_ok(home: str) -> bool:
    """A $HOME that a private tmpfs may cover: absolute, and not in a system directory."""
    path = os.path.normpath(home)
    shared = (*SYSTEM, "/proc", "/dev", "/tmp")
    inside = any(path == s or path.startswith(s + "/") for s in shared)
    return path.startswith("/") and path != "/" and not inside


def runtimes() -> tuple[str, ...]:
    """The Python installations a replica's `python` (the server's, first on its PATH) needs:
    the virtual environment and the interpreter it was made from, at their own paths and (when
    those are links) at their real ones."""
    found: list[str] = []
    executable = Path(sys.executable)
    for prefix in (sys.prefix, sys.base_prefix, str(executable.resolve().parents[1])):
        for path in (os.path.abspath(prefix), os.path.realpath(prefix)):
            if not any(path == p or path.startswith(p + "/") for p in ("/usr", *found)):
                found.append(path)
    return tuple(found)


def packages() -> tuple[str, ...]:
    """The server's `aicc` package when it runs from a source checkout, so a replica can
    `import aicc` (aicc.log_metrics) there too: the package alone, not the checkout's rest."""
    root = source_root()
    return (os.path.join(root, "aicc"),) if root else ()


# Numbered device nodes, one per device, of each vendor AICC discovers (aicc/core/smi/)
NUMBERED_DEVICES = ("/dev/nvidia[0-9]*", "/dev/davinci[0-9]*", "/dev/cambricon_dev[0-9]*")


def present_devices() -> tuple[str, ...]:
    """The accelerators' device nodes a replica given devices is shown: the fixed ones and
    each numbered one found here (NVIDIA, AMD and Hygon DCU, Ascend, Cambricon)."""
    numbered = [path for pattern in NUMBERED_DEVICES for path in sorted(glob.glob(pattern))]
    return tuple(dict.fromkeys((*GPU_DEVICES, *numbered)))


def detect(mode: Mode, *, hide: Sequence[str | Path] = ()) -> Sandbox | None:
    """The sandbox to run replicas in: None when `mode` is off, or when it is auto and
    bubblewrap is missing or cannot start here (the caller warns). Raises SandboxUnavailable
    when bwrap is required and unusable. `hide`: more files and directories to hide, should
    they lie in a directory the sandbox shows (site secrets, `$AICC_HOME` under /usr...)."""
    if mode == "off":
        return None
    bwrap = shutil.which("bwrap")
    problem = None if bwrap else "bwrap is not installed (Debian package bubblewrap)"
    system = tuple(
        (p, os.readlink(p) if os.path.islink(p) else None) for p in SYSTEM if os.path.lexists(p)
    )
    sandbox = None
    if bwrap:
        sandbox = Sandbox(
            bwrap=bwrap,
            system=system,
            hidden_files=tuple(p for pat in HIDDEN_FILES for p in sorted(glob.glob(pat))),
            hidden_dirs=tuple(p for p in (*HIDDEN_DIRS, *map(str, hide)) if os.path.isdir(p)),
            runtimes=runtimes(),
            packages=packages(),
            devices=present_devices(),
            env_tool=shutil.which("env") or "/usr/bin/env",
            extra_hidden=tuple(str(p) for p in hide if not os.path.isdir(p)),
            resolv_place=resolver_place(),
        )
        problem = _try(sandbox)
    if problem is None:
        return sandbox
    if mode == "bwrap":
        raise SandboxUnavailable(f"sandbox: bwrap was asked for, but {problem}")
    return None


# The probes that ran in this process: the same sandbox runs again (a test suite builds a
# thousand servers in a few processes, and each probe is a bwrap of its own, 15 ms or more).
_RAN: set[tuple[str, ...]] = set()


def _try(sandbox: Sandbox) -> str | None:
    """Why the sandbox cannot run a trivial command here (no user namespaces, no privileges),
    or None when it can."""
    argv = [*sandbox.argv(writable=[], cwd="/"), "true"]
    if tuple(argv) in _RAN:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap cannot run: {exc}"
    if done.returncode != 0:
        return f"bwrap cannot run here: {done.stderr.strip() or done.returncode}"
    _RAN.add(tuple(argv))
    return None
