"""Every poison of issue 16 on the job path: a 422 naming the field (never a 500, never a body
that cannot be serialized), or, for a command in any script, a valid name and a job that runs.
Meanwhile an ordinary job runs. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from aicc.core.jobspec import NAME_PATTERN
from aicc.testing.jobs import submit, wait_state

OK = {"command": "echo ok", "max_runtime": "5m"}

# (what is sent, the field the 422 names)
POISONS: list[tuple[dict[str, object], str]] = [
    ({**OK, "max_runtime": "100000000h"}, "max_runtime"),
    ({**OK, "max_runtime": 1e300}, "max_runtime"),
    ({**OK, "priority": 9223372036854775808}, "priority"),
    ({**OK, "priority": -(2**31) - 1}, "priority"),
    ({**OK, "command": "x" * 10_000_000}, "command"),
    ({**OK, "command": "x" * 70_000}, "command"),
    ({**OK, "command": ["x"] * 5000}, "command"),
    ({**OK, "env": {"BIG": "v" * 10_000_000}}, "env"),
    ({**OK, "env": {"V": "v" * 40_000}}, "env"),
    ({**OK, "env": {f"V{i}": "v" * 30_000 for i in range(3)}}, "env"),
    ({**OK, "labels": {f"k{i}": "v" for i in range(100_000)}}, "labels"),
    ({**OK, "labels": {f"k{i}": "v" for i in range(65)}}, "labels"),
    ({**OK, "labels": {"k": "v" * 2000}}, "labels"),
    ({**OK, "secrets": [f"s{i}" for i in range(65)]}, "secrets"),
    ({**OK, "datasets": [f"d{i}" for i in range(65)]}, "datasets"),
    ({**OK, "replicas": 1025}, "replicas"),
    ({**OK, "max_retries": 101}, "max_retries"),
    ({**OK, "resources": {"cpu": 1e308}}, "resources"),
    ({**OK, "resources": {"memory": 10**400}}, "resources"),
    ({**OK, "resources": {"accelerator": {"count": 65}}}, "count"),
    ({**OK, "resources": {"accelerator": {"milli": 0.5, "memory": "100TiB"}}}, "accelerator"),
    ({**OK, "command": "echo \x00"}, "command"),
    ({**OK, "scenario": {"a": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}}, "scenario"),
]

# JSON that Python's encoder would not write: NaN, infinities, a lone surrogate
RAW = [
    ('{"command": "true", "resources": {"cpu": NaN}}', "cpu"),
    ('{"command": "true", "priority": Infinity}', "priority"),
    ('{"command": "true", "max_runtime": -Infinity}', "max_runtime"),
    ('{"command": "\\ud800"}', "command"),
    ('{"command": "true", "env": {"A": "\\udfff"}}', "env"),
    ('{"command": "true", "labels": {"\\ud800": "x"}}', "labels"),
]


def test_each_poison_is_refused_naming_its_field_and_other_jobs_still_run(api: TestClient) -> None:
    for spec, field in POISONS:
        answer = api.post("/api/v1/jobs", json=spec)
        if answer.status_code == 413 and len(json.dumps(spec)) > 1_000_000:
            continue  # a cap on request bodies came first: refused all the same
        assert answer.status_code == 422, (field, answer.status_code, answer.text[:300])
        assert len(answer.content) < 100_000  # the 10 MB input is not echoed back
        locs = [".".join(map(str, e["loc"])) for e in answer.json()["detail"]]
        assert any(field in loc for loc in locs), (field, locs)
    for body, field in RAW:
        answer = api.post(
            "/api/v1/jobs", content=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 422, (body, answer.status_code, answer.text[:300])
        (problem,) = answer.json()["detail"]
        assert field in problem["loc"] and json.dumps(problem, allow_nan=False), problem
    job = submit(api, OK)
    assert wait_state(api, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
    assert api.get("/api/v1/jobs").json()["items"][0]["id"] == job["id"]


def test_a_command_in_any_script_gets_a_valid_name_and_is_scheduled(api: TestClient) -> None:
    chinese = submit(api, {"command": "./训练.sh", "max_runtime": "5m"})
    greek = submit(api, {"command": ["ΑΒΓ"], "max_runtime": "5m"})
    for job in (chinese, greek):
        assert re.match(NAME_PATTERN, job["name"]), job["name"]
    assert chinese["name"].startswith("sh-") and greek["name"].startswith("job-")
    ok = submit(api, OK)
    assert wait_state(api, ok["id"], {"succeeded", "failed"})["state"] == "succeeded"
    for job in (chinese, greek):  # scheduled and run: no such program, exit 127
        done = wait_state(api, job["id"], {"succeeded", "failed"})
        assert done["reason"] in ("exit_code", "launch_failed"), done
