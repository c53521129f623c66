"""One reference parser: a data set's or model's `{name}`, `{number}` and `?project=` are read by
`services/data/datasets.py` `reference`, on core's `parse_ref`, for the API and the portal alike
(the shadow `ref()` of `routers/datasets.py` is gone). The forms a route can send, and what the
shadow got wrong: a `?project=` with an empty part (`/ml`, `acme/`) looked in the caller's own
project, or answered 404 on some routes and 422 on others."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from aicc.core.datasets import Ref
from aicc.services.common import Invalid
from aicc.services.data.datasets import reference
from aicc.testing.datasets import push

WRITE = "write NAME, NAME@VERSION or ORG/PROJECT/NAME@VERSION"
FROM_1 = "the version after '@' is a whole number from 1"


@pytest.mark.parametrize(
    ("name", "project", "version", "expected"),
    [
        ("sales", None, None, (Ref("sales"), None)),
        ("sales", "ml", "latest", (Ref("sales"), "ml")),
        ("sales", "prj_123", "3", (Ref("sales", 3), "prj_123")),
        ("sales", "acme/ml", None, (Ref("sales", None, org="acme", project="ml"), None)),
        ("sales", "acme/ml", "7", (Ref("sales", 7, org="acme", project="ml"), None)),
        ("sales", "acme/ml/x", "2", (Ref("sales", 2), "acme/ml/x")),  # a project name: 404 later
    ],
)
def test_the_forms_a_route_names(
    name: str, project: str | None, version: str | None, expected: tuple[Ref, str | None]
) -> None:
    assert reference(name, project=project, version=version) == expected


@pytest.mark.parametrize(
    ("name", "project", "version", "detail"),
    [
        ("sales", None, "0", f"'sales@0': {FROM_1}"),
        ("sales", None, "\u00b2", f"'sales@\u00b2': {FROM_1}"),  # a digit to isdigit(), not int()
        ("sales", "acme/ml", "0", f"'acme/ml/sales@0': {FROM_1}"),  # was the latest version
        ("sales", "/ml", None, f"'/ml/sales': {WRITE}"),  # was the caller's own project
        ("sales", "acme/", "3", f"'acme//sales@3': {WRITE}"),
        ("sales", "/", None, f"'//sales': {WRITE}"),
        ("Sales", None, None, "data set name 'Sales': lower-case letters"),
        ("Sales", "acme/ml", None, "data set name 'Sales': lower-case letters"),
    ],
)
def test_a_malformed_reference_is_a_422_saying_what_to_write(
    name: str, project: str | None, version: str | None, detail: str
) -> None:
    with pytest.raises(Invalid) as refused:
        reference(name, project=project, version=version)
    assert refused.value.status == 422 and refused.value.detail.startswith(detail)


def test_a_project_with_an_empty_part_is_refused_on_every_route(api: TestClient) -> None:
    push(api, "sales", {"a.csv": b"x,y\n1,2\n"})
    qualified = api.get("/api/v1/datasets/sales").json()["project"]  # ORG/PROJECT
    for project in (qualified, f" {qualified}"):  # core's parser strips the reference
        for path in ("", "/versions", "/versions/1", "/versions/latest/manifest"):
            got = api.get(f"/api/v1/datasets/sales{path}", params={"project": project})
            assert got.status_code == 200, (project, path, got.text)
    org = qualified.split("/")[0]
    for project in ("/" + qualified.split("/")[1], f"{org}/", "/"):
        for path in ("", "/versions", "/versions/1", "/versions/latest/manifest"):
            got = api.get(f"/api/v1/datasets/sales{path}", params={"project": project})
            assert got.status_code == 422, (project, path, got.text)
            assert WRITE in got.json()["detail"]
