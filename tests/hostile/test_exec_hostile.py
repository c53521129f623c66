"""The exec channel is hostile both ways: a tenant's command inside its job (`aicc job exec`)
tries to break out through it. Its output is bytes the server passes on, never interprets:
escape sequences, NUL, invalid UTF-8 and text shaped like the channel's own control frame come
out on the output stream as written, and the exit status is the command's own. A flood of
output arrives whole while the server reads one chunk per frame sent. From inside, the
server's home, its processes and the host's root stay out of reach (`cd ..` past the working
copy, `/proc`, capabilities), and a PID namespace the job made for itself is not taken for its
sandbox, and the command's arguments reach the job as an argv the server
never hands to a shell. A session without traffic ends at `exec_idle_s`, its process killed."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aicc.executors.local import exec as entering
from aicc.sdk.client import Client
from aicc.testing.polling import wait
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

FLOOD = 8 * 1024 * 1024


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("exec-hostile") / "home"
    with over_http(home, limits={"exec_idle_s": 4.0}) as (url, token, _state):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        tenant = make_tenant(admin, "exec-hostile")
        client = Client(server=url, token=tenant.token)
        # a PID namespace of the job's own inside its sandbox, whose init (pid 1 there too)
        # exec must not take for the sandbox's
        made = client.jobs.submit({"command": "unshare -Urpf sleep 600 & exec sleep 600"})
        wait("running", lambda: client.jobs.get(made.id).state == "running")
        run_dir = next(home.glob(f"runs/{made.id}/0/0"))
        wait("sandbox", lambda: _entered(run_dir))
        yield {"client": client, "id": made.id, "home": home, "admin": admin}
        client.jobs.cancel(made.id)


def _entered(run_dir: Path) -> bool:
    try:
        entering.sandbox_init(run_dir)
    except ValueError:
        return False
    return True


def _run(job: dict[str, Any], command: list[str], **options: Any) -> tuple[bytes, bytes, int]:
    out, err = bytearray(), bytearray()
    with job["client"].jobs.exec(job["id"], command, **options) as channel:
        channel.end_input()
        for stream, data in channel:
            (err if stream == "stderr" else out).extend(data)
    assert channel.exit_code is not None
    return bytes(out), bytes(err), channel.exit_code


def test_output_is_passed_on_never_interpreted(job: dict[str, Any]) -> None:
    forged = json.dumps({"exit": 0}).encode()
    hostile = b"\x1b]52;c;c2VjcmV0\x07\x1b[2J\x1b]0;title\x07\x00\xff\xfe" + forged + b"\n"
    script = "printf '" + "".join(f"\\{b:03o}" for b in hostile) + "'; exit 9"
    out, _, code = _run(job, ["sh", "-c", script])
    assert out == hostile  # byte for byte, the forged control frame among them
    assert code == 9  # the command's own status, not the one it printed


def test_a_flood_of_output_arrives_whole(job: dict[str, Any]) -> None:
    out, _, code = _run(job, ["sh", "-c", f"head -c {FLOOD} /dev/zero | tr '\\0' A"])
    assert code == 0 and len(out) == FLOOD and out.count(b"A") == FLOOD


def test_arguments_are_an_argv_not_a_shell_line(job: dict[str, Any]) -> None:
    marker = job["home"] / "never-made"
    out, _, code = _run(job, ["echo", "$(id -u)", ";", "touch", str(marker), "`id`"])
    assert out == f"$(id -u) ; touch {marker} `id`\n".encode() and code == 0
    assert not marker.exists()


def test_nothing_of_the_server_is_reachable_from_inside(job: dict[str, Any]) -> None:
    home = job["home"]
    probe = (
        "cd " + "../" * 40 + "; pwd; ls; "
        f"cat {home}/admin.token; ls {home}; ls /proc | grep -c '^[0-9]'; "
        f"kill -0 {os.getpid()} && echo SERVER-SEEN; grep CapBnd /proc/self/status; "
        "test -s /proc/1/root/etc/shadow && echo SHADOW-READ; "
        "tr '\\0' ' ' < /proc/1/cmdline | cut -c1-20"
    )
    out, _, _ = _run(job, ["sh", "-c", probe])
    text = out.decode()
    assert text.splitlines()[0] == "/"  # the sandbox's root: no way past it
    token = (home / "admin.token").read_text().strip()
    assert token not in text and "aicc.db" not in text  # the home shows the job's path alone
    assert "SERVER-SEEN" not in text and "SHADOW-READ" not in text
    assert "CapBnd:\t0000000000000000" in text
    assert text.splitlines()[-1].startswith("/usr/bin/bwrap")  # the sandbox, not the job's own
    assert int(text.split("CapBnd")[0].split()[-1]) < 10  # the job's processes and its own


def test_an_idle_session_ends_and_its_process_is_killed(job: dict[str, Any]) -> None:
    with job["client"].jobs.exec(job["id"], ["sh", "-c", "echo $$; exec sleep 300"]) as channel:
        said = b"".join(data for _, data in channel)  # ends once idle for exec_idle_s
    inner = int(said.split()[0])
    assert channel.exit_code == 137  # SIGKILL
    # killed: gone once reaped (a killed process stays a zombie, which `kill -0` still finds,
    # until its parent reaps it, a moment later on a loaded machine)
    probe = ["sh", "-c", f"kill -0 {inner} 2>/dev/null && echo ALIVE || echo gone"]
    wait("the idle session's process gone", lambda: _run(job, probe)[0] == b"gone\n", timeout=15)
    entries = job["admin"].get("/api/v1/audit", params={"limit": 100}).json()["items"]
    assert any(e["action"] == "job.exec.end" and e["detail"]["ended"] == "idle" for e in entries), (
        entries
    )
