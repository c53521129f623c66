"""`uploads.ingest`: whole files chunked on the server become the next version of a data set, as a
browser upload or a job's outputs do; their chunks count as the project's, stored once
(SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import os
from datetime import timedelta
from typing import BinaryIO

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from aicc.api.state import AppState
from aicc.core.datasets import Chunk, FileEntry, Manifest, digest, frame
from aicc.core.tenancy import Principal, Role
from aicc.services.common import Invalid, NotFound, TooLarge, utcnow
from aicc.services.data import datasets, storage, uploads
from aicc.services.tenancy import tenancy
from aicc.store.tables.tenancy import ProjectRow


def _person(session: Session, org: str) -> Principal:
    made = tenancy.create_org(session, None, name=org)
    user = tenancy.create_user(
        session, None, name=f"{org}-admin", role=Role.ORG_ADMIN, org_id=made.id
    )
    return tenancy.principal_of(session, user)


def _read(api: TestClient, project_id: str, manifest: Manifest, path: str) -> bytes:
    """A file of a version as a client pulls it: chunk by chunk, through the API."""
    entry = manifest.find(path)
    assert entry is not None
    parts = []
    for c in entry.chunks:
        got = api.get(f"/api/v1/datasets/photos/chunks/{c.digest}", params={"project": project_id})
        assert got.status_code == 200, got.text
        parts.append(got.content)
    return b"".join(parts)


def test_ingest_makes_versions_from_whole_files(server: tuple[TestClient, AppState]) -> None:
    api, state = server
    big = os.urandom(10 * 1024 * 1024)  # more than one batch of chunks received
    with state.db.session() as session:
        who = _person(session, "acme")
        datasets.create(session, who, project=None, name="photos")
        files: list[tuple[str, bytes | BinaryIO]] = [
            ("cats/a.bin", big),
            ("labels.csv", io.BytesIO(b"path,label\na,cat\n")),
        ]
        first = uploads.ingest(session, who, state.chunks, "photos", None, files, "first")
        assert (first.created, first.version.number, first.version.file_count) == (True, 1, 2)
        assert first.version.message == "first"
        assert first.version.added_bytes == len(big) + 17

    with state.db.reader() as session:
        version, manifest = datasets.open_version(session, who, "photos@1")
        assert version.ref == "photos@1"
        assert len(manifest.find("cats/a.bin").chunks) > 1  # type: ignore[union-attr]
        digests = list(manifest.chunk_sizes())
        project = datasets.get(session, who, "photos").project_id
        assert uploads.held(session, project, None, digests) == set(digests)
    assert _read(api, project, manifest, "cats/a.bin") == big  # the bytes come back whole

    with state.db.session() as session:
        # The same files again: nothing new is made.
        again = uploads.ingest(session, who, state.chunks, "photos", None, files[:1], keep=True)
        assert (again.created, again.version.number) == (False, 1)
        # One more file, keeping the others: only its bytes are added.
        more = uploads.ingest(
            session, who, state.chunks, "photos", None, [("dogs/b.bin", big[:1000])], keep=True
        )
        assert (more.version.number, more.version.file_count, more.version.added_bytes) == (
            2,
            3,
            1000,
        )
        # Without keep the version is exactly the files given.
        only = uploads.ingest(
            session, who, state.chunks, "photos", None, [("labels.csv", b"path,label\n")]
        )
        assert (only.version.number, only.version.file_count) == (3, 1)


def test_ingest_refuses_bad_paths_and_other_tenants_sets(
    server: tuple[TestClient, AppState],
) -> None:
    _, state = server
    with state.db.session() as session:
        alice = _person(session, "alice-org")
        bob = _person(session, "bob-org")
        datasets.create(session, alice, project=None, name="private-set")
        for files, problem in (
            ([("../escape.txt", b"x")], "a relative path inside the data set"),
            ([("a.txt", b"x"), ("a.txt", b"y")], "appears twice"),
            ([("a", b"x"), ("a/b", b"y")], "both a file and a directory"),
            ([], "choose at least one file"),
        ):
            with pytest.raises(Invalid, match=problem) as refused, session.begin_nested():
                uploads.ingest(session, alice, state.chunks, "private-set", None, files)
            assert refused.value.status == 422
        with pytest.raises(NotFound):
            uploads.ingest(session, bob, state.chunks, "private-set", None, [("a.txt", b"x")])
    with state.db.reader() as session:
        assert datasets.get(session, alice, "private-set").latest is None


def test_a_file_of_zeros_is_one_chunk_repeated_allowed_and_counted_at_its_size(
    server: tuple[TestClient, AppState],
) -> None:
    _, state = server
    zeros = bytes(5 * 1024 * 1024)
    with state.db.session() as session:
        who = _person(session, "zeros-org")
        made = datasets.create(session, who, project=None, name="zeros")
        project = session.get_one(ProjectRow, made.project_id)
        project.quota = {
            "max": {"storage_gib": 4 / 1024}
        }  # 4 MiB: more than stored, less than listed
        with (
            pytest.raises(TooLarge, match=r"would list 0\.005 GiB") as refused,
            session.begin_nested(),
        ):
            uploads.ingest(session, who, state.chunks, "zeros", None, [("z.bin", zeros)])
        assert refused.value.status == 413
        project.quota = {"max": {"storage_gib": 6 / 1024}}
        done = uploads.ingest(session, who, state.chunks, "zeros", None, [("z.bin", zeros)])
        assert done.version.logical_bytes == len(zeros) and done.version.added_bytes == 1024 * 1024


def test_a_version_repeats_one_chunk_at_most_max_repeats_times() -> None:
    piece = Chunk("ab" * 32, 1)
    fine = Manifest.of([FileEntry("a", uploads.MAX_REPEATS, (piece,) * uploads.MAX_REPEATS)])
    uploads.check_repeats(fine)
    over = Manifest.of(
        [fine.files[0], FileEntry("b", 1, (piece,))]  # counted across files
    )
    with pytest.raises(Invalid, match=f"listed {uploads.MAX_REPEATS + 1} times") as refused:
        uploads.check_repeats(over)
    assert "split the repeated file" in str(refused.value)


def test_an_upload_left_uncommitted_is_swept_after_hours_not_days(
    server: tuple[TestClient, AppState],
) -> None:
    _, state = server
    with state.db.session() as session:
        who = _person(session, "sweep-org")
        made = datasets.create(session, who, project=None, name="left")
        plan = uploads.begin(session, who, project=None, name="left", digests=[digest(b"x")])
        batch = b"".join(frame([(digest(b"x"), b"x")]))
        uploads.receive(session, who, state.chunks, plan.upload_id, batch)
        assert storage.pending_bytes(session, made.project_id) == 1
    now = utcnow()
    with state.db.session() as session:
        assert uploads.collect(session, now=now + timedelta(hours=5)) == []
    with state.db.session() as session:
        assert len(uploads.collect(session, now=now + timedelta(hours=7))) == 1
        assert storage.pending_bytes(session, made.project_id) == 0
    with state.db.session() as session:  # an operator's longer expiry keeps it
        again = uploads.begin(session, who, project=None, name="left", digests=[digest(b"x")])
        uploads.receive(session, who, state.chunks, again.upload_id, batch)
    with state.db.session() as session:
        kept = uploads.collect(session, now=now + timedelta(hours=7), stale=timedelta(days=1))
        assert kept == [] and storage.pending_bytes(session, made.project_id) == 1
