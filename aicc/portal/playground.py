"""The predict playground's reading and writing, apart from its routes (portal/model_apis.py):
a model's input schema (`schema.json`, issue 37's contract 4) as a form's fields, the form or
an uploaded CSV as the rows `/predict` takes, the deployment's answer as what the page shows,
and predictions as a CSV to download.

The schema was written by a training job, so it is read as hostile: every field is checked and
capped here, and a schema that says nothing usable is no schema (the page keeps the chat
playground). No I/O: the routes hand in what the request brought and the gateway answered.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aicc.portal.i18n import Message, Translator
from aicc.services.common import Invalid

MAX_ROWS = 1000  # what one `/predict` takes (serving/tables.py); more is a batch prediction
MAX_INPUTS = 200  # the form's fields
MAX_VALUES = 50  # a category's values in a select (contract 4)
MAX_TEXT = 20_000  # one typed value
MAX_CSV_BYTES = 8 * 1024 * 1024
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_HORIZON = 1000
TYPES = ("number", "integer", "category", "boolean", "datetime", "text", "image")
DELIMITERS = ",;\t|"
_DAY = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T](\d{1,2}):(\d{2}))?")


@dataclass(frozen=True)
class Input:
    """One input of the model, as its form field: `key` is the field's name in the form (the
    column's own name may hold any character)."""

    key: str
    name: str
    type: str
    required: bool
    example: str  # as the field shows it
    values: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None

    @property
    def control(self) -> str:
        """The HTML control: number, select, date, datetime-local, textarea, file or text."""
        if self.type in ("number", "integer"):
            return "number"
        if self.type == "boolean" or (self.type == "category" and self.values):
            return "select"
        if self.type == "datetime":
            return "datetime-local" if "T" in self.example else "date"
        return {"text": "textarea", "image": "file"}.get(self.type, "text")


@dataclass(frozen=True)
class Schema:
    """What a model speaks (contract 4), checked."""

    task: str
    target: str
    inputs: tuple[Input, ...]
    outputs: tuple[str, ...]
    classes: tuple[str, ...] = ()
    time: str | None = None
    frequency: str | None = None
    horizon: int | None = None

    @property
    def forecasting(self) -> bool:
        return self.task == "forecasting"


def _text(value: Any, most: int = 200) -> str:
    return value[:most] if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _shown(value: Any, kind: str) -> str:
    """An example value as its field shows it (a date as the date field takes it)."""
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)[:MAX_TEXT]
    if kind == "datetime":
        found = _DAY.match(text)
        if not found:
            return ""
        y, m, d, hour, minute = found.groups()
        day = f"{y}-{int(m):02d}-{int(d):02d}"
        return f"{day}T{int(hour):02d}:{minute}" if hour is not None else day
    return text


def schema_of(raw: Any) -> Schema | None:
    """The schema a model version keeps (a dict or its read model), or None when it has none
    or nothing in it could make a form."""
    if hasattr(raw, "model_dump"):
        raw = raw.model_dump()
    if not isinstance(raw, Mapping):
        return None
    inputs: list[Input] = []
    for item in _list(raw.get("inputs"))[:MAX_INPUTS]:
        if not isinstance(item, Mapping) or not _text(item.get("name")):
            continue
        kind = item.get("type") if item.get("type") in TYPES else "text"
        values = _list(item.get("values"))
        inputs.append(
            Input(
                key=f"in-{len(inputs)}",
                name=_text(item["name"]),
                type=str(kind),
                required=item.get("required") is not False,
                example=_shown(item.get("example"), str(kind)),
                values=tuple(str(v)[:200] for v in values[:MAX_VALUES] if v is not None),
                min=_number(item.get("min")),
                max=_number(item.get("max")),
            )
        )
    task = _text(raw.get("task"), 40)
    if task == "text-generation" or (not inputs and task != "forecasting"):
        return None  # a text model chats
    outputs, classes = _list(raw.get("outputs")), _list(raw.get("classes"))
    horizon = raw.get("horizon")
    return Schema(
        task=task,
        target=_text(raw.get("target")),
        inputs=tuple(inputs),
        outputs=tuple(_text(o.get("name")) for o in outputs[:MAX_INPUTS] if isinstance(o, Mapping)),
        classes=tuple(str(c)[:200] for c in classes[:MAX_VALUES] if c is not None),
        time=_text(raw.get("time")) or None,
        frequency=_text(raw.get("frequency"), 4) or None,
        horizon=horizon if isinstance(horizon, int) and 0 < horizon <= MAX_HORIZON else None,
    )


# --- what is sent


def _typed(item: Input, text: str, where: str) -> Any:
    """A typed value as the model takes it; empty is missing."""
    text = text.strip() if item.type != "text" else text
    if not text.strip():
        return None
    if item.type in ("number", "integer"):
        try:
            value = float(text.replace(",", "")) if text.count(",") <= 1 else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise Invalid("{column}: {value} is not a number", column=where, value=text[:40])
        return int(value) if item.type == "integer" and value.is_integer() else value
    if item.type == "boolean":
        lowered = text.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise Invalid("{column}: {value} is not true or false", column=where, value=text[:40])
    return text[:MAX_TEXT]


def row_of(schema: Schema, typed: Mapping[str, str], images: Mapping[str, bytes]) -> dict[str, Any]:
    """The form's one row in the user's column names; a required input left empty is refused
    here, naming it, rather than sent to be guessed."""
    row: dict[str, Any] = {}
    for item in schema.inputs:
        if item.type == "image":
            data = images.get(item.key)
            if data and len(data) > MAX_IMAGE_BYTES:
                raise Invalid("{column}: an image of at most 5 MiB", column=item.name)
            row[item.name] = base64.b64encode(data).decode() if data else None
        else:
            row[item.name] = _typed(item, typed.get(item.key, "")[:MAX_TEXT], item.name)
        if row[item.name] is None and item.required:
            raise Invalid("{column}: give a value, the model needs it", column=item.name)
    return row


def horizon_row(text: str) -> dict[str, Any]:
    """A forecast's request: how many steps ahead."""
    if not text.strip().isdigit() or not 1 <= int(text.strip()) <= MAX_HORIZON:
        raise Invalid("horizon: a whole number from 1 to {most}", most=MAX_HORIZON)
    return {"horizon": int(text.strip())}


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Invalid("the file is not a text table in UTF-8 or GBK: upload a CSV file")


def csv_rows(schema: Schema, data: bytes) -> list[dict[str, Any]]:
    """An uploaded CSV's rows: a header line, then 1 to 1,000 rows; numbers of the model's
    number inputs as numbers (other text is sent as it is, for the model to judge), empty cells
    missing. A table that lacks one of the model's required inputs is refused, naming them."""
    if not data.strip():
        raise Invalid("the file is empty: upload a CSV file with a header line and rows")
    if len(data) > MAX_CSV_BYTES:
        raise Invalid("the file is over 8 MiB: use a batch prediction for a big table")
    text = _decode(data)
    first = text.lstrip().partition("\n")[0]
    delimiter = max(DELIMITERS, key=first.count)
    try:
        read = list(csv.reader(io.StringIO(text), delimiter=delimiter, strict=True))
    except csv.Error as err:
        raise Invalid("the file is not a CSV table: {why}", why=str(err)[:200]) from None
    lines = [r for r in read if any(cell.strip() for cell in r)]
    header = [h.strip() for h in lines[0]] if lines else []
    if not header or len(set(header)) != len(header) or "" in header:
        raise Invalid("the first line must name each column once")
    body = lines[1:]
    if not body:
        raise Invalid("the file has a header line but no rows")
    if len(body) > MAX_ROWS:
        raise Invalid(
            "{count} rows is more than {most} at once: use a batch prediction on the model's "
            "page for a bigger table",
            count=len(body),
            most=MAX_ROWS,
        )
    missing = [i.name for i in schema.inputs if i.required and i.name not in header]
    if missing and not (schema.forecasting and "horizon" in header):
        raise Invalid(
            "the table lacks columns the model needs: {columns}", columns=", ".join(missing)
        )
    kinds = {i.name: i for i in schema.inputs}
    rows = []
    for number, cells in enumerate(body, start=2):
        if len(cells) != len(header):
            raise Invalid(
                "line {line} has {found} cells, the header {expected}",
                line=number,
                found=len(cells),
                expected=len(header),
            )
        row: dict[str, Any] = {}
        for column, cell in zip(header, cells, strict=True):
            item = kinds.get(column)
            if not cell.strip():
                row[column] = None
            elif item is not None and item.type in ("number", "integer"):
                try:
                    row[column] = _typed(item, cell, column)
                except Invalid:
                    row[column] = cell  # the model says what it makes of it
            else:
                row[column] = cell[:MAX_TEXT]
        rows.append(row)
    return rows


# --- what came back


@dataclass(frozen=True)
class Answer:
    """The deployment's answer as the page shows it."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    error: str | None = None
    status: int | None = None
    request_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200


def answer_of(status: int, body: bytes, request_id: str | None) -> Answer:
    """The predictions (rows of column: value), or the model's or gateway's message."""
    try:
        said: Any = json.loads(body)
    except ValueError:
        said = None
    said = said if isinstance(said, dict) else {}
    if status == 200:
        found = said.get("predictions")
        rows = [
            r if isinstance(r, dict) else {"prediction": r}
            for r in (found if isinstance(found, list) else [])
        ]
        columns = list(dict.fromkeys(str(k) for r in rows for k in r))
        return Answer(rows, columns, status=200, request_id=request_id)
    problem = said.get("error") if isinstance(said.get("error"), dict) else {}
    message = problem.get("message") or said.get("detail") or f"HTTP {status}"
    return Answer(error=str(message)[:2000], status=status, request_id=request_id)


@dataclass(frozen=True)
class Single:
    """One row's prediction: the class and its probabilities, or the number."""

    column: str
    value: Any
    probabilities: list[tuple[str, float]]


def single(schema: Schema, answer: Answer) -> Single | None:
    if not answer.rows or schema.forecasting:
        return None
    row = answer.rows[0]
    named = f"{schema.target}_predicted"
    column = named if named in row else next((o for o in schema.outputs if o in row), "")
    if not column:
        column = answer.columns[-1]
    chances = [
        (k.removeprefix("probability_"), float(v))
        for k, v in row.items()
        if k.startswith("probability_") and isinstance(v, int | float) and not isinstance(v, bool)
    ]
    chances.sort(key=lambda kv: -kv[1])
    return Single(column, row.get(column), chances[:MAX_VALUES])


def forecast_chart(schema: Schema, answer: Answer, names: Mapping[str, str]) -> dict[str, Any]:
    """A forecast's rows as the portal's forecast chart (`portal.js`, type `forecast`)."""
    target = schema.target
    time = schema.time or next((c for c in answer.columns if "time" in c or "date" in c), "")

    def column(suffix: str) -> list[Any]:
        return [_plain(r.get(f"{target}_{suffix}")) for r in answer.rows[:500]]

    return {
        "type": "forecast",
        "time": [str(r.get(time, i + 1)) for i, r in enumerate(answer.rows[:500])],
        "predicted": column("forecast"),
        "lower": column("lower"),
        "upper": column("upper"),
        "names": dict(names),
    }


@dataclass(frozen=True)
class Predicted:
    """The playground's request (which form, what was typed) and what came back."""

    mode: str  # row | table | horizon
    typed: dict[str, str]
    answer: Answer | None = None
    refused: Message | None = None  # the portal's own refusal, before anything was sent
    single: Single | None = None
    chart: dict[str, Any] | None = None
    sent: str = ""  # the predictions as JSON, for the download form


def predicted(schema: Schema, asked: Predicted, answer: Answer, t: Translator) -> Predicted:
    """What the page shows of `answer`: one row's class or number, a forecast's chart."""
    chart = None
    if schema.forecasting and answer.ok:
        names = {k: t(f"playground.series.{k}") for k in ("predicted", "band")}
        chart = forecast_chart(schema, answer, names)
    return Predicted(
        asked.mode,
        asked.typed,
        answer=answer,
        single=single(schema, answer) if asked.mode == "row" else None,
        chart=chart,
        sent=json.dumps(answer.rows, ensure_ascii=False) if answer.ok else "",
    )


def _plain(value: Any) -> float | None:
    number = _number(value)
    return None if number is None else round(number, 6)


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """Predictions as a CSV table, columns in the order they first appear. A cell that a
    spreadsheet would run as a formula is quoted with a leading apostrophe."""
    columns = list(dict.fromkeys(str(k) for r in rows for k in r))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return (
        "'" + text
        if text[:1] in ("=", "+", "@") or (text[:1] == "-" and not _numeric(text))
        else text
    )


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def downloaded(text: str) -> list[dict[str, Any]]:
    """The predictions a page sent back to be downloaded: a JSON list of objects."""
    try:
        rows = json.loads(text)
    except ValueError:
        rows = None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise Invalid("nothing to download: predict first")
    return rows[:MAX_ROWS]
