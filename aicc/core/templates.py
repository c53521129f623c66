"""Templates (预置行业算法, docs/contracts.md §9): code with a manifest that says what it
learns, from what data, with which hyperparameters, on what resources, and how good it is on its
example.

A template is a directory: `template.yaml` (the manifest, `Manifest` below), `train.py` (the
entry point a training job runs), `predict.py` (the inference script handed out with the model)
and `example.py` (writes the example data set). `train.py` is called as

    python train.py --data DIR --output DIR --params FILE

with `--params` a JSON object of every hyperparameter (checked and completed by `check_params`),
and writes to `--output`: `model/` (the model's files), `metrics.json` (`{name: number}` on the
held-out split, the manifest's metric among them), `metrics.jsonl` (one JSON object per step as
it trains: the curves) and `report.json` (what a person reads: what was learned, on what data).
`predict.py --model DIR --input PATH --output PATH` runs the model on new data.

This module is the one validation of a manifest and of hyperparameters, and decides whether a
data set version fits a template (`fit`), with the reason when it does not. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from aicc.core import images as refs
from aicc.core import template_fit as facts
from aicc.core import template_needs as needs
from aicc.core.text import LINE, PROSE

INDUSTRIES = (
    "manufacturing",
    "healthcare",
    "finance",
    "energy",
    "retail",
    "logistics",
    "government",
    "agriculture",
    "education",
    "legal",
    "transportation",
    "telecom",
    "media",
    "general",
)
TASKS = (
    "image-classification",
    "object-detection",
    "segmentation",
    "text-classification",
    "ner",
    "tabular-classification",
    "tabular-regression",
    "tabular-prediction",  # classification or regression, as the target column's values say
    "forecasting",
    "anomaly-detection",
    "recommendation",
    "routing",
    "text-generation",
)
FRAMEWORKS = ("pytorch", "scikit-learn", "ortools", "transformers", "numpy")
_INTEGERS = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
)
# What a table's column must hold, and the DuckDB types (`tables` of a data set version) that
# hold it.
COLUMN_TYPES: dict[str, tuple[str, ...]] = {
    "string": ("VARCHAR",),
    "integer": _INTEGERS,
    "number": (
        *_INTEGERS,
        "FLOAT",
        "DOUBLE",
        "DECIMAL",
        "REAL",
    ),
    # DuckDB reads "2024-01-05 10:00:00" in a CSV as TIMESTAMP_S (whole seconds).
    "datetime": (
        "DATE",
        "TIMESTAMP",
        "TIMESTAMP_S",
        "TIMESTAMP_MS",
        "TIMESTAMP_NS",
        "TIMESTAMP WITH TIME ZONE",
        "VARCHAR",
    ),
    "category": ("VARCHAR", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "BOOLEAN"),
    # a target of two outcomes, 0 and 1 (or false and true): the fit check counts its values
    "binary": (*_INTEGERS, "BOOLEAN", "VARCHAR"),
    "any": (),
}
FREQUENCY = Literal["H", "D", "W", "M", "Q", "Y"]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
NAME = r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$"
MAX_PARAMS = 50


class TemplateError(ValueError):
    """A manifest or hyperparameters that are not valid; the message names the field."""


class Words(BaseModel):
    """A text in English and Chinese (the portal shows the reader's)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    en: Annotated[str, Field(min_length=1, max_length=2000), PROSE]
    zh_CN: Annotated[str, Field(min_length=1, max_length=2000, alias="zh-CN"), PROSE]


class Title(Words):
    """A title in English and Chinese: one line each."""

    en: Annotated[str, Field(min_length=1, max_length=2000), LINE]
    zh_CN: Annotated[str, Field(min_length=1, max_length=2000, alias="zh-CN"), LINE]


class Param(BaseModel):
    """One hyperparameter: its type, default and bounds (`min`/`max` inclusive, or `choices`)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["integer", "number", "string", "boolean"]
    default: int | float | str | bool
    min: float | None = None
    max: float | None = None
    choices: list[str | int | float] | None = None
    label: Title | None = None  # a short name for people (the portal: else its catalog's)
    help: Words | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Param:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is above max")
        if (self.min is not None or self.max is not None) and self.type not in (
            "integer",
            "number",
        ):
            raise ValueError(f"min and max are for numbers, not {self.type}")
        self.default = coerce(self, self.default, "default")
        return self


class Column(BaseModel):
    """A column the input table must have (by this name, or as the user maps it). A column
    with `choose` is a role the caller gives a column of the data (`--column target=weather`):
    when the data has no column of its name, the fit check names the candidates."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=200), LINE]
    type: Literal["string", "integer", "number", "datetime", "category", "binary", "any"]
    choose: bool = False
    help: Words | None = None


class Instead(BaseModel):
    """The template a refusal names for data of the right shape but the wrong kind (a label of
    5 classes for a preset that predicts 0 or 1, daily rows for an hourly one), and why."""

    model_config = ConfigDict(extra="forbid")
    template: Annotated[str, Field(pattern=NAME)]
    why: Words


class Input(BaseModel):
    """What data the template learns from: a table (CSV, Parquet or JSON lines) with these
    columns, or a folder of images, one subfolder per class.

    A series' needs (issue 37), checked by the time column's facts (its `datetime` column, or
    the role named `time`): `frequency`, the one its times must have (`any`: one of hours,
    days, weeks, months, quarters or years, not irregular); `horizon`, the points a forecaster
    predicts by frequency when its `horizon` hyperparameter is 0 — it then needs 2 + horizon x
    (backtests + 1) points (2 seasons instead of 2 when its `season` hyperparameter is given),
    the rule of series-forecast's run. `instead`: the template a refusal of a frequency or of a
    binary target names."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["table", "image-folder"]
    columns: list[Column] = Field(default_factory=list, max_length=50)
    min_rows: Annotated[int, Field(ge=1)] = 10  # a table's, or the images'
    min_classes: Annotated[int, Field(ge=1)] = 2  # image folders: subfolders with images
    # `features`: every other column of the data is an input of the model (a generic
    # template's); `ignore`: the template reads only the columns it names.
    rest: Literal["features", "ignore"] = "ignore"
    frequency: FREQUENCY | Literal["any"] | None = None
    horizon: dict[FREQUENCY, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    instead: Instead | None = None

    @property
    def time(self) -> Column | None:
        """The column whose frequency is checked (a series')."""
        return next(
            (c for c in self.columns if c.type == "datetime" or (c.choose and c.name == "time")),
            None,
        )

    @model_validator(mode="after")
    def _columns_for_tables(self) -> Input:
        if self.kind == "table" and not self.columns:
            raise ValueError("a table input names its columns")
        if (self.frequency or self.horizon) and self.time is None:
            raise ValueError("a frequency or horizon is a time column's: name one (datetime)")
        if self.horizon and self.frequency != "any":
            raise ValueError("a horizon by frequency is for a series of any frequency")
        if self.kind == "image-folder" and (self.columns or self.rest != "ignore"):
            raise ValueError("an image folder has no columns")
        if self.rest == "features" and not all(c.choose for c in self.columns):
            raise ValueError("a table whose other columns are features names only chosen roles")
        return self


class Resources(BaseModel):
    """What a training job asks for by default; `gpus` > 0 only where it needs them."""

    model_config = ConfigDict(extra="forbid")
    cpu: Annotated[float, Field(gt=0, le=256)] = 2
    memory: Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?\s*(MiB|GiB|Mi|Gi|MB|GB)$")] = "4GiB"
    gpus: Annotated[int, Field(ge=0, le=64)] = 0
    scales_to_gpus: bool = True  # the same code uses CUDA when the job has a GPU
    # A measured run: `train.py` on the example data (this many rows, or images), default
    # hyperparameters, `cpu` cores, no GPU. The estimate scales it (estimate/templates.py).
    example_seconds: Annotated[float | None, Field(gt=0, le=10**7)] = None
    example_rows: Annotated[int | None, Field(ge=1)] = None
    example_start_seconds: Annotated[float, Field(ge=0, le=10**7)] = 0  # of it, before training


class Metric(BaseModel):
    """The metric the template reports on its held-out split, and what it reaches on its
    example data with the default hyperparameters (`expected`; a test checks it)."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    goal: Literal["maximize", "minimize"]
    expected: float


class Manifest(BaseModel):
    """`template.yaml`."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(pattern=NAME)]
    title: Title
    summary: Words
    industry: Literal[INDUSTRIES]  # type: ignore[valid-type]
    task: Literal[TASKS]  # type: ignore[valid-type]
    framework: Literal[FRAMEWORKS]  # type: ignore[valid-type]
    licence: Annotated[str, Field(min_length=1, max_length=100), LINE]
    input: Input
    hyperparameters: dict[str, Param] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    metric: Metric
    format: Annotated[str, Field(min_length=1, max_length=40), LINE]  # the model files' format
    requirements: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list)
    # The image its runs' jobs run in (a job spec's `image:`), pinning its libraries; None: the
    # node's own Python. Who runs it must be able to pull it: `ORG/PROJECT/NAME:TAG` of an
    # image shared with them, since a short `NAME:TAG` is looked up in the runner's project.
    image: Annotated[str | None, Field(max_length=512)] = None

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                refs.parse(value)
            except refs.BadReference as err:
                raise ValueError(str(err)) from None
        return value

    @model_validator(mode="after")
    def _names(self) -> Manifest:
        if len(self.hyperparameters) > MAX_PARAMS:
            raise ValueError(f"at most {MAX_PARAMS} hyperparameters")
        for key in self.hyperparameters:
            if not re.match(r"^[a-z][a-z0-9_]{0,39}$", key):
                raise ValueError(f"hyperparameter name {key!r}: lowercase letters, digits, _")
        return self


def parse(doc: object) -> Manifest:
    """A manifest from its YAML or JSON document; TemplateError naming the first bad field."""
    try:
        return Manifest.model_validate(doc)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "manifest"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise TemplateError(f"{where}: {message}") from None


def coerce(param: Param, value: object, name: str) -> int | float | str | bool:
    """`value` as the parameter's type, in its bounds; `--set k=v` gives strings."""
    kind = param.type
    try:
        if kind == "boolean":
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
                out: int | float | str | bool = value.lower() in ("true", "1")
            elif isinstance(value, bool):
                out = value
            else:
                raise ValueError
        elif kind == "integer":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            out = int(value)  # type: ignore[call-overload]
        elif kind == "number":
            if isinstance(value, bool):
                raise ValueError
            out = float(value)  # type: ignore[arg-type]
            if not math.isfinite(out):
                raise ValueError
        else:
            if not isinstance(value, str) or len(value) > 1000:
                raise ValueError
            out = value
    except (TypeError, ValueError):
        raise TemplateError(f"{name}: {value!r} is not {_a(kind)}") from None
    if isinstance(out, int | float) and not isinstance(out, bool):
        if param.min is not None and out < param.min:
            raise TemplateError(f"{name}: {out} is below the least allowed, {_num(param.min)}")
        if param.max is not None and out > param.max:
            raise TemplateError(f"{name}: {out} is above the most allowed, {_num(param.max)}")
    if param.choices is not None and out not in param.choices:
        allowed = ", ".join(str(c) for c in param.choices)
        raise TemplateError(f"{name}: {out!r} is not one of {allowed}")
    return out


def _a(kind: str) -> str:
    return {"integer": "an integer", "number": "a number", "boolean": "true or false"}.get(
        kind, "a text"
    )


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def check_params(manifest: Manifest, given: Mapping[str, object]) -> dict[str, Any]:
    """Every hyperparameter: the given ones checked and converted, the others at their default.
    An unknown name or a value out of range is a TemplateError naming it."""
    unknown = sorted(set(given) - set(manifest.hyperparameters))
    if unknown:
        known = ", ".join(sorted(manifest.hyperparameters)) or "none"
        raise TemplateError(
            f"hyperparameters.{unknown[0]}: {manifest.name} has no such hyperparameter "
            f"(it has: {known})"
        )
    return {
        key: coerce(param, given[key], f"hyperparameters.{key}") if key in given else param.default
        for key, param in manifest.hyperparameters.items()
    }


@dataclass(frozen=True)
class Fit:
    """Whether a data set version fits a template: `ok`, and if not `reason`; for a table, the
    file and the column of the data for each of the template's columns. `choose`: the roles
    still to be given a column (`--column ROLE=COLUMN`), each with the data's columns that can
    play it, in table order; a run waits for them. `task`: what a `tabular-prediction`
    template's target makes of it (classification or regression). `warnings`: what the run
    will do about the data that the caller should know (a copy of the target it drops)."""

    ok: bool
    reason: str = ""
    table: str | None = None
    columns: Mapping[str, str] | None = None
    choose: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    task: str | None = None
    warnings: tuple[str, ...] = ()


def fit(
    manifest: Manifest,
    files: Sequence[str],
    tables: Mapping[str, Mapping[str, Any]],
    mapping: Mapping[str, str] | None = None,
    *,
    params: Mapping[str, object] | None = None,
) -> Fit:
    """Does a version with these `files` (paths) and `tables` (`{path: {"columns": [{name,
    type}], "rows": N}}`, as data set versions describe them) fit the template's input?
    `mapping` maps the template's column names to the data's (`text=review`); `params`, the
    run's hyperparameters (its defaults when None, or when they are not valid: the run's
    check refuses those), for the points a forecaster needs."""
    spec = manifest.input
    if spec.kind == "image-folder":
        return _fit_images(spec, files)
    if not tables:
        return Fit(False, "it has no table (CSV, Parquet or JSON lines file) to learn from")
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - {c.name for c in spec.columns})
    if unknown:
        return Fit(False, f"the template has no column {unknown[0]} to map")
    try:
        hp = check_params(manifest, params or {})
    except TemplateError:
        hp = check_params(manifest, {})
    reasons = []
    for path in sorted(tables, key=lambda p: -int(tables[p].get("rows") or 0)):
        got = _fit_table(manifest, path, tables[path], mapping, hp)
        if got.ok:
            return got
        reasons.append(got.reason)
    return Fit(False, reasons[0])


def _fit_table(
    manifest: Manifest,
    path: str,
    table: Mapping[str, Any],
    mapping: Mapping[str, str],
    hp: Mapping[str, Any],
) -> Fit:
    spec = manifest.input
    columns = facts.described(table)
    by_name = {c.name: c for c in columns}
    have = {str(c["name"]): str(c["type"]).upper() for c in table.get("columns") or ()}
    rows = int(table.get("rows") or 0)
    chosen: dict[str, str] = {}
    choose: dict[str, tuple[str, ...]] = {}
    twice = _twice(mapping)
    if twice:
        return Fit(False, f"{path}: {twice}")
    for column in spec.columns:
        name = mapping.get(column.name, column.name)
        if column.choose and column.name not in mapping and name not in have:
            taken = set(mapping.values())
            found = [
                c
                for c in facts.candidates(column.name, column.type, columns, rows, manifest.task)
                if c not in taken and c not in chosen.values()
            ]
            if not found:
                return Fit(
                    False,
                    f"{path} has no column that can be the {column.name} "
                    f"({_a_column('datetime' if column.name == 'time' else column.type)})",
                )
            if len(found) > 1:
                choose[column.name] = tuple(found)
                continue
            name = found[0]  # the only one: picked
        if name not in have:
            listed = ", ".join(list(have)[:12]) + (" ..." if len(have) > 12 else "")
            return Fit(
                False,
                f"{path} has no column {name} ({_a_column(column.type)}); its columns: {listed}",
            )
        allowed = COLUMN_TYPES[column.type]
        base = have[name].split("(")[0]
        if allowed and base not in allowed:
            return Fit(
                False, f"{path}: column {name} is {have[name]}, not {_a_column(column.type)}"
            )
        chosen[column.name] = name
    twice = _twice(chosen)
    if twice:
        return Fit(False, f"{path}: {twice}")
    played = {role: by_name[name] for role, name in chosen.items() if name in by_name}
    exact = facts.exact(table)
    refused = needs.declared(_needs(manifest), played, hp, path=path, rows=rows, exact=exact)
    if refused:
        return Fit(False, refused)
    if rows < spec.min_rows:
        return Fit(False, f"{path} has {rows} rows; the template needs at least {spec.min_rows}")
    checked = _roles(manifest, path, table, by_name, chosen)
    if isinstance(checked, Fit):
        return checked
    task, warnings = checked
    return Fit(True, table=path, columns=chosen, choose=choose, task=task, warnings=warnings)


def _needs(manifest: Manifest) -> needs.Needs:
    """What the manifest's `input` declares of the data beyond its columns (`template_needs`)."""
    spec = manifest.input
    instead = f"; {spec.instead.template} fits it: {spec.instead.why.en}" if spec.instead else ""
    return needs.Needs(
        template=manifest.name,
        binary=tuple(c.name for c in spec.columns if c.type == "binary"),
        time=spec.time.name if spec.time else None,
        frequency=spec.frequency,
        horizon={str(code): points for code, points in spec.horizon.items()},
        instead=instead,
    )


def _twice(chosen: Mapping[str, str]) -> str:
    """A data column given two roles (the target also as the time): the model would see what it
    predicts."""
    roles: dict[str, list[str]] = {}
    for role, name in chosen.items():
        roles.setdefault(name, []).append(role)
    for name, played in roles.items():
        if len(played) > 1:
            first, second = played[:2]
            return f"column {name} is both the {first} and the {second}; a column plays one role"
    return ""


def _roles(
    manifest: Manifest,
    path: str,
    table: Mapping[str, Any],
    by_name: Mapping[str, facts.Described],
    chosen: Mapping[str, str],
) -> Fit | tuple[str | None, tuple[str, ...]]:
    """The checks of chosen roles' columns (a generic template's), by what the data set
    version knows of them: dates that read, a target that can be learned. A refusal, or the
    task the target implies and the warnings."""
    spec = manifest.input
    rows = int(table.get("rows") or 0)
    task: str | None = None
    warnings: list[str] = []
    for column in spec.columns:
        data = by_name.get(chosen.get(column.name, ""))
        if not column.choose or data is None:
            continue
        if column.type == "datetime" or column.name == "time":
            refused = needs.times(path, data, rows)
            if refused:
                return Fit(False, refused)
            continue
        if column.type != "any":
            continue
        if manifest.task == "tabular-prediction":
            task = facts.task_of(data)
        learned = task or ("classification" if manifest.task == "text-classification" else None)
        if learned == "classification":
            refused = _learnable(path, data, table, rows)
            if refused:
                return Fit(False, refused)
        if spec.rest == "features":
            for copy in facts.copies(data, list(by_name.values()), list(chosen.values())):
                warnings.append(
                    f"column {copy} is a copy of {data.name} (the same value on every row); "
                    "the run leaves it out"
                )
    return task, tuple(warnings)


def _learnable(path: str, target: facts.Described, table: Mapping[str, Any], rows: int) -> str:
    """Why a classification target cannot be learned ('' when it can): a value per row (an
    ID), or fewer than 2 classes with 2 rows each."""
    if facts.id_like(target, rows):
        return (
            f"{path}: column {target.name} has a different value on every row (an ID); "
            "choose a column whose values repeat"
        )
    counts = facts.classes(target)
    if counts is None or not facts.exact(table):
        return ""
    enough = [value for value, n in counts.items() if n >= 2]
    if len(enough) >= 2:
        return ""
    shown = ", ".join(f"{v}: {n}" for v, n in sorted(counts.items(), key=lambda kv: -kv[1])[:10])
    return (
        f"{path}: column {target.name} has {len(enough)} value(s) on 2 rows or more ({shown}); "
        "predicting it needs at least 2 classes with 2 rows each"
    )


def _a_column(kind: str) -> str:
    return {
        "string": "text",
        "integer": "whole numbers",
        "number": "numbers",
        "datetime": "dates or times",
        "category": "labels (text or whole numbers)",
        "binary": "two outcomes (0 and 1)",
    }.get(kind, "any values")


def _fit_images(spec: Input, files: Sequence[str]) -> Fit:
    classes: dict[str, int] = {}
    for path in files:
        parts = path.split("/")
        if len(parts) >= 2 and path.lower().endswith(IMAGE_SUFFIXES):
            classes[parts[-2]] = classes.get(parts[-2], 0) + 1
    images = sum(classes.values())
    if not images:
        return Fit(False, "it has no images in class folders (CLASS/IMAGE.png)")
    learnable = sum(n >= 2 for n in classes.values())  # a class of one image is left out
    if learnable < spec.min_classes:
        return Fit(
            False,
            f"it has {learnable} class folder(s) with 2 images or more; the template needs "
            f"{spec.min_classes}",
        )
    if images < spec.min_rows:
        return Fit(False, f"it has {images} images; the template needs at least {spec.min_rows}")
    return Fit(True)


def reached(metric: Metric, value: float) -> bool:
    """Whether a run's metric is at least as good as the expected one."""
    return value >= metric.expected if metric.goal == "maximize" else value <= metric.expected
