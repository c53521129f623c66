"""A model version's card as its page shows it: the true facts of its training (the version's
`facts`, from the report its job wrote) in the reader's language, the columns it takes (its
`input_schema`), and its charts (`charts`) as data for the portal's ECharts (`portal.js` types
`confusion`, `importance`, `residuals` and `forecast`).

The services validated the facts and charts (sizes, finite numbers); this module only chooses
the words and shapes. A version without facts has no card here: its Markdown card stays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aicc.portal.i18n import Translator
from aicc.services.models import views

TOP_FEATURES = 15  # bars of the importance chart


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    alt: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Card:
    facts: list[tuple[str, str]]  # (label, value) in the reader's language
    score: str | None  # "0.83 accuracy on held-out rows, against 0.44 (always ...)"
    better: bool | None  # whether the score beats the baseline
    dropped: list[tuple[str, str]]  # (column, why)
    charts: list[Chart] = field(default_factory=list)


def said(text: Mapping[Any, str] | None, language: str) -> str:
    """A bilingual text of a report in `language`, else in English."""
    if not text:
        return ""
    return str(text.get(language) or text.get("en") or next(iter(text.values()), ""))


def _number(value: float) -> str:
    return f"{value:,.4g}" if abs(value) >= 1000 else f"{value:.4g}"


GOALS_DOWN = ("mase", "smape", "mae", "rmse", "mse", "mape", "log_loss", "loss", "error")


def card(version: views.ModelVersion, t: Translator) -> Card | None:
    """The card of `version`, or None when its report told no facts."""
    facts = version.facts
    if facts is None:
        return None
    lang = t.language
    shown: list[tuple[str, str]] = []
    if facts.rows is not None:
        shown.append((t("card.rows"), f"{facts.rows:,}"))
    if facts.target:
        shown.append((t("card.target"), facts.target))
    if facts.task:
        shown.append((t("card.task"), t.maybe("card.task", facts.task)))
    if facts.frequency:
        shown.append((t("card.frequency"), t.maybe("playground.frequency", facts.frequency)))
    if facts.model:
        shown.append((t("card.model"), facts.model))
    score = better = None
    if facts.metric and facts.score is not None:
        metric = t.maybe("card.metric", facts.metric)
        if facts.baseline is not None:
            score = t(
                "card.score_vs",
                score=_number(facts.score),
                metric=metric,
                baseline=_number(facts.baseline),
                name=said(facts.baseline_name, lang) or t("card.baseline"),
            )
            code = facts.metric.lower()
            lower = code in GOALS_DOWN or code.startswith(GOALS_DOWN)
            better = facts.score < facts.baseline if lower else facts.score > facts.baseline
        else:
            score = t("card.score", score=_number(facts.score), metric=metric)
    dropped = [(d.column, said(d.why, lang)) for d in facts.dropped]
    return Card(shown, score, better, dropped, charts(version.charts, t))


def charts(found: views.Charts | None, t: Translator) -> list[Chart]:
    """The version's charts, each as its `data-chart`."""
    if found is None:
        return []
    out: list[Chart] = []
    data: dict[str, Any]
    names = {k: t(f"card.series.{k}") for k in ("actual", "predicted", "band", "count")}
    if found.confusion is not None:
        labels = [str(v) for v in found.confusion.labels]
        data = {"type": "confusion", "labels": labels, "matrix": found.confusion.matrix}
        alt = t("card.confusion_alt", count=len(labels))
        out.append(Chart("confusion-chart", t("card.confusion"), alt, {**data, "names": names}))
    if found.importance:
        top = sorted(found.importance, key=lambda i: -abs(i.importance))[:TOP_FEATURES]
        data = {
            "type": "importance",
            "features": [i.feature for i in top],
            "values": [float(f"{i.importance:.6g}") for i in top],
        }
        alt = t("card.importance_alt", names=", ".join(i.feature for i in top[:5]))
        out.append(Chart("importance-chart", t("card.importance"), alt, data))
    if found.residuals is not None and found.residuals.actual:
        pairs = zip(found.residuals.actual, found.residuals.predicted, strict=False)
        points = [[a, p] for a, p in pairs if a is not None and p is not None]
        data = {"type": "residuals", "points": points, "names": names}
        alt = t("card.residuals_alt", count=len(points))
        out.append(Chart("residuals-chart", t("card.residuals"), alt, data))
    if found.forecast is not None and found.forecast.time:
        f = found.forecast
        data = {
            "type": "forecast",
            "time": f.time,
            "actual": f.actual,
            "predicted": f.predicted,
            "lower": f.lower,
            "upper": f.upper,
            "names": names,
        }
        alt = t("card.forecast_alt", count=len(f.time))
        out.append(Chart("forecast-card-chart", t("card.forecast"), alt, data))
    return out


def inputs(version: views.ModelVersion) -> list[views.SchemaInput]:
    """The columns the version takes, as its page lists them."""
    return list(version.input_schema.inputs) if version.input_schema else []
