"""A job's training curves, read from `$AICC_OUTPUT_DIR/metrics.jsonl` while it runs and after.

The file is one JSON object a line, `{"step": 3, "loss": 0.41, ...}` (`aicc.log_metrics` and the
templates' `Run.log` write it). A job writes it as it likes, so reading forgives: a line that is
not an object or has a step that is not a whole number is skipped, so is a value that is not a
finite number (NaN, Infinity: the line's other values stay), and the last line is ignored until
its newline arrives (the job may be writing it).

Pages poll the curves every few seconds while a job runs, and a long run logs hundreds of
thousands of lines, so a file is not parsed again at each read: what was read of it is kept
(for the last `CACHED` files), and a read parses only the lines added since. What is kept of a
metric is bounded: every `stride`-th point, the stride doubling whenever more than `KEEP` would
be kept (an even thinning that never needs the whole run at once), and its last `TAIL` points
as written. An answer is thinned evenly again to at most `most` points, the first and the last
among them.

The file is the job's: it is opened through the guard of job-written files
(`executors/jobfiles.py`), so a link there, a FIFO or a file over the cap is refused (422, 413)
and a read never blocks.

A job that logs with the stock `mlflow` client writes MLflow's file store in its outputs
(`mlruns/EXPERIMENT/RUN/metrics/KEY`, a line `timestamp value step` a point; the job's
environment points the client there, executors/environment.py): those metrics are the job's
curves too, read the same way, one file a metric (`mlflow_files`). A name logged both ways is
one curve.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

from sqlalchemy.orm import Session

from aicc.core.states import JobState
from aicc.core.tenancy import Principal
from aicc.executors import jobfiles
from aicc.executors.base import Executor
from aicc.services.common import NotFound
from aicc.services.jobs import jobs, logs
from aicc.services.jobs.views import Metrics

FILE = "metrics.jsonl"
MLRUNS = "mlruns"  # MLflow's file store in a job's outputs
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
#: Keys that say when a point was taken, not what was measured.
META = frozenset({"step", "time", "time_s", "timestamp", "epoch_time"})
MAX_POINTS = 2000  # per metric, in one answer
KEEP = 4 * MAX_POINTS  # evenly spread points kept per metric between reads
TAIL = 1000  # the last points of a metric kept as written: the most `tail` asks for
MAX_METRICS = 100  # distinct names kept; a job logging more is cut there
MAX_LINE = 64 * 1024  # a longer line is not a point
CACHED = 32  # files whose reading is kept between reads

Point = tuple[int, float]
T = TypeVar("T")


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _not_a_number(name: str) -> None:
    return None  # NaN, Infinity: Python's json would take them as floats; they are no value


def parse(raw: bytes, default_step: int) -> tuple[int, dict[str, float]] | None:
    """One line as (step, {metric: value}), or None when it is not a point; a line without a
    step takes `default_step` (the one after the previous point's)."""
    try:
        doc = json.loads(raw, parse_constant=_not_a_number)
    except ValueError:  # JSONDecodeError and undecodable bytes too
        return None
    if not isinstance(doc, dict):
        return None
    step = doc.get("step", default_step)
    if isinstance(step, bool) or not isinstance(step, int | float) or step != int(step):
        return None
    values = {str(k): n for k, v in doc.items() if k not in META and (n := _number(v)) is not None}
    return int(step), values


def parse_mlflow(raw: bytes, key: str) -> tuple[int, dict[str, float]] | None:
    """A line of MLflow's file store, `timestamp value step`, as (step, {key: value})."""
    parts = raw.split()
    if len(parts) != 3:
        return None
    try:
        value, step = float(parts[1]), int(parts[2])
    except ValueError:
        return None
    return (step, {key: value}) if math.isfinite(value) else (step, {})


def mlflow_files(root: Path) -> list[tuple[str, Path]]:
    """(metric, file) of the runs in the outputs' `mlruns` (a few runs, a hundred metrics
    each); [] without one. What the guard refuses there is left out."""
    found: list[tuple[str, Path]] = []
    try:
        store = jobfiles.JobFiles(root).subdir(MLRUNS)
        for experiment in store.names()[:20]:
            if experiment.startswith("."):
                continue
            for run in [n for n in store.names(experiment) if _RUN_ID.match(n)][:20]:
                metrics = store.subdir(f"{experiment}/{run}/metrics")
                found += [(f.path, metrics.root / f.path) for f in metrics.walk()[:MAX_METRICS]]
    except (OSError, jobfiles.Refused):
        pass
    return found


def thin(series: list[T], most: int) -> list[T]:
    """At most `most` points, evenly spread, the first and the last among them."""
    if len(series) <= most:
        return series
    if most == 1:
        return series[-1:]
    last = len(series) - 1
    return [series[round(i * last / (most - 1))] for i in range(most)]


@dataclass
class Series:
    """One metric as read so far, in bounded memory: every `stride`-th point and the last ones."""

    kept: list[Point] = field(default_factory=list)
    recent: deque[Point] = field(default_factory=lambda: deque(maxlen=TAIL))
    stride: int = 1
    skip: int = 0  # points to pass over before the next one kept

    def add(self, step: int, value: float) -> None:
        if self.recent and step <= self.recent[-1][0]:
            self.cut(step)  # a step logged again: the run resumed from before it
        self.recent.append((step, value))
        if self.skip:
            self.skip -= 1
            return
        self.kept.append((step, value))
        if len(self.kept) > KEEP:
            self.kept, self.stride = self.kept[::2], self.stride * 2
        self.skip = self.stride - 1

    def cut(self, step: int) -> None:
        """Forget the points from `step` on: they are being logged again."""
        while self.recent and self.recent[-1][0] >= step:
            self.recent.pop()
        while self.kept and self.kept[-1][0] >= step:
            self.kept.pop()
        self.skip = 0

    def points(self, since: int | None, tail: int | None) -> list[Point]:
        """The curve after `since`, or its last `tail` points; evenly thinned if long."""
        if tail is not None:
            return list(self.recent)[-tail:]
        if since is not None and self.recent and self.recent[0][0] <= since + 1:
            return [p for p in self.recent if p[0] > since]  # all that is new, as written
        curve = self.kept
        if self.recent and (not curve or curve[-1] != self.recent[-1]):
            curve = [*curve, self.recent[-1]]  # the latest point, whatever the stride
        return curve if since is None else [p for p in curve if p[0] > since]


@dataclass
class Reading:
    """What was read of one file: where to go on, and the metrics so far."""

    device: int
    inode: int
    offset: int = 0  # bytes read, up to the end of the last whole line
    skipping: bool = False  # in a line longer than MAX_LINE, until its newline
    next_step: int = 0
    last_step: int | None = None
    series: dict[str, Series] = field(default_factory=dict)
    key: str | None = None  # an MLflow metric file's metric (`parse_mlflow`)

    def read_on(self, fh: IO[bytes]) -> None:
        """Parse the whole lines written since the last read."""
        fh.seek(self.offset)
        while raw := fh.readline(MAX_LINE + 1):
            whole = raw.endswith(b"\n")
            if not whole and len(raw) <= MAX_LINE:
                return  # the job is still writing this line: read it next time
            self.offset += len(raw)
            if self.skipping or not whole:
                self.skipping = not whole
                continue
            found = parse(raw, self.next_step) if self.key is None else parse_mlflow(raw, self.key)
            if found is None:
                continue
            step, values = found
            self.next_step = step + 1
            self.last_step = step if self.last_step is None else max(self.last_step, step)
            for name, value in values.items():
                if name in self.series or len(self.series) < MAX_METRICS:
                    self.series.setdefault(name, Series()).add(step, value)


_readings: OrderedDict[str, Reading] = OrderedDict()
_lock = threading.Lock()


def read_file(
    path: Path,
    *,
    since: int | None = None,
    tail: int | None = None,
    most: int = MAX_POINTS,
    key: str | None = None,
) -> tuple[dict[str, list[Point]], int | None, int, bool]:
    """The curves in `path` (absent: none): (metrics, last step, points matched, thinned).
    Each metric is in the order it was logged; a step logged again (a requeued job resuming
    from a checkpoint) replaces the curve from there on. `path` is a job's file, opened through
    the guard (`jobfiles.Refused` for a link, a FIFO, a file over the cap); with `key`, an
    MLflow metric file of that metric."""
    try:
        fh = jobfiles.JobFiles(path.parent).open(path.name)
    except FileNotFoundError:
        return {}, None, 0, False
    with fh, _lock:
        stat = os.fstat(fh.fileno())
        cached = str(path)
        reading = _readings.get(cached)
        if (
            reading is None
            or (reading.device, reading.inode) != (stat.st_dev, stat.st_ino)
            or stat.st_size < reading.offset  # truncated: written anew
        ):
            reading = Reading(stat.st_dev, stat.st_ino, key=key)
        _readings[cached] = reading
        _readings.move_to_end(cached)
        while len(_readings) > CACHED:
            _readings.popitem(last=False)
        if stat.st_size > reading.offset:
            reading.read_on(fh)
        matched = {name: s.points(since, tail) for name, s in sorted(reading.series.items())}
        thinned = any(s.stride > 1 for s in reading.series.values()) and tail is None
        last = reading.last_step
    matched = {name: points for name, points in matched.items() if points}
    total = sum(len(points) for points in matched.values())
    thinned = thinned or any(len(points) > most for points in matched.values())
    return {name: thin(p, most) for name, p in matched.items()}, last, total, thinned


def curves(
    session: Session,
    who: Principal,
    job_id: str,
    executors: dict[str, Executor],
    *,
    since: int | None = None,
    tail: int | None = None,
    most: int = MAX_POINTS,
) -> Metrics:
    """The job's curves as its owner's tenant may read them (another tenant's job: NotFound).
    A job that has not written any yet (or has no outputs on this server) has none, not an
    error, so a page can poll from submit to end. `points` counts what matched `since` and
    `tail` before thinning to `most`; `last_step` is the next poll's `since`."""
    job = jobs.get(session, who, job_id)
    running = not JobState(job.state).is_terminal()
    try:
        root = logs.outputs_dir(session, job, executors)
    except NotFound:
        return Metrics(
            job_id=job.id, running=running, metrics={}, last_step=None, points=0, thinned=False
        )
    with logs.refusals():
        found, last_step, total, thinned = read_file(root / FILE, since=since, tail=tail, most=most)
    for key, path in mlflow_files(root):
        if key in found or len(found) >= MAX_METRICS:
            continue
        try:
            more, last, count, cut = read_file(path, since=since, tail=tail, most=most, key=key)
        except jobfiles.Refused:
            continue
        found.update(more)
        total += count
        thinned = thinned or cut
        if last is not None:
            last_step = last if last_step is None else max(last_step, last)
    return Metrics(
        job_id=job.id,
        running=running,
        metrics={name: [[step, value] for step, value in points] for name, points in found.items()},
        last_step=last_step,
        points=total,
        thinned=thinned,
    )
