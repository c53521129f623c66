"""Reading a job's `metrics.jsonl` as it grows: only new lines are parsed, a line still being
written waits, a rewritten file starts over, a resumed run redraws from where it resumed, and a
very long run is kept and answered in bounded, evenly spread points."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from aicc.services.jobs import metrics


def append(path: Path, *lines: str | dict[str, object]) -> None:
    with path.open("a") as out:
        for line in lines:
            out.write(line if isinstance(line, str) else json.dumps(line) + "\n")


def test_a_growing_file_is_read_on_from_where_it_was(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    assert metrics.read_file(path) == ({}, None, 0, False)  # not written yet
    append(path, {"step": 0, "loss": 3.0}, {"step": 1, "loss": 2.0}, '{"step": 2, "lo')
    assert metrics.read_file(path)[:2] == ({"loss": [(0, 3.0), (1, 2.0)]}, 1)
    append(path, 'ss": 1.5}\n', {"loss": 1.0, "acc": 0.5})  # the cut line ends; a bare one
    found, last, total, thinned = metrics.read_file(path)
    assert found == {"acc": [(3, 0.5)], "loss": [(0, 3.0), (1, 2.0), (2, 1.5), (3, 1.0)]}
    assert (last, total, thinned) == (3, 5, False)
    assert metrics.read_file(path, since=2)[0] == {"acc": [(3, 0.5)], "loss": [(3, 1.0)]}
    assert metrics.read_file(path, tail=2)[0]["loss"] == [(2, 1.5), (3, 1.0)]


def test_a_rewritten_file_starts_over_and_a_resumed_run_redraws(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    append(path, *({"step": s, "loss": 10.0 - s} for s in range(10)))
    assert len(metrics.read_file(path)[0]["loss"]) == 10
    append(path, *({"step": s, "loss": 0.5} for s in (6, 7)))  # requeued, resumed at step 6
    loss = metrics.read_file(path)[0]["loss"]
    assert loss == [(s, 10.0 - s) for s in range(6)] + [(6, 0.5), (7, 0.5)]
    path.write_text(json.dumps({"step": 0, "loss": 1.0}) + "\n")  # truncated and written anew
    assert metrics.read_file(path)[:2] == ({"loss": [(0, 1.0)]}, 0)


def test_an_overlong_line_is_skipped_and_the_next_one_read(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    huge = json.dumps({"step": 0, "loss": 1.0, "junk": "x" * (metrics.MAX_LINE * 2)})
    append(path, huge + "\n", {"step": 1, "loss": 0.5})
    assert metrics.read_file(path)[0] == {"loss": [(1, 0.5)]}


def test_a_long_run_is_kept_bounded_and_answered_evenly(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    steps = 50_000
    with path.open("w") as out:
        out.writelines(json.dumps({"step": s, "loss": 1 / (s + 1)}) + "\n" for s in range(steps))
    found, last, _total, thinned = metrics.read_file(path, most=100)
    loss = found["loss"]
    assert (len(loss), loss[0][0], loss[-1][0], last, thinned) == (
        100,
        0,
        steps - 1,
        steps - 1,
        True,
    )
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(loss)]
    assert min(gaps) >= 0.8 * steps / 99 and max(gaps) <= 1.2 * steps / 99  # evenly spread
    series = metrics._readings[str(path)].series["loss"]
    assert len(series.kept) <= metrics.KEEP and len(series.recent) == metrics.TAIL
    append(path, {"step": steps, "loss": 0.0})
    assert metrics.read_file(path, since=steps - 1)[0] == {"loss": [(steps, 0.0)]}
    assert metrics.read_file(path, most=100)[0]["loss"][-1] == (steps, 0.0)
