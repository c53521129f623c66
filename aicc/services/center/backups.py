"""`aicc admin backup` and `restore`: the whole center in one archive, taken while it runs.

What the archive holds (store/archive.py lists each member's sha256 in `manifest.json`):
`database/` the database as of one moment (store/dumps.py); `blobs/` every workdir archive and
`chunks/` every data set pack that moment's database refers to; `files/` the run directories of
its jobs (logs, outputs) and the notebooks' persistent homes; `keys/secret.key`, without which
the sealed secrets in the database cannot be opened.

Why it is consistent: blobs and packs are named by their digest and never change, so copying
them after the database was read gives the bytes the database means; one written later is not
referred to and not needed. A pack the database names but the store lost since (the janitor
collected it in between) fails the backup with its name, never a silent hole. Run directories
are copied as they are then: a running job's log may run a little past the snapshot.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy.orm import Session

from aicc import __version__
from aicc.config import Settings
from aicc.executors.local import runtime
from aicc.services.billing import invoices
from aicc.services.common import Conflict, Invalid, ServiceError, utcnow
from aicc.services.data import datasets
from aicc.services.data.chunks import pack_count, pack_sizes
from aicc.services.jobs import census, workdirs
from aicc.services.tenancy import tenancy
from aicc.store import dumps
from aicc.store.archive import ArchiveError, ArchiveReader, ArchiveWriter, CorruptMember
from aicc.store.blobs import BlobStore
from aicc.store.chunkstore import (
    ChunkCorrupt,
    ChunkMissing,
    ChunkStore,
    ChunkStoreError,
    checked,
)
from aicc.store.db import Database, database_url, migrate
from aicc.store.s3 import open_chunk_store

FORMAT = "aicc-backup/1"
RUN_TREES = ("runs", "slurm-runs", "ray-runs")  # JOB/... under each: the engines' run dirs
DATABASES = {"sqlite": "database/aicc.db", "postgresql": "database/aicc.pgdump"}
BLOB = re.compile(r"blobs/[0-9a-f]{2}/([0-9a-f]{64})\.tar\.gz")  # its sha256 is its name
PACK = re.compile(r"chunks/[0-9a-f]{2}/([0-9a-f]{64})")
HOMES = "homes"
FILES = re.compile(f"files/({'|'.join(map(re.escape, (*RUN_TREES, HOMES)))})/.+")
PROCESS_FILES = {
    runtime.STATUS_FILE,
    runtime.SUPERVISOR_FILE,
    runtime.ORPHAN_FILE,
}  # notebooks' persistent homes, PROJECT/USER
# What a restore writes into a home, and what `--force` clears first (config.yaml stays).
STATE = ("aicc.db", "aicc.db-wal", "aicc.db-shm", "blobs", "data", "cache", "admin.token",
         *RUN_TREES, HOMES)  # fmt: skip


class BackupFailed(ServiceError):
    """The backup could not be taken (the stores lost something it needs); nothing was left
    behind."""

    status = 503


class Progress(Protocol):
    """What a long run reports: a phase (with the bytes it will move, if known), then bytes."""

    def phase(self, description: str, total: int | None) -> None: ...

    def advance(self, done: int) -> None: ...


class _Silent:
    def phase(self, description: str, total: int | None) -> None:
        pass

    def advance(self, done: int) -> None:
        pass


@dataclass(frozen=True)
class Summary:
    """What a backup wrote or a restore put back."""

    path: Path
    bytes: int
    counts: dict[str, int]
    members: int
    revision: str | None
    skipped: list[str] = field(default_factory=list)  # files a job made unreadable
    migrated_to: str | None = None  # restore: the schema revision after upgrading


# --- backup ------------------------------------------------------------------------------------


def _counts(session: Session) -> dict[str, int]:
    orgs, users = tenancy.counts(session)
    sets, models, versions = datasets.counts(session)
    return {
        "organizations": orgs,
        "users": users,
        "jobs": census.count(session),
        "datasets": sets,
        "models": models,
        "versions": versions,
        "invoices": invoices.count(session),
        "workdirs": len(workdirs.archives(session)),
        "packs": pack_count(session),
    }


@dataclass(frozen=True)
class _Referenced:
    """What the snapshot refers to outside the database."""

    counts: dict[str, int]
    workdirs: list[str]  # sha256 of workdir blobs
    packs: dict[str, int]  # pack digest -> its size as the chunks in it add up
    job_ids: set[str]
    live: set[str]  # JOB/ATTEMPT/INDEX of replicas not seen to end


def _referenced(session: Session) -> _Referenced:
    return _Referenced(
        counts=_counts(session),
        workdirs=workdirs.archives(session),
        packs=pack_sizes(session),
        job_ids=census.job_ids(session),
        live={f"{h.job_id}/{h.attempt}/{h.index}" for h in census.holding(session)},
    )


def _files(home: Path, job_ids: set[str], live: set[str]) -> list[tuple[str, Path]]:
    """(member name, path) of the run directories of these jobs and of the persistent homes.

    `live`: the replicas (`JOB/ATTEMPT/INDEX`) the snapshot has not seen end. Their supervisor's
    records stay out: a server restored on this machine would find the supervisor alive (it is
    this server's) and take the replica for its own, to cancel or stop. Without them it finds the
    replica lost and retries the job, as after a lost node."""
    roots = [home / tree / job for tree in RUN_TREES for job in sorted(job_ids)]
    roots.append(home / HOMES)
    found = []
    for root in roots:
        if not root.is_dir():
            continue
        for folder, dirs, names in os.walk(root):
            dirs.sort()
            place = Path(folder).relative_to(home)
            running = len(place.parts) == 4 and "/".join(place.parts[1:]) in live
            for name in sorted(names) + [d for d in dirs if Path(folder, d).is_symlink()]:
                if running and name in PROCESS_FILES:
                    continue
                path = Path(folder, name)
                found.append(("files/" + path.relative_to(home).as_posix(), path))
    return found


def backup(settings: Settings, dest: Path, *, progress: Progress | None = None) -> Summary:
    """Write the center's archive to `dest` (which must not exist)."""
    progress = progress or _Silent()
    dest = dest.expanduser().absolute()
    _check_dest(dest)
    home = settings.home
    key = settings.secret_key_file or home / "secret.key"
    url = database_url(settings.db, home)
    if url.startswith("sqlite") and not dumps.sqlite_path(url).is_file():
        raise Invalid("there is no database at {path}", path=str(dumps.sqlite_path(url)))
    blobs = BlobStore(home / "blobs")
    chunks = open_chunk_store(settings.data, home)
    writer = ArchiveWriter(dest, progress.advance)
    skipped: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="aicc-backup-", dir=dest.parent) as work:
            progress.phase("reading the database", None)
            with dumps.snapshot(url, Path(work)) as snap:
                found = _referenced(snap.session)
            files = _files(home, found.job_ids, found.live)
            sizes = [snap.path.stat().st_size]
            sizes += [blobs.size(s) for s in found.workdirs if blobs.exists(s)]
            sizes += list(found.packs.values())
            sizes += [p.lstat().st_size for _, p in files if p.is_file() and not p.is_symlink()]
            progress.phase("writing the archive", sum(sizes))
            writer.add_file(DATABASES[snap.dialect], snap.path)
            _add_stored(writer, found, blobs, chunks)
            skipped += _add_files(writer, files)
            if key.is_file():
                writer.add_file("keys/secret.key", key)
            manifest = writer.close(
                {
                    "format": FORMAT,
                    "aicc_version": __version__,
                    "created_at": utcnow().isoformat(),
                    "database": {"dialect": snap.dialect, "revision": snap.revision},
                    "home": str(home),
                    "chunk_store": chunks.name,
                    "counts": found.counts,
                    "skipped": skipped,
                }
            )
    except dumps.DumpError as err:
        writer.abort()
        raise BackupFailed("{error}", error=str(err)) from None
    except BaseException:
        writer.abort()
        raise
    return Summary(
        path=dest,
        bytes=dest.stat().st_size,
        counts=found.counts,
        members=len(manifest["members"]),
        revision=snap.revision,
        skipped=skipped,
    )


def _check_dest(dest: Path) -> None:
    """A backup writes a new file, beside no other backup's partial one, in a folder that is."""
    if dest.exists():
        raise Conflict("{path} exists; name a new file", path=str(dest))
    partial = dest.with_name(dest.name + ".part")
    if partial.exists():
        raise Conflict(
            "{path} exists: a backup to this name is running, or one was cut short (then "
            "remove it)",
            path=str(partial),
        )
    if not dest.parent.is_dir():
        raise Invalid("folder {path} does not exist", path=str(dest.parent))


def _add_stored(
    writer: ArchiveWriter, found: _Referenced, blobs: BlobStore, chunks: ChunkStore
) -> None:
    """The workdir archives and data set packs the database refers to; one the stores lost
    fails the backup with its name."""
    for sha in found.workdirs:
        try:
            writer.add_file(f"blobs/{sha[:2]}/{sha}.tar.gz", blobs.path(sha))
        except FileNotFoundError:
            raise BackupFailed(
                "workdir {sha} is in the database but not in {root}: the blob store has lost it",
                sha=sha,
                root=str(blobs.root),
            ) from None
    for pack in found.packs:
        writer.add_bytes(f"chunks/{pack[:2]}/{pack}", _pack(chunks, pack))


def _add_files(writer: ArchiveWriter, files: list[tuple[str, Path]]) -> list[str]:
    """The run directories' and homes' files as they are now; the names it may not read."""
    skipped: list[str] = []
    for name, path in files:
        try:
            if path.is_symlink():
                writer.add_symlink(name, os.readlink(path))
            elif path.is_file():
                writer.add_file(name, path)
        except FileNotFoundError:
            continue  # purged since the walk (a job's working copy): nothing lost
        except PermissionError:
            skipped.append(name)
    return skipped


def _pack(chunks: ChunkStore, pack: str) -> bytes:
    """A pack's bytes, checked against its digest on the way (a bad copy is caught now)."""
    try:
        return chunks.get(pack)
    except ChunkMissing:
        raise BackupFailed(
            "data set pack {pack} is in the database but not in the {store} chunk store (deleted "
            "since the database was read, or lost); run the backup again",
            pack=pack,
            store=chunks.name,
        ) from None
    except ChunkCorrupt:
        raise BackupFailed(
            "data set pack {pack} in the {store} chunk store no longer matches its digest",
            pack=pack,
            store=chunks.name,
        ) from None
    except ChunkStoreError as err:
        raise BackupFailed("{error}", error=str(err)) from None


# --- restore -----------------------------------------------------------------------------------


def _occupied(home: Path) -> list[str]:
    """What in the home a restore would overwrite: anything but config.yaml."""
    if not home.is_dir():
        return []
    return sorted(p.name for p in home.iterdir() if p.name != "config.yaml")


def _check_schema(revision: str | None) -> list[str]:
    known = dumps.revisions()
    if revision is None:
        raise Invalid("the archive's database has no schema revision: it is not AICC's")
    if revision not in known:
        raise Invalid(
            "the archive's database is at schema revision {revision}, newer than this AICC "
            "{version} knows (up to {head}): restore it with the AICC that made it, or newer",
            revision=revision,
            version=__version__,
            head=known[-1],
        )
    return known


def restore(
    settings: Settings, source: Path, *, force: bool = False, progress: Progress | None = None
) -> Summary:
    """Put the archive's center into the configured home and database (empty ones, unless
    `force`), then bring its schema to this code's newest."""
    progress = progress or _Silent()
    source = source.expanduser().absolute()
    if not source.is_file():
        raise Invalid("{path} is not a file", path=str(source))
    try:
        reader = ArchiveReader(source)
    except ArchiveError as err:
        raise Invalid("{error}", error=str(err)) from None
    try:
        return _restore(settings, reader, force, progress)
    except CorruptMember as err:
        raise Invalid(
            "{archive}: member {member} is corrupt ({why}); nothing was restored",
            archive=str(source),
            member=err.member,
            why=err.why,
        ) from None
    except (ArchiveError, dumps.DumpError, ChunkCorrupt) as err:
        raise Invalid("{error}", error=str(err)) from None
    except ChunkStoreError as err:
        raise BackupFailed("{error}", error=str(err)) from None
    finally:
        reader.close()


def _restore(settings: Settings, reader: ArchiveReader, force: bool, progress: Progress) -> Summary:
    manifest = reader.manifest
    if manifest.get("format") != FORMAT:
        raise Invalid(
            "{path} is a {found} archive; this AICC reads {format}",
            path=str(reader.path),
            found=str(manifest.get("format")),
            format=FORMAT,
        )
    database = manifest.get("database") or {}
    known = _check_schema(database.get("revision"))
    home = settings.home
    url = database_url(settings.db, home)
    key = settings.secret_key_file or home / "secret.key"
    dumps.check_kind(url, str(database.get("dialect")))
    occupied = _occupied(home)
    target_db_empty = dumps.is_empty(url)
    if not force and (occupied or not target_db_empty):
        what = ", ".join(occupied[:5]) if occupied else "its database has tables"
        raise Conflict(
            "{home} is not empty ({what}); restore into a fresh home and database, or add "
            "--force to replace what is there",
            home=str(home),
            what=what,
        )
    progress.phase("checking the archive", sum(m.get("size", 0) for m in _listed(manifest)))
    reader.verify(progress.advance)

    if force:
        _wipe(url, home)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    home.chmod(0o700)  # the server's account alone, as `aicc serve` keeps it
    blobs = BlobStore(home / "blobs")
    chunks = open_chunk_store(settings.data, home)
    progress.phase("restoring", sum(m.get("size", 0) for m in _listed(manifest)))
    with tempfile.TemporaryDirectory(prefix="aicc-restore-", dir=home) as work:
        dump = Path(work) / "dump"
        written = _unpack(
            reader, home, dump, blobs, chunks, key=key, force=force, progress=progress
        )
        progress.phase("loading the database", None)
        dumps.load(url, dump, str(database.get("dialect")))
    migrated = None
    if database.get("revision") != known[-1]:
        progress.phase(f"upgrading the schema to {known[-1]}", None)
        migrate(url)
        migrated = known[-1]
    _rehome(url, Path(str(manifest.get("home", ""))), home)
    _check_counts(url, manifest.get("counts", {}))
    return Summary(
        path=reader.path,
        bytes=reader.path.stat().st_size,
        counts=manifest.get("counts", {}),
        members=written,
        revision=database.get("revision"),
        skipped=list(manifest.get("skipped", [])),
        migrated_to=migrated,
    )


def _wipe(url: str, home: Path) -> None:
    """`--force`: the target database emptied and the home's state removed (not config.yaml)."""
    dumps.wipe(url)
    for name in STATE:
        path = home / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _unpack(
    reader: ArchiveReader,
    home: Path,
    dump: Path,
    blobs: BlobStore,
    chunks: ChunkStore,
    *,
    key: Path,
    force: bool,
    progress: Progress,
) -> int:
    """Every member to its place (the database's dump to `dump`, to be loaded next); how many.
    A member a backup never writes, or an archive without a database, is an ArchiveError."""
    written = 0
    found_dump = False
    for member, data in reader.members():
        name, size = member.name, member.info.size
        blob, pack = BLOB.fullmatch(name), PACK.fullmatch(name)
        if name in DATABASES.values() and data is not None:
            found_dump = True
            _copy(data, dump, progress)
        elif blob and data is not None and blob.group(1) == member.expected["sha256"]:
            target = blobs.root / blob.group(1)[:2] / f"{blob.group(1)}.tar.gz"
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy(data, target, progress)
        elif pack and data is not None:
            chunks.put(pack.group(1), checked(pack.group(1), data.read()))
            progress.advance(size)
        elif FILES.fullmatch(name):
            reader.extract(member, name.removeprefix("files/"), home)
            progress.advance(size)
        elif name == "keys/secret.key" and data is not None:
            _write_key(key, data.read(), force)
            progress.advance(size)
        else:
            raise ArchiveError(f"member {name} is not one a backup writes")
        written += 1
    if not found_dump:
        raise ArchiveError(f"{reader.path} holds no database")
    return written


def _listed(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from manifest["members"].values()


def _copy(data: IO[bytes], target: Path, progress: Progress) -> None:
    with open(target, "wb") as out:
        while block := data.read(1024 * 1024):
            out.write(block)
            progress.advance(len(block))
        out.flush()
        os.fsync(out.fileno())


def _write_key(path: Path, key: bytes, force: bool) -> None:
    """The sealing key the database's secrets were sealed with; another key already there is
    only replaced when told to."""
    if path.exists() and path.read_bytes().strip() != key.strip() and not force:
        raise Conflict(
            "{path} holds another sealing key; the restored secrets need the archive's: "
            "move it away or add --force",
            path=str(path),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)


def _check_counts(url: str, expected: dict[str, int]) -> None:
    """Read the restored database back: it must hold what the backup counted."""
    db = Database(url)
    try:
        with db.reader() as session:
            found = _counts(session)
    finally:
        db.dispose()
    for what, count in expected.items():
        if found.get(what, count) != count:
            raise BackupFailed(
                "the restored database holds {found} {what} where the backup counted {count}",
                found=found[what],
                what=what,
                count=count,
            )


def _rehome(url: str, old: Path, new: Path) -> None:
    """The local executor's handles are absolute run directories; those under the old home now
    lie under the new one."""
    if not str(old) or old == new:
        return
    prefix = f"{old}/runs/"
    db = Database(url)
    try:
        with db.session() as session:
            census.rehome(session, prefix, f"{new}/runs/")
    finally:
        db.dispose()
