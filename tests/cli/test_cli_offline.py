"""The CLI and SDK without an AICC server: local validation, errors, token resolution, retries.

Where an HTTP peer is needed, a tiny `http.server` on 127.0.0.1 plays the API and records what it
was sent; httpx itself is never mocked.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.sdk.client import ApiError, Client, format_detail, resolve_token, save_token

runner = CliRunner()
DROP = "drop"  # an answer that closes the connection without a response


# --- a tiny stand-in for the API ---------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, Any] | str | Callable[[Seen], tuple[int, Any]]


@dataclass
class FakeApi:
    """Answers routes from a script; the last answer of a route repeats."""

    url: str = ""
    routes: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def on(self, method: str, path: str, *answers: Answer) -> None:
        self.routes[(method, path)] = list(answers)

    def requests(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]

    def answer(self, seen: Seen) -> Answer:
        script = self.routes.get((seen.method, seen.path))
        if not script:
            return (404, {"detail": "Not Found"})
        return script.pop(0) if len(script) > 1 else script[0]


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            seen = Seen(
                self.command,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length) if length else b"",
            )
            api.seen.append(seen)
            answer = api.answer(seen)
            if isinstance(answer, str):  # DROP
                self.close_connection = True
                return
            status, body = answer(seen) if callable(answer) else answer
            if isinstance(body, bytes):
                data, kind = body, "application/octet-stream"
            elif isinstance(body, str):
                data, kind = body.encode(), "text/plain; charset=utf-8"
            else:
                data, kind = json.dumps(body).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private AICC_HOME and no server or token from the developer's environment."""
    home = tmp_path / "aicc-home"
    monkeypatch.setenv("AICC_HOME", str(home))
    monkeypatch.delenv("AICC_TOKEN", raising=False)
    monkeypatch.delenv("AICC_SERVER", raising=False)
    return home


def _job(state: str = "pending", **extra: Any) -> dict[str, Any]:
    """A job as the server answers it (`services.jobs.views.Job`: the SDK parses it)."""
    return {
        "id": "job_01TEST",
        "name": "demo",
        "org_id": "org_1",
        "project_id": "prj_1",
        "project": "default",
        "queue": "default",
        "user": "admin",
        "kind": "batch",
        "state": state,
        "reason": extra.pop("reason", "submitted"),
        "message": "",
        "attempt": 0,
        "exit_code": extra.pop("exit_code", None),
        "priority": 0,
        "cancel_requested": False,
        "spec": {"resources": {"cpu_milli": 2000, "memory_mib": 4096}, "replicas": 1},
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
        "started_at": None,
        "ended_at": None,
        "replicas": [],
        **extra,
    }


# --- the command line without any server -------------------------------------------------------


def test_help_lists_the_command_groups() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("job", "node", "org", "project", "user", "token", "queue", "secret", "run"):
        assert group in result.output


def test_help_does_not_import_the_server_stack() -> None:
    code = (
        "import sys\n"
        "from typer.main import get_command\n"
        "from aicc.cli.main import app\n"
        "get_command(app)\n"
        "print(sorted(m for m in ('fastapi', 'sqlalchemy', 'httpx') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_submit_reports_the_bad_field_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("command: python train.py\nresources:\n  memory: 0\n  cpu: 2\n")
    result = runner.invoke(app, ["job", "submit", "-f", str(bad)])
    assert result.exit_code == 1
    assert "resources.memory:" in result.stderr
    assert "greater than or equal to 1" in result.stderr
    assert result.stdout == ""


def test_submit_lists_every_bad_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Not A Name\nreplicas: 0\n")
    result = runner.invoke(app, ["job", "submit", "-f", str(bad)])
    assert result.exit_code == 1
    for name in ("command: Field required", "name:", "replicas:"):
        assert name in result.stderr


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("command: hi\nscenario: " + "[" * 5000 + "]" * 5000, "nested too deeply"),
        (f"command: hi\npriority: {10**26}", "priority:"),
        ("command: hi\nresources: {cpu: .nan}", "resources.cpu: must be a finite number"),
    ],
)
def test_submit_of_a_poisoned_file_is_one_clear_error(tmp_path: Path, text: str, said: str) -> None:
    """Issue 16's YAML poisons are refused before anything is sent, without a traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = runner.invoke(app, ["job", "submit", "-f", str(bad)])
    assert result.exit_code == 1 and said in result.stderr, result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_submit_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["job", "submit", "-f", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "nope.yaml: no such file" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_unreachable_server_gives_a_hint_not_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "AICC_SERVER": "http://127.0.0.1:1", "AICC_HOME": str(tmp_path)}
    env.pop("AICC_TOKEN", None)
    out = subprocess.run(
        [sys.executable, "-c", "from aicc.cli.main import app; app()", "job", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 1
    assert "is the server running" in out.stderr
    assert "aicc serve" in out.stderr
    assert "127.0.0.1:1" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_spec_schema_requires_command() -> None:
    result = runner.invoke(app, ["spec", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "command" in schema["required"]
    assert "resources" in schema["properties"]


# --- token resolution --------------------------------------------------------------------------


def test_token_resolution_order(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local, remote = "http://127.0.0.1:8080", "https://aicc.example.org"
    assert resolve_token(local) is None

    isolated.mkdir(parents=True)
    (isolated / "admin.token").write_text("admin-secret\n")
    assert resolve_token(local) == "admin-secret"
    assert resolve_token("http://localhost:9000") == "admin-secret"
    assert resolve_token("http://[::1]:8080") == "admin-secret"
    assert resolve_token(remote) is None  # the admin token never leaves this machine

    save_token(local, "login-local")
    save_token(remote, "login-remote")
    assert resolve_token(local) == "login-local"
    assert resolve_token(remote + "/") == "login-remote"

    monkeypatch.setenv("AICC_TOKEN", "from-env")
    assert resolve_token(local) == "from-env"
    assert resolve_token(remote, "from-arg") == "from-arg"

    with Client(remote) as api:
        assert api.token == "from-env"
    monkeypatch.delenv("AICC_TOKEN")
    monkeypatch.setenv("AICC_SERVER", remote)
    with Client() as api:
        assert (api.server, api.token) == (remote, "login-remote")


def test_saved_credentials_are_private(isolated: Path) -> None:
    path = save_token("http://127.0.0.1:8080", "one")
    save_token("https://other.example.org", "two")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "http://127.0.0.1:8080": "one",
        "https://other.example.org": "two",
    }


# --- errors from the API -----------------------------------------------------------------------


def test_422_detail_names_the_field() -> None:
    detail = [
        {
            "type": "greater_than",
            "loc": ["body", "resources", "cpu_milli"],
            "msg": "Input should be greater than 0",
            "input": 0,
        },
        {"type": "value_error", "loc": ["body", "env"], "msg": "Value error, bad name"},
        {"type": "missing", "loc": ["body", "command", 0], "msg": "Field required"},
    ]
    assert format_detail(detail) == (
        "resources.cpu_milli: Input should be greater than 0; env: bad name; "
        "command[0]: Field required"
    )
    assert format_detail("job not found") == "job not found"


def test_api_error_carries_status_and_readable_detail(fake_api: FakeApi) -> None:
    detail = [{"loc": ["body", "resources", "cpu_milli"], "msg": "Input should be greater than 0"}]
    fake_api.on("POST", "/api/v1/jobs", (422, {"detail": detail}))
    with Client(fake_api.url, "t") as api, pytest.raises(ApiError) as caught:
        api.submit({"command": "true"})
    assert caught.value.status_code == 422
    assert caught.value.detail == "resources.cpu_milli: Input should be greater than 0"
    assert len(fake_api.requests("POST", "/api/v1/jobs")) == 1  # 4xx is never retried


def test_cli_prints_the_api_detail(fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AICC_SERVER", fake_api.url)
    fake_api.on("GET", "/api/v1/jobs/job_x", (404, {"detail": "job job_x not found"}))
    fake_api.on("GET", "/api/v1/nodes", (401, {"detail": "missing or invalid token"}))
    result = runner.invoke(app, ["job", "get", "job_x"])
    assert result.exit_code == 1
    assert "job job_x not found" in result.stderr
    result = runner.invoke(app, ["node", "list"])
    assert result.exit_code == 1
    assert "aicc login" in result.stderr


# --- submit: idempotent retries ----------------------------------------------------------------


def test_submit_retry_reuses_the_idempotency_key(fake_api: FakeApi) -> None:
    fake_api.on("POST", "/api/v1/jobs", (503, {"detail": "busy"}), DROP, (201, _job()))
    with Client(fake_api.url, "t") as api:
        api.retry_backoff = 0
        job = api.submit({"command": "echo hi"})
    assert job.id == "job_01TEST"
    keys = [s.headers.get("idempotency-key") for s in fake_api.requests("POST", "/api/v1/jobs")]
    assert len(keys) == 3
    assert keys[0] and len(set(keys)) == 1
    assert fake_api.seen[0].headers["authorization"] == "Bearer t"


def test_submit_uses_the_given_key_and_gives_up_after_three_retries(fake_api: FakeApi) -> None:
    fake_api.on("POST", "/api/v1/jobs", (502, {"detail": "bad gateway"}))
    with Client(fake_api.url, "t") as api, pytest.raises(ApiError) as caught:
        api.retry_backoff = 0
        api.submit({"command": "true"}, idempotency_key="my-key")
    assert caught.value.status_code == 502
    keys = [s.headers["idempotency-key"] for s in fake_api.requests("POST", "/api/v1/jobs")]
    assert keys == ["my-key"] * 4


def test_each_submit_gets_a_fresh_key(fake_api: FakeApi) -> None:
    fake_api.on("POST", "/api/v1/jobs", (201, _job()))
    with Client(fake_api.url, "t") as api:
        api.submit({"command": "true"})
        api.submit({"command": "true"})
    keys = {s.headers["idempotency-key"] for s in fake_api.requests("POST", "/api/v1/jobs")}
    assert len(keys) == 2


# --- workdirs ----------------------------------------------------------------------------------


def _store_upload(seen: Seen) -> tuple[int, Any]:
    digest = hashlib.sha256(seen.body).hexdigest()
    assert seen.headers["x-content-sha256"] == digest
    assert seen.headers["content-type"] == "application/gzip"
    return 201, {"sha256": digest, "size": len(seen.body)}


def test_submit_uploads_the_workdir_once(fake_api: FakeApi, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("print('hi')\n")
    fake_api.on("POST", "/api/v1/workdirs", _store_upload)
    fake_api.on("POST", "/api/v1/jobs", (201, _job()))
    with Client(fake_api.url, "t") as api:
        api.submit({"command": "python train.py", "workdir": str(project)})
        head = fake_api.requests("HEAD", fake_api.seen[0].path)
        assert head and head[0].path.startswith("/api/v1/workdirs/")
        digest = head[0].path.rsplit("/", 1)[1]
        fake_api.on("HEAD", head[0].path, (200, b""))  # the server has it now
        api.submit({"command": "python train.py"}, workdir=project)
    uploads = fake_api.requests("POST", "/api/v1/workdirs")
    assert len(uploads) == 1
    with tarfile.open(fileobj=io.BytesIO(uploads[0].body), mode="r:gz") as tar:
        assert tar.getnames() == ["train.py"]
    bodies = [s.json() for s in fake_api.requests("POST", "/api/v1/jobs")]
    for body in bodies:
        assert body["workdir_sha256"] == digest
        assert "workdir" not in body


# --- the CLI against the stand-in ---------------------------------------------------------------


def test_run_builds_the_spec_and_prints_only_the_id(
    fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICC_SERVER", fake_api.url)
    fake_api.on("POST", "/api/v1/jobs", (201, _job()))
    args = ["run", "--cpu", "2", "--memory", "4GiB", "--gpu-share", "0.5", "-e", "A=1"]
    result = runner.invoke(app, [*args, "--", "python", "-c", "print('hello')"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "job_01TEST\n"
    body = fake_api.requests("POST", "/api/v1/jobs")[0].json()
    assert body["command"] == ["python", "-c", "print('hello')"]
    assert body["resources"] == {"cpu": "2", "memory": "4GiB", "accelerator": {"milli": 0.5}}
    assert body["env"] == {"A": "1"}

    runner.invoke(app, ["run", "echo hi && echo there"])
    assert fake_api.requests("POST", "/api/v1/jobs")[1].json()["command"] == "echo hi && echo there"


def test_run_rejects_a_bad_spec_before_sending(
    fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICC_SERVER", fake_api.url)
    result = runner.invoke(app, ["run", "--memory", "lots", "--", "true"])
    assert result.exit_code == 1
    assert "memory 'lots'" in result.stderr
    assert fake_api.seen == []


def test_job_wait_exit_codes(fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AICC_SERVER", fake_api.url)
    path = "/api/v1/jobs/job_01TEST"
    fake_api.on("GET", path, (200, _job("succeeded", reason="succeeded")))
    assert runner.invoke(app, ["job", "wait", "job_01TEST"]).exit_code == 0
    fake_api.on("GET", path, (200, _job("failed", reason="exit_code", exit_code=3)))
    result = runner.invoke(app, ["job", "wait", "job_01TEST"])
    assert result.exit_code == 1
    assert "failed" in result.stderr and "exit code 3" in result.stderr
    fake_api.on("GET", path, (200, _job("running", reason="started")))
    result = runner.invoke(app, ["job", "wait", "job_01TEST", "--timeout", "0.2"])
    assert result.exit_code == 2
    assert "still running" in result.stderr


def test_job_list_table_and_json(fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AICC_SERVER", fake_api.url)
    page1 = {"items": [_job("running")], "next_cursor": "c2"}
    page2 = {"items": [_job("failed", id="job_02TEST")], "next_cursor": None}
    fake_api.on("GET", "/api/v1/jobs", (200, page1), (200, page2))
    result = runner.invoke(app, ["job", "list"])
    assert result.exit_code == 0, result.output
    for text in ("job_01TEST", "job_02TEST", "running", "2 cpu, 4GiB"):
        assert text in result.stdout
    cursors = [s.query.get("cursor") for s in fake_api.requests("GET", "/api/v1/jobs")]
    assert cursors == [None, ["c2"]]

    fake_api.on("GET", "/api/v1/jobs", (200, page2))
    result = runner.invoke(app, ["job", "list", "--json"])
    assert [job["id"] for job in json.loads(result.stdout)["items"]] == ["job_02TEST"]


def test_stored_control_and_direction_characters_print_as_escapes(
    fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 57: a job named before names were checked, with an escape sequence that would
    clear the terminal and a right-to-left override, prints them as escapes in the table, the
    fields and the error line; `--json` stays the API's JSON."""
    monkeypatch.setenv("AICC_SERVER", fake_api.url)
    sly = "clear\x1b[2J\u202etxt.exe\x07"
    page = {"items": [_job("running", name=sly)], "next_cursor": None}
    fake_api.on("GET", "/api/v1/jobs", (200, page))
    table = runner.invoke(app, ["job", "list"])
    assert table.exit_code == 0, table.output
    assert "clear\\x1b[2J\\u202etxt.exe\\x07" in table.stdout
    assert not any(bad in table.stdout for bad in ("\x1b", "\u202e", "\x07"))
    fake_api.on("GET", "/api/v1/jobs", (200, page))
    assert (
        json.loads(runner.invoke(app, ["job", "list", "--json"]).stdout)["items"][0]["name"] == sly
    )
    fake_api.on("GET", "/api/v1/jobs/job_01TEST", (404, {"detail": f"job {sly} not found"}))
    failed = runner.invoke(app, ["job", "get", "job_01TEST"])
    assert failed.exit_code == 1 and "\\u202e" in failed.stderr
    assert not any(bad in failed.stderr for bad in ("\x1b", "\u202e", "\x07"))


def test_node_list_marks_simulated_devices(
    fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICC_SERVER", fake_api.url)
    device = {
        "index": 0,
        "model": "H100-SXM",
        "memory_mib": 81920,
        "uuid": None,
        "simulated": True,
        "healthy": True,
        "allocated_milli": 0,
    }
    node = {  # as the server answers it (`services.nodes.views.Node`: the SDK parses it)
        "id": "node_1",
        "name": "sim-0",
        "state": "ready",
        "executor": "local",
        "cpu_milli": 16000,
        "memory_mib": 65536,
        "allocated": {"cpu_milli": 2000, "memory_mib": 4096, "accelerator_milli": 500},
        "devices": [device, {**device, "index": 1}],
        "simulated": True,
        "state_reason": "",
        "labels": {},
        "heartbeat_at": None,
    }
    fake_api.on("GET", "/api/v1/nodes", (200, {"items": [node], "next_cursor": None}))
    result = runner.invoke(app, ["node", "list"])
    assert result.exit_code == 0, result.output
    assert "2× H100-SXM (simulated)" in result.stdout
    assert "2/16" in result.stdout and "4GiB/64GiB" in result.stdout


def test_secret_set_reads_stdin_and_never_echoes(
    fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICC_SERVER", fake_api.url)
    at = "2026-11-25T10:00:00Z"
    stored = {"name": "hf-token", "project_id": "prj_1", "created_at": at, "updated_at": at}
    fake_api.on("PUT", "/api/v1/secrets/hf-token", (200, stored))
    result = runner.invoke(
        app, ["secret", "set", "hf-token", "--value", "-", "-p", "vision"], input="s3cret\n"
    )
    assert result.exit_code == 0, result.output
    seen = fake_api.requests("PUT", "/api/v1/secrets/hf-token")[0]
    assert seen.json() == {"value": "s3cret"}
    assert seen.query == {"project": ["vision"]}
    assert "s3cret" not in result.output


def test_download_extracts_safely(fake_api: FakeApi, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"accuracy 0.9\n"
        info = tarfile.TarInfo("metrics.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    fake_api.on("GET", "/api/v1/jobs/job_01TEST/outputs", (200, buffer.getvalue()))
    with Client(fake_api.url, "t") as api:
        dest = api.download_outputs("job_01TEST", tmp_path / "out")
    assert (dest / "metrics.txt").read_bytes() == b"accuracy 0.9\n"

    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    fake_api.on("GET", "/api/v1/jobs/job_01TEST/outputs", (200, evil.getvalue()))
    with Client(fake_api.url, "t") as api, pytest.raises(tarfile.TarError):
        api.download_outputs("job_01TEST", tmp_path / "out2")
    assert not (tmp_path / "escape.txt").exists()


def test_submit_accepts_a_jobspec(fake_api: FakeApi) -> None:
    from aicc.core.jobspec import JobSpec

    fake_api.on("POST", "/api/v1/jobs", (201, _job()))
    spec = JobSpec.model_validate({"command": ["python", "x.py"], "resources": {"cpu": "500m"}})
    with Client(fake_api.url, "t") as api:
        api.submit(spec)
    body = fake_api.requests("POST", "/api/v1/jobs")[0].json()
    assert body["command"] == ["python", "x.py"]
    assert body["resources"]["cpu_milli"] == 500
    assert JobSpec.model_validate(body) == spec  # what the server will read back
