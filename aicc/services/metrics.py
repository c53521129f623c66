"""A job's training curves, read from `$AICC_OUTPUT_DIR/metrics.jsonl` while it runs and after.

The file is one JSON object a line, `{"step": 3, "loss": 0.41, ...}` (`aicc.log_metrics` and the
templates' `Run.log` write it). A job writes it as it likes, so reading forgives: a line that is
not an object, a step that is not a whole number and a value that is not a finite number are
skipped, and the last line is ignored until its newline arrives (the job may be writing it).
A long run is thinned evenly to at most `points` per metric, first and last kept.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from aicc.core.states import JobState
from aicc.core.tenancy import Principal
from aicc.executors.base import Executor
from aicc.services import jobs, logs
from aicc.services.common import NotFound

FILE = "metrics.jsonl"
#: Keys that say when a point was taken, not what was measured.
META = frozenset({"step", "time", "time_s", "timestamp", "epoch_time"})
MAX_POINTS = 2000  # per metric, in one answer
MAX_METRICS = 100  # distinct names kept; a job logging more is cut there
MAX_LINE = 64 * 1024  # a longer line is not a point

Point = tuple[int, float]


@dataclass
class Curves:
    job_id: str
    running: bool  # not ended yet: poll again
    metrics: dict[str, list[Point]] = field(default_factory=dict)
    last_step: int | None = None  # the largest step read (before thinning): the next `since`
    total: int = 0  # points read (after `since` and `tail`, before thinning)
    thinned: bool = False  # some metric had more than `points` and was downsampled


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")  # NaN, Infinity: json would accept them


def points(lines: Iterator[bytes]) -> Iterator[tuple[int, dict[str, float]]]:
    """(step, {metric: value}) for each usable line; a line without a step takes the one after
    the previous point's, so a file of bare values still draws."""
    step = -1
    for raw in lines:
        if not raw.endswith(b"\n") or len(raw) > MAX_LINE:
            continue  # a partial last line (still being written), or not a point
        try:
            doc = json.loads(raw, parse_constant=_refuse_constant)
        except ValueError:  # JSONDecodeError and undecodable bytes too
            continue
        if not isinstance(doc, dict):
            continue
        given = doc.get("step", step + 1)
        if isinstance(given, bool) or not isinstance(given, int | float) or given != int(given):
            continue
        values = {
            str(k): v
            for k, v in ((k, _number(v)) for k, v in doc.items() if k not in META)
            if v is not None
        }
        step = int(given)
        if values:
            yield step, values


def thin(series: list[Point], most: int) -> list[Point]:
    """At most `most` points, evenly spread, the first and the last among them."""
    if len(series) <= most:
        return series
    if most == 1:
        return series[-1:]
    last = len(series) - 1
    return [series[round(i * last / (most - 1))] for i in range(most)]


def read_file(
    path: Path, *, since: int | None = None, tail: int | None = None, most: int = MAX_POINTS
) -> tuple[dict[str, list[Point]], int | None, int, bool]:
    """The curves in `path` (absent: none): (metrics, last step, points kept, thinned)."""
    grouped: dict[str, list[Point]] = {}
    last: int | None = None
    try:
        with path.open("rb") as fh:
            for step, values in points(iter(lambda: fh.readline(MAX_LINE + 1), b"")):
                last = step if last is None else max(last, step)
                if since is not None and step <= since:
                    continue
                for name, value in values.items():
                    if name in grouped or len(grouped) < MAX_METRICS:
                        grouped.setdefault(name, []).append((step, value))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return {}, None, 0, False
    if tail is not None:
        grouped = {name: series[-tail:] for name, series in grouped.items()}
    total = sum(len(series) for series in grouped.values())
    thinned = any(len(series) > most for series in grouped.values())
    return {name: thin(s, most) for name, s in sorted(grouped.items())}, last, total, thinned


def curves(
    session: Session,
    who: Principal,
    job_id: str,
    executors: dict[str, Executor],
    *,
    since: int | None = None,
    tail: int | None = None,
    most: int = MAX_POINTS,
) -> Curves:
    """The job's curves as its owner's tenant may read them (another tenant's job: NotFound).
    A job that has not written any yet (or has no outputs on this server) has none, not an
    error, so a page can poll from submit to end."""
    job = jobs.get(session, who, job_id)
    found = Curves(job.id, running=not JobState(job.state).is_terminal())
    try:
        root = logs.outputs_dir(session, job, executors)
    except NotFound:
        return found
    found.metrics, found.last_step, found.total, found.thinned = read_file(
        root / FILE, since=since, tail=tail, most=most
    )
    return found
