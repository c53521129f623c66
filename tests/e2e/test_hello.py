"""The README's five-minute tour through the real CLI against a real `aicc serve` (SQLite)."""

from __future__ import annotations

import functools
import json
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_support import Cli, Servers, wait_for

from aicc.testing.servers import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """One `aicc serve` for the module's tours (a start is 5 to 10 s of a loaded machine): each
    tour makes its own jobs, data set, model and deployment, and finds them by their ids and
    names, as people sharing a center do."""
    with Servers(tmp_path_factory.mktemp("hello")) as started:
        started.start()
        yield started


@pytest.fixture
def server(servers: Servers) -> ServerProcess:
    return servers.started[0]


def test_hello_as_the_readme_promises(servers: Servers, server: ServerProcess) -> None:
    """On the port the test was given, not 8080: the CLI finds the server by its home alone,
    as the README says."""
    aicc = servers.cli(server, by_home=True)

    job_id = aicc("run", "--", "python", "-c", "print('hello')").stdout.strip()
    assert re.fullmatch(r"job_[0-9A-Z]{26}", job_id), job_id

    aicc("job", "wait", job_id, "--timeout", "60")
    assert aicc("job", "logs", job_id).stdout == "hello\n"

    rows = [line.split() for line in aicc("job", "list").stdout.splitlines() if job_id in line]
    assert len(rows) == 1 and "succeeded" in rows[0], rows
    listed = json.loads(aicc("job", "list", "--json").stdout)
    # The API's page, or (as `aicc job list` prints today) its items after following the cursor.
    items = listed["items"]
    [job] = [j for j in items if j["id"] == job_id]
    assert (job["state"], job["exit_code"]) == ("succeeded", 0)

    host = socket.gethostname()
    table = [line.split() for line in aicc("node", "list").stdout.splitlines()]
    assert [host, "ready", "local"] in [row[:3] for row in table], table
    nodes = json.loads(aicc("node", "list", "--json").stdout)["items"]
    [node] = [n for n in nodes if n["name"] == host]
    assert node["executor"] == "local" and node["cpu_milli"] >= 1000 and node["memory_mib"] > 0


def test_wait_exits_nonzero_and_says_why_when_the_job_fails(
    servers: Servers, server: ServerProcess
) -> None:
    aicc = servers.cli(server)
    job_id = aicc("run", "--", "python -c 'import sys; sys.exit(3)'").stdout.strip()
    waited = aicc("job", "wait", job_id, "--timeout", "60", check=False)
    assert waited.returncode == 1, waited.stderr
    assert "failed" in waited.stderr and "code 3" in waited.stderr


README = Path(__file__).parents[2] / "README.md"


def tour_block(marker: str) -> list[str]:
    """The lines of the README's shell block that holds `marker`."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text("utf-8"), re.S)
    [block] = [b for b in blocks if marker in b]
    return block.splitlines()


def test_my_table_to_my_api_as_the_readme_promises(servers: Servers, server: ServerProcess) -> None:
    """The README's "bring data, leave with a model and its API", command by command as it is
    written there: the table its script writes, pushed, the column chosen, trained, deployed,
    and the deployment's /predict answering a row of the person's own columns, at the address
    the README's `AICC_URL` finds (the server is on a port of the test's, not 8080)."""
    aicc = servers.cli(server, by_home=True)
    lines = tour_block("template run table-prediction")
    start = next(i for i, line in enumerate(lines) if "<<'EOF'" in line)
    end = lines.index("EOF", start)
    (servers.work / "weather").mkdir()
    script = "\n".join(lines[start + 1 : end])
    subprocess.run([sys.executable, "-c", script], cwd=servers.work, check=True, timeout=60)
    assert (servers.work / "weather" / "weather.csv").read_text().count("\n") == 401

    said: dict[str, str] = {}
    key = ""
    api = server.client()
    for line in lines[end + 1 :]:
        if line.startswith("aicc "):
            args = shlex.split(line, comments=True)[1:]
            said[" ".join(args[:2])] = aicc(*args, timeout=300).stdout
            if args[:2] == ["key", "create"]:
                key = re.findall(r"aicc-sk-[A-Za-z0-9_-]+", said["key create"])[0]
            if args[:2] == ["deploy", "create"]:
                wait_for(functools.partial(ready, api, aicc, args[2]), 120, f"{args[2]} ready")
                shown = json.loads(aicc("deploy", "get", args[2], "--json").stdout)
                assert shown["state"] == "ready", shown  # as the CLI shows it
    listed = next(line for line in said["template list"].splitlines() if "table-prediction" in line)
    assert "fits (choose target: temp_max, humidity, wind, weather)" in listed
    assert "weather-model" in said["model list"] and "staging" in said["model list"]
    assert (servers.work / "model" / "predict.py").is_file()

    curl = " ".join(line.strip(" \\") for line in lines if line.startswith(("curl", "  -d")))
    body = json.loads(shlex.split(curl.split(" -d ", 1)[1])[0])
    [define] = [line for line in tour_block("source .venv") if line.startswith("AICC_URL=")]
    said_url = subprocess.run(
        ["bash", "-c", define.split("#")[0] + '; echo "$AICC_URL"'],
        env={**aicc.env(), "HOME": str(servers.work)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert said_url == server.url
    url = shlex.split(curl)[1].replace("$AICC_URL", said_url)
    answer = httpx.post(
        url,
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    [row] = answer.json()["predictions"]
    assert row["weather_predicted"] in {"sun", "rain", "fog"} and row["humidity"] == 91


def ready(api: httpx.Client, aicc: Cli, name: str) -> bool:
    """Whether the deployment is ready, read through the API (what `aicc deploy get --json`
    prints): polled, where the CLI's process, a second of CPU each, would slow what it waits
    for; one that failed is shown as the CLI shows it."""
    state = api.get(f"/api/v1/deployments/{name}").json()["state"]
    assert state != "failed", aicc("deploy", "get", name).stdout
    return bool(state == "ready")
