"""What a model version says of itself (issue 37, "the model speaks the user's data"): the
columns it takes and answers (`model/schema.json`, or for an industry template's model, derived
from the template's manifest), and the true facts and charts of its card (`report.json`'s
`facts` and `charts`).

They are job-written, so hostile: each is read through the guard of job-written files, capped,
parsed as JSON and validated by its read model (`views.InputSchema`, `Facts`, `Charts`, each
chart alone). What fails is left out with a note that says why, which the version carries; it
never fails the registration (a link among the outputs still does: the guard refuses the whole
tree before any file is read). Pure of the database: the registry stores what `describe` finds.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from aicc.core import templates as core
from aicc.executors import jobfiles
from aicc.services.models import views

SCHEMA = "model/schema.json"
MAX_SCHEMA_BYTES = 1024 * 1024  # a schema of 1,000 columns fits in a tenth of it
# A manifest's column types, as a schema's
TYPES = {
    "string": "text",
    "integer": "integer",
    "number": "number",
    "datetime": "datetime",
    "category": "category",
    "any": "text",
}
TASKS = {
    "classification": ("classification", "分类"),
    "regression": ("regression", "回归"),
    "forecasting": ("forecasting", "时间序列预测"),
    "text-classification": ("text classification", "文本分类"),
    "image-classification": ("image classification", "图像分类"),
}
FREQUENCIES = {
    "H": ("hourly", "每小时"),
    "D": ("daily", "每日"),
    "W": ("weekly", "每周"),
    "M": ("monthly", "每月"),
    "Q": ("quarterly", "每季度"),
    "Y": ("yearly", "每年"),
}


@dataclass
class Described:
    """A version's schema, facts and charts as JSON (each None when unknown or refused) and
    the notes that say what was left out."""

    input_schema: dict[str, Any] | None = None
    facts: dict[str, Any] | None = None
    charts: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        """As `models.register`'s keyword arguments: each field by its name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def describe(
    files: jobfiles.JobFiles, report: dict[str, Any], manifest: core.Manifest | None = None
) -> Described:
    """The schema the job wrote (else the manifest's, for an industry template), and the
    facts and charts of its report; never raises for what the job wrote."""
    out = Described()
    out.input_schema = _schema(files, manifest, out.notes)
    out.facts = _checked(views.Facts, report.get("facts"), "report.json facts", out.notes)
    given = report.get("charts")
    if isinstance(given, dict):
        charts = {}
        for name in views.Charts.model_fields:
            if given.get(name) is None:
                continue
            kept = _checked(views.Charts, {name: given[name]}, f"chart {name}", out.notes)
            if kept is not None:
                charts[name] = kept[name]
        out.charts = charts or None
    elif given is not None:
        out.notes.append("report.json charts: left out, it is no JSON object")
    return out


def _schema(
    files: jobfiles.JobFiles, manifest: core.Manifest | None, notes: list[str]
) -> dict[str, Any] | None:
    try:
        raw = files.capped(MAX_SCHEMA_BYTES).read_bytes(SCHEMA)
    except FileNotFoundError:
        derived = derive(manifest) if manifest is not None else None
        if derived is None and manifest is not None:
            notes.append(f"{SCHEMA}: the job wrote none, so what the model takes is not known")
        return derived
    except jobfiles.Refused as e:
        notes.append(f"{SCHEMA}: left out, {e.detail}")
        return None
    except OSError as e:
        notes.append(f"{SCHEMA}: left out, it could not be read ({e.strerror or e})")
        return None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        notes.append(f"{SCHEMA}: left out, it is not JSON ({str(e)[:200]})")
        return None
    return _checked(views.InputSchema, doc, SCHEMA, notes)


def _checked(
    model: type[BaseModel], doc: object, what: str, notes: list[str]
) -> dict[str, Any] | None:
    """`doc` as the read model dumps it, or None with a note naming the first problem."""
    if doc is None:
        return None
    if not isinstance(doc, dict):
        notes.append(f"{what}: left out, it is no JSON object")
        return None
    try:
        return model.model_validate(doc).model_dump(mode="json", exclude_none=True)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "it"
        notes.append(f"{what}: left out, {where}: {first['msg'][:200]}")
        return None


def derive(manifest: core.Manifest) -> dict[str, Any] | None:
    """An industry template's schema from its manifest: every column it names, under the
    template's names (its predict.py reads those), each optional since the manifest does not
    say which one is the outcome; an image folder takes images. None for a template whose
    columns are roles the user chose (a generic one): its run must write its own."""
    spec = manifest.input
    if spec.kind == "image-folder":
        inputs: list[dict[str, Any]] = [{"name": "image", "type": "image", "required": True}]
    elif any(getattr(c, "choose", False) for c in spec.columns):
        return None
    else:
        inputs = [
            {"name": c.name, "type": TYPES.get(c.type, "text"), "required": False}
            for c in spec.columns
        ]
    doc = {"task": manifest.task, "inputs": inputs, "derived": True}
    return views.InputSchema.model_validate(doc).model_dump(mode="json", exclude_none=True)


def _num(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def card_lines(facts: dict[str, Any] | None, schema: dict[str, Any] | None) -> list[str]:
    """The card's sections of facts and input, each line in English then Chinese: only what
    the job reported, no template's wording (a weather model is not "a loan that defaults")."""
    lines: list[str] = []
    if facts:
        lines += ["", "## Facts / 事实", ""]
        task = str(facts.get("task") or "")
        task_en, task_zh = TASKS.get(task, (task, task))
        target, rows = facts.get("target"), facts.get("rows")
        if target and rows is not None:
            en, zh = (f" ({task_en})", f"（{task_zh}）") if task else ("", "")
            lines.append(
                f"- Learned from {_num(rows)} rows to predict `{target}`{en}. / "
                f"从 {_num(rows)} 行数据学习预测 `{target}`{zh}。"
            )
        elif rows is not None:
            lines.append(f"- Learned from {_num(rows)} rows. / 从 {_num(rows)} 行数据学习。")
        if facts.get("frequency"):
            freq = str(facts["frequency"])
            en, zh = FREQUENCIES.get(freq, (freq, freq))
            lines.append(f"- One row per period: {en}. / 数据频率：{zh}。")
        metric, score = facts.get("metric"), facts.get("score")
        if metric and score is not None:
            line = f"- Held-out {metric}: {_num(score)}"
            zh_line = f"留出数据上的 {metric}：{_num(score)}"
            if facts.get("baseline") is not None:
                name = facts.get("baseline_name") or {}
                line += f"; {name.get('en') or 'a naive baseline'}: {_num(facts['baseline'])}"
                zh_line += f"；{name.get('zh-CN') or '朴素基线'}：{_num(facts['baseline'])}"
            lines.append(f"{line}. / {zh_line}。")
        if facts.get("model"):
            lines.append(f"- Model: {facts['model']} / 模型：{facts['model']}")
        for dropped in facts.get("dropped") or []:
            why = dropped.get("why") or {}
            lines.append(
                f"- Left out `{dropped['column']}`: {why.get('en', '')} / "
                f"未使用 `{dropped['column']}`：{why.get('zh-CN', '')}"
            )
    if schema and schema.get("inputs"):
        lines += ["", "## Input / 输入", ""]
        for item in schema["inputs"][:50]:
            need = "" if item.get("required", True) else " (optional / 可选)"
            lines.append(f"- `{item['name']}`: {item['type']}{need}")
        if len(schema["inputs"]) > 50:
            lines.append(
                f"- … {len(schema['inputs']) - 50} more / 另有 {len(schema['inputs']) - 50} 列"
            )
    return lines
