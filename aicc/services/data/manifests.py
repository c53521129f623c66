"""A version's manifest read and written in a compact form: the commit's memory at the cap.

`core.datasets.Manifest.from_json(json.loads(raw))` holds three copies of a manifest at once: its
JSON text, the decoded document (a dict and two lists per file, a string per chunk listing) and the
manifest built from it; `Manifest.encode()` then builds the document again to write it. At the
64 MiB cap (`uploads.MAX_MANIFEST_BYTES`) a commit peaked near 600 MiB that way (issue 35).

Here each file's object becomes its `FileEntry` as soon as the decoder has read it (an
`object_hook`), so the document is never whole; a chunk listed many times is one `Chunk` (a
version may repeat a chunk 65,536 times); and the encoding is written file by file into one
buffer, the same bytes as `Manifest.encode()`. The checks are `Manifest.from_json`'s, and one
more: a chunk listed with two sizes is refused (the sizes a version lists are what its quota,
views and pulls count, and only one of them was checked against the stored chunk).
"""

from __future__ import annotations

import json
from typing import Any

from aicc.core import datasets as core

_ENCODE = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode


class _Files:
    """The decoder's hook: a file's object made its entry, checked, its chunks shared."""

    def __init__(self) -> None:
        self.chunks: dict[str, core.Chunk] = {}
        self.count = 0

    def __call__(self, obj: dict[str, Any]) -> Any:
        if "path" not in obj:
            return obj  # the manifest itself (or something that is no file: refused later)
        self.count += 1
        if self.count > core.MAX_FILES:
            raise core.DatasetError(f"manifest: at most {core.MAX_FILES} files")
        path = obj["path"]
        if not isinstance(path, str):
            raise core.DatasetError(f"manifest file {self.count - 1}: a path, size and chunks")
        path = core.check_path(path)
        size, listed = obj.get("size"), obj.get("chunks")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise core.DatasetError(f"manifest {path!r}: size is a whole number of bytes")
        if not isinstance(listed, list):
            raise core.DatasetError(f"manifest {path!r}: chunks is a list of [digest, size]")
        parsed = tuple(self._chunk(path, c) for c in listed)
        if sum(c.size for c in parsed) != size:
            raise core.DatasetError(f"manifest {path!r}: size is not the sum of its chunks")
        return core.FileEntry(path, size, parsed)

    def _chunk(self, path: str, item: object) -> core.Chunk:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not isinstance(item[0], str)
            or not isinstance(item[1], int)
            or isinstance(item[1], bool)
            or not 0 < item[1] <= core.MAX_CHUNK
        ):
            raise core.DatasetError(
                f"manifest {path!r}: each chunk is [64 hex digest, size 1..{core.MAX_CHUNK}]"
            )
        digest, size = item
        known = self.chunks.get(digest)
        if known is None:
            if not core.DIGEST.match(digest):
                raise core.DatasetError(
                    f"manifest {path!r}: each chunk is [64 hex digest, size 1..{core.MAX_CHUNK}]"
                )
            known = self.chunks[digest] = core.Chunk(digest, size)
        elif known.size != size:
            raise core.DatasetError(
                f"manifest {path!r}: chunk {digest} is listed as {size} bytes and as "
                f"{known.size}; a chunk has one size"
            )
        return known


def parse(text: str | bytes | bytearray) -> core.Manifest:
    """The manifest a client sent (JSON), checked as `Manifest.from_json` checks it. Raises
    `core.DatasetError` (a ValueError, as JSON and UTF-8 errors are) naming the fault."""
    try:
        doc = json.loads(text, object_hook=_Files())
    except RecursionError:  # "[[[[...": the decoder's recursion limit, not a ValueError
        raise core.DatasetError("manifest: nested too deeply to be a manifest") from None
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, list):
        raise core.DatasetError("manifest: an object with a 'files' list")
    bad = next((i for i, f in enumerate(files) if not isinstance(f, core.FileEntry)), None)
    if bad is not None:
        raise core.DatasetError(f"manifest file {bad}: an object with path, size and chunks")
    return core.Manifest.of(files)


def encode(manifest: core.Manifest) -> bytearray:
    """`manifest.encode()`'s bytes, written one file at a time."""
    out = bytearray(b'{"files":[')
    for i, f in enumerate(manifest.files):
        if i:
            out += b","
        listed = [[c.digest, c.size] for c in f.chunks]
        out += _ENCODE({"chunks": listed, "path": f.path, "size": f.size}).encode()
    out += b"]}"
    return out
