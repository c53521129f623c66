"""Built-in templates run as a training job runs them (`aicc/core/templates.py`'s convention),
for their tests and benchmarks: the example data, training, the outputs, and predictions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import aicc
from aicc.core import templates as core
from aicc.executors.environment import thread_env

ROOT = Path(aicc.__file__).parent / "templates"
RUNTIME = ROOT / "aicc_template.py"


def names() -> list[str]:
    """The built-in templates."""
    return sorted(p.parent.name for p in ROOT.glob("*/template.yaml"))


def manifest(name: str) -> core.Manifest:
    return core.parse(yaml.safe_load((ROOT / name / "template.yaml").read_text("utf-8")))


def workdir(name: str, dest: Path) -> Path:
    """The template's files and the shared runtime, as a job's working directory holds them."""
    shutil.copytree(ROOT / name, dest, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(RUNTIME, dest / RUNTIME.name)
    return dest


def _python(
    args: list[str], cwd: Path, timeout: float, devices: str = ""
) -> subprocess.CompletedProcess[str]:
    # thread pools of one thread (executors/environment.py sizes a job's to its CPUs): tests
    # train side by side on a 2-core machine, where pools that spin on each other's cores crawl;
    # no GPU unless `devices` names some (benchmarks/accelerator.py)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": devices, "PYTHONUNBUFFERED": "1"}
    env.update({k: v for k, v in thread_env(1000).items() if k not in os.environ})
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (
        f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def example(name: str, dest: Path) -> Path:
    """The example data set, as `example.py DEST` writes it."""
    work = dest.parent / f"{name}-example-code"
    if not work.exists():
        workdir(name, work)
    _python(["example.py", str(dest)], work, timeout=120)
    return dest


@dataclass(frozen=True)
class Trained:
    """A training run's outputs, read back."""

    output: Path
    metrics: dict[str, float]
    curve: list[dict[str, Any]]
    report: dict[str, Any]
    seconds: float

    @property
    def model(self) -> Path:
        return self.output / "model"


def train(
    name: str,
    data: Path,
    work: Path,
    params: dict[str, Any] | None = None,
    *,
    table: str | None = None,
    columns: dict[str, str] | None = None,
    timeout: float = 300,
    devices: str = "",
) -> Trained:
    """Train as the job would: `params` checked against the manifest and completed; on the GPUs
    `devices` names (CUDA_VISIBLE_DEVICES), none by default."""
    code = workdir(name, work / "code")
    hp = core.check_params(manifest(name), params or {})
    doc = {"hyperparameters": hp, "input": {"table": table, "columns": columns or {}}}
    (work / "params.json").write_text(json.dumps(doc))
    output = work / "outputs"
    started = time.monotonic()
    _python(
        [
            "train.py",
            "--data",
            str(data),
            "--output",
            str(output),
            "--params",
            str(work / "params.json"),
        ],
        code,
        timeout,
        devices,
    )
    seconds = time.monotonic() - started
    curve = [
        json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines() if line
    ]
    return Trained(
        output=output,
        metrics=json.loads((output / "metrics.json").read_text()),
        curve=curve,
        report=json.loads((output / "report.json").read_text()),
        seconds=seconds,
    )


def refused(
    name: str,
    data: Path,
    work: Path,
    params: dict[str, Any] | None = None,
    *,
    columns: dict[str, str] | None = None,
) -> str:
    """What a training run that refuses its data says: the last line of its stderr (its
    SystemExit message); it must exit with an error and write no model."""
    code = workdir(name, work / "code")
    hp = core.check_params(manifest(name), params or {})
    doc = {"hyperparameters": hp, "input": {"table": None, "columns": columns or {}}}
    (work / "params.json").write_text(json.dumps(doc))
    output = work / "outputs"
    args = ["train.py", "--data", str(data), "--output", str(output)]
    # thread pools of one thread (executors/environment.py sizes a job's to its CPUs): tests
    # train side by side on a 2-core machine, where pools that spin on each other's cores crawl
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONUNBUFFERED": "1"}
    env.update({k: v for k, v in thread_env(1000).items() if k not in os.environ})
    done = subprocess.run(
        [sys.executable, *args, "--params", str(work / "params.json")],
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0, f"{name} trained on data it should refuse:\n{done.stdout}"
    assert not (output / "model").exists() or not any((output / "model").iterdir())
    return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""


def train_example(name: str, tmp: Path, params: dict[str, Any] | None = None) -> Trained:
    """The template trained on its own example data with its defaults (or `params`)."""
    return train(name, example(name, tmp / "example"), tmp / "run", params)


def predict(name: str, model: Path, input: Path, output: Path) -> Path:
    """`predict.py --model --input --output`, from a directory holding only the template's
    files, as a downloaded model is used."""
    code = output.parent / f"{name}-predict-code"
    if not code.exists():
        workdir(name, code)
    _python(
        ["predict.py", "--model", str(model), "--input", str(input), "--output", str(output)],
        code,
        timeout=120,
    )
    return output


OWN_TRAIN = '''"""A tenant's template: the mean of column y (after a gate, when asked)."""
import argparse, csv, json, pathlib, time

args = argparse.ArgumentParser()
args.add_argument("--data"); args.add_argument("--output"); args.add_argument("--params")
a = args.parse_args()
params = json.loads(pathlib.Path(a.params).read_text())["hyperparameters"]
out = pathlib.Path(a.output)
while params["gated"] and not (out / "gate").exists():
    time.sleep(0.05)
rows = [float(r["y"]) for p in sorted(pathlib.Path(a.data).rglob("*.csv"))
        for r in csv.DictReader(p.open())]
mean = sum(rows) / len(rows)
(out / "model").mkdir(parents=True, exist_ok=True)
(out / "model" / "mean.json").write_text(json.dumps({"mean": mean}))
mae = sum(abs(y - mean) for y in rows) / len(rows)
(out / "metrics.json").write_text(json.dumps({"mae": mae}))
(out / "metrics.jsonl").write_text(json.dumps({"step": 1, "mae": mae}) + "\\n")
summary = {"en": "MARKER: a tenant's own mean model", "zh-CN": "MARKER: 租户自己的均值模型"}
(out / "report.json").write_text(json.dumps({"summary": summary}))
'''
OWN_EXAMPLE = """import pathlib, sys
d = pathlib.Path(sys.argv[1]); d.mkdir(parents=True, exist_ok=True)
(d / "rows.csv").write_text("x,y\\n" + "".join(f"{i},{i % 7}\\n" for i in range(50)))
"""
OWN_PREDICT = """import argparse, json, pathlib
args = argparse.ArgumentParser()
args.add_argument("--model"); args.add_argument("--input"); args.add_argument("--output")
a = args.parse_args()
mean = json.loads((pathlib.Path(a.model) / "mean.json").read_text())["mean"]
pathlib.Path(a.output).write_text(str(mean))
"""


def own(name: str, *, price_note: str = "") -> dict[str, str]:
    """A small template a tenant publishes (`POST /api/v1/templates`): it learns the mean of
    column `y` in pure Python; hyperparameter `gated` makes its training wait until a file
    `gate` appears in its outputs (a job that is surely running while a test acts)."""
    manifest = {
        "name": name,
        "title": {"en": f"Mean of y ({name})", "zh-CN": f"y 的均值（{name}）"},
        "summary": {"en": f"Predicts the mean. {price_note}", "zh-CN": "预测均值。"},
        "industry": "general",
        "task": "tabular-regression",
        "framework": "numpy",
        "licence": "MIT",
        "input": {"kind": "table", "min_rows": 5, "columns": [{"name": "y", "type": "number"}]},
        "hyperparameters": {
            "gated": {"type": "boolean", "default": False},
            "shrink": {"type": "number", "default": 0.5, "min": 0, "max": 1},
        },
        "resources": {
            "cpu": 0.5,
            "memory": "256MiB",
            "gpus": 0,
            "scales_to_gpus": False,
            "example_seconds": 1.0,  # measured, so its runs can be estimated
            "example_rows": 50,
        },
        "metric": {"name": "mae", "goal": "minimize", "expected": 2.0},
        "format": "json",
    }
    return {
        "template.yaml": yaml.safe_dump(manifest, allow_unicode=True),
        "train.py": OWN_TRAIN,
        "example.py": OWN_EXAMPLE,
        "predict.py": OWN_PREDICT,
    }
