"""`aicc job exec` against a real server over HTTP, its replicas in the bubblewrap sandbox: the
command runs inside the job's sandbox (its working copy, its processes, its network namespace,
not the server's home nor its processes), piped or on a terminal, with the command's exit code;
another tenant's job is a 404, a viewer's request a 403, a finished job a 409; every session
is in the audit log, with its command and not what was typed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.executors.local import exec as entering
from aicc.sdk.client import Client
from aicc.sdk.errors import ApiError
from aicc.testing.polling import wait
from aicc.testing.servers import over_http
from aicc.testing.tenants import Tenant, make_tenant

JOB = "echo marker-of-the-job > here.txt; exec python3 -c 'import time; time.sleep(600)' exec-probe"


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("exec") / "home"
    with over_http(home) as (url, token, _state):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        alice, bob = make_tenant(admin, "exec-a"), make_tenant(admin, "exec-b")
        viewer = admin.post(
            "/api/v1/users", json={"name": "exec-viewer", "role": "viewer", "org_id": alice.org_id}
        ).json()
        made = admin.post("/api/v1/tokens", json={"name": "v", "user_id": viewer["id"]}).json()
        client = Client(server=url, token=alice.token)
        job = client.jobs.submit({"command": JOB})
        wait("running", lambda: client.jobs.get(job.id).state == "running")
        run_dir = next(home.glob(f"runs/{job.id}/0/0"))
        wait("sandbox", lambda: _sandboxed(run_dir))
        yield {
            "url": url, "home": home, "admin": admin, "alice": alice, "bob": bob,
            "viewer": made["secret"], "job": job.id, "run_dir": run_dir,
        }  # fmt: skip
        client.jobs.cancel(job.id)


def _sandboxed(run_dir: Path) -> bool:
    try:
        entering.sandbox_init(run_dir)
    except ValueError:
        return False
    return True


def _aicc(center: dict[str, Any], token: str, *args: str, stdin: str = "") -> Any:
    env = {"AICC_SERVER": center["url"], "AICC_TOKEN": token, "COLUMNS": "200"}
    return CliRunner().invoke(app, list(args), env=env, input=stdin)


def test_exec_runs_inside_the_jobs_sandbox(center: dict[str, Any]) -> None:
    alice: Tenant = center["alice"]
    probe = (
        "id -u; cat here.txt; cat /proc/1/cmdline | tr '\\0' ' '; echo;"
        "cat /proc/[0-9]*/cmdline | tr '\\0' ' '; echo;"
        "readlink /proc/self/ns/net; grep CapEff /proc/self/status;"
        f"ls {center['home']} 2>&1; echo AICC_JOB_ID=$AICC_JOB_ID; exit 7"
    )
    result = _aicc(center, alice.token, "job", "exec", center["job"], "--", "sh", "-c", probe)
    assert result.exit_code == 7, result.output
    out = result.stdout
    assert f"{os.geteuid()}\n" in out  # the server's uid, as the replica runs
    assert "marker-of-the-job" in out  # the job's working copy is its cwd
    assert "bwrap" in out.splitlines()[2]  # pid 1 is the sandbox's init, not the machine's
    assert "exec-probe" in out  # the job's own process is among the ones it sees
    server = Path("/proc/self/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    assert server not in out  # the server's processes are not
    init = entering.sandbox_init(center["run_dir"])
    assert os.readlink(f"/proc/{init}/ns/net") in out  # the job's network namespace
    assert os.readlink("/proc/self/ns/net") not in out
    assert "CapEff:\t0000000000000000" in out  # no capability, even as root
    assert "admin.token" not in out and "aicc.db" not in out  # $AICC_HOME is hidden
    assert f"AICC_JOB_ID={center['job']}" in out


def test_exec_pipes_stdin_and_keeps_streams_apart(center: dict[str, Any]) -> None:
    alice: Tenant = center["alice"]
    result = _aicc(
        center, alice.token, "job", "exec", center["job"], "--", "sh", "-c",
        "tr a-z A-Z; echo to-stderr >&2", stdin="hello from stdin\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == "HELLO FROM STDIN\n"
    assert result.stderr == "to-stderr\n"


def test_exec_on_a_terminal_resizes(center: dict[str, Any]) -> None:
    client = Client(server=center["url"], token=center["alice"].token)
    with client.jobs.exec(center["job"], ["sh"], tty=True, cols=100, rows=30) as channel:
        channel.resize(132, 43)
        channel.send(b"stty size; test -t 0 && echo on-a-tty; exit 4\n")
        seen = b"".join(data for _, data in channel)
    assert b"43 132" in seen and b"on-a-tty" in seen
    assert channel.exit_code == 4, seen


def test_exec_refusals(center: dict[str, Any]) -> None:
    bob: Tenant = center["bob"]
    result = _aicc(center, bob.token, "job", "exec", center["job"], "--", "true")
    assert result.exit_code != 0 and "not found" in result.output  # another tenant: 404
    with pytest.raises(ApiError) as refused:
        Client(server=center["url"], token=bob.token).jobs.exec(center["job"], ["true"])
    assert refused.value.status_code == 404
    with pytest.raises(ApiError) as viewer:
        Client(server=center["url"], token=center["viewer"]).jobs.exec(center["job"], ["true"])
    assert viewer.value.status_code == 403
    alice = Client(server=center["url"], token=center["alice"].token)
    with pytest.raises(ApiError) as bad:
        alice.jobs.exec(center["job"], ["A=B", "true"])
    assert bad.value.status_code == 422 and "`=`" in bad.value.detail
    ended = alice.jobs.submit({"command": "true"})
    wait("ended", lambda: alice.jobs.get(ended.id).state == "succeeded")
    result = _aicc(center, center["alice"].token, "job", "exec", ended.id, "--", "true")
    assert result.exit_code != 0
    assert "is succeeded, not running" in result.output, result.output


def test_every_session_is_audited_without_keystrokes(center: dict[str, Any]) -> None:
    alice: Tenant = center["alice"]
    secret_typed = "typed-words-never-kept"
    result = _aicc(
        center, alice.token, "job", "exec", center["job"], "--", "cat", stdin=secret_typed
    )
    assert result.exit_code == 0 and result.stdout == secret_typed
    entries = center["admin"].get("/api/v1/audit", params={"limit": 200}).json()["items"]
    opened = [e for e in entries if e["action"] == "job.exec" and e["object_id"] == center["job"]]
    ends = [e for e in entries if e["action"] == "job.exec.end"]
    assert any(e["detail"]["command"] == ["cat"] for e in opened), opened
    assert any(e["detail"]["exit_code"] == 0 and e["detail"]["ended"] == "exited" for e in ends)
    assert all(e["user_name"] == "exec-a-user" for e in opened)
    assert secret_typed not in str(entries)
