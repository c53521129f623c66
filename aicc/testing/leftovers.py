"""The processes a test session left alive: found, printed with their command lines, killed.

A fixture that gives up half-way used to leave its servers running and posting adverts for 15
minutes after the suite (issue 36). `make test` exports a marker, `AICC_TEST_SESSION=<token>`,
to pytest; everything the suite starts inherits it (servers, supervisors, netns holders, the
Slurm, PostgreSQL, Ray, S3 and OIDC servers, Chromium). After pytest, `python -m
aicc.testing.leftovers --session <token>` lists what is still alive and fails the run if any.

A process belongs to the session when its environment (/proc/PID/environ) carries the marker
with this token, or when it descends from such a process, or shares its Unix session (a
PostgreSQL backend or a Ray worker rewrites the memory its environment was in with its process
title; its postmaster or its `ray start` siblings still carry the marker). Only the token of
this run counts: a developer's own `make run`, another run's suite, this checker and its
ancestors are never touched, nor the Unix session it runs in (a shell's).

Folders too: one a test process makes in the temporary directory for the whole session (the
migrated SQLite database of `servers.seeded`) is named with the token (`folder_prefix`) and
removed when its process ends; one still there after the run (its worker was killed hard) is
printed, removed, and fails the run as a process does.

    python -m aicc.testing.leftovers --session TOKEN   # exit 1 when any was left (and killed)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

MARKER = "AICC_TEST_SESSION"
SETTLE_S = 5.0  # what a fixture ended a moment ago may still be on its way out
PROC = Path("/proc")


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    sid: int
    started: int  # clock ticks after boot: with the pid, one process (pids are reused)
    zombie: bool
    command: str

    def line(self, width: int = 400) -> str:
        command = self.command if len(self.command) <= width else self.command[:width] + "..."
        return f"{self.pid:>8} (parent {self.ppid}) {command}"


# What the suite's processes make in the temporary directory, named with the session's token:
# the migrated SQLite database of `servers.seeded`.
MIGRATED_FOLDER = "aicc-migrated"
FOLDERS = (MIGRATED_FOLDER,)


def folder_prefix(kind: str, token: str | None = None) -> str:
    """How a folder of `kind` (one of FOLDERS) made by a process of session `token` (this
    process's, unless given) is named: `tempfile.mkdtemp(prefix=...)` adds the rest."""
    token = os.environ.get(MARKER, "") if token is None else token
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in token)
    return f"{kind}-{safe}-" if safe else f"{kind}-"


def folders(token: str, where: Path | None = None) -> list[Path]:
    """The folders session `token`'s processes left in the temporary directory."""
    root = Path(tempfile.gettempdir()) if where is None else where
    return sorted(p for kind in FOLDERS for p in root.glob(folder_prefix(kind, token) + "*"))


def new_token() -> str:
    return f"{os.getpid()}-{secrets.token_hex(6)}"


def mark() -> str:
    """This process's session token, made and exported when there is none yet: what it starts
    from now on carries the marker."""
    token = os.environ.get(MARKER) or new_token()
    os.environ[MARKER] = token
    return token


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:  # gone, or not ours to read
        return None


def _process(pid: int, proc: Path) -> Process | None:
    stat = _read(proc / str(pid) / "stat")
    if stat is None:
        return None
    # "pid (comm) state ppid pgrp session ..."; comm may hold spaces and parentheses
    fields = stat[stat.rindex(b")") + 2 :].split()
    raw = _read(proc / str(pid) / "cmdline") or b""
    command = raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    if not command:
        command = (
            "[" + stat[stat.index(b"(") + 1 : stat.rindex(b")")].decode(errors="replace") + "]"
        )
    return Process(
        pid=pid,
        ppid=int(fields[1]),
        sid=int(fields[3]),
        started=int(fields[19]),
        zombie=fields[0] in (b"Z", b"X"),
        command=command,
    )


def snapshot(proc: Path = PROC) -> dict[int, Process]:
    table = {}
    for entry in proc.iterdir():
        if entry.name.isdigit() and (found := _process(int(entry.name), proc)) is not None:
            table[found.pid] = found
    return table


def carries(pid: int, token: str, proc: Path = PROC) -> bool:
    environ = _read(proc / str(pid) / "environ") or b""
    return f"{MARKER}={token}".encode() in environ.split(b"\0")


def lineage(pid: int, table: dict[int, Process]) -> set[int]:
    """`pid` and its ancestors."""
    seen: set[int] = set()
    while pid in table and pid not in seen:
        seen.add(pid)
        pid = table[pid].ppid
    return seen


def helpers_of(pid: int, proc: Path = PROC) -> set[int]:
    """The interpreter's own helpers among `pid`'s children (multiprocessing's resource tracker
    and fork server): they end with it, so a check from inside the session spares them."""
    return {
        p.pid
        for p in snapshot(proc).values()
        if p.ppid == pid and "from multiprocessing." in p.command
    }


def find(token: str, *, spare: Collection[int] = (), proc: Path = PROC) -> list[Process]:
    """The live processes of session `token` (see the module's docstring), but this process,
    its ancestors, the Unix session they run in, and `spare`."""
    table = snapshot(proc)
    kept = lineage(os.getpid(), table) | set(spare)
    own_sids = {table[pid].sid for pid in kept if pid in table} | {0, 1}
    seeds = {pid for pid in table if pid not in kept and carries(pid, token, proc)}
    sids = {table[pid].sid for pid in seeds} - own_sids
    found = seeds | {pid for pid, p in table.items() if p.sid in sids}
    children: dict[int, list[int]] = {}
    for p in table.values():
        children.setdefault(p.ppid, []).append(p.pid)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return sorted(
        (table[pid] for pid in found - kept if not table[pid].zombie), key=lambda p: p.pid
    )


def still_alive(found: Iterable[Process], proc: Path = PROC) -> list[Process]:
    """Those of `found` still alive as the same process (not a zombie, not a reused pid)."""
    alive = []
    for p in found:
        now = _process(p.pid, proc)
        if now is not None and now.started == p.started and not now.zombie:
            alive.append(p)
    return alive


def kill(found: Iterable[Process], *, timeout: float = 10.0) -> list[Process]:
    """SIGKILL each of `found` at once, through a pidfd opened after checking it is still the
    same process (a reused pid is never hit); wait up to `timeout` for them to go. Returns
    those that did not (a process in uninterruptible sleep)."""
    targets = list(found)
    for p in targets:
        with contextlib.suppress(OSError):  # gone already
            fd = os.pidfd_open(p.pid)
            try:
                if still_alive([p]):
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
            finally:
                os.close(fd)
    deadline = time.monotonic() + timeout
    while (alive := still_alive(targets)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def settle(
    token: str,
    *,
    settle_s: float = SETTLE_S,
    spare: Collection[int] = (),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Process]:
    """`find`, waiting up to `settle_s` for what is on its way out to finish: those left."""
    deadline = clock() + settle_s
    while (found := find(token, spare=spare)) and clock() < deadline:
        sleep(0.2)
    return found


def report(
    token: str, found: list[Process], unkillable: list[Process], left: Iterable[Path] = ()
) -> str:
    lines = []
    if found:
        lines.append(f"{len(found)} process(es) of test session {token} outlived it, killed now:")
        lines += ["  " + p.line() for p in found]
    if unkillable:
        lines.append(
            f"{len(unkillable)} of them did not die: " + ", ".join(str(p.pid) for p in unkillable)
        )
    if left := list(left):
        lines.append(f"{len(left)} folder(s) of test session {token} outlived it, removed now:")
        lines += [f"  {path}" for path in left]
    return "\n".join(lines)


def check(
    token: str,
    *,
    settle_s: float = SETTLE_S,
    spare: Collection[int] = (),
    where: Path | None = None,
) -> str | None:
    """Kill the session's leftover processes, remove its leftover folders (in `where`, the
    temporary directory unless given); a report of them, or None when there were none."""
    found = settle(token, settle_s=settle_s, spare=spare)
    left = folders(token, where)
    for path in left:
        shutil.rmtree(path, ignore_errors=True)
    if not found and not left:
        return None
    return report(token, found, kill(found) if found else [], left)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aicc.testing.leftovers", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--session", default=os.environ.get(MARKER), help=f"the token ({MARKER})")
    parser.add_argument("--settle-s", type=float, default=SETTLE_S)
    args = parser.parse_args(argv)
    if not args.session:
        parser.error(f"no session: give --session or set {MARKER}")
    found = check(args.session, settle_s=args.settle_s)
    if found is None:
        print(f"leftovers: no process of test session {args.session} is left")
        return 0
    print("leftovers: " + found, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
