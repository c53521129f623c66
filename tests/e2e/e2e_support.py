"""End-to-end helpers: `aicc serve` as real processes, the `aicc` CLI run as a user runs it,
and clean-up of any replica a failed test leaves behind (supervisors outlive their server)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from aicc.testing.servers import ServerProcess, close_all, free_port

AICC = Path(sys.executable).parent / "aicc"
TERMINAL = {"succeeded", "failed", "cancelled"}


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy; fail saying `what` did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s (last: {value!r})")
        time.sleep(every)


def wait_state(
    api: httpx.Client, job_id: str, states: set[str], timeout: float = 60
) -> dict[str, Any]:
    """The job once its state is one of `states`; fails with its last state and message."""
    last: dict[str, Any] = {}

    def reached() -> bool:
        nonlocal last
        last = api.get(f"/api/v1/jobs/{job_id}").json()
        return last["state"] in states

    try:
        wait_for(reached, timeout, f"job {job_id} reaching {sorted(states)}", every=0.05)
    except AssertionError:
        raise AssertionError(
            f"job {job_id} stayed {last.get('state')} ({last.get('message')})"
        ) from None
    return last


def transitions(api: httpx.Client, job_id: str) -> list[str | None]:
    """The job's state changes, oldest first."""
    events = api.get(f"/api/v1/jobs/{job_id}/events").json()["items"]
    return [e["to_state"] for e in events if e["to_state"]]


@dataclass
class Cli:
    """`aicc ...` as a subprocess, talking to one server, run from a scratch directory."""

    server: ServerProcess
    cwd: Path
    # as a person following the README: AICC_HOME alone, the server and its token found there
    by_home: bool = False

    def env(self) -> dict[str, str]:
        env = self.server.env()
        if self.by_home:
            env = {k: v for k, v in env.items() if k not in ("AICC_SERVER", "AICC_TOKEN")}
        return env

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(AICC), *args],
            cwd=self.cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert proc.returncode == 0, (
                f"`aicc {' '.join(args)}` exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc


def write_config(home: Path, **settings: Any) -> None:
    """A home whose control loops tick fast and whose cancels wait 2 s, not 10, before KILL."""
    home.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {"loop_interval_s": 0.2, "limits": {"grace_s": 2.0}}
    config.update(settings)
    (home / "config.yaml").write_text(yaml.safe_dump(config))


class Servers:
    """Starts `aicc serve` processes for one test; on exit stops them and kills what they left."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.started: list[ServerProcess] = []
        self.work = base / "cwd"
        self.work.mkdir(parents=True, exist_ok=True)

    def start(
        self, name: str = "home", db: str | None = None, port: int | None = None
    ) -> ServerProcess:
        """A server on `base/name` (a fast-ticking config is written on first use)."""
        home = self.base / name
        if not (home / "config.yaml").exists():
            write_config(home)
        server = ServerProcess(home, port or free_port(), db=db)
        self.started.append(server)
        return server.start()

    def cli(self, server: ServerProcess, *, by_home: bool = False) -> Cli:
        """`servers.cli(server)("job", "list")`: the CLI against `server` (`by_home`: found
        through AICC_HOME alone, as the README's tour does)."""
        return Cli(server, self.work, by_home)

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *_exc: object) -> None:
        close_all(self.started)
