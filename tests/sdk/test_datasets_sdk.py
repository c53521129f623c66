"""Pushing and pulling data sets through the SDK against a real server over HTTP: versions,
an unchanged push that sends nothing, a 1% edit that stores about 1% more, an interrupted push
that resumes where it stopped, and tenants who see only what they may."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aicc.core.datasets import FRAME
from aicc.sdk.client import ApiError, Client
from aicc.sdk.datasets import StatCache, batches
from aicc.services.data.views import Committed
from aicc.testing.servers import over_http

MiB = 1024 * 1024
# Where the chunks go and which database books them are apart in the server (the store's
# backend; the data service's queries): each is shown against the other's first choice, the
# local disk on both databases, S3 on SQLite, without the fourth pair that adds nothing.
PAIRS = [("local", "sqlite"), ("local", "postgresql"), ("s3", "sqlite")]
storage_and_database = pytest.mark.parametrize(
    ("served", "db_url"), PAIRS, indirect=True, ids=["-".join(pair) for pair in PAIRS]
)


@pytest.fixture(params=["local", "s3"])
def served(
    request: pytest.FixtureRequest, db_url: str | None, tmp_path: Path
) -> Iterator[tuple[Client, str, Path]]:
    """A server over HTTP on SQLite and PostgreSQL, its chunks on local disk and on a real
    S3-protocol server (moto's, in its own process)."""
    data: dict[str, object] = {}
    if request.param == "s3":
        data = {"backend": "s3", "s3": request.getfixturevalue("s3").settings(tmp_path.name)}
    home = tmp_path / "home"
    with (
        over_http(home, db_url, loops=False, data=data) as (url, token, state),
        Client(url, token) as api,
    ):
        assert state.chunks.name == request.param
        yield api, url, state.settings.home


def tree(root: Path, big: int = 6 * MiB) -> Path:
    (root / "text").mkdir(parents=True)
    (root / "big.bin").write_bytes(os.urandom(big))
    for i in range(20):
        (root / "text" / f"{i}.txt").write_text(f"line {i}\n" * 100)
    (root / "empty.csv").write_bytes(b"")
    return root


class Sent:
    """What the push reported uploading, through its progress callback."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.uploaded = 0
        self.stop_after = stop_after

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase == "upload":
            self.uploaded = done
            if self.stop_after is not None and done >= self.stop_after:
                raise KeyboardInterrupt  # the user pressed Ctrl-C mid-push


@storage_and_database
def test_push_pull_versions_and_an_unchanged_push(
    served: tuple[Client, str, Path], tmp_path: Path
) -> None:
    api, _, _ = served
    src = tree(tmp_path / "src")
    cache = StatCache(tmp_path / "stat.db")
    first = api.datasets.push("corpus", src, cache=cache)
    assert first.created and first.version.ref == "corpus@1"
    assert first.version.file_count == 22

    sent = Sent()
    again = api.datasets.push("corpus", src, cache=cache, progress=sent)
    assert again == Committed(version=first.version, created=False)
    assert sent.uploaded == 0

    # overwrite 1% of the big file in place: only the chunks around the edit are new
    big = src / "big.bin"
    data = bytearray(big.read_bytes())
    data[3 * MiB : 3 * MiB + len(data) // 100] = os.urandom(len(data) // 100)
    big.write_bytes(bytes(data))
    second = api.datasets.push("corpus", src, cache=cache, message="edit")
    assert second.version.number == 2
    assert second.version.added_bytes < 0.75 * len(data)
    info = api.datasets.get("corpus")
    assert info.latest == 2 and [v.number for v in info.versions] == [2, 1]
    assert info.stored_bytes == first.version.added_bytes + second.version.added_bytes

    out = tmp_path / "out"
    api.datasets.pull("corpus@1", out)
    data[3 * MiB : 3 * MiB + len(data) // 100] = b""  # v1 differs from what is on disk now
    assert (out / "text" / "7.txt").read_text() == "line 7\n" * 100
    assert (out / "empty.csv").read_bytes() == b""
    assert (out / "big.bin").stat().st_size == 6 * MiB
    assert api.datasets.pull("corpus@2", out)["fetched"] == 1  # only big.bin differs
    assert (out / "big.bin").read_bytes() == big.read_bytes()


@storage_and_database
def test_an_interrupted_push_resumes_where_it_stopped(
    served: tuple[Client, str, Path], tmp_path: Path
) -> None:
    api, _, _ = served
    src = tmp_path / "src"
    src.mkdir()
    for i in range(10):
        (src / f"part-{i}.bin").write_bytes(os.urandom(2 * MiB))
    cache = StatCache(tmp_path / "stat.db")
    broken = Sent(stop_after=12 * MiB)
    with pytest.raises(KeyboardInterrupt):
        api.datasets.push("shards", src, cache=cache, progress=broken)
    assert api.datasets.get("shards").latest is None  # no version from half a push

    resumed = Sent()
    done = api.datasets.push("shards", src, cache=cache, progress=resumed)
    assert done.version.ref == "shards@1"
    assert resumed.uploaded <= 20 * MiB - broken.uploaded + MiB  # the rest, not all again
    assert broken.uploaded + resumed.uploaded < 21 * MiB


@storage_and_database
def test_tenants_see_private_sets_as_missing_and_public_sets_read_only(
    served: tuple[Client, str, Path], tmp_path: Path
) -> None:
    api, url, _ = served
    src = tree(tmp_path / "src", big=MiB)
    api.datasets.push("secret-set", src)
    api.datasets.push("open-set", src, create={"visibility": "public", "licence": "CC-BY-4.0"})
    org = api.orgs.create("other")
    user = api.users.create("stranger", role="member", org_id=org.id)
    token = api.tokens.create("t", user_id=user.id).secret
    with Client(url, token) as other:
        with pytest.raises(ApiError) as missing:
            other.datasets.get("secret-set")
        assert missing.value.status_code == 404
        public = other.datasets.get("open-set")
        assert public.latest == 1 and public.writable is False
        pulled = other.datasets.pull("open-set", tmp_path / "theirs")
        assert pulled["files"] == 22
        # the same bytes pushed by the other tenant are sent again: no hint that they exist
        sent = Sent()
        other.datasets.push("mine", src, progress=sent)
        assert sent.uploaded >= MiB
        # pushing under the same name makes their own set; the public one is untouched
        theirs = other.datasets.push("open-set", src).version
        assert theirs.ref == "open-set@1"
        assert other.datasets.get("open-set").project != public.project
        assert api.datasets.get("open-set").latest == 1
        catalog = other.datasets.list(scope="public")
        assert [d.name for d in catalog] == ["open-set"]


def test_a_batch_of_tiny_chunks_stays_under_the_request_limit() -> None:
    """100,000 files of a few bytes are mostly frame headers: a batch counts them."""
    tiny = [(f"{i:064x}", b"x" * 10) for i in range(10_000)]
    sent = list(batches(tiny, 4096))
    assert all(sum(FRAME.size + len(b) for _, b in batch) <= 4096 for batch in sent)
    assert sum(len(batch) for batch in sent) == 10_000
    big = [("a" * 64, b"y" * 5000)]
    assert list(batches(big, 4096)) == [big]  # one chunk over the limit still goes, alone
