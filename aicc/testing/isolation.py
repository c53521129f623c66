"""A hostile tenant, for the tests that show jobs see neither the control plane nor each other.

Tenant A runs a job with a secret, an uploaded workdir and an output; while it runs, tenant B's
job tries to read the admin token, the database, the sealing key, A's run directory, outputs,
workdir and upload, and the server's /proc environment, and prints what it got. The same
scenario runs on every executor whose replicas run from a run directory (`runs` names where
their run directories live under the home).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from aicc.sdk.workdir import pack_workdir
from aicc.testing.jobs import submit, wait_state


@dataclass
class Breach:
    """What B's job printed, and what it must not have found."""

    log: str  # B's stdout: one `READ path: ...` or `DENIED path` line per target
    targets: dict[str, str]  # what each probed path is -> the path
    forbidden: dict[str, str]  # what must not appear in B's log -> the text
    secret: str  # A's secret value
    job_a: dict[str, Any]
    job_b: dict[str, Any]


def _tenant(api: httpx.Client, name: str) -> dict[str, str]:
    org = api.post("/api/v1/orgs", json={"name": name}).json()
    user = api.post(
        "/api/v1/users", json={"name": f"{name}-user", "role": "member", "org_id": org["id"]}
    ).json()
    token = api.post("/api/v1/tokens", json={"name": "t", "user_id": user["id"]}).json()
    return {"Authorization": f"Bearer {token['secret']}"}


def _wait_file(path: Path, what: str, timeout: float = 120) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{what} ({path}) never appeared"
        time.sleep(0.1)


def attempt(api: httpx.Client, home: Path, scratch: Path, runs: str = "runs") -> Breach:
    """Run the scenario; returns once B's job ended, with A's still running (the caller
    cancels it)."""
    a, b = _tenant(api, "tenant-a"), _tenant(api, "tenant-b")
    secret = f"a-secret-{secrets.token_hex(8)}"
    assert api.put("/api/v1/secrets/a-key", json={"value": secret}, headers=a).status_code == 200
    (scratch / "wd").mkdir(parents=True)
    (scratch / "wd" / "data.txt").write_text("tenant-a-workdir-data\n")
    packed = pack_workdir(scratch / "wd")
    upload = api.post(
        "/api/v1/workdirs",
        content=packed.path.read_bytes(),
        headers={**a, "X-Content-SHA256": packed.sha256},
    )
    packed.path.unlink()
    assert upload.status_code in (200, 201), upload.text
    spec_a = {
        "command": 'echo tenant-a-output > "$AICC_OUTPUT_DIR/a.txt"; sleep 300',
        "workdir_sha256": packed.sha256,
        "secrets": ["a-key"],
        "resources": {"cpu": 0.5, "memory": "256MiB"},
    }
    job_a = submit(api, spec_a, **a)
    job_dir = home / runs / job_a["id"]
    _wait_file(job_dir / "outputs" / "a.txt", "tenant A's output")
    run_dir = job_dir / "0" / "0"
    blob = home / "blobs" / packed.sha256[:2] / f"{packed.sha256}.tar.gz"
    targets = {
        "admin token": home / "admin.token",
        "database": home / "aicc.db",
        "sealing key": home / "secret.key",
        "A's launch spec": run_dir / "launch.json",
        "A's environment file": run_dir / "env.sh",
        "A's stdout": run_dir / "stdout.log",
        "A's output": job_dir / "outputs" / "a.txt",
        "A's workdir": run_dir / "work" / "data.txt",
        "A's upload": blob,
        "server environment": Path(f"/proc/{os.getpid()}/environ"),
        "runs": home / runs,
        "blobs": home / "blobs",
    }
    probe = "; ".join(
        f"if out=$(cat {p} 2>/dev/null || ls -A {p} 2>/dev/null); "
        f'then echo "READ {p}: $out"; else echo "DENIED {p}"; fi'
        for p in map(str, targets.values())
    )
    probe += '; echo own > "$AICC_OUTPUT_DIR/b.txt" && echo "wrote own output"'
    job_b = submit(api, {"command": probe, "resources": {"cpu": 0.5, "memory": "256MiB"}}, **b)
    done_b = wait_state(api, job_b["id"], {"succeeded", "failed", "cancelled"}, timeout=180)
    log = api.get(f"/api/v1/jobs/{job_b['id']}/logs", headers=b).text
    token = (home / "admin.token").read_text().strip()
    forbidden = {
        "admin token": token,
        "A's secret": secret,
        "A's output": "tenant-a-output",
        "A's workdir": "tenant-a-workdir-data",
    }
    return Breach(log, {k: str(v) for k, v in targets.items()}, forbidden, secret, job_a, done_b)


def files_holding(root: Path, text: str) -> list[Path]:
    """Every file under `root` whose bytes contain `text`."""
    needle = text.encode()
    found = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                found.append(path)
        except OSError:
            continue
    return found


def open_to_others(paths: list[Path]) -> list[str]:
    """Those of `paths` whose mode lets a group or other users in (with the mode)."""
    return [
        f"{p} {stat.filemode(p.stat().st_mode)}"
        for p in paths
        if p.exists() and p.stat().st_mode & 0o077
    ]


class Listener:
    """A TCP listener on the machine (`host`: its loopback, or every address with "0.0.0.0")
    that counts the connections it accepted: what a job must not reach shows 0 here."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_server((host, 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                conn, _ = self.sock.accept()
                self.accepted += 1
                conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@contextlib.contextmanager
def listening(host: str = "127.0.0.1") -> Iterator[Listener]:
    """A `Listener`, closed however the block ends."""
    opened = Listener(host)
    try:
        yield opened
    finally:
        opened.close()
