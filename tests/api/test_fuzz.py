"""The fuzzer (issue 16): schemathesis sends generated requests to every operation of
/openapi.json, as the admin and as a member of a second organization, to a real server on SQLite.
Every answer must not be a server error, and its status, content type, headers and body must be
the ones the operation documents; invalid input must be refused, and so must a request without
the token. Valid inputs (positive) and invalid ones (negative) both, with
a fixed seed and a bounded number of examples per operation; half of them aim at objects that
exist (a real job, project, voucher...), so the fuzzer gets past the 404s. The request count and
every failure, with the server's traceback, go to tests/artifacts/fuzz-<who>.json. A deeper run:
AICC_FUZZ_EXAMPLES=200 AICC_FUZZ_SEED=7 pytest tests/api/test_fuzz.py."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from aicc.testing.jobs import tar_gz
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SEED = int(os.environ.get("AICC_FUZZ_SEED", "16"))  # issue 16
# per operation and generation mode: ~4,000 requests as the admin and ~2,000 as the member (20
# sent ~4,500 for each caller and took 2 to 2.5 minutes each once issue 20's routes came)
EXAMPLES = int(os.environ.get("AICC_FUZZ_EXAMPLES", "12"))
# A member is refused most operations (403, 404) early: half as many examples reach as far.
# Each request is generated once and sent as both callers (as the member, the first half of
# each operation's): generating costs more than sending and checking the answer (py-spy: 58%
# of the fuzzer's samples in hypothesis's and schemathesis's generation, 28% in the server).
FOR_MEMBER = 0.5
CALLERS = ("admin", "member")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,  # invalid input is a 4xx, never accepted
    # a 2xx is asked again without the token and with a wrong one: 401 both times (these probes
    # are not in the request count)
    ignored_auth,
]
# Left out: only `follow=true` of a job's logs, which streams until the job ends, and the
# fuzzer's jobs never start (no control loops, so its random commands never run). Every other
# parameter of every operation is fuzzed, deletes and drains included.
PINNED = {"GET /api/v1/jobs/{job_id}/logs": {"follow": "false"}}


@dataclass
class Fuzzed:
    """The server under test and what exists in it, for path parameters that hit something."""

    url: str
    schema: schemathesis.BaseSchema
    tokens: dict[str, str]
    known: dict[str, str]
    errors: list[str] = field(default_factory=list)  # tracebacks the server logged


class _Tracebacks(logging.Handler):
    """The top line of each exception uvicorn logs (a 500), with the AICC frame that raised it."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            err = record.exc_info[1]
            frames = traceback.extract_tb(err.__traceback__)
            ours = [f for f in frames if "/aicc/" in f.filename] or frames
            where = f"{ours[-1].filename.split('/aicc/')[-1]}:{ours[-1].lineno}" if ours else "?"
            self.into.append(f"{type(err).__name__}: {str(err)[:200]} (aicc/{where})")


def _workdir() -> bytes:
    return tar_gz({"main.py": b"print('hello')\n"})


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    home = tmp_path_factory.mktemp("fuzz") / "home"
    with over_http(home, loops=False) as (url, admin_token, _state):
        admin = httpx.Client(
            timeout=60, base_url=url, headers={"Authorization": f"Bearer {admin_token}"}
        )
        member = make_tenant(admin, "fuzz-b")  # type: ignore[arg-type]
        as_member = httpx.Client(timeout=60, base_url=url, headers=member.headers)
        spare = _created(
            admin.post("/api/v1/tokens", json={"name": "spare", "user_id": member.user_id})
        )
        job = _created(as_member.post("/api/v1/jobs", json={"command": "true"}))
        voucher = _created(
            admin.post(
                "/api/v1/vouchers",
                json={"org_id": member.org_id, "name": "fuzz", "amount": "100"},
            )
        )
        budget = _created(
            admin.put(f"/api/v1/projects/{member.project_id}/budget", json={"limit": "500.00"})
        )
        _created(as_member.put("/api/v1/secrets/fuzz", json={"value": "s3cret"}))
        archive = _workdir()
        workdir = _created(
            as_member.post(
                "/api/v1/workdirs",
                content=archive,
                headers={
                    "Content-Type": "application/gzip",
                    "X-Content-SHA256": hashlib.sha256(archive).hexdigest(),
                },
            )
        )
        node = admin.get("/api/v1/nodes").json()["items"][0]["name"]
        known = {
            "org_id": member.org_id,
            "project_id": member.project_id,
            "user_id": member.user_id,
            "token_id": spare["id"],
            "job_id": job["id"],
            "voucher_id": voucher["id"],
            "budget_id": budget["id"],
            "sha256": workdir["sha256"],
            "/api/v1/nodes/{name}": node,
            "/api/v1/secrets/{name}": "fuzz",
        }
        config = schemathesis.Config.from_dict(
            {"generation": {"with-security-parameters": False}}  # we send the real tokens
        )
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)
        errors: list[str] = []
        handler = _Tracebacks(errors)
        logging.getLogger("uvicorn.error").addHandler(handler)
        try:
            yield Fuzzed(
                url,
                schema,
                {
                    "admin": admin_token,
                    "member": member.headers["Authorization"].split()[1],
                },
                known,
                errors,
            )
        finally:
            logging.getLogger("uvicorn.error").removeHandler(handler)
            admin.close()
            as_member.close()


def _path_values(path: str, known: dict[str, str]) -> dict[str, str]:
    """Existing objects for this path's parameters (`name` is a node's or a secret's)."""
    values = {}
    for name in re.findall(r"{(\w+)}", path):
        value = known.get(name) or known.get(path.split("}")[0] + "}")
        if value is not None:
            values[name] = value
    return values


def _failure(label: str, mode: str, err: BaseException, tracebacks: list[str]) -> dict[str, Any]:
    failures = err.exceptions if isinstance(err, FailureGroup) else (err,)
    text = str(err)
    curl = re.search(r"Reproduce with:\s*\n\s*(curl .*)", text)
    return {
        "operation": label,
        "mode": mode,
        "checks": sorted({getattr(f, "title", type(f).__name__) for f in failures}),
        "detail": [str(f).strip().splitlines()[:6] for f in failures],
        "request": curl.group(1)[:2000] if curl else None,
        "server": sorted(set(tracebacks)),
    }


@dataclass
class Caller:
    """One caller's session, token and tally over the whole walk."""

    who: str
    auth: dict[str, str]
    examples: int  # per operation and generation mode
    http: requests.Session = field(default_factory=requests.Session)
    sent: int = 0
    server_errors: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    def send(self, case: Case) -> None:
        response = case.call(session=self.http, headers=self.auth, timeout=30)
        self.sent += 1
        self.server_errors += response.status_code >= 500
        case.validate_response(response, checks=CHECKS, headers=self.auth)


def test_every_operation_answers_as_documented(fuzzed: Fuzzed) -> None:
    """No server error, and only documented statuses, media types, headers and bodies, as the
    admin and as the member."""
    callers = [
        Caller(
            who,
            {"Authorization": f"Bearer {fuzzed.tokens[who]}"},
            max(1, int(EXAMPLES * (FOR_MEMBER if who == "member" else 1))),
        )
        for who in CALLERS
    ]
    started = time.monotonic()
    for result in fuzzed.schema.get_all_operations():
        operation = result.ok()
        existing = _path_values(operation.path, fuzzed.known)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            pinned = PINNED.get(operation.label)
            cases = operation.as_strategy(mode, query=pinned)
            if existing:
                hits = operation.as_strategy(mode, query=pinned, path_parameters=existing)
                cases = st.one_of(cases, hits)
            drawn, failing, who = 0, False, ""

            @seed(SEED)
            @settings(
                max_examples=max(caller.examples for caller in callers),
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
            )
            @given(case=cases)
            def fuzz(case: Case) -> None:
                nonlocal drawn, failing, who
                drawn += 1
                for caller in callers:
                    if drawn > caller.examples and not failing:
                        continue
                    who = caller.who
                    try:
                        caller.send(case)
                    except (AssertionError, FailureGroup):
                        # from here on (shrinking) every caller gets every example
                        failing = True
                        raise

            del fuzzed.errors[:]
            try:
                fuzz()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label
                # nothing in this operation can be made invalid (no parameters, no body)
            except (AssertionError, FailureGroup) as err:
                deadline = time.monotonic() + 2  # uvicorn logs a 500 just after answering it
                while (
                    "Server error" in str(err) and not fuzzed.errors and time.monotonic() < deadline
                ):
                    time.sleep(0.05)
                failed = next(caller for caller in callers if caller.who == who)
                failed.failures.append(_failure(operation.label, mode.value, err, fuzzed.errors))
    elapsed = time.monotonic() - started
    ARTIFACTS.mkdir(exist_ok=True)
    for caller in callers:
        report = {
            "who": caller.who,
            "requests": caller.sent,
            "server_errors": caller.server_errors,
            "seconds": round(elapsed, 1),  # both callers'
            "failures": caller.failures,
        }
        path = ARTIFACTS / f"fuzz-{caller.who}.json"
        path.write_text(json.dumps(report, indent=1, ensure_ascii=False))
        print(
            f"fuzzer as {caller.who}: {caller.sent} requests, {caller.server_errors} server "
            f"errors, {len(caller.failures)} failures"
        )
    print(f"fuzzer: {elapsed:.0f} s for both callers")
    failures = {caller.who: caller.failures for caller in callers if caller.failures}
    assert not failures, json.dumps(failures, indent=1, ensure_ascii=False)


# What the fuzzer found and was fixed here, pinned by fast tests of their own. What the OpenAPI
# document and a response's media type say runs on SQLite alone: no query differs.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_every_error_status_is_documented_as_json(api: TestClient) -> None:
    """A client reads `{"detail"}` from any 4xx of any route, the plain-text ones included."""
    spec = api.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            for status in ("401", "403", "404", "409", "413", "422", "429"):
                answer = operation["responses"].get(status)
                assert answer is not None, f"{method.upper()} {path}: {status} undocumented"
                assert list(answer["content"]) == ["application/json"], (
                    method,
                    path,
                    status,
                )
    missing = api.get("/api/v1/jobs/job_nope/logs")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
    assert isinstance(missing.json()["detail"], str)
    conflict = api.post("/api/v1/orgs", json={"name": "twice"})
    assert api.post("/api/v1/orgs", json={"name": "twice"}).status_code == 409, conflict.text


@sqlite_only
def test_a_bill_export_is_documented_as_the_csv_it_is(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    documented = spec["paths"]["/api/v1/bills/export"]["get"]["responses"]["200"]["content"]
    assert list(documented) == ["text/csv"]
    assert api.get("/api/v1/bills/export").headers["content-type"].startswith("text/csv")


@sqlite_only
def test_a_workdir_probe_is_documented_without_a_body(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    assert "content" not in spec["paths"]["/api/v1/workdirs/{sha256}"]["head"]["responses"]["200"]


def test_a_utilization_day_out_of_range_is_a_422_naming_it(api: TestClient) -> None:
    for day in ("0001-01-01", "9999-12-31"):
        answer = api.get("/api/v1/kpis/utilization", params={"day": day, "days": 92})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["query", "day"]
    assert api.get("/api/v1/kpis/utilization", params={"day": "2026-01-01"}).status_code == 200
