"""The OpenAPI document is a contract a generated client is built from: every operation says what
it answers (a typed schema, not "an object"), and its id is a readable, unique `<noun>_<verb>`
that becomes the client's function and module name (`jobs_submit.py`, not
`list_orgs_api_v1_orgs_get.py`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aicc.api.state import AppState

READABLE = re.compile(r"^[a-z]+(_[a-z]+)+$")
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete", "head")
    ]


def _untyped(schema: dict[str, Any]) -> bool:
    """`{}`, or an object with no properties whose values may be anything: a client learns
    nothing from it."""
    if not schema:
        return True
    if schema.get("type") != "object" or schema.get("properties"):
        return False
    extra = schema.get("additionalProperties", True)
    return extra is True or extra == {}


@sqlite_only
def test_every_operation_answers_a_typed_schema(server: tuple[TestClient, AppState]) -> None:
    api, _ = server
    checked = 0
    for method, path, op in _operations(api.get("/openapi.json").json()):
        answers = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        assert answers, f"{method} {path}: no 2xx answer documented"
        for status, answer in answers.items():
            if status == "204" or method == "HEAD":
                assert "content" not in answer, f"{method} {path}: {status} has no body"
                continue
            for media, content in answer["content"].items():
                schema = content.get("schema", {})
                assert not _untyped(schema), f"{method} {path} {status} {media}: {schema}"
            checked += 1
    assert checked >= 58  # the answers with a body of every route, the books' and KPIs' included


@sqlite_only
def test_operation_ids_are_readable_and_unique(server: tuple[TestClient, AppState]) -> None:
    api, _ = server
    ids = [op["operationId"] for _, _, op in _operations(api.get("/openapi.json").json())]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for op_id in ids:
        assert READABLE.match(op_id), op_id
    assert {"jobs_submit", "jobs_list", "jobs_show", "jobs_cancel", "orgs_list"} <= set(ids)


@sqlite_only
def test_each_schema_has_a_name_of_its_own(server: tuple[TestClient, AppState]) -> None:
    """Two bodies of one name get their modules' paths as names (`aicc__api__...`), which
    client generators cannot resolve: a new body needs a name no other has."""
    api, _ = server
    names = api.get("/openapi.json").json()["components"]["schemas"]
    assert not [name for name in names if "__" in name]


def _generator() -> list[str] | None:
    """openapi-python-client, where installed: on PATH, or named by $OPENAPI_PYTHON_CLIENT."""
    found = os.environ.get("OPENAPI_PYTHON_CLIENT") or shutil.which("openapi-python-client")
    return [found] if found else None


@sqlite_only
def test_a_generated_client_names_its_functions_after_the_operations(
    server: tuple[TestClient, AppState], tmp_path: Path
) -> None:
    """`openapi-python-client generate` over /openapi.json: one module per operation, named by
    its id and grouped by tag, e.g. `api/jobs/jobs_submit.py`."""
    command = _generator()
    if command is None:
        pytest.skip("openapi-python-client is not installed (pip install openapi-python-client)")
    api, _ = server
    (tmp_path / "openapi.json").write_text(api.get("/openapi.json").text)
    # The generator reads binary answers as application/octet-stream only.
    (tmp_path / "config.yaml").write_text(
        "content_type_overrides:\n"
        "  application/gzip: application/octet-stream\n"
        "  application/pdf: application/octet-stream\n"
    )
    ruff = str(Path(sys.executable).parent)  # the generator formats its output with ruff
    args = ["generate", "--path", "openapi.json", "--meta", "none", "--config", "config.yaml"]
    done = subprocess.run(
        [*command, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": ruff + os.pathsep + os.environ.get("PATH", "")},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr, done.stdout + done.stderr
    package = tmp_path / "aicc_client"  # from the document's title
    modules = {p.relative_to(package / "api").as_posix() for p in package.glob("api/*/*.py")}
    for expected in (
        "jobs/jobs_submit.py",
        "jobs/jobs_list.py",
        "jobs/jobs_cancel.py",
        "tenancy/orgs_list.py",
        "nodes/nodes_drain.py",
    ):
        assert expected in modules, sorted(modules)
    assert not [m for m in modules if "_api_v1_" in m], sorted(modules)
    # A typed answer: the client parses a submit into its `Job` model, a failure into `Error`.
    submit = (package / "api/jobs/jobs_submit.py").read_text()
    assert re.search(r"def sync\([^)]*\) -> Error \| Job \| None:", submit, re.S), submit
