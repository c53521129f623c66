"""A model's training curves as the portal draws them: `metrics.jsonl` read leniently (a job
still running may be halfway through a line), long logs thinned to a page's worth of points."""

from __future__ import annotations

import json

from aicc.services.models.models import MAX_CURVE_POINTS, parse_curves


def test_lines_that_are_not_points_are_skipped() -> None:
    log = b'{"step": 1, "loss": 2}\nnot json\n[1, 2]\n{"step": 2, "loss": 1.5, "x": NaN}\n{"st'
    curves = parse_curves(log)
    assert curves.steps == [1, 2] and curves.series == {"loss": [2.0, 1.5]}


def test_metrics_logged_at_some_steps_only_leave_gaps() -> None:
    log = b"\n".join(
        json.dumps(p).encode()
        for p in ({"loss": 3, "time_s": 0.1}, {"loss": 2, "accuracy": 0.5}, {"loss": 1})
    )
    curves = parse_curves(log)
    assert curves.steps == [0, 1, 2]  # no `step`: the line's number
    assert curves.series == {"loss": [3, 2, 1], "accuracy": [None, 0.5, None]}


def test_a_long_log_is_thinned_evenly() -> None:
    log = b"\n".join(json.dumps({"step": n, "loss": 1 / (n + 1)}).encode() for n in range(10_000))
    curves = parse_curves(log)
    assert len(curves.steps) <= MAX_CURVE_POINTS and curves.steps[0] == 0
    assert curves.steps[-1] > 9_000 and curves.steps == sorted(curves.steps)
