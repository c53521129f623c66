"""The README's five-minute tour through the real CLI against a real `aicc serve` (SQLite)."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import Servers

pytestmark = pytest.mark.slow


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    with Servers(tmp_path) as started:
        yield started


def test_hello_as_the_readme_promises(servers: Servers) -> None:
    aicc = servers.cli(servers.start())

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


def test_wait_exits_nonzero_and_says_why_when_the_job_fails(servers: Servers) -> None:
    aicc = servers.cli(servers.start())
    job_id = aicc("run", "--", "python -c 'import sys; sys.exit(3)'").stdout.strip()
    waited = aicc("job", "wait", job_id, "--timeout", "60", check=False)
    assert waited.returncode == 1, waited.stderr
    assert "failed" in waited.stderr and "code 3" in waited.stderr
