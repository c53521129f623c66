"""Data's lookups for the contexts above it (`services/data/lookups.py`): versions by id or
reference as read models, manifests, and the latest sizes, each in one query, so that no other
context names a data set's row (issue 59)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from aicc.api.state import AppState
from aicc.core.tenancy import Principal, Role
from aicc.services.common import NotFound
from aicc.services.data import datasets, lookups, uploads
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.tenancy import UserRow


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_versions_manifests_and_sizes_come_out_as_read_models(
    server: tuple[TestClient, AppState],
) -> None:
    _, state = server
    with state.db.session() as session:
        user = session.scalars(select(UserRow).where(UserRow.role == Role.ADMIN.value)).first()
        assert user is not None
        who: Principal = principal_of(session, user)
        datasets.create_if_missing(session, who, "records", None)
        datasets.update(session, who, "records", project=None, changes={"region": "CN-GD"})
        first = uploads.ingest(session, who, state.chunks, "records", None, [("a.csv", b"x\n1\n")])
        second = uploads.ingest(
            session, who, state.chunks, "records", None, [("b.csv", b"y\n22\n")], lineage={"k": 1}
        )
        datasets.create_if_missing(session, who, "empty", None)  # no version: no size
    with state.db.reader() as session:
        ref, version = lookups.find(session, who, "records")
        by_id = lookups.versions(session, [version.id, "dsv_gone", ""])
        numbered = lookups.numbered_manifest(session, ref.id, first.version.number)
        sizes = lookups.latest_bytes(session, datasets.DATA)
        listed = {
            name: region for _, name, _, region in session.execute(lookups.of_kind("dataset"))
        }
        assert lookups.manifest(session, "dsv_gone") is None
        assert lookups.numbered_manifest(session, ref.id, 99) is None
        latest = lookups.numbered(session, ref.id)
        oldest = lookups.numbered(session, ref.id, first.version.number)
        assert lookups.numbered(session, ref.id, 99) is None
        empty = datasets.list_datasets(session, who)
        assert [lookups.numbered(session, d.id) for d in empty if d.name == "empty"] == [None]
        with pytest.raises(NotFound):
            lookups.find(session, who, "records@99")
    assert (ref.name, version.number, version.lineage) == (
        "records",
        second.version.number,
        {"k": 1},
    )
    assert [f.path for f in version.manifest.files] == ["b.csv"]
    assert list(by_id) == [version.id]  # one gone, one empty: absent
    seen = by_id[version.id]
    assert (seen.name, seen.number, seen.region, seen.dataset_id) == (
        "records",
        second.version.number,
        "CN-GD",
        ref.id,
    )
    assert numbered is not None and [f.path for f in numbered[1].files] == ["a.csv"]
    assert latest == seen  # the latest when no number is given
    assert oldest is not None and (oldest.id, oldest.number) == (numbered[0], first.version.number)
    assert sizes == {ref.id: 5}  # the latest version's bytes; the empty set is absent
    assert listed == {"records": "CN-GD", "empty": None}
