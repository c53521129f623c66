"""The built-in catalog as the marketplace serves it (services/models/templates.py): every
template's manifest valid and complete, enough of them across industries, filters that find
them, and a run that is refused before anything is submitted when its input is wrong."""

from __future__ import annotations

from pathlib import Path

from aicc.core import templates as core
from aicc.services.models import template_runs, templates
from aicc.testing import templates as harness


def test_the_catalog_spans_the_industries_the_issue_names() -> None:
    catalog = templates.list_templates()
    assert [t.name for t in catalog] == harness.names()
    assert len(catalog) >= 10
    assert len({t.manifest.industry for t in catalog}) >= 7
    tasks = {t.manifest.task for t in catalog}
    assert {
        "image-classification",
        "segmentation",
        "text-classification",
        "ner",
        "tabular-classification",
        "forecasting",
        "anomaly-detection",
        "recommendation",
        "routing",
        "text-generation",
    } <= tasks
    for t in catalog:
        m = t.manifest
        folder = templates.ROOT / t.name
        assert {p.name for p in folder.iterdir() if p.is_file()} >= {
            "template.yaml",
            "train.py",
            "predict.py",
            "example.py",
        }, t.name
        assert m.title.zh_CN != m.title.en and m.summary.zh_CN, t.name  # Chinese, not a copy
        for name, param in m.hyperparameters.items():
            assert core.check_params(m, {})[name] == param.default


def test_filters_find_templates_by_industry_task_and_words() -> None:
    finance = templates.list_templates(industry="finance")
    assert [t.name for t in finance] == ["credit-risk"]
    assert [t.name for t in templates.list_templates(task="ner")] == ["contract-ner"]
    assert "hotline-classification" in [t.name for t in templates.list_templates(q="热线")]
    assert templates.list_templates(q="no such words anywhere") == []


def test_the_program_is_the_same_bytes_for_the_same_run(tmp_path: Path) -> None:
    t = templates.get("credit-risk")
    one = template_runs.program(t, {"hyperparameters": {"max_iter": 5}})
    assert one == template_runs.program(t, {"hyperparameters": {"max_iter": 5}})
    assert one != template_runs.program(t, {"hyperparameters": {"max_iter": 6}})
