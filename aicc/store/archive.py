"""The backup archive: a plain tar whose last member, `manifest.json`, lists every other member
with its size and sha256, so a restore proves the whole archive intact before it changes
anything and names the member that is not.

Members are written once, in one pass, hashed while they stream (no second read of a large file);
that is why the manifest comes last. Plain tar, not gzip: packs and workdirs are compressed
already, and a reader can seek past members to find the manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["MANIFEST", "ArchiveError", "ArchiveReader", "ArchiveWriter", "CorruptMember"]

MANIFEST = "manifest.json"
_BUFFER = 1024 * 1024

Progress = Callable[[int], None]  # bytes just copied


class ArchiveError(ValueError):
    """Not a backup archive, or one that cannot be read; the message says what is wrong."""


class CorruptMember(ArchiveError):
    """A member whose bytes are not those the manifest recorded."""

    def __init__(self, name: str, why: str) -> None:
        self.member, self.why = name, why
        super().__init__(f"member {name} is corrupt: {why}")


class _Hashing(io.RawIOBase):
    """Reads exactly `size` bytes of `source`, hashing them; a source that ends sooner (a file
    cut short while it was read) is an error, never a silently padded member."""

    def __init__(self, source: IO[bytes], size: int, name: str, progress: Progress | None):
        self.source, self.left, self.name, self.progress = source, size, name, progress
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self.left)
        if want == 0:
            return 0
        data = self.source.read(want)
        if not data:
            raise ArchiveError(
                f"{self.name} became shorter while it was read; run the backup again"
            )
        buffer[: len(data)] = data
        self.left -= len(data)
        self.digest.update(data)
        if self.progress:
            self.progress(len(data))
        return len(data)


class ArchiveWriter:
    """Writes members, then the manifest with their digests (`close`)."""

    def __init__(self, path: Path, progress: Progress | None = None) -> None:
        self.path = path
        self.progress = progress
        # Written beside its name and renamed when whole: a file under the name is complete.
        self._partial = path.with_name(path.name + ".part")
        fd = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # the center
        self._file = os.fdopen(fd, "wb")
        self._tar = tarfile.open(fileobj=self._file, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115 (closed by close or abort)
        self.members: dict[str, dict[str, Any]] = {}

    def add_bytes(self, name: str, data: bytes, mode: int = 0o600) -> None:
        self.add_stream(name, io.BytesIO(data), len(data), mode=mode)

    def add_stream(
        self, name: str, source: IO[bytes], size: int, *, mode: int = 0o600, mtime: float = 0
    ) -> None:
        if name in self.members or name == MANIFEST:
            raise ValueError(f"{name} is already in the archive")
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, mode, int(mtime)
        hashing = _Hashing(source, size, name, self.progress)
        self._tar.addfile(info, io.BufferedReader(hashing, _BUFFER))
        self.members[name] = {"size": size, "sha256": hashing.digest.hexdigest()}

    def add_file(self, name: str, path: Path) -> None:
        """A regular file, `size` as it is when opened: a log that grows meanwhile is cut there."""
        with open(path, "rb") as source:
            stat = os.fstat(source.fileno())
            self.add_stream(
                name, source, stat.st_size, mode=stat.st_mode & 0o777, mtime=stat.st_mtime
            )

    def add_symlink(self, name: str, target: str) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = tarfile.SYMTYPE, target
        self._tar.addfile(info)
        self.members[name] = {"symlink": target}

    def close(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Write the manifest (with the members' digests) last and flush the file to disk."""
        whole = {**manifest, "members": self.members}
        data = json.dumps(whole, indent=1, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode = len(data), 0o600
        self._tar.addfile(info, io.BytesIO(data))
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if self.path.exists():
            raise FileExistsError(f"{self.path} appeared while the backup was written")
        os.replace(self._partial, self.path)
        return whole

    def abort(self) -> None:
        """Close and remove a half-written archive."""
        try:
            self._tar.close()
            self._file.close()
        finally:
            self._partial.unlink(missing_ok=True)


@dataclass
class Member:
    name: str
    info: tarfile.TarInfo
    expected: dict[str, Any]


class ArchiveReader:
    """Reads an archive: `manifest` at once, `verify()` every member against it, then
    `members()` to restore from."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 (closed by close)
            info = self._tar.getmember(MANIFEST)
            raw = self._tar.extractfile(info)
            assert raw is not None
            self.manifest: dict[str, Any] = json.loads(raw.read())
        except KeyError:
            raise ArchiveError(f"{path} is not an AICC backup: it has no {MANIFEST}") from None
        except (tarfile.TarError, OSError, EOFError, json.JSONDecodeError) as err:
            raise ArchiveError(f"{path} cannot be read as a backup archive: {err}") from None
        if not isinstance(self.manifest.get("members"), dict):
            raise ArchiveError(f"{path}: its {MANIFEST} lists no members")

    def close(self) -> None:
        self._tar.close()

    def _entries(self) -> Iterator[Member]:
        listed: dict[str, dict[str, Any]] = self.manifest["members"]
        seen: set[str] = set()
        last = "(none yet)"
        try:
            for info in self._tar:
                last = info.name
                if info.name == MANIFEST:
                    continue
                if info.name not in listed:
                    raise CorruptMember(info.name, "it is not listed in the manifest")
                if info.name in seen:
                    raise CorruptMember(info.name, "it is in the archive twice")
                seen.add(info.name)
                yield Member(info.name, info, listed[info.name])
        except (tarfile.TarError, OSError, EOFError) as err:
            raise ArchiveError(f"{self.path} is damaged after member {last}: {err}") from None
        missing = sorted(set(listed) - seen)
        if missing:
            raise CorruptMember(missing[0], "it is listed in the manifest but not in the archive")

    def verify(self, progress: Progress | None = None) -> int:
        """Check every member's size and sha256 against the manifest; raises CorruptMember
        naming the first that differs. Returns the bytes checked."""
        total = 0
        for member in self._entries():
            expected = member.expected
            if "symlink" in expected:
                if not member.info.issym() or member.info.linkname != expected["symlink"]:
                    raise CorruptMember(member.name, "its link target differs")
                continue
            if not member.info.isreg() or member.info.size != expected.get("size"):
                raise CorruptMember(
                    member.name,
                    f"{member.info.size} bytes where {expected.get('size')} were written",
                )
            digest = hashlib.sha256()
            for block in self._blocks(member):
                digest.update(block)
                if progress:
                    progress(len(block))
            if digest.hexdigest() != expected.get("sha256"):
                raise CorruptMember(member.name, "its sha256 differs from the manifest's")
            total += member.info.size
        return total

    def _blocks(self, member: Member) -> Iterator[bytes]:
        source = self._tar.extractfile(member.info)
        assert source is not None
        while block := source.read(_BUFFER):
            yield block

    def extract(self, member: Member, name: str, root: Path) -> None:
        """Write a file or link member at `root/name`, through tarfile's `data` filter: no
        absolute paths, nothing outside `root`, no devices."""
        try:
            self._tar.extract(member.info.replace(name=name, deep=False), root, filter="data")
        except (tarfile.TarError, OSError) as err:
            raise ArchiveError(f"cannot restore member {member.name}: {err}") from None

    def members(self) -> Iterator[tuple[Member, IO[bytes] | None]]:
        """Every member with a reader of its bytes (None for a symlink), in archive order."""
        for member in self._entries():
            yield member, None if member.info.issym() else self._tar.extractfile(member.info)
