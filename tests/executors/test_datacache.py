"""The node data cache on its own: chunks from a real chunk store, manifests cut by the real
chunker. A view is read-only and all or nothing; a chunk damaged on disk is fetched again; the
size cap evicts least recently used first; a file is assembled once per content."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from data_support import ChunkServer

from aicc.executors.base import DataMount, ReplicaLaunch
from aicc.executors.datacache import DataCache, DataError, remove_view
from aicc.executors.local.executor import LocalExecutor

MiB = 1024 * 1024


@pytest.fixture
def server(tmp_path: Path) -> ChunkServer:
    return ChunkServer(tmp_path / "store")


def test_a_view_is_the_versions_files_read_only_and_a_second_view_fetches_nothing(
    server: ChunkServer, tmp_path: Path
) -> None:
    big = os.urandom(5 * MiB)
    mount = server.push("corpus-1", {"a/b.txt": b"hello\n", "big.bin": big, "empty": b""})
    cache = DataCache(tmp_path / "cache", 1024 * MiB, server)
    cache.mount([mount], tmp_path / "run1" / "data")
    view = tmp_path / "run1" / "data" / "corpus"
    assert (view / "a" / "b.txt").read_bytes() == b"hello\n"
    assert (view / "big.bin").read_bytes() == big
    assert (view / "empty").read_bytes() == b""
    for path in (view, view / "a", tmp_path / "run1" / "data"):
        assert not path.stat().st_mode & stat.S_IWUSR, path  # no new file can be made there
    assert not (view / "big.bin").stat().st_mode & 0o222
    fetched = cache.counters.chunks_fetched
    assert fetched == server.served and fetched >= 3

    cache.mount([mount], tmp_path / "run2" / "data")
    assert server.served == fetched and cache.counters.files_reused == 3
    assert (tmp_path / "run2" / "data" / "corpus" / "big.bin").stat().st_ino == (
        view / "big.bin"
    ).stat().st_ino  # a hard link: no second copy on disk
    remove_view(tmp_path / "run1" / "data")
    assert not (tmp_path / "run1" / "data").exists()
    assert (tmp_path / "run2" / "data" / "corpus" / "big.bin").read_bytes() == big


def test_a_chunk_damaged_on_disk_is_fetched_again(server: ChunkServer, tmp_path: Path) -> None:
    data = os.urandom(60 * 1024)  # under the smallest chunk (64 KiB): always one chunk
    mount = server.push("v-1", {"x.bin": data})
    cache = DataCache(tmp_path / "cache", 1024 * MiB, server)
    cache.mount([mount], tmp_path / "r1" / "data")
    [chunk] = server.versions["v-1"].files[0].chunks
    stored = tmp_path / "cache" / "chunks" / chunk.digest[:2] / chunk.digest[2:4] / chunk.digest
    stored.chmod(0o644)
    stored.write_bytes(b"rotten" + stored.read_bytes()[6:])  # a bit flipped on the node's disk
    for file in (tmp_path / "cache" / "files").rglob("*"):
        if file.is_file():
            file.unlink()  # the file made of it left the cache: it is assembled anew
    fetched = cache.counters.chunks_fetched
    cache.mount([mount], tmp_path / "r2" / "data")
    assert cache.counters.chunks_damaged == 1 and cache.counters.chunks_fetched == fetched + 1
    assert (tmp_path / "r2" / "data" / "v" / "x.bin").read_bytes() == data
    assert stored.read_bytes() == data  # repaired


def test_the_cap_evicts_the_least_recently_used_and_a_restart_keeps_the_cache(
    server: ChunkServer, tmp_path: Path
) -> None:
    mounts = [server.push(f"s{i}-1", {"f.bin": os.urandom(MiB)}) for i in range(3)]
    cache = DataCache(tmp_path / "cache", 4 * MiB, server)  # chunks and file: 2 MiB a set
    for i, mount in enumerate(mounts):
        cache.mount([mount], tmp_path / f"r{i}" / "data")
    assert cache.bytes_held() == 4 * MiB and cache.counters.evicted >= 2
    served = server.served
    again = DataCache(tmp_path / "cache", 4 * MiB, server)  # the server restarted
    again.mount([mounts[2]], tmp_path / "r3" / "data")  # the most recent stayed
    assert server.served == served and again.counters.files_reused == 1
    again.mount([mounts[0]], tmp_path / "r4" / "data")  # the oldest went
    assert server.served > served and again.counters.files_assembled == 1
    # Views made before stay whole: their files are links of their own.
    assert (tmp_path / "r0" / "data" / "s0" / "f.bin").stat().st_size == MiB


def test_a_missing_version_or_chunk_fails_the_mount_saying_which_and_leaves_no_view(
    server: ChunkServer, tmp_path: Path
) -> None:
    cache = DataCache(tmp_path / "cache", 64 * MiB, server)
    with pytest.raises(DataError, match="gone-1 no longer exists"):
        cache.mount([DataMount("gone", "gone-1", "gone-1")], tmp_path / "r" / "data")
    mount = server.push("lost-1", {"f": b"bytes"})
    server.store.delete([server.versions["lost-1"].files[0].chunks[0].digest])
    with pytest.raises(DataError, match=r"lost-1: chunk \w+ is missing"):
        cache.mount([mount], tmp_path / "r" / "data")
    assert not (tmp_path / "r" / "data").exists()


def test_an_executor_without_a_data_cache_refuses_a_replica_with_data_sets(
    tmp_path: Path,
) -> None:
    executor = LocalExecutor(home=tmp_path / "home", blobs=None)  # type: ignore[arg-type]
    replica = ReplicaLaunch(
        job_id="job_1",
        attempt=0,
        index=0,
        argv=["true"],
        env={},
        node=executor.discover()[0].name,
        device_indices=(),
        cpu_milli=100,
        memory_mib=64,
        max_runtime_s=None,
        datasets=(DataMount("corpus", "dsv_1", "corpus@1"),),
    )
    with pytest.raises(
        ValueError,
        match="cannot mount data sets: run jobs with `datasets` on a local",
    ):
        executor.launch(replica)
    assert not (tmp_path / "home" / "runs").exists()
