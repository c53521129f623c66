"""What a table-prediction model speaks (the user's own columns), and its prediction.

`python predict.py --model DIR --input PATH --output PATH`: a table with the user's column
names in (CSV, Parquet, JSON or JSON lines, columns in any order), the same rows out with
`<target>_predicted` and, for up to 20 classes, `probability_<class>` per class. A model must
answer for rows as people send them, so nothing here refuses a row: a column the model knows
but the rows lack counts as missing, and so does a category it never saw, text in a number
column or a date it cannot read; the target column, if sent, is ignored; columns the model
does not know are carried through to the output unchanged.

Everything that turns the user's columns into the model's numbers lives here and train.py
uses it, so training and prediction cannot disagree: what each column is (`profile`: number,
integer, boolean, category, date, free text, or why it is left out: empty, constant, an ID, a
leak of the target), what is learned of it from the training rows (`fit_inputs`), the
translation (`matrix`), the ensemble's prediction (`combine`) and `model/schema.json`. A
template's model ships with its predict.py and train.py only: this is the file both have.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aicc_template
import joblib
import numpy as np
import sklearn.ensemble  # noqa: F401  the model's classes, imported once as a deployment warms up
from threadpoolctl import threadpool_limits

MAX_PROBABILITIES = 20  # more classes: only the predicted one
DATE_PARTS = ("year", "month", "day", "weekday", "hour", "day_of_year", "ordinal")
TRUE = {"true", "yes", "y", "t", "1", "是"}
FALSE = {"false", "no", "n", "f", "0", "否"}
EPOCH = datetime(1970, 1, 1)
MIN_ROWS = 30  # template.yaml input.min_rows
MAX_WHOLE_CLASSES = 20  # whole numbers with more distinct values are a quantity
MAX_CATEGORIES = 254  # HistGradientBoosting splits on at most 255 bins; rarer values: missing
MAX_SCHEMA_VALUES = 50
TEXT_WIDTH = 16
SHARE = 0.95  # of rows, for a leak
DATE_SHARE = 0.9  # of the filled cells, for a date column
ID_NAME = re.compile(r"(^|[_\s-])(id|uuid|key|no|code)$|编号|序号|^id", re.IGNORECASE)
CJK = re.compile(r"[\u4e00-\u9fff]")

WHY = {
    "empty": ("every row is empty", "每一行都为空"),
    "constant": ("the same value in every row", "每一行的值都相同"),
    "id": ("an identifier: a different value in every row", "标识列：每一行的值都不同"),
    "copy": (
        "a copy of the target (the model would see the answer)",
        "与目标列相同（模型会看到答案）",
    ),
    "relabel": (
        "the target under other names: each value stands for one value of the target",
        "目标列的另一种写法：每个值都对应目标的一个值",
    ),
    "follows": (
        "follows the target exactly (correlation above 0.999)",
        "与目标列几乎完全一致（相关系数高于 0.999）",
    ),
}


def missing(value: Any) -> bool:
    """An empty cell: null, NaN or blank text."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def label(value: Any) -> str:
    """A cell as the text that categories and classes are keyed by (`3.0` as `3`)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def boolean(value: Any) -> float:
    """1, 0, or NaN for a cell that is neither."""
    if isinstance(value, bool):
        return float(value)
    if missing(value):
        return math.nan
    text = label(value).lower()
    return 1.0 if text in TRUE else 0.0 if text in FALSE else math.nan


def times(values: Sequence[Any]) -> list[datetime | None]:
    """A column's cells as naive datetimes (None where unreadable), by the runtime's
    `parse_times`, which picks one format for the whole column."""
    try:
        parsed = aicc_template.parse_times(list(values))
    except (TypeError, ValueError, OverflowError):
        return [None] * len(values)
    out: list[datetime | None] = []
    for t in parsed:
        if isinstance(t, datetime):
            out.append(t.replace(tzinfo=None))
        elif isinstance(t, date):
            out.append(datetime(t.year, t.month, t.day))
        else:
            out.append(None)
    return out


def date_parts(values: Sequence[Any]) -> np.ndarray:
    """Year, month, day, weekday, hour, day of the year and the day number (the trend) of
    each cell; NaN for a cell that is not a date."""
    out = np.full((len(values), len(DATE_PARTS)), np.nan)
    for i, t in enumerate(times(values)):
        if t is not None:
            days = (t - EPOCH).total_seconds() / 86400
            out[i] = (t.year, t.month, t.day, t.weekday(), t.hour, t.timetuple().tm_yday, days)
    return out


@dataclass
class Target:
    """The column to predict, cleaned: the rows kept, `y` (class codes or numbers), and what
    was left out."""

    name: str
    task: str  # classification | regression
    rows: list[int]
    y: np.ndarray
    classes: list[Any] = field(default_factory=list)
    no_value: int = 0
    rare: dict[str, int] = field(default_factory=dict)  # class -> rows left out


def decide_task(values: Sequence[Any]) -> str:
    """Classification for text, booleans, or whole numbers with at most 20 distinct values."""
    filled = [v for v in values if not missing(v)]
    if any(isinstance(v, str | bool) for v in filled):
        return "classification"
    whole = all(isinstance(v, int) or (isinstance(v, float) and v.is_integer()) for v in filled)
    distinct = len({label(v) for v in filled})
    return "classification" if whole and distinct <= MAX_WHOLE_CLASSES else "regression"


def prepare_target(name: str, values: Sequence[Any]) -> Target:
    """The target's rows and values; SystemExit saying what is missing when too few rows, or
    fewer than two classes, are left to learn from."""
    task = decide_task(values)
    rows = [i for i, v in enumerate(values) if not missing(v)]
    no_value = len(values) - len(rows)
    if task == "regression":
        y = np.array([aicc_template.number(values[i]) for i in rows])
        keep = [r for r, v in zip(rows, y, strict=True) if math.isfinite(v)]
        no_value += len(rows) - len(keep)
        found = Target(name, task, keep, y[np.isfinite(y)], no_value=no_value)
        if len(found.y) and float(np.ptp(found.y)) == 0:
            raise SystemExit(
                f"column {name} has the same value in every row: there is nothing to predict; "
                "choose another column"
            )
    else:
        counts = Counter(label(values[i]) for i in rows)
        rare = {c: k for c, k in counts.items() if k < 2}
        rows = [i for i in rows if label(values[i]) not in rare]
        first = {label(values[i]): values[i] for i in reversed(rows)}  # the user's own value
        classes = sorted(first, key=_order)
        code = {c: i for i, c in enumerate(classes)}
        y = np.array([code[label(values[i])] for i in rows])
        typed = [_plain(first[c]) for c in classes]
        found = Target(name, task, rows, y, typed, no_value, rare)
        if len(classes) < 2:
            raise SystemExit(
                f"column {name} has {'only one value' if classes else 'no value seen twice'}"
                "; a class needs at least 2 rows and there must be 2 classes to choose between: "
                "choose another column to predict"
            )
    if len(found.rows) < MIN_ROWS:
        raise SystemExit(
            f"only {len(found.rows)} rows can be learned from (a value in {name}"
            f"{', each class in at least 2 rows' if task == 'classification' else ''}); "
            f"at least {MIN_ROWS} are needed"
        )
    return found


def _order(text: str) -> tuple[int, float, str]:
    """Classes in order: numbers by value, then text."""
    value = aicc_template.number(text)
    return (0, value, text) if math.isfinite(value) else (1, 0.0, text)


def _plain(value: Any) -> Any:
    """A class as JSON keeps it: the user's own number or text."""
    if isinstance(value, bool | int | str):
        return value.strip() if isinstance(value, str) else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return label(value)


def profile(name: str, values: list[Any]) -> tuple[str, str | None]:
    """A column's kind (number, integer, boolean, category, datetime, text) or the reason
    it is dropped (empty, constant, id)."""
    filled = [v for v in values if not missing(v)]
    if not filled:
        return "", "empty"
    distinct = len({label(v) for v in filled})
    if distinct == 1:
        return "", "constant"
    if all(isinstance(v, bool) for v in filled) or (
        distinct == 2 and {label(v).lower() for v in filled} in ({"true", "false"}, {"yes", "no"})
    ):
        return "boolean", None
    numbers = [aicc_template.number(v) for v in filled]
    if sum(math.isfinite(x) for x in numbers) >= SHARE * len(filled) and not any(
        isinstance(v, bool) for v in filled
    ):
        whole = all(not math.isfinite(x) or x.is_integer() for x in numbers)
        if whole and _identifies(name, values, numbers):
            return "", "id"
        return ("integer" if whole else "number"), None
    if any(isinstance(v, date) for v in filled):
        return "datetime", None
    texts = [str(v) for v in filled]
    read = sum(t is not None for t in times(texts[:2000]))
    if read >= DATE_SHARE * min(len(texts), 2000):
        return "datetime", None
    # words: spaced or Chinese (a Chinese character holds about what an English word does)
    words = sum(" " in t.strip() or bool(CJK.search(t)) for t in texts) / len(texts) >= 0.5
    mean = sum(len(t) + 3 * len(CJK.findall(t)) for t in texts) / len(texts)
    if words and mean > 20 and distinct > min(50, 0.5 * len(texts)):
        return "text", None
    if not words and (
        distinct >= len(filled) >= 0.9 * len(values)
        or (distinct >= SHARE * len(filled) and ID_NAME.search(name))
    ):
        return "", "id"
    return "category", None


def _identifies(name: str, values: list[Any], numbers: list[float]) -> bool:
    """Whole numbers that are an identifier: a different one in every row, and a run of
    them (row numbers; years and dates as 20100102 excepted) or under an ID's name (the fit
    check's rule, `core/template_fit.py`, plus the name)."""
    if len(set(numbers)) != len(values) or not all(map(math.isfinite, numbers)):
        return False
    low, high = min(numbers), max(numbers)
    dates = 1000 <= low <= high <= 2999 or 10_000_101 <= low <= high <= 29_991_231
    return (high - low + 1 == len(values) and not dates) or bool(ID_NAME.search(name))


def leak(values: list[Any], target: list[Any], regression: bool) -> str | None:
    """Why a column gives the target away (a copy, a one-to-one relabeling on 95% of the rows,
    or for numbers a correlation above 0.999), or None."""
    pairs = [(label(v), label(t)) for v, t in zip(values, target, strict=True) if not missing(v)]
    if len(pairs) < 0.5 * len(target) or not pairs:
        return None
    if sum(a == b for a, b in pairs) >= SHARE * len(pairs):
        return "copy"
    if regression:
        x = np.array([aicc_template.number(v) for v in values])
        y = np.array([aicc_template.number(t) for t in target])
        ok = np.isfinite(x) & np.isfinite(y)
        spread = ok.sum() >= 0.5 * len(target) and x[ok].std() > 0 and y[ok].std() > 0
        if spread and abs(float(np.corrcoef(x[ok], y[ok])[0, 1])) > 0.999:
            return "follows"
    if len({a for a, _ in pairs}) > 0.5 * len(pairs):
        return None  # a value per row maps to anything: no evidence of a relabeling
    if _agree(pairs) >= SHARE and _agree([(b, a) for a, b in pairs]) >= SHARE:
        return "relabel"
    return None


def _agree(pairs: list[tuple[str, str]]) -> float:
    """The share of pairs whose second value is the most common one for their first."""
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for a, b in pairs:
        seen[a][b] += 1
    return sum(c.most_common(1)[0][1] for c in seen.values()) / len(pairs)


def choose_inputs(
    table: dict[str, list[Any]], target: Target
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The inputs (name, kind) and the dropped columns (column, why in both languages)."""
    inputs, dropped = [], []
    truth = [table[target.name][i] for i in target.rows]
    for name, column in table.items():
        if name == target.name:
            continue
        values = [column[i] for i in target.rows]
        kind, why = profile(name, values)
        if why is None:
            why = leak(values, truth, target.task == "regression")
        if why is None:
            inputs.append({"name": name, "kind": kind})
        else:
            en, zh = WHY[why]
            dropped.append({"column": name, "why": {"en": en, "zh-CN": zh}})
    if not inputs:
        left = "; ".join(f"{d['column']}: {d['why']['en']}" for d in dropped) or "none"
        raise SystemExit(f"no column is left to learn {target.name} from (dropped: {left})")
    return inputs, dropped


def fit_inputs(
    inputs: list[dict[str, Any]], table: dict[str, list[Any]], rows: list[int], seed: int
) -> dict[str, Any]:
    """What each input needs learned from the training rows: a category's values (the most
    common first), a number's range and example, a text column's n-grams."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    text: dict[str, Any] = {}
    for spec in inputs:
        values = [table[spec["name"]][i] for i in rows]
        filled = [v for v in values if not missing(v)]
        spec["required"] = len(filled) == len(values)
        spec["example"] = _example(filled[0]) if filled else None
        if spec["kind"] == "category":
            counts = Counter(label(v) for v in filled).most_common()
            spec["values"] = [v for v, _ in counts[:MAX_CATEGORIES]]
        elif spec["kind"] in ("number", "integer"):
            numbers = [x for v in filled if math.isfinite(x := aicc_template.number(v))]
            spec["min"], spec["max"] = (min(numbers), max(numbers)) if numbers else (None, None)
        elif spec["kind"] == "text":
            docs = ["" if missing(v) else str(v) for v in values]
            vectorizer = TfidfVectorizer(
                analyzer="char_wb", ngram_range=(1, 3), max_features=20_000, sublinear_tf=True
            )
            words = vectorizer.fit(docs).vocabulary_
            width = max(1, min(TEXT_WIDTH, len(words) - 1, len(docs) - 1))
            svd = TruncatedSVD(n_components=width, random_state=seed)
            text[spec["name"]] = make_pipeline(vectorizer, svd).fit(docs)
            spec["width"] = width
    return text


def _example(value: Any) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def width(spec: Mapping[str, Any]) -> int:
    """How many columns of the model's matrix an input makes."""
    return {"datetime": len(DATE_PARTS), "text": spec.get("width", 0)}.get(spec["kind"], 1)


def owners(inputs: list[dict[str, Any]]) -> list[str]:
    """The user's column behind each column of the model's matrix."""
    return [spec["name"] for spec in inputs for _ in range(width(spec))]


def kinds(inputs: list[dict[str, Any]]) -> list[str]:
    """The kind of each column of the model's matrix."""
    return [spec["kind"] for spec in inputs for _ in range(width(spec))]


def write_schema(
    folder: Path, saved: dict[str, Any], inputs: list[dict[str, Any]]
) -> dict[str, Any]:
    """`model/schema.json`: what the model speaks, in the user's column names."""
    target, classes = saved["target"], saved["classes"]
    kind = {"text": "text", "datetime": "datetime", "boolean": "boolean", "category": "category"}
    schema_inputs = []
    for spec in inputs:
        item: dict[str, Any] = {
            "name": spec["name"],
            "type": kind.get(spec["kind"], spec["kind"]),
            "required": spec["required"],
            "example": spec["example"],
        }
        if spec["kind"] == "category" and len(spec["values"]) <= MAX_SCHEMA_VALUES:
            item["values"] = sorted(spec["values"])
        if spec["kind"] in ("number", "integer") and spec.get("min") is not None:
            whole = int if spec["kind"] == "integer" else float
            item["min"], item["max"] = whole(spec["min"]), whole(spec["max"])
        schema_inputs.append(item)
    outputs: list[dict[str, Any]] = [
        {"name": f"{target}_predicted", "type": "category" if classes else "number"}
    ]
    if classes and len(classes) <= MAX_PROBABILITIES:
        outputs += [{"name": f"probability_{label(c)}", "type": "number"} for c in classes]
    schema: dict[str, Any] = {
        "task": saved["task"],
        "target": target,
        "inputs": schema_inputs,
        "outputs": outputs,
    }
    if classes:
        schema["classes"] = classes
    (folder / "schema.json").write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
    return schema


def column_matrix(spec: Mapping[str, Any], values: Sequence[Any], text: Any) -> np.ndarray:
    """One of the user's columns as the model's numbers (n rows x its width)."""
    kind = spec["kind"]
    if kind in ("number", "integer"):
        return np.array([[aicc_template.number(v)] for v in values], dtype=float).reshape(-1, 1)
    if kind == "boolean":
        return np.array([boolean(v) for v in values], dtype=float).reshape(-1, 1)
    if kind == "category":
        index = {v: float(i) for i, v in enumerate(spec["values"])}
        codes = [math.nan if missing(v) else index.get(label(v), math.nan) for v in values]
        return np.array(codes, dtype=float).reshape(-1, 1)
    if kind == "datetime":
        return date_parts(values)
    if kind == "text":
        docs = ["" if missing(v) else str(v) for v in values]
        if not docs:
            return np.zeros((0, spec["width"]))
        return np.asarray(text.transform(docs), dtype=float)
    raise ValueError(f"unknown input kind {kind}")


def matrix(saved: Mapping[str, Any], table: Mapping[str, Sequence[Any]], n: int) -> np.ndarray:
    """The model's input matrix for `n` rows of `table` (the user's columns; a column it
    lacks is all missing)."""
    blocks = [
        column_matrix(spec, table.get(spec["name"]) or [None] * n, saved["text"].get(spec["name"]))
        for spec in saved["inputs"]
    ]
    return np.hstack(blocks) if blocks else np.zeros((n, 0))


def combine(members: Sequence[tuple[float, Any]], x: np.ndarray, classes: int) -> np.ndarray:
    """The weighted mean of the members' predictions: class probabilities (n x classes, the
    classes as codes 0..classes-1) when `classes` > 0, else numbers."""
    total = np.zeros((len(x), classes)) if classes else np.zeros(len(x))
    for weight, model in members:
        if classes:
            total[:, model.classes_.astype(int)] += weight * model.predict_proba(x)
        else:
            total += weight * model.predict(x)
    return total / sum(w for w, _ in members)


def predict(saved: Mapping[str, Any], table: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """The input rows (the target column left out) and the model's outputs."""
    n = max((len(v) for v in table.values()), default=0)
    target, classes = saved["target"], saved.get("classes") or []
    out = {k: list(v) for k, v in table.items() if k != target}
    name = f"{target}_predicted"
    found = (
        combine(saved["members"], matrix(saved, table, n), len(classes))
        if n
        else np.zeros((0, len(classes)) if classes else 0)
    )
    if not classes:
        out[name] = [float(v) for v in found]
        return out
    out[name] = [classes[int(i)] for i in found.argmax(axis=1)]
    if len(classes) <= MAX_PROBABILITIES:
        for i, c in enumerate(classes):
            out[f"probability_{label(c)}"] = [round(float(p), 5) for p in found[:, i]]
    return out


def read(path: Path) -> dict[str, list[Any]]:
    """The rows to predict; an empty file is an empty table."""
    if path.stat().st_size == 0 or not path.read_bytes().strip():
        return {}
    return aicc_template.read_table(path)


def main() -> None:
    args = aicc_template.predict_args()
    saved = joblib.load(args.model / "model.joblib")
    table = read(args.input)
    rows = max((len(v) for v in table.values()), default=0)
    with threadpool_limits(1 if rows < 50_000 else None):
        out = predict(saved, table)
    aicc_template.write_output(args.output, out)
    print(f"{rows} rows predicted -> {args.output}")


if __name__ == "__main__":
    main()
