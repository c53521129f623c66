"""The `predict` engine: a template-trained model (its files beside `predict.py`,
`aicc_template.py` and `template.yaml`) answering `POST /predict` with what its predict.py
writes for the rows.

The scripts share one interface, `predict.py --model DIR --input PATH --output PATH`, and most
load their model inside `main()`, so they are run as scripts: in this process (`runpy`), one
at a time, with the rows as a JSON lines file. The interpreter and the script's imports
(numpy, scikit-learn, torch) are paid once; each request pays only the script's own work
(loading its model file and predicting), not the second or two a fresh process costs."""

from __future__ import annotations

import json
import runpy
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from .choose import model_files
from .protocol import ApiError

MAX_ROWS = 1000
SCALARS = (str, int, float, bool, type(None))


class TableModel:
    """A template's model and its predict.py."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.script = path / "predict.py"
        self.model = model_files(path)  # what predict.py takes as --model

    @classmethod
    def load(cls, path: Path) -> TableModel:
        """Check the script is there and import what it imports (a script whose work is
        guarded by `if __name__ == "__main__"` does only that), so the first request does not
        pay for it."""
        model = cls(path)
        if not model.script.is_file():
            raise FileNotFoundError(f"{path} has no predict.py")
        sys.path.insert(0, str(path))  # the script imports aicc_template and its train.py
        if 'if __name__ == "__main__"' in model.script.read_text("utf-8"):
            runpy.run_path(str(model.script), run_name="aicc_serving_warmup")
        return model

    def predict(self, rows: list[dict[str, Any]]) -> list[Any]:
        """What predict.py writes for `rows`: its output table's rows (or values)."""
        with tempfile.TemporaryDirectory(prefix="aicc-predict-") as tmp:
            given, written = Path(tmp) / "rows.jsonl", Path(tmp) / "predictions.jsonl"
            given.write_text(
                "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8"
            )
            argv = sys.argv
            sys.argv = [str(self.script), "--model", str(self.model), "--input", str(given)]
            sys.argv += ["--output", str(written)]
            try:
                runpy.run_path(str(self.script), run_name="__main__")
            except SystemExit as e:
                if e.code not in (None, 0):
                    raise ApiError(f"the model refused the rows: {e.code}", param="rows") from None
            except Exception as e:  # the rows are all that changes between requests
                traceback.print_exc()
                raise ApiError(
                    f"predict.py failed on these rows: {type(e).__name__}: {e}", param="rows"
                ) from None
            finally:
                sys.argv = argv
            if not written.is_file():
                raise ApiError("predict.py wrote no predictions", code="no_output", status=500)
            return _read(written)


def rows(body: Any) -> list[dict[str, Any]]:
    """The request's rows, checked: 1 to 1,000 objects of plain values. `{"horizon": N}` is a
    series model's documented body (docs/models.md): the one row `{"horizon": N}`."""
    if isinstance(body, dict) and "rows" not in body and set(body) == {"horizon"}:
        horizon = body["horizon"]
        if isinstance(horizon, bool) or not isinstance(horizon, int) or not 0 < horizon <= 10_000:
            raise ApiError("horizon must be a whole number from 1 to 10000", param="horizon")
        return [{"horizon": horizon}]
    given = body.get("rows") if isinstance(body, dict) else None
    if not isinstance(given, list) or not given:
        raise ApiError(
            'send {"rows": [{column: value}, ...]} (a series model: {"horizon": N})', param="rows"
        )
    if len(given) > MAX_ROWS:
        raise ApiError(f"at most {MAX_ROWS} rows per request, not {len(given)}", param="rows")
    for i, row in enumerate(given):
        if not isinstance(row, dict) or not row:
            raise ApiError(f"rows[{i}] must be an object of column: value", param=f"rows[{i}]")
        for column, value in row.items():
            if not isinstance(value, SCALARS):
                raise ApiError(
                    f"rows[{i}].{column} must be a string, number, boolean or null",
                    param=f"rows[{i}].{column}",
                )
    return given


def _read(path: Path) -> list[Any]:
    """The predictions as written: JSON lines when they are, else a CSV table."""
    text = path.read_text("utf-8")
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError:
        import pyarrow.csv as pc

        table: list[Any] = pc.read_csv(path).to_pylist()
        return table
