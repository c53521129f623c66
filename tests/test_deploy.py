"""What an operator installs (docs/production.md): the wheel serves the portal on its own, the
systemd unit and its settings file are valid, and `make run` on a bare machine says what to
install instead of failing somewhere later."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from aicc.config import load
from aicc.testing.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "deploy" / "systemd"


def _script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `make wheel` builds, installed into a folder of its own (its dependencies are
    the test environment's): what `pip install aicc` puts on a server."""
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", out, ROOT],
        check=True,
        cwd=out,
    )
    (wheel,) = out.glob("aicc-*.whl")
    target = out / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", target, wheel], check=True)
    return target


@pytest.mark.slow
def test_the_wheel_alone_serves_the_portal_its_assets_and_the_templates(
    installed: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(installed), "AICC_HOME": str(tmp_path / "home")}
    where = subprocess.run(
        [sys.executable, "-c", "import aicc; print(aicc.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(installed)), where  # the wheel's code, not the checkout's
    port = free_port()
    serve = "from aicc.cli.main import app; app()"
    server = subprocess.Popen(
        [sys.executable, "-c", serve, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, "the installed server exited"
            time.sleep(0.1)
        sign_in = httpx.get(url + "/", follow_redirects=True, timeout=10)
        assert sign_in.status_code == 200 and "<form" in sign_in.text
        for asset in ("vendor/htmx.min.js", "vendor/echarts.min.js", "portal.css"):
            served = httpx.get(f"{url}/static/{asset}", timeout=10)
            built = ROOT / "aicc" / "portal" / "static" / asset
            assert served.status_code == 200 and served.content == built.read_bytes(), asset
        token = (tmp_path / "home" / "admin.token").read_text().strip()
        listed = httpx.get(
            url + "/api/v1/templates", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        names = {t["name"] for t in listed.json()["items"]}
        assert {"credit-risk", "load-forecasting"} <= names
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_systemd_settings_file_is_read_as_the_server_reads_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """deploy/systemd/aicc.env as a shell and systemd read it (`set -a; . aicc.env`)."""
    shell = f"set -a; . {SYSTEMD / 'aicc.env'}; set +a; env -0"
    out = subprocess.run(["bash", "-c", shell], env={}, capture_output=True, check=True).stdout
    variables = dict(line.split("=", 1) for line in out.decode().split("\0") if "=" in line)
    for name, value in variables.items():
        if name.startswith("AICC_"):
            monkeypatch.setenv(name, value)
    settings = load(tmp_path)
    assert settings.db and settings.db.startswith("postgresql://aicc:")
    assert [str(n) for n in settings.trusted_proxies] == ["127.0.0.1/32"]
    assert settings.tls is True


def test_the_systemd_unit_verifies_and_runs_a_real_serve_command(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip(
            "SKIPPED LOUDLY: systemd-analyze is missing (Debian package systemd); "
            "scripts/install-test-deps.sh installs it"
        )
    unit = (SYSTEMD / "aicc.service").read_text()
    command = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    program, verb, *flags = command.removeprefix("ExecStart=").split()
    assert program == "/opt/aicc/venv/bin/aicc" and verb == "serve"
    options = {f for f in flags if f.startswith("--")}
    usage = subprocess.run(
        [str(Path(sys.executable).parent / "aicc"), "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    assert all(option in usage for option in options), (options, usage)
    here = unit.replace("/opt/aicc/venv/bin/aicc", str(Path(sys.executable).parent / "aicc"))
    here = here.replace("/etc/aicc/aicc.env", str(SYSTEMD / "aicc.env"))
    (tmp_path / "aicc.service").write_text(here)
    verified = subprocess.run(
        [analyze, "verify", str(tmp_path / "aicc.service")], capture_output=True, text=True
    )
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr


def _fake_python(tmp_path: Path, refuses: str) -> str:
    """A `python3` that runs the real one but fails the line that contains `refuses`."""
    fake = tmp_path / "python3"
    fake.write_text(
        f'#!/bin/sh\ncase "$*" in *"{refuses}"*) exit 1;; esac\nexec {sys.executable} "$@"\n'
    )
    fake.chmod(0o755)
    return str(fake)


@pytest.mark.parametrize(
    ("refuses", "said", "command"),
    [
        ("ensurepip", "has no venv module", "apt-get install -y python3.11-venv"),
        ("version_info <", "needs Python 3.11 or newer", "make run PYTHON=python3.11"),
        ("print(", "does not run", "apt-get install -y python3 python3-venv"),
    ],
)
def test_make_run_on_a_bare_machine_stops_with_the_command_to_run(
    tmp_path: Path, refuses: str, said: str, command: str
) -> None:
    python = _fake_python(tmp_path, refuses)
    ran = subprocess.run(
        ["bash", str(ROOT / "scripts" / "preflight.sh"), python], capture_output=True, text=True
    )
    assert ran.returncode == 1
    assert said in ran.stderr and command in ran.stderr, ran.stderr


def test_preflight_passes_here() -> None:
    ran = subprocess.run(
        ["bash", str(ROOT / "scripts" / "preflight.sh"), sys.executable],
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr


def test_portal_assets_that_are_not_the_locked_ones_are_refused() -> None:
    fetch = _script("fetch_portal_assets")
    good = "sha512-" + base64.b64encode(hashlib.sha512(b"htmx").digest()).decode()
    assert fetch.verified(b"htmx", good, "htmx") == b"htmx"
    with pytest.raises(SystemExit, match=r"not the one package-lock\.json pins"):
        fetch.verified(b"htmx, changed", good, "htmx")
    assert fetch.tarball("htmx.org", "2.0.11").endswith("/htmx.org/-/htmx.org-2.0.11.tgz")
    scoped = fetch.tarball("@xterm/xterm", "6.0.0")  # a scoped package's file drops the scope
    assert scoped.endswith("/@xterm/xterm/-/xterm-6.0.0.tgz")


def test_every_portal_asset_is_pinned_exactly() -> None:
    """What the portal serves is the lock's version, and package.json names that version, not a
    range: a clean clone fetches the same bytes (xterm.js's included)."""
    fetch = _script("fetch_portal_assets")
    wanted = json.loads((ROOT / "package.json").read_text())["dependencies"]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    assert {"htmx.org", "echarts", "@xterm/xterm", "@xterm/addon-fit"} <= set(fetch.SERVED)
    for name in fetch.SERVED:
        assert wanted[name] == locked[f"node_modules/{name}"]["version"], name
        assert locked[f"node_modules/{name}"]["integrity"].startswith("sha512-"), name
