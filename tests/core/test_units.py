"""Quantities as people write them become the integer units the API stores
(docs/contracts.md §1)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aicc.core.units import (
    format_cpu,
    format_duration,
    format_memory,
    parse_cpu_milli,
    parse_duration_s,
    parse_memory_mib,
    parse_share_milli,
    quota_amounts,
    quota_text,
)

# What YAML or JSON can hand a parser that is no quantity at all.
NOT_QUANTITIES: list[Any] = [None, True, False, [1], {"a": 1}, float("inf"), float("nan")]


@pytest.mark.parametrize(
    ("value", "milli"),
    [
        ("2", 2000),
        (2, 2000),
        (0.5, 500),
        ("0.5", 500),
        ("500m", 500),
        (" 250m ", 250),
        ("1.5", 1500),
        (0, 0),
        (64, 64000),
    ],
)
def test_cpu(value: str | int | float, milli: int) -> None:
    assert parse_cpu_milli(value) == milli


@pytest.mark.parametrize("value", ["", "two", "2x", "2Gi", "-1", "500 mm", "1e3"])
def test_cpu_rejects_text_that_is_no_cpu_amount(value: str) -> None:
    with pytest.raises(ValueError, match="500m"):
        parse_cpu_milli(value)


def test_cpu_rejects_negative_numbers() -> None:
    with pytest.raises(ValueError, match="negative"):
        parse_cpu_milli(-1)


@pytest.mark.parametrize("value", NOT_QUANTITIES)
def test_parsers_answer_value_error_for_anything_else(value: Any) -> None:
    """Only a ValueError becomes a 422 in pydantic; a TypeError would be a 500 for bad input."""
    for parse in (parse_cpu_milli, parse_memory_mib, parse_share_milli, parse_duration_s):
        with pytest.raises(ValueError):
            parse(value)


@pytest.mark.parametrize("value", [1e308, 10**400, "9" * 400, "9" * 400 + "Gi", "9" * 400 + "h"])
def test_quantities_too_large_for_a_float_are_value_errors(value: Any) -> None:
    """`cpu: 1e308` is 1e311 milli-cores, infinity: an OverflowError was a 500 (issue 16)."""
    for parse in (parse_cpu_milli, parse_memory_mib, parse_share_milli, parse_duration_s):
        try:
            result = parse(value)
        except ValueError:
            continue  # refused as bad input
        assert isinstance(result, int)  # a number the spec's bounds then refuse


@pytest.mark.parametrize(
    ("value", "mib"),
    [
        ("4GiB", 4096),
        ("512MiB", 512),
        ("512Mi", 512),
        ("4gib", 4096),
        ("1.5GiB", 1536),
        ("2G", round(2 * 1000**3 / 1024**2)),
        ("1Ti", 1024 * 1024),
        ("1TiB", 1024 * 1024),
        ("1024KiB", 1),
        (1024 * 1024, 1),  # a bare number is bytes, as in Kubernetes
        ("1073741824", 1024),
        (8 * 1024**3, 8192),
        ("1KiB", 1),  # a positive size with a unit never rounds down to nothing
        (0, 0),
    ],
)
def test_memory(value: str | int, mib: int) -> None:
    assert parse_memory_mib(value) == mib


@pytest.mark.parametrize("value", ["lots", "4 GB of RAM", "4Gx", "", "-1GiB"])
def test_memory_rejects_nonsense_and_shows_an_example(value: str) -> None:
    with pytest.raises(ValueError, match="4GiB"):
        parse_memory_mib(value)


@pytest.mark.parametrize("value", [8192, "8192", 1])
def test_a_bare_number_under_one_mib_is_refused_as_a_likely_slip(value: str | int) -> None:
    with pytest.raises(ValueError, match="MiB"):
        parse_memory_mib(value)


def test_memory_rejects_negative_numbers() -> None:
    with pytest.raises(ValueError, match="negative"):
        parse_memory_mib(-1)


@pytest.mark.parametrize(
    ("value", "milli"),
    [(0.5, 500), ("0.5", 500), ("250m", 250), (500, 500), (1, 1000), (1.0, 1000), (0.001, 1)],
)
def test_share(value: str | int | float, milli: int) -> None:
    assert parse_share_milli(value) == milli


@pytest.mark.parametrize("value", [0, 0.0, 1001, -0.5, "0", "2", "1500m", "half"])
def test_share_must_be_part_of_one_device(value: str | int | float) -> None:
    with pytest.raises(ValueError):
        parse_share_milli(value)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2h", 7200),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("90s", 90),
        ("30m", 1800),
        ("1d", 86400),
        ("1.5h", 5400),
        ("2H", 7200),
        (90, 90),
        (90.4, 90),
        ("90", 90),
    ],
)
def test_duration(value: str | int | float, seconds: int) -> None:
    assert parse_duration_s(value) == seconds


@pytest.mark.parametrize("value", ["0", 0, "0s", -5])
def test_duration_must_be_positive(value: str | int) -> None:
    with pytest.raises(ValueError, match="positive"):
        parse_duration_s(value)


@pytest.mark.parametrize("value", ["abc", "", "2x", "h", "2h and a bit", "-5"])
def test_duration_rejects_nonsense_and_shows_an_example(value: str) -> None:
    with pytest.raises(ValueError, match="1h30m"):
        parse_duration_s(value)


@pytest.mark.parametrize(
    ("mib", "text"),
    [(4096, "4GiB"), (1536, "1.5GiB"), (512, "512MiB"), (1024, "1GiB"), (0, "0MiB")],
)
def test_format_memory(mib: int, text: str) -> None:
    assert format_memory(mib) == text


@pytest.mark.parametrize(("milli", "text"), [(2000, "2"), (500, "500m"), (1500, "1500m"), (0, "0")])
def test_format_cpu(milli: int, text: str) -> None:
    assert format_cpu(milli) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(7260, "2h1m"), (7200, "2h"), (59, "59s"), (60, "1m"), (90, "1m30s"), (0, "0s"), (59.6, "1m")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=1_024_000))
def test_formatted_cpu_reads_back_the_same(milli: int) -> None:
    assert parse_cpu_milli(format_cpu(milli)) == milli


@given(st.integers(min_value=0, max_value=16 * 1024 * 1024))
def test_formatted_memory_reads_back_within_a_tenth_of_a_gib(mib: int) -> None:
    assert abs(parse_memory_mib(format_memory(mib)) - mib) <= 52


@given(st.integers(min_value=1, max_value=3599))
def test_formatted_short_durations_read_back_the_same(seconds: int) -> None:
    assert parse_duration_s(format_duration(seconds)) == seconds


def test_quota_pairs_read_as_stored_units_and_back() -> None:
    """The CLI's `--guaranteed/--max` and the portal's quota form read quotas alike: models in
    devices, cpu in cores, memory and storage as sizes (storage a bare number of GiB)."""
    amounts = quota_amounts(["A100-80GB=2", "cpu=64", "memory=512GiB", "pflops=1.5"])
    assert amounts == {"A100-80GB": 2000.0, "cpu_milli": 64000, "memory_mib": 524288, "pflops": 1.5}
    assert quota_amounts(["storage=100"]) == quota_amounts(["storage_gib=100GiB"])
    assert quota_amounts(["storage=1TiB"]) == {"storage_gib": 1024.0}
    assert quota_amounts(quota_text(amounts).split()) == amounts
    for bad in ("cpu", "A100=two", "memory=lots", "=4"):
        with pytest.raises(ValueError, match=r"KEY=VALUE|is not|could not convert"):
            quota_amounts([bad])
