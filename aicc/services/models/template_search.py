"""A template run as a hyperparameter search: the trials are the replicas of one gang job
(`core/template_search.py` chooses them), replica `i` trains with trial `i`'s hyperparameters
into `$AICC_OUTPUT_DIR/trial-i/` (the job's outputs directory is shared by its replicas), and
when the job succeeds the best trial by the template's metric becomes the model version, with
every trial's hyperparameters and metrics in its lineage and card.
"""

from __future__ import annotations

import json
from typing import Any

from aicc.core import template_search
from aicc.core.templates import Manifest
from aicc.executors.jobfiles import JobFiles
from aicc.services.common import Invalid
from aicc.services.models import models

OUTPUT = '"$AICC_OUTPUT_DIR/trial-$AICC_REPLICA"'  # a shell word: each replica's own outputs


def trial_name(index: int) -> str:
    return f"trial-{index}"


def trial_metrics(root: JobFiles, index: int) -> dict[str, float]:
    """Trial `index`'s metrics.json, read through the guard; {} when it wrote none."""
    try:
        return models.read_metrics(root.subdir(trial_name(index)))
    except (FileNotFoundError, NotADirectoryError):
        return {}


def pick(
    manifest: Manifest, root: JobFiles, lineage: dict[str, Any]
) -> tuple[JobFiles, dict[str, Any]]:
    """The best trial's outputs directory, and the lineage the model version records: its
    hyperparameters as `params`, and `search` with every trial's params and metrics and which
    one won. Invalid when no trial reported the template's metric."""
    trials: list[dict[str, Any]] = list(lineage["search"]["trials"])
    name = manifest.metric.name
    results = [trial_metrics(root, i) for i in range(len(trials))]
    index = template_search.best(manifest.metric, [r.get(name) for r in results])
    if index is None:
        raise Invalid(
            "no trial wrote {metric} in metrics.json; no model was registered", metric=name
        )
    search = {
        "metric": name,
        "goal": manifest.metric.goal,
        "best": index,
        "trials": [
            {"trial": i, "params": p, "metrics": r}
            for i, (p, r) in enumerate(zip(trials, results, strict=True))
        ],
    }
    return root.subdir(trial_name(index)), {**lineage, "params": trials[index], "search": search}


def card_lines(lineage: dict[str, Any]) -> list[str]:
    """The model card's section on the search (none for a single run)."""
    search = lineage.get("search")
    if not isinstance(search, dict) or "best" not in search:
        return []
    name, goal = search["metric"], search["goal"]
    lines = ["", "## Hyperparameter search / 超参数搜索", ""]
    lines.append(f"{len(search['trials'])} trials; the best by {name} ({goal}) was registered.")
    lines.append("")
    for t in search["trials"]:
        value = t["metrics"].get(name, "no result")
        mark = " (registered)" if t["trial"] == search["best"] else ""
        lines.append(f"- trial {t['trial']}: {name} {value}{mark}, {json.dumps(t['params'])}")
    return lines
