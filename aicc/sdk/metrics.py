"""`aicc.log_metrics`: a job's training curves, written where the center reads them.

Inside a job, each call appends one JSON line to `$AICC_OUTPUT_DIR/metrics.jsonl` and flushes
it, so the portal, `aicc job metrics` and `GET /api/v1/jobs/{id}/metrics` draw the curves while
the job runs. It needs no server and no token (it only writes a file), and it never stops a
training run: outside a job it warns once and does nothing, and a value that is not a finite
number (a diverged loss) is left out with a warning. Standard library only: `import aicc` stays
light.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from pathlib import Path

FILE = "metrics.jsonl"
_next_step = 0
_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def log_metrics(step: int | None = None, **values: float) -> None:
    """Record `values` (`loss=0.3, accuracy=0.91`) at `step`; without a step, the one after
    this process's last. Example: `aicc.log_metrics(step=epoch, loss=loss, val_loss=val)`."""
    global _next_step
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        raise TypeError(f"step must be a whole number, not {step!r}")
    point: dict[str, float | int] = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                value = float(value)  # numpy and torch scalars
            except (TypeError, ValueError):
                raise TypeError(f"metric {name} must be a number, not {value!r}") from None
        if math.isfinite(value):
            point[name] = value
        else:
            _warn_once(f"finite:{name}", f"aicc.log_metrics: {name} is {value}; not recorded")
    folder = os.environ.get("AICC_OUTPUT_DIR")
    if not folder:
        _warn_once("dir", "aicc.log_metrics: AICC_OUTPUT_DIR is not set (not in a job?); ignored")
        return
    now = step if step is not None else _next_step
    _next_step = now + 1
    if not point:
        return
    line = json.dumps({"step": now, "time": round(time.time(), 3), **point}) + "\n"
    with (Path(folder) / FILE).open("a", encoding="utf-8") as out:
        out.write(line)  # one write of one line, flushed on close: readers never see half
