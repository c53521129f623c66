"""A cleaning pipeline: the chosen steps, in the order given, over a stream of records, with
the counts a report gives (records in and out, removed per step, filtered per reason, masked
per kind).

A record is its text (the line of a .txt, the text field of a JSONL object or table row) and
its other string fields. The removing steps judge the text; `pii` masks the text in its place in
the order, and the other fields of every kept record (`mask_field`), since a phone number in a
`contact` column leaks as much as one in the text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from aicc.cleaning import pii
from aicc.cleaning.dedup import ExactDedup, NearDedup
from aicc.cleaning.filters import Filter

STEPS: Final = ("dedup", "near_dup", "filter", "pii")
PROGRESS_EVERY: Final = 100_000


@dataclass(frozen=True)
class Options:
    """What to run; every value is checked when a `Pipeline` is built."""

    steps: tuple[str, ...] = STEPS
    filter: Filter = field(default_factory=Filter)
    threshold: float = 0.8

    def __post_init__(self) -> None:
        parse_steps(",".join(self.steps))
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold {self.threshold}: a similarity above 0 and at most 1")


def parse_steps(text: str) -> tuple[str, ...]:
    """`dedup,near_dup,filter,pii` (any order, each once) as a tuple."""
    steps = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in steps if s not in STEPS]
    if unknown or not steps:
        raise ValueError(
            f"steps {text!r}: name one or more of {', '.join(STEPS)}, separated by commas"
        )
    if len(set(steps)) != len(steps):
        raise ValueError(f"steps {text!r}: each step at most once")
    return steps


class Pipeline:
    """Runs the steps over records one at a time and counts what they did."""

    def __init__(self, options: Options, progress: Callable[[int], None] | None = None) -> None:
        """`progress` hears the records read so far every 100,000 records."""
        self.options = options
        self._progress = progress
        self.steps = options.steps
        # Each removing step: whether it drops a text. Indexes are built only for steps run.
        self._removes: dict[str, Callable[[str], bool]] = {"filter": self._filtered}
        if "dedup" in self.steps:
            self._removes["dedup"] = ExactDedup().seen
        if "near_dup" in self.steps:
            self._removes["near_dup"] = NearDedup(options.threshold).seen
        self.records_in = 0
        self.records_out = 0
        self.removed: Counter[str] = Counter({s: 0 for s in self.steps if s != "pii"})
        self.filtered: Counter[str] = Counter()
        self.masked: Counter[str] = Counter({k: 0 for k in pii.KINDS} if self.masks else {})

    @property
    def masks(self) -> bool:
        return "pii" in self.steps

    def clean(self, text: str) -> str | None:
        """The record's text after the steps, or None when a step removed the record."""
        self.records_in += 1
        if self._progress is not None and self.records_in % PROGRESS_EVERY == 0:
            self._progress(self.records_in)
        for step in self.steps:
            if step == "pii":
                text = pii.mask(text, self.masked)
            elif self._removes[step](text):
                self.removed[step] += 1
                return None
        self.records_out += 1
        return text

    def _filtered(self, text: str) -> bool:
        reason = self.options.filter.reason(text)
        if reason is not None:
            self.filtered[reason] += 1
        return reason is not None

    def mask_field(self, value: str) -> str:
        """Another string field of a kept record, masked when the pipeline masks PII."""
        return pii.mask(value, self.masked) if self.masks else value

    def counts(self) -> dict[str, object]:
        return {
            "records_in": self.records_in,
            "records_out": self.records_out,
            "removed": dict(self.removed),
            "filtered": dict(self.filtered),
            "masked": dict(self.masked),
        }
