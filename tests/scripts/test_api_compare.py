"""scripts/api_compare.py's normalizing and diffing, without a server: what differs from run to
run becomes a placeholder, what the API decides (key order, JSON types, values) stays."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
JOB, JOB2 = "job_01KAXYZ0123456789ABCDEFGHJ", "job_01KAXYZ0123456789ABCDEFGHK"
ORG = "org_01KAXYZ0123456789ABCDEFGHJ"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("api_compare", ROOT / "scripts/api_compare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["api_compare"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


api_compare = _script()


def test_ids_are_numbered_per_prefix_in_order_and_seeded_ones_first() -> None:
    normalize = api_compare.Normalizer()
    normalize.seed(JOB2)
    answer = {"id": JOB, "org_id": ORG, "parent": JOB2, "message": f"job {JOB} of {ORG}"}
    assert normalize.answer(answer) == {
        "id": "<job#2>",
        "org_id": "<org#1>",
        "parent": "<job#1>",
        "message": "job <job#2> of <org#1>",
    }
    assert normalize.answer({"again": JOB}) == {"again": "<job#2>"}  # across answers


def test_times_are_numbered_afresh_in_each_answer() -> None:
    normalize = api_compare.Normalizer()
    t1, t2 = "2026-11-26T01:48:22.123456Z", "2026-11-26T01:48:23+00:00"
    answer = {"created_at": t1, "updated_at": t1, "started_at": t2, "note": f"since {t2}"}
    assert normalize.answer(answer) == {
        "created_at": "<time#1>",
        "updated_at": "<time#1>",
        "started_at": "<time#2>",
        "note": "since <time#2>",
    }
    assert normalize.answer({"at": t2}) == {"at": "<time#1>"}


def test_volatile_numbers_keep_their_type_and_the_rest_their_value() -> None:
    normalize = api_compare.Normalizer(home="/tmp/run-x", server="127.0.0.1:5555")
    answer = {
        "duration_s": 1.25,
        "duration_us": 7,
        "peak_rss_mib": 52,
        "quantity": "0.0041533",
        "last_hash": "jT-IrG8EX4tQ",
        "cpu_milli": 1000,
        "score": 0.5,
        "exit_code": None,
        "ok": True,
        "url": "http://127.0.0.1:5555/api/v1/jobs",
        "path": "/tmp/run-x/home/runs/x",
        "secret": "aicc_" + "x" * 43,
    }
    assert normalize.answer(answer) == {
        "duration_s": "<float>",
        "duration_us": "<int>",
        "peak_rss_mib": "<int>",
        "quantity": "<decimal>",
        "last_hash": "<hash>",
        "cpu_milli": 1000,
        "score": 0.5,
        "exit_code": None,
        "ok": True,
        "url": "http://<server>/api/v1/jobs",
        "path": "<home>/home/runs/x",
        "secret": "<secret#1>",
    }
    assert list(normalize.answer(answer)) == list(answer)  # key order kept


def test_differences_see_key_order_types_and_lengths() -> None:
    differences = api_compare.differences
    assert list(differences({"a": 1, "b": [1, 2]}, {"a": 1, "b": [1, 2]})) == []
    assert list(differences({"a": 1, "b": 2}, {"b": 2, "a": 1})) == [
        '$ key order: ["a", "b"] -> ["b", "a"]'
    ]
    assert list(differences({"a": 1, "b": 2}, {"a": 1, "c": 2})) == ['$ keys: -["b"] +["c"]']
    assert list(differences({"a": 1}, {"a": 1.0})) == ["$.a: 1 -> 1.0"]
    assert list(differences({"a": None}, {"a": "x"})) == ['$.a: null -> "x"']
    assert list(differences([1, 2], [1])) == ["$: 2 items -> 1"]
    assert list(differences({"a": [{"x": 1}]}, {"a": [{"x": 2}]})) == ["$.a[0].x: 1 -> 2"]


def test_compare_names_the_first_difference_of_each_answer_and_what_only_one_has() -> None:
    old = {"GET /a": {"json": {"x": 1, "y": 1}}, "GET /b": {"json": 1}, "GET /gone": {}}
    new = {"GET /a": {"json": {"x": 2, "y": 2}}, "GET /b": {"json": 1}, "GET /added": {}}
    same, different = api_compare.compare(old, new)
    assert same == ["GET /b"]
    assert different == [
        "GET /a: $.json.x: 1 -> 2 (and 1 more)",
        "GET /gone: only in old",
        "GET /added: only in new",
    ]
