"""Opaque identifiers: a type prefix and a 26-character ULID, sortable by creation time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aicc.core.ids import PREFIXES, id_prefix, make_id

CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
MAX_MS = (1 << 48) - 1
MAX_RANDOM = (1 << 80) - 1

millis = st.integers(min_value=0, max_value=MAX_MS)
randomness = st.integers(min_value=0, max_value=MAX_RANDOM)


def decode(ulid: str) -> int:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    value = 0
    for char in ulid:
        value = value * 32 + alphabet.index(char)
    return value


@pytest.mark.parametrize("prefix", sorted(PREFIXES))
def test_an_id_is_its_prefix_and_a_ulid(prefix: str) -> None:
    identifier = make_id(prefix, unix_ms=1_700_000_000_000, random80=12345)
    head, _, ulid = identifier.partition("_")
    assert head == prefix
    assert len(ulid) == 26
    assert set(ulid) <= CROCKFORD
    assert id_prefix(identifier) == prefix


def test_the_documented_prefixes_exist() -> None:
    assert {"job", "node", "org", "prj"} <= PREFIXES


def test_a_known_value() -> None:
    # 2025-01-01T00:00:00Z in milliseconds; ULIDs of that era start with 01J.
    assert make_id("job", unix_ms=1_735_689_600_000, random80=0).startswith("job_01J")
    assert make_id("job", unix_ms=0, random80=0) == "job_" + "0" * 26
    assert make_id("job", unix_ms=MAX_MS, random80=MAX_RANDOM) == "job_7" + "Z" * 25


@given(millis, randomness)
def test_the_ulid_holds_the_time_then_the_randomness(unix_ms: int, random80: int) -> None:
    ulid = make_id("node", unix_ms=unix_ms, random80=random80).split("_", 1)[1]
    assert len(ulid) == 26
    assert set(ulid) <= CROCKFORD
    assert decode(ulid) == unix_ms << 80 | random80


@given(millis, millis, randomness, randomness)
def test_ids_sort_by_creation_time(ms_a: int, ms_b: int, rand_a: int, rand_b: int) -> None:
    a = make_id("job", unix_ms=ms_a, random80=rand_a)
    b = make_id("job", unix_ms=ms_b, random80=rand_b)
    if ms_a < ms_b:
        assert a < b
    elif ms_a > ms_b:
        assert a > b


def test_ids_made_the_same_millisecond_differ_by_randomness() -> None:
    assert make_id("job", unix_ms=5, random80=1) != make_id("job", unix_ms=5, random80=2)


@pytest.mark.parametrize("prefix", ["", "jobs", "JOB", "user", "x"])
def test_an_unknown_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="unknown id prefix"):
        make_id(prefix, unix_ms=0, random80=0)


@pytest.mark.parametrize("identifier", ["job", "job_", "foo_01J0000000000000000000000", "", "_x"])
def test_id_prefix_of_something_else_is_empty(identifier: str) -> None:
    assert id_prefix(identifier) == ""
