"""`aicc job exec`: a command run inside a running replica's sandbox, on its node.

Why enter the replica rather than start a sandbox like it: a terminal is for looking at what the
job does (its processes, its `/tmp`, its loopback listeners), so the command joins the
replica's own namespaces: the mount namespace bubblewrap made (its working copy, outputs and
checkpoints, read-only system files, none of `$AICC_HOME`), its PID namespace (the job's
processes, not the server's), its IPC namespace and its job's network namespace (netns.py). The
target is the sandbox's init, bubblewrap's pid 1, found among the replica's processes
(status.json's process group and cgroup, as `runtime.replica_pids` reads them).

How: `nsenter` (util-linux) joins those namespaces (and the user namespace an unprivileged
bubblewrap made, keeping the caller's uid), enters the sandbox's root and its working directory
(both through `/proc/PID/`, never a host path: see `enter_argv`), and
runs `setpriv --no-new-privs` with every capability dropped (bubblewrap drops them for the
replica, even as root), then `env -i` with the replica's environment less its secrets. The
command is an argv, never a shell string the server parses. nsenter leads a session of its own
and, on a terminal, the command one inside the PID namespace (`setsid --ctty`: a shell's job
control then sees only the sandbox's processes); when the session ends (the client left, idle,
too long) the server kills nsenter's group and every process descended from it. What the
command detached from it (a daemon) lives on in the job's PID namespace, and dies with the job.

Only the local executor's replicas are this machine's processes; other engines refuse
(`base.Executor.exec`). A replica without a sandbox (`sandbox: off`) or in a container image is
refused too: there is no sandbox to enter, and exec never runs tenant commands outside one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from aicc.executors.execs import ExecProcess, ExecRefused, ExecRequest
from aicc.executors.local import runtime

# What of the replica's environment a command in it gets: AICC's own variables, the device and
# rendezvous ones and the locale; never its secrets (withheld by name) nor anything else.
KEPT_ENV = frozenset(
    {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "OMP_NUM_THREADS"}
    | {"WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"}
)
KEPT_SUFFIX = ("_VISIBLE_DEVICES",)
MAX_ENVIRON_BYTES = 1 << 20


def _ns(pid: int | str, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def _inner_pid(pid: int) -> int | None:
    """The pid `pid` has in its innermost PID namespace (NSpid's last field)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    return None


def sandbox_init(run_dir: Path) -> int:
    """The host pid of the replica's sandbox init (bubblewrap's pid 1 in its PID namespace);
    ExecRefused when the replica runs none (ended, no sandbox, a container)."""
    data = runtime.read_json(run_dir / runtime.STATUS_FILE) or {}
    if data.get("container"):
        raise ExecRefused(
            "this replica runs in its container image: exec enters sandboxed replicas only"
        )
    if data.get("phase") != "running":
        raise ExecRefused("the replica is not running (it has not started yet, or it ended)")
    own = _ns("self", "pid")
    found = []
    for pid in runtime.replica_pids(data):
        with contextlib.suppress(OSError, psutil.Error):
            # bubblewrap's init: pid 1 of a namespace whose parent is in the server's (a
            # namespace the job made inside its sandbox has its init's parent inside it)
            parent = psutil.Process(pid).ppid()
            if _ns(pid, "pid") != own and _inner_pid(pid) == 1 and _ns(parent, "pid") == own:
                found.append(pid)
    if not found:
        raise ExecRefused(
            "the replica runs without a sandbox (sandbox: off), or its sandbox is not up yet: "
            "exec runs commands inside a replica's sandbox only"
        )
    return min(found)


def replica_env(pid: int, *, withhold: frozenset[str], term: str | None) -> dict[str, str]:
    """The part of the replica's environment a command in it is given (`KEPT_ENV`, `AICC_*`,
    device variables), less the `withhold` names (its secrets), with TERM for a terminal."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        raw = f.read(MAX_ENVIRON_BYTES)
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.decode("utf-8", "replace").partition("=")
        kept = name in KEPT_ENV or name.startswith("AICC_") or name.endswith(KEPT_SUFFIX)
        if sep and kept and name not in withhold:
            env[name] = value
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    if term:
        env["TERM"] = term
    return env


def enter_argv(pid: int, *, env: Mapping[str, str], command: Sequence[str], tty: bool) -> list[str]:
    """The command line that runs `command` inside the sandbox whose init is `pid`."""
    nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
    argv = [nsenter, f"--target={pid}", "--mount", "--pid", "--ipc", "--net"]
    if _ns(pid, "user") != _ns("self", "user"):  # unprivileged bubblewrap's user namespace
        argv += ["--user", "--preserve-credentials"]
    # the sandbox's root and its init's working directory (the working copy), both opened
    # through /proc/PID: a path given here would be opened on the host before nsenter enters
    # anything, and without --wd nsenter keeps the host's cwd, outside the sandbox's root
    argv += ["--root", "--wd", "--"]
    if tty:  # a session of its own inside the PID namespace, the pty its controlling terminal
        argv += ["/usr/bin/setsid", "--ctty"]
    argv += ["/usr/bin/setpriv", "--no-new-privs"]
    if os.geteuid() == 0:  # as root bubblewrap drops every capability: so does exec
        argv += ["--inh-caps=-all", "--bounding-set=-all"]
    # env reads NAME=VALUE words up to the first that is not one: the program (never with `=`)
    argv += ["--", "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in sorted(env.items()))]
    argv += [*command]
    return argv


def start(run_dir: Path, request: ExecRequest) -> ExecProcess:
    """Run the request's command in the replica of `run_dir`, on a new pty or on pipes."""
    tty = request.tty
    pid = sandbox_init(run_dir)
    env = replica_env(pid, withhold=request.withhold, term="xterm-256color" if tty else None)
    argv = enter_argv(pid, env=env, command=request.command, tty=tty)
    if tty:
        master, slave = os.openpty()
        try:
            proc = subprocess.Popen(
                argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True, cwd="/",
                start_new_session=True, env={"PATH": "/usr/bin:/bin"},
            )  # fmt: skip
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        made = ExecProcess(proc, master=master)
        made.resize(request.cols, request.rows)
        return made
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        close_fds=True, cwd="/", start_new_session=True, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.stdin and proc.stdout and proc.stderr
    fds = [os.dup(p.fileno()) for p in (proc.stdin, proc.stdout, proc.stderr)]
    for p in (proc.stdin, proc.stdout, proc.stderr):
        p.close()
    return ExecProcess(proc, stdin=fds[0], stdout=fds[1], stderr=fds[2])
