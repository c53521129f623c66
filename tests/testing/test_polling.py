"""Waiting in tests (aicc/testing/polling.py): probes come often at first and never further
apart than asked, and a wait that runs out names what it waited for."""

from __future__ import annotations

import itertools

import pytest

from aicc.testing.polling import pauses, wait


def test_pauses_grow_from_a_fiftieth_of_a_second_to_the_cap() -> None:
    first = list(itertools.islice(pauses(0.2), 40))
    assert first[0] == 0.02 and max(first) == first[-1] == 0.2
    assert first == sorted(first)
    assert sum(first[:10]) < 0.7  # eleven probes in 0.7 s, where a fixed 0.2 s pause made four
    assert list(itertools.islice(pauses(0.01), 3)) == [0.01] * 3  # a cap below the first


def test_a_wait_that_runs_out_names_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match=r"the moon: not within 0\.1 s"):
        wait("the moon", lambda: None, timeout=0.1)
