"""A data set's files read from the chunk store: seeking, partial reads, assembling on disk."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aicc.core.datasets import Chunk, FileEntry, Manifest, cut
from aicc.store.chunkfiles import ChunkFile, materialize
from aicc.store.chunkstore import ChunkCorrupt, LocalChunks


class CountingChunks(LocalChunks):
    """The local store, counting the chunks read from it: what a partial read saved."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gets = 0

    def get(self, digest: str) -> bytes:
        self.gets += 1
        return super().get(digest)


def put_file(store: LocalChunks, path: str, data: bytes) -> FileEntry:
    chunks = cut(data)
    offset = 0
    for c in chunks:
        store.put(c.digest, data[offset : offset + c.size])
        offset += c.size
    return FileEntry(path, len(data), tuple(chunks))


@pytest.fixture
def store(tmp_path: Path) -> CountingChunks:
    return CountingChunks(tmp_path / "chunks")


def test_reads_and_seeks_anywhere_like_the_file_itself(store: CountingChunks) -> None:
    data = random.Random(1).randbytes(5_000_000)
    entry = put_file(store, "blob.bin", data)
    assert len(entry.chunks) > 2  # the reads below cross chunk boundaries
    f = ChunkFile(store, entry)
    assert f.readable() and f.seekable()
    assert f.read(10) == data[:10]
    boundary = entry.chunks[0].size
    f.seek(boundary - 3)
    assert f.read(6) == data[boundary - 3 : boundary + 3]
    assert f.seek(-100, io.SEEK_END) == len(data) - 100
    assert f.read() == data[-100:]
    assert f.read(5) == b""
    f.seek(1234)
    f.seek(10, io.SEEK_CUR)
    assert f.tell() == 1244
    assert f.read() == data[1244:]
    with pytest.raises(ValueError):
        f.seek(-1)


def test_a_parquet_footer_and_first_rows_read_only_a_few_chunks(store: CountingChunks) -> None:
    n = 2_000_000
    table = pa.table(
        {"id": pa.array(range(n)), "x": pa.array(random.Random(2).random() for _ in range(n))}
    )
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=n, compression="none")
    entry = put_file(store, "big.parquet", out.getvalue())
    assert len(entry.chunks) > 10
    parquet = pq.ParquetFile(ChunkFile(store, entry), buffer_size=1 << 20, pre_buffer=False)
    assert parquet.metadata.num_rows == n
    first = next(parquet.iter_batches(batch_size=5))
    assert first.column("id").to_pylist() == [0, 1, 2, 3, 4]
    assert store.gets <= 6  # footer, and the first page of each of the two columns


def test_a_corrupt_chunk_is_an_error_not_wrong_bytes(store: CountingChunks) -> None:
    entry = put_file(store, "a.txt", b"hello world")
    store.path(entry.chunks[0].digest).write_bytes(b"jello world")
    with pytest.raises(ChunkCorrupt):
        ChunkFile(store, entry).read()


def test_materialize_writes_whole_files_and_skips_those_already_there(
    store: CountingChunks, tmp_path: Path
) -> None:
    big = random.Random(3).randbytes(3_000_000)
    manifest = Manifest.of(
        [
            put_file(store, "data/big.bin", big),
            put_file(store, "notes.txt", b"hi\n"),
            put_file(store, "empty", b""),
        ]
    )
    dest = tmp_path / "view"
    materialize(store, manifest, dest, ["data/big.bin"])
    assert (dest / "data/big.bin").read_bytes() == big
    assert not (dest / "notes.txt").exists()  # only the paths asked for
    materialize(store, manifest, dest)
    assert (dest / "notes.txt").read_bytes() == b"hi\n"
    assert (dest / "empty").read_bytes() == b""
    assert not [p for p in dest.rglob(".part-*")]  # no temporary file left behind
    before = store.gets
    materialize(store, manifest, dest)
    assert store.gets == before  # all there with their sizes: nothing fetched again
    with pytest.raises(KeyError, match="nope"):
        materialize(store, manifest, dest, ["nope"])


def test_a_failed_assembly_leaves_no_file(store: CountingChunks, tmp_path: Path) -> None:
    entry = put_file(store, "a.bin", os.urandom(1000))
    lost = FileEntry("b.bin", 1000, (Chunk("0" * 64, 1000),))
    manifest = Manifest.of([entry, lost])
    with pytest.raises(KeyError):
        materialize(store, manifest, tmp_path / "view")
    assert not (tmp_path / "view" / "b.bin").exists()
    assert not list((tmp_path / "view").glob(".part-*"))


def test_nothing_lands_outside_the_folder(store: CountingChunks, tmp_path: Path) -> None:
    # Manifest.of trusts its caller; from_json would refuse this path.
    escape = Manifest((FileEntry("../outside.txt", 0, ()),))
    with pytest.raises(ValueError, match="leaves"):
        materialize(store, escape, tmp_path / "view")
    assert not (tmp_path / "outside.txt").exists()
