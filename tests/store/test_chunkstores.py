"""Every chunk store keeps the same contract: the local disk, and S3 over real HTTP (moto)."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from aicc.config import ConfigError, DataSettings, S3Settings, load
from aicc.core.datasets import MAX_CHUNK, digest
from aicc.store.chunkstore import (
    ChunkCorrupt,
    ChunkMissing,
    ChunkStore,
    ChunkStoreError,
    LocalChunks,
)
from aicc.store.s3 import S3Chunks, open_chunk_store
from aicc.testing.s3 import S3Server


def _chunk(size: int = 1000) -> tuple[str, bytes]:
    data = os.urandom(size)
    return digest(data), data


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ChunkStore:
    """A fresh store of each backend, made the way the server makes it: from settings."""
    if request.param == "local":
        settings = DataSettings(root=tmp_path / "chunks")
    else:
        server: S3Server = request.getfixturevalue("s3")
        prefix = f"t-{uuid.uuid4().hex}"  # this test's chunks only
        settings = DataSettings(backend="s3", s3=S3Settings.model_validate(server.settings(prefix)))
    return open_chunk_store(settings, tmp_path / "home")


def _overwrite(store: ChunkStore, name: str, data: bytes, s3: S3Server | None) -> None:
    """Change a stored chunk behind the store's back, as a failing disk or a bad copy would."""
    if isinstance(store, LocalChunks):
        store.path(name).write_bytes(data)
    else:
        assert isinstance(store, S3Chunks) and s3 is not None
        _client(s3).put_object(Bucket=s3.bucket, Key=store.key(name), Body=data)


def _client(s3: S3Server) -> Any:
    import boto3

    return boto3.session.Session().client(
        "s3",
        endpoint_url=s3.endpoint_url,
        region_name=s3.region,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=s3.secret_access_key,
    )


def test_put_has_get_delete(store: ChunkStore) -> None:
    (a, data_a), (b, data_b), (c, _) = _chunk(), _chunk(), _chunk()
    assert store.has([a, b, c]) == set()
    store.put(a, data_a)
    store.put(b, data_b)
    assert store.has([a, b, c, a]) == {a, b}
    assert store.get(a) == data_a and store.get(b) == data_b
    store.delete([a, c])  # c was never there: no error
    assert store.has([a, b, c]) == {b}
    with pytest.raises(ChunkMissing):
        store.get(a)
    assert store.get(b) == data_b


def test_a_second_put_of_a_chunk_changes_nothing(store: ChunkStore) -> None:
    name, data = _chunk()
    store.put(name, data)
    store.put(name, data)
    assert store.has([name]) == {name}
    assert store.get(name) == data
    store.delete([name])
    assert store.has([name]) == set()  # one delete removes it: there was one copy


def test_a_corrupt_chunk_is_an_error_never_wrong_data(
    store: ChunkStore, request: pytest.FixtureRequest
) -> None:
    name, data = _chunk()
    store.put(name, data)
    flipped = bytes([data[0] ^ 1]) + data[1:]
    s3 = request.getfixturevalue("s3") if isinstance(store, S3Chunks) else None
    _overwrite(store, name, flipped, s3)
    with pytest.raises(ChunkCorrupt, match=name):
        store.get(name)


def test_a_missing_chunk(store: ChunkStore) -> None:
    name, _ = _chunk()
    assert store.has([name]) == set()
    with pytest.raises(ChunkMissing):
        store.get(name)
    store.delete([name])


def test_concurrent_puts_of_the_same_chunk(store: ChunkStore) -> None:
    """Two pushes of the same file race to store its chunks: both succeed, one whole copy."""
    name, data = _chunk(MAX_CHUNK)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: store.put(name, data), range(16)))
    assert store.get(name) == data
    if isinstance(store, LocalChunks):  # no temporary file left behind by a loser
        assert [p.name for p in store.path(name).parent.iterdir()] == [name]


def test_a_largest_chunk_and_many_at_once(store: ChunkStore) -> None:
    big, data = _chunk(MAX_CHUNK)  # the most FastCDC cuts
    store.put(big, data)
    assert store.get(big) == data
    many = [_chunk(100) for _ in range(60)]
    for name, small in many[::2]:
        store.put(name, small)
    assert store.has([n for n, _ in many] + [big]) == {n for n, _ in many[::2]} | {big}


def test_read_a_range_of_a_pack(store: ChunkStore) -> None:
    """A chunk is read out of its pack by offset and length; a range past the end is a damaged
    pack, and a pack never stored is missing."""
    name, pack = _chunk(3 * MAX_CHUNK // 2)  # packs are larger than a chunk
    store.put(name, pack)
    middle = MAX_CHUNK - 10
    assert store.read(name, middle, 1000) == pack[middle : middle + 1000]
    assert store.read(name, 0, len(pack)) == pack
    assert store.read(name, 5, 0) == b""
    for offset, length in ((len(pack) - 10, 11), (len(pack) + 10, 1)):
        with pytest.raises(ChunkCorrupt, match="shorter than"):
            store.read(name, offset, length)
    absent, _ = _chunk()
    for length in (10, 0):
        with pytest.raises(ChunkMissing):
            store.read(absent, 0, length)


def test_a_name_that_is_not_a_digest_is_refused(store: ChunkStore) -> None:
    for bad in ("../../etc/passwd", "AB" * 32, "ab"):
        with pytest.raises(ValueError, match="not a chunk digest"):
            store.has([bad])
        with pytest.raises(ValueError, match="not a chunk digest"):
            store.put(bad, b"x")


def test_s3_keys_are_prefix_chunks_ab_digest(s3: S3Server) -> None:
    store = s3.chunks("/site-a/")
    name, data = _chunk()
    store.put(name, data)
    listed = _client(s3).list_objects_v2(Bucket=s3.bucket, Prefix="site-a/")
    assert [o["Key"] for o in listed["Contents"]] == [f"site-a/chunks/{name[:2]}/{name}"]


def test_s3_unreachable_names_the_endpoint() -> None:
    store = S3Chunks(
        "b", endpoint_url="http://127.0.0.1:9", access_key_id="k", secret_access_key="s"
    )
    name, data = _chunk()
    for call in (lambda: store.has([name]), lambda: store.put(name, data)):
        with pytest.raises(ChunkStoreError, match=r"http://127\.0\.0\.1:9.*unreachable"):
            call()


def test_s3_a_service_that_does_not_answer_fails_has_in_one_round() -> None:
    """A push asks about hundreds of chunks at once: when the service hangs, the first timeout
    ends the call, rather than every chunk waiting out its own timeouts and retries."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    accepted: list[socket.socket] = []
    threading.Thread(target=_hold, args=(listener, accepted), daemon=True).start()
    port = listener.getsockname()[1]
    store = S3Chunks(
        "b",
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key_id="k",
        secret_access_key="s",
        timeout_s=0.5,
    )
    try:
        with pytest.raises(ChunkStoreError, match=f"127.0.0.1:{port}.*unreachable"):
            store.has([_chunk()[0] for _ in range(400)])
        # 16 threads, one key each, 4 connections a key (botocore's `max_attempts: 3` counts
        # retries): a key that fails stops every thread from starting another; asking about
        # all 400 would be 1,600 connections
        assert len(accepted) <= 16 * 4
    finally:
        listener.close()
        for conn in accepted:
            conn.close()


def _hold(listener: socket.socket, accepted: list[socket.socket]) -> None:
    """Accept connections and never answer."""
    with contextlib.suppress(OSError):
        while True:
            accepted.append(listener.accept()[0])


def test_s3_missing_bucket_says_so(s3: S3Server) -> None:
    settings = S3Settings.model_validate({**s3.settings(), "bucket": "no-such-bucket"})
    store = S3Chunks.from_settings(settings)
    name, data = _chunk()
    with pytest.raises(ChunkStoreError, match=r"'no-such-bucket'.*NoSuchBucket"):
        store.put(name, data)
    with pytest.raises(ChunkStoreError, match="NoSuchBucket"):
        store.get(name)


def test_s3_credentials_from_aws_variables(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without keys in config.yaml the usual AWS_* variables serve; without either, the error
    says which to set."""
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    bare = {"endpoint_url": s3.endpoint_url, "bucket": s3.bucket, "region": s3.region}
    name, data = _chunk()
    with pytest.raises(ChunkStoreError, match=r"no credentials.*AWS_ACCESS_KEY_ID"):
        S3Chunks.from_settings(S3Settings.model_validate(bare)).put(name, data)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_access_key)
    store = S3Chunks.from_settings(S3Settings.model_validate(bare))
    store.put(name, data)
    assert store.get(name) == data


def test_the_local_store_is_the_default_under_the_home(tmp_path: Path) -> None:
    store = open_chunk_store(load(tmp_path).data, tmp_path)
    assert isinstance(store, LocalChunks) and store.root == tmp_path / "data" / "chunks"


def test_config_yaml_chooses_s3_and_s3_needs_a_bucket(tmp_path: Path, s3: S3Server) -> None:
    import yaml

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data": {"backend": "s3", "s3": s3.settings("c")}}))
    store = open_chunk_store(load(tmp_path).data, tmp_path)
    assert isinstance(store, S3Chunks) and store.endpoint == s3.endpoint_url
    config.write_text("data: {backend: s3, s3: {endpoint_url: 'http://127.0.0.1:9'}}\n")
    with pytest.raises(ConfigError, match=r"data: .*data\.s3\.bucket is not set"):
        load(tmp_path)


def test_the_secret_key_is_not_shown(s3: S3Server) -> None:
    settings = DataSettings(backend="s3", s3=S3Settings.model_validate(s3.settings()))
    assert s3.secret_access_key not in repr(settings) + str(settings.model_dump())


@pytest.fixture(autouse=True)
def _no_stray_threads() -> Iterator[None]:
    """`has` asks in parallel; its pool must be gone when it returns."""
    import threading

    before = {t.name for t in threading.enumerate()}
    yield
    left = {t.name for t in threading.enumerate()} - before
    assert not [t for t in left if t.startswith("aicc-s3-head")], left
