"""services/data/manifests.py: the compact reader and writer give what `core.datasets.Manifest`
gives (the same manifest, the same bytes, the same refusals), with one chunk object per digest,
and refuse what the whole-document reader let through or answered with a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aicc.core import datasets as core
from aicc.services.data import manifests

A, B = "a" * 64, "b" * 64


def _manifest() -> core.Manifest:
    return core.Manifest.of(
        [
            core.FileEntry("données/é.csv", 30, (core.Chunk(A, 10), core.Chunk(B, 20))),
            core.FileEntry("empty", 0, ()),
            core.FileEntry("z/again.bin", 20, (core.Chunk(A, 10), core.Chunk(A, 10))),
        ]
    )


def test_the_compact_forms_are_the_manifests() -> None:
    manifest = _manifest()
    encoded = manifests.encode(manifest)
    assert bytes(encoded) == manifest.encode()
    parsed = manifests.parse(bytes(encoded))
    assert parsed == core.Manifest.from_json(json.loads(encoded)) == manifest
    listed = [c for f in parsed.files for c in f.chunks if c.digest == A]
    assert len(listed) == 3 and all(c is listed[0] for c in listed)  # one object per digest


BAD: list[Any] = [
    [],
    {"files": {}},
    {"files": [1]},
    {"files": [{"path": 5, "size": 0, "chunks": []}]},
    {"files": [{"path": "../x", "size": 0, "chunks": []}]},
    {"files": [{"path": "x", "size": True, "chunks": []}]},
    {"files": [{"path": "x", "size": 1, "chunks": [[A, 2]]}]},
    {"files": [{"path": "x", "size": 2, "chunks": [["A" * 64, 2]]}]},
    {"files": [{"path": "x", "size": 0, "chunks": [[A, 0]]}]},
    {"files": [{"path": "x", "size": 1, "chunks": [[A, 1, 1]]}]},
    {"files": [{"path": "x", "size": 0, "chunks": {}}]},
    {"files": [{"path": "x", "size": 0, "chunks": []}, {"path": "x", "size": 0, "chunks": []}]},
    {"files": [{"path": "x", "size": 0, "chunks": []}, {"path": "x/y", "size": 0, "chunks": []}]},
]


@pytest.mark.parametrize("doc", BAD, ids=range(len(BAD)))
def test_what_the_whole_reader_refuses_is_refused(doc: Any) -> None:
    with pytest.raises(core.DatasetError):
        core.Manifest.from_json(doc)
    with pytest.raises(core.DatasetError):
        manifests.parse(json.dumps(doc))


def test_a_chunk_listed_with_two_sizes_is_refused() -> None:
    """The whole reader took it, and a version's sizes came from the last listing alone: a
    stored 1 MiB chunk listed as 1 byte in many files, and once as its size, passed the check
    of sizes and counted as bytes in the quota."""
    doc = {
        "files": [
            {"path": "a", "size": 1, "chunks": [[A, 1]]},
            {"path": "b", "size": 10, "chunks": [[A, 10]]},
        ]
    }
    assert core.Manifest.from_json(doc).chunk_sizes() == {A: 10}
    with pytest.raises(core.DatasetError, match="listed as 10 bytes and as 1"):
        manifests.parse(json.dumps(doc))


def test_a_document_nested_too_deeply_is_a_manifest_error() -> None:
    with pytest.raises(RecursionError):
        json.loads("[" * 100_000)  # what the whole reader met: not a ValueError, a 500
    with pytest.raises(core.DatasetError, match="nested too deeply"):
        manifests.parse("[" * 100_000)
