"""The books in /openapi.json: every billing and KPI operation has a readable id and a typed
answer, so a generated client gets `vouchers_create` returning a `Voucher`, not a bare object."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

# What /openapi.json says is the same on either database: SQLite alone.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

BOOKS = {"billing", "utilization"}
READABLE = re.compile(r"^[a-z]+(_[a-z]+)+$")


def _operations(api: TestClient) -> list[tuple[str, str, dict]]:
    spec = api.get("/openapi.json").json()
    return [
        (path, method, op)
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
        if BOOKS & set(op.get("tags", []))
    ]


@sqlite_only
def test_book_operations_have_readable_ids_and_typed_answers(api: TestClient) -> None:
    operations = _operations(api)
    assert len(operations) == 21  # 18 billing routes, 3 KPIs (/metrics is not in the schema)
    ids = [op["operationId"] for _, _, op in operations]
    assert all(READABLE.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    assert {"vouchers_create", "invoices_list", "price_plans_effective", "bills_show"} <= set(ids)
    for path, method, op in operations:
        (status, answer) = next((s, a) for s, a in op["responses"].items() if s.startswith("2"))
        if status == "204":
            continue
        content = answer["content"]
        if "text/csv" in content:
            continue
        schema = content["application/json"]["schema"]
        assert "$ref" in schema, (method, path, schema)  # a named model, not {} or an object


@sqlite_only
def test_a_voucher_answer_is_documented_field_by_field(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    voucher = spec["components"]["schemas"]["Voucher"]
    assert {"id", "amount", "remaining", "valid_from"} <= set(voucher["properties"])
    page = spec["paths"]["/api/v1/vouchers"]["get"]["responses"]["200"]
    assert page["content"]["application/json"]["schema"]["$ref"].endswith("/Vouchers")
