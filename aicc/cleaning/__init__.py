"""Cleaning (数据清洗): the steps a cleaning job runs over a data set's records, and the runner
the job starts, `python -m aicc.cleaning --input DIR --output DIR --steps ...`.

Steps are pure functions of the records (`dedup`, `near_dup`, `filter`, `pii`); `formats` and
`runner` read and write the files. The package imports no other AICC package, so a job needs
only it and its libraries, not a server.
"""

from aicc.cleaning.filters import Filter
from aicc.cleaning.language import language
from aicc.cleaning.pii import id_valid, luhn_valid, mask
from aicc.cleaning.pipeline import STEPS, Options, Pipeline, parse_steps
from aicc.cleaning.runner import REPORT, CleaningError, run

__all__ = [
    "REPORT",
    "STEPS",
    "CleaningError",
    "Filter",
    "Options",
    "Pipeline",
    "id_valid",
    "language",
    "luhn_valid",
    "mask",
    "parse_steps",
    "run",
]
