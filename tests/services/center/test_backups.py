"""Backups as an operator meets them: a flipped byte is refused naming its member before anything
is written, an archive from a newer schema is refused and an older one upgraded, a home in use
is left alone unless forced, a pack lost from the store fails the backup by name, data pushed
while the backup runs is whole or absent in it, packs in object storage are copied, and a
server restored on the same machine leaves the original's running jobs alone."""

from __future__ import annotations

import io
import json
import os
import tarfile
import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from aicc.config import Settings
from aicc.sdk.client import Client
from aicc.services.center import backups
from aicc.services.common import Conflict, Invalid
from aicc.services.tenancy import tenancy
from aicc.store import dumps
from aicc.store.db import MIGRATIONS, open_database
from aicc.store.sealing import Sealer
from aicc.testing.jobs import submit, wait_state
from aicc.testing.postgres import PostgresServer
from aicc.testing.s3 import S3Server
from aicc.testing.servers import in_process, over_http


def small_center(home: Path) -> Settings:
    """A home with a database at the newest schema, its first organization and a sealing key."""
    db = open_database(None, home)
    Sealer.from_file(home / "secret.key")
    with db.session() as session:
        tenancy.bootstrap(session)
    db.dispose()
    return Settings(home=home)


def revision_of(home: Path) -> str:
    engine = create_engine(f"sqlite:///{home / 'aicc.db'}")
    with engine.connect() as conn:
        found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    return str(found)


def rewrite_manifest(archive: Path, **changes: object) -> None:
    """The archive as an older or newer AICC would have written it: same members, another
    manifest."""
    out = io.BytesIO()
    with tarfile.open(archive) as old, tarfile.open(fileobj=out, mode="w") as new:
        for member in old:
            data = old.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json":
                manifest = json.loads(data)
                manifest["database"].update(changes)
                data = json.dumps(manifest).encode()
                member.size = len(data)
            new.addfile(member, io.BytesIO(data))
    archive.write_bytes(out.getvalue())


def test_a_flipped_byte_is_refused_naming_its_member_and_nothing_is_restored(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "center.tar"
    backups.backup(small_center(tmp_path / "home"), archive)
    with tarfile.open(archive) as tar:
        offset = tar.getmember("database/aicc.db").offset_data
    raw = bytearray(archive.read_bytes())
    raw[offset + 200] ^= 0x01
    archive.write_bytes(bytes(raw))

    target = tmp_path / "restored"
    with pytest.raises(Invalid) as refused:
        backups.restore(Settings(home=target), archive)
    assert "member database/aicc.db is corrupt" in refused.value.detail
    assert "nothing was restored" in refused.value.detail
    assert not target.exists()


def test_an_archive_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "center.tar"
    backups.backup(small_center(tmp_path / "home"), archive)
    rewrite_manifest(archive, revision="9999")
    target = tmp_path / "restored"
    with pytest.raises(Invalid) as refused:
        backups.restore(Settings(home=target), archive)
    assert "schema revision 9999, newer than this AICC" in refused.value.detail
    assert not target.exists()


def test_an_archive_from_an_older_schema_is_upgraded_after_the_restore(tmp_path: Path) -> None:
    old_home, archive = tmp_path / "old", tmp_path / "center.tar"
    old_home.mkdir()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{old_home / 'aicc.db'}")
    older = dumps.revisions()[-2]
    command.upgrade(config, older)  # the database as the previous release left it
    taken = backups.backup(Settings(home=old_home), archive)
    assert taken.revision == older

    target = tmp_path / "restored"
    restored = backups.restore(Settings(home=target), archive)
    head = dumps.revisions()[-1]
    assert (restored.revision, restored.migrated_to) == (older, head)
    assert revision_of(target) == head


def test_a_home_in_use_is_left_alone_unless_forced(tmp_path: Path) -> None:
    archive = tmp_path / "center.tar"
    backups.backup(small_center(tmp_path / "home"), archive)
    other = small_center(tmp_path / "other")  # another center lives there
    (other.home / "blobs" / "marker").parent.mkdir(parents=True, exist_ok=True)
    (other.home / "blobs" / "marker").write_text("theirs")
    with pytest.raises(Conflict) as refused:
        backups.restore(other, archive)
    assert "is not empty (aicc.db" in refused.value.detail and "--force" in refused.value.detail
    assert (other.home / "blobs" / "marker").exists()

    restored = backups.restore(other, archive, force=True)
    assert restored.counts["users"] == 1
    assert not (other.home / "blobs" / "marker").exists()
    assert (other.home / "secret.key").read_bytes() == (tmp_path / "home/secret.key").read_bytes()


def test_a_pack_the_database_names_but_the_store_lost_fails_the_backup(tmp_path: Path) -> None:
    home, archive = tmp_path / "home", tmp_path / "center.tar"
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.txt").write_text("rows\n")
    with over_http(home, loops=False) as (url, token, state), Client(url, token) as sdk:
        sdk.datasets.push("corpus", tmp_path / "files")
        packs = [p for p in (home / "data" / "chunks").rglob("*") if p.is_file()]
        assert len(packs) == 1
        packs[0].unlink()  # the janitor collected it, or a disk lost it
        with pytest.raises(backups.BackupFailed) as failed:
            backups.backup(state.settings, archive)
    assert f"data set pack {packs[0].name} is in the database but not" in failed.value.detail
    assert not archive.exists()  # no half-written archive left behind


def test_versions_pushed_during_the_backup_are_whole_or_absent_in_it(tmp_path: Path) -> None:
    home, archive, files = tmp_path / "home", tmp_path / "center.tar", tmp_path / "files"
    files.mkdir()
    stop, pushed = threading.Event(), []
    with over_http(home, loops=False) as (url, token, state):

        def keep_pushing() -> None:
            with Client(url, token) as sdk:
                while not stop.is_set() and len(pushed) < 200:
                    (files / f"part-{len(pushed)}.bin").write_bytes(bytes([len(pushed)]) * 70_000)
                    pushed.append(sdk.datasets.push("live", files).version.number)

        writer = threading.Thread(target=keep_pushing)
        writer.start()
        try:
            while len(pushed) < 3:
                threading.Event().wait(0.05)
            taken = backups.backup(state.settings, archive)
        finally:
            stop.set()
            writer.join()
    assert 1 <= taken.counts["versions"] <= len(pushed)

    target = tmp_path / "restored"
    backups.restore(Settings(home=target), archive)
    with over_http(target, loops=False) as (url, token, _), Client(url, token) as sdk:
        versions = sdk.datasets.versions("live")
        assert len(versions) == taken.counts["versions"]
        for version in versions:  # every file of every version in the archive, byte for byte
            where = tmp_path / f"pulled-{version.number}"
            sdk.datasets.pull(f"live@{version.number}", where)
            got = {p.name: p.read_bytes() for p in where.iterdir()}
            assert len(got) == version.number
            assert all(data == bytes([int(name[5:-4])]) * 70_000 for name, data in got.items())


def test_packs_in_object_storage_are_copied_into_the_archive(tmp_path: Path, s3: S3Server) -> None:
    home, archive, files = tmp_path / "home", tmp_path / "center.tar", tmp_path / "files"
    files.mkdir()
    (files / "a.bin").write_bytes(b"in the bucket" * 5000)
    data = {"backend": "s3", "s3": s3.settings(prefix=f"backup-{tmp_path.name}")}
    with over_http(home, loops=False, data=data) as (url, token, state):
        with Client(url, token) as sdk:
            sdk.datasets.push("corpus", files)
        taken = backups.backup(state.settings, archive)
    assert taken.counts["packs"] == 1
    with tarfile.open(archive) as tar:
        assert [m.name for m in tar if m.name.startswith("chunks/")] != []

    target = tmp_path / "restored"  # restored onto local disk: the bucket is not needed
    backups.restore(Settings(home=target), archive)
    with over_http(target, loops=False) as (url, token, _), Client(url, token) as sdk:
        sdk.datasets.pull("corpus@1", tmp_path / "pulled")
    assert (tmp_path / "pulled" / "a.bin").read_bytes() == (files / "a.bin").read_bytes()


def test_a_job_running_during_the_backup_is_not_taken_over_by_a_restore_on_this_machine(
    tmp_path: Path,
) -> None:
    """The restored server must not mistake the original's live supervisor for its own replica
    (and stop it): it finds the replica lost and fails the job (no retries left)."""
    home, archive = tmp_path / "home", tmp_path / "center.tar"
    with in_process(home, limits={"grace_s": 1.0}) as (api, state):
        job = submit(api, {"command": "echo started; sleep 120", "max_runtime": "5m"})  # type: ignore[arg-type]
        wait_state(api, job["id"], {"running"})  # type: ignore[arg-type]
        backups.backup(state.settings, archive)

        target = tmp_path / "restored"
        backups.restore(Settings(home=target), archive)
        with in_process(target, limits={"grace_s": 1.0}) as (restored, _):
            ended = wait_state(restored, job["id"], {"failed", "succeeded"}, timeout=30)  # type: ignore[arg-type]
            assert ended["state"] == "failed" and ended["reason"] == "supervisor_lost", ended
        assert api.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "running"


def test_postgresql_a_database_with_tables_is_kept_unless_forced(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    source, target = (postgres.create_database(f"bk{n}_{os.getpid()}") for n in ("a", "b"))
    archive = tmp_path / "center.tar"
    origin = open_database(source, tmp_path / "home")
    with origin.session() as session:
        tenancy.bootstrap(session)
        tenancy.create_org(session, None, name="acme")
    origin.dispose()
    taken = backups.backup(Settings(home=tmp_path / "home", db=source), archive)
    assert taken.counts["organizations"] == 2

    open_database(target, tmp_path / "other").dispose()  # another center's schema is there
    into = Settings(home=tmp_path / "restored", db=target)
    with pytest.raises(Conflict) as refused:
        backups.restore(into, archive)
    assert "its database has tables" in refused.value.detail
    assert backups.restore(into, archive, force=True).counts == taken.counts

    sqlite_archive = tmp_path / "sqlite.tar"
    backups.backup(small_center(tmp_path / "small"), sqlite_archive)
    with pytest.raises(Invalid) as wrong_kind:
        backups.restore(Settings(home=tmp_path / "third", db=target), sqlite_archive, force=True)
    assert "holds a sqlite database and the target is postgresql" in wrong_kind.value.detail
    assert not dumps.is_empty(target)  # refused before anything was wiped
