"""AutoML: AICC's generic templates against FLAML and AutoGluon, on public tables that ship with
scikit-learn and statsmodels (nothing downloaded), each system at the same wall-clock budget on
the same machine in one run (issue 37).

Each table is written as a CSV and split by a fixed seed into a training table and a held-out
table (a series: its last `horizon` points held out). Every system trains on the training table
only and is scored on the held-out one with the same metric: accuracy (classification), R²
(regression), MASE against the seasonal naive forecast (series; lower is better).

- AICC: the generic template's own `train.py` run as a job runs it (`aicc.testing.templates`,
  the budget as its `time_budget_s`), then its model served as a deployment serves it
  (`python -m aicc.serving`) and scored through `POST /predict`: "to an API" is the seconds from
  the run's start until that `/predict` first answers.
- FLAML: `flaml.AutoML(time_budget=...)` (`ts_forecast` for series), in a process of its own,
  searching its default learners for the task that are installed: the `test` extra's light
  install (FLAML's core, LightGBM, XGBoost's CPU build, ~9 MB) and `flaml[automl]` (~550 MB,
  XGBoost's CUDA build and NCCL) have the same ones.
- AutoGluon: `TabularPredictor(...).fit(time_limit=...)` (`TimeSeriesPredictor` for series,
  local models only), in a process of its own run by the Python of a separate virtualenv
  (`--autogluon-python`; its requirements conflict with AICC's), left out when it is absent.

The systems take turns in a different order on each table, to share the machine's noise. Per
system: the mean normalized score (each table's score over the table's best score; for MASE the
best over the score). Budget: `--budget` seconds of training per system per table. Every result
names the learners the system searched and its libraries' versions (and XGBoost's build), so a
figure is never read against another install's.

    .venv/bin/python benchmarks/automl.py --budget 30 [--only iris,nile] [--systems aicc,flaml]
        [--threads 1] [--autogluon-python /tmp/ag-venv/bin/python] [--json] [--markdown]

Quick mode (a minute, what tests/bench/test_automl.py runs): `--only iris --budget 5 --systems
aicc,flaml --threads 1`.

FLAML and AutoGluon train in `benchmarks/automl_worker.py`, run by their own Pythons.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SEED = 0
TEST_FRACTION = 0.25
SYSTEMS = ("aicc", "flaml", "autogluon")
METRICS = {"classification": "accuracy", "regression": "r2", "forecasting": "mase"}
TEMPLATES = {
    "classification": "table-prediction",
    "regression": "table-prediction",
    "forecasting": "series-forecast",
}
AG_PYTHONS = ("/tmp/ag-ts-venv/bin/python", "/tmp/ag-venv/bin/python")
WORKER = Path(__file__).resolve().parent / "automl_worker.py"


@dataclass(frozen=True)
class Table:
    """A public table and what is predicted from it. `season`: the seasonal naive forecast's
    lag for MASE (1 for yearly data: the naive forecast)."""

    name: str
    task: str
    source: str
    target: str
    time: str | None = None
    horizon: int = 0
    season: int = 1


TABLES = (
    Table("iris", "classification", "scikit-learn", "species"),
    Table("wine", "classification", "scikit-learn", "cultivar"),
    Table("breast_cancer", "classification", "scikit-learn", "diagnosis"),
    Table("digits", "classification", "scikit-learn", "digit"),
    Table("anes96", "classification", "statsmodels", "vote"),
    Table("diabetes", "regression", "scikit-learn", "progression"),
    Table("fair", "regression", "statsmodels", "affairs"),
    Table("grunfeld", "regression", "statsmodels", "invest"),
    Table("co2", "forecasting", "statsmodels", "co2", time="week", horizon=13, season=52),
    Table("sunspots", "forecasting", "statsmodels", "sunactivity", time="year", horizon=6),
    Table("macrodata", "forecasting", "statsmodels", "realgdp", "quarter", horizon=8, season=4),
    Table("elnino", "forecasting", "statsmodels", "temperature", "month", horizon=18, season=12),
    Table("nile", "forecasting", "statsmodels", "volume", time="year", horizon=6),
)


@dataclass
class Result:
    """One system on one table. `seconds`: training and predicting the held-out rows, the
    process's wall clock; `api_seconds` (AICC): from the run's start to `/predict`'s answer;
    `learners`: what the system searched (AICC: the candidates its budget reached);
    `libraries`: their versions; `budget_s`: the budget it had (a template's range bounds
    AICC's: `table-prediction` takes 5 s at least)."""

    score: float | None = None
    seconds: float | None = None
    cpu_seconds: float | None = None
    api_seconds: float | None = None
    model: str | None = None
    error: str | None = None
    learners: list[str] | None = None
    libraries: str | None = None
    budget_s: float | None = None
    predictions: list[Any] | None = field(default=None, repr=False)  # scored, then dropped


@dataclass
class Scored:
    table: Table
    rows: int
    test_rows: int
    results: dict[str, Result] = field(default_factory=dict)


def frame(table: Table) -> Any:
    """The table as a pandas DataFrame with readable column names and labels."""
    import pandas as pd

    if table.source == "scikit-learn":
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{table.name}")(as_frame=True)
        data = bunch.frame.rename(columns={"target": table.target})
        if table.task == "classification" and table.name != "digits":
            names = list(bunch.target_names)
            data[table.target] = [str(names[int(i)]) for i in data[table.target]]
        data.columns = [str(c).replace(" ", "_") for c in data.columns]
        return data
    import statsmodels.api as sm

    raw = getattr(sm.datasets, table.name).load_pandas().data
    if table.name == "anes96":
        return raw.drop(columns=["logpopul"]).astype({"vote": int})
    if table.name in ("fair", "grunfeld"):
        return raw
    if table.name == "co2":  # weekly, 59 weeks missing: filled between their neighbours
        series = raw["co2"].interpolate()
        return pd.DataFrame({"week": series.index.strftime("%Y-%m-%d"), "co2": series.values})
    if table.name in ("sunspots", "nile"):
        year, value = raw.columns
        times = [f"{int(y)}-01-01" for y in raw[year]]
        return pd.DataFrame({"year": times, table.target: raw[value].values})
    if table.name == "macrodata":
        times = [
            f"{int(y)}-{3 * int(q) - 2:02d}-01" for y, q in zip(raw.year, raw.quarter, strict=True)
        ]
        return pd.DataFrame({"quarter": times, "realgdp": raw.realgdp.values})
    if table.name == "elnino":
        months = raw.columns[1:]
        times, values = [], []
        for _, row in raw.iterrows():
            for m, month in enumerate(months, start=1):
                times.append(f"{int(row.YEAR)}-{m:02d}-01")
                values.append(float(row[month]))
        return pd.DataFrame({"month": times, "temperature": values})
    raise ValueError(f"no such table: {table.name}")


def split(table: Table, data: Any) -> tuple[Any, Any]:
    """(training, held-out): a seeded, stratified split; a series' last `horizon` points."""
    if table.task == "forecasting":
        return data.iloc[: -table.horizon], data.iloc[-table.horizon :]
    from sklearn.model_selection import train_test_split

    strata = data[table.target] if table.task == "classification" else None
    train, test = train_test_split(
        data, test_size=TEST_FRACTION, random_state=SEED, stratify=strata
    )
    return train, test


def score(table: Table, train: Any, truth: list[Any], predicted: list[Any]) -> float:
    """The held-out metric: accuracy, R², or MASE against the seasonal naive forecast."""
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predictions for {len(truth)} rows")
    if table.task == "classification":
        return sum(_label(p) == _label(t) for p, t in zip(predicted, truth, strict=True)) / len(
            truth
        )
    values = [float(v) for v in predicted]
    if any(not math.isfinite(v) for v in values):
        raise ValueError("a prediction is not a finite number")
    if table.task == "regression":
        mean = sum(truth) / len(truth)
        residual = sum((t - p) ** 2 for t, p in zip(truth, values, strict=True))
        return 1 - residual / sum((t - mean) ** 2 for t in truth)
    history = [float(v) for v in train[table.target]]
    m = table.season
    naive = sum(abs(a - b) for a, b in zip(history[m:], history[:-m], strict=False)) / (
        len(history) - m
    )
    return sum(abs(t - p) for t, p in zip(truth, values, strict=True)) / len(truth) / naive


def _label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def normalized(table: Table, scores: dict[str, float | None]) -> dict[str, float]:
    """Each system's score over the table's best (the best over the score for MASE); a system
    that failed gets 0."""
    got = {k: v for k, v in scores.items() if v is not None}
    if not got:
        return dict.fromkeys(scores, 0.0)
    if table.task == "forecasting":
        best = min(got.values())
        return {k: (best / v if v else 1.0) if v is not None else 0.0 for k, v in scores.items()}
    best = max(got.values())
    return {
        k: (max(v, 0.0) / best if best > 0 else 0.0) if v is not None else 0.0
        for k, v in scores.items()
    }


# --- AICC: the generic templates, trained and served as AICC does ------------------------


def run_aicc(table: Table, train_csv: Path, test: Any, work: Path, budget: float) -> Result:
    import httpx

    from aicc.testing import serving, templates

    name = TEMPLATES[table.task]
    if not (templates.ROOT / name / "train.py").is_file():
        return Result(error=f"the {name} template is not there yet")
    manifest = templates.manifest(name)
    params: dict[str, Any] = {}
    if "time_budget_s" in manifest.hyperparameters:
        param = manifest.hyperparameters["time_budget_s"]
        lo, hi = param.min or budget, param.max or budget
        params["time_budget_s"] = type(param.default)(min(max(budget, lo), hi))
    if table.task == "forecasting" and "horizon" in manifest.hyperparameters:
        params["horizon"] = table.horizon
    columns = {"target": table.target}
    if table.time:
        columns["time"] = table.time
    data = train_csv.parent
    cpu = _children_cpu()
    try:
        trained = templates.train(
            name,
            data,
            work,
            params,
            table=train_csv.name,
            columns=columns,
            timeout=budget * 4 + 300,
        )
    except (AssertionError, subprocess.TimeoutExpired) as e:
        return Result(error=_last_line(str(e)))
    cpu = _children_cpu() - cpu
    version = serving.model_version(name, trained.model, work / "version")
    rows = _rows(test.drop(columns=[table.target]))
    started = time.monotonic()
    with serving.serve(version, work / "replica", name=table.name, timeout=300) as served:
        predictions = _post(httpx, served.url, rows[:1])
        to_api = trained.seconds + time.monotonic() - started
        for at in range(1, len(rows), 1000):
            predictions += _post(httpx, served.url, rows[at : at + 1000])
    schema = json.loads((trained.model / "schema.json").read_text("utf-8"))
    names = [o["name"] for o in schema["outputs"]]
    wanted = f"{table.target}_{'forecast' if table.task == 'forecasting' else 'predicted'}"
    output = wanted if wanted in names else names[0]
    facts = trained.report.get("facts", {})
    values = [p.get(output) for p in predictions]
    (work / "predictions.json").write_text(json.dumps({"predictions": values, "model": output}))
    tried = [c["model"] for c in facts.get("candidates", [])] or list(facts.get("backtests", {}))
    return Result(
        seconds=trained.seconds,
        cpu_seconds=cpu,
        api_seconds=to_api,
        model=str(facts.get("model") or ""),
        learners=tried,
        libraries=_requirement_versions(manifest.requirements),
        budget_s=float(params.get("time_budget_s", budget)),
        predictions=values,
    )


def _requirement_versions(requirements: list[str]) -> str:
    """Each requirement of a template as "name version", the version installed here."""
    import re
    from importlib import metadata

    names = [re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0] for r in requirements]
    return ", ".join(f"{n} {metadata.version(n)}" for n in names)


def _post(httpx: Any, url: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = httpx.post(url + "/predict", json={"rows": rows}, timeout=300)
    if answer.status_code != 200:
        raise RuntimeError(f"/predict answered {answer.status_code}: {answer.text[:300]}")
    return list(answer.json()["predictions"])


def _rows(data: Any) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in json.loads(data.to_json(orient="records"))
    ]


def _children_cpu() -> float:
    """CPU seconds of the waited-for child processes so far: the work done, whatever else
    loads the machine (the wall clock is what the budget bounds)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else text)[:300]


# --- FLAML and AutoGluon: in their own processes ----------------------------------------


def run_worker(
    system: str,
    python: str,
    table: Table,
    paths: dict[str, Path],
    work: Path,
    budget: float,
    threads: int | None = None,
) -> Result:
    spec = {
        "task": table.task,
        "target": table.target,
        "time": table.time,
        "horizon": table.horizon,
        "season": table.season,
        "budget": budget,
        "train": str(paths["train"]),
        "test": str(paths["test"]),
        "work": str(work),
        "out": str(work / "predictions.json"),
        "threads": threads,
    }
    work.mkdir(parents=True, exist_ok=True)
    (work / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    started, cpu = time.monotonic(), _children_cpu()
    try:
        done = subprocess.run(
            [python, str(WORKER), system, str(work / "spec.json")],
            env=env,
            capture_output=True,
            text=True,
            timeout=budget * 4 + 300,
            cwd=work,
        )
    except subprocess.TimeoutExpired:
        return Result(error=f"no answer within {budget * 4 + 300:.0f} s")
    seconds, cpu = time.monotonic() - started, _children_cpu() - cpu
    if done.returncode != 0:
        return Result(seconds=seconds, error=_last_line(done.stderr or done.stdout))
    answer = json.loads((work / "predictions.json").read_text())
    return Result(
        seconds=seconds,
        cpu_seconds=cpu,
        model=answer["model"],
        learners=answer.get("learners"),
        libraries=answer.get("libraries"),
        budget_s=budget,
        predictions=answer["predictions"],
    )


# --- the run ----------------------------------------------------------------------------


def benchmark(
    tables: list[Table],
    systems: list[str],
    budget: float,
    work: Path,
    ag_python: str | None,
    threads: int | None = None,
) -> list[Scored]:
    """Every system on every table. `threads`: the thread pools' size for all (OpenMP, BLAS,
    FLAML's `n_jobs`, AutoGluon's `num_cpus`); None leaves each system's own (AICC's training:
    one thread, as a job on a one-CPU replica; FLAML and AutoGluon: every core)."""
    if threads:
        from aicc.executors.environment import thread_env

        os.environ.update(thread_env(threads * 1000))  # AICC's runs and the workers inherit
    out = []
    for index, table in enumerate(tables):
        data = frame(table)
        train, test = split(table, data)
        paths = {
            "train": work / table.name / "data" / "train.csv",
            "test": work / table.name / "test.csv",
        }
        paths["train"].parent.mkdir(parents=True, exist_ok=True)
        train.to_csv(paths["train"], index=False)
        test.to_csv(paths["test"], index=False)
        scored = Scored(table, rows=len(train), test_rows=len(test))
        order = systems[index % len(systems) :] + systems[: index % len(systems)]
        for system in order:
            place = work / table.name / system
            python = {"flaml": sys.executable, "autogluon": ag_python}.get(system)
            if system == "autogluon" and not (
                ag_python and (table.task != "forecasting" or _has(ag_python, "timeseries"))
            ):
                continue
            try:
                if system == "aicc":
                    result = run_aicc(table, paths["train"], test, place, budget)
                else:
                    result = run_worker(system, str(python), table, paths, place, budget, threads)
            except Exception as e:  # one system failing on one table is a result, not the end
                result = Result(error=f"{type(e).__name__}: {_last_line(str(e))}")
            if result.predictions is not None:
                try:
                    truth = list(test[table.target])
                    result.score = score(table, train, truth, result.predictions)
                except (ValueError, TypeError) as e:
                    result.error = f"not scored: {e}"
                result.predictions = None
            scored.results[system] = result
            print(f"{table.name} {system}: {_cell(result)}", file=sys.stderr, flush=True)
        out.append(scored)
    return out


@functools.cache
def _has(python: str, module: str) -> bool:
    probe = subprocess.run(
        [python, "-c", f"import autogluon.{module}"], capture_output=True, timeout=300
    )
    return probe.returncode == 0


def summary(scored: list[Scored], systems: list[str]) -> dict[str, Any]:
    """The mean normalized score per system, and AICC's against each other system's over the
    tables both ran."""
    norms = []
    for s in scored:
        norms.append(normalized(s.table, {k: r.score for k, r in s.results.items()}))
    means = {}
    for system in systems:
        values = [n[system] for n in norms if system in n]
        if values:
            means[system] = {"mean_normalized": sum(values) / len(values), "tables": len(values)}
    ratios = {}
    for other in systems:
        both = [n for n in norms if "aicc" in n and other in n and other != "aicc"]
        if both:
            theirs = sum(n[other] for n in both)
            ratios[f"aicc/{other}"] = sum(n["aicc"] for n in both) / theirs if theirs else None
            ratios[f"aicc/{other} tables"] = len(both)
    to_api = [r.api_seconds for s in scored for r in s.results.values() if r.api_seconds]
    api = {"max_s": max(to_api), "median_s": sorted(to_api)[len(to_api) // 2]} if to_api else {}
    return {"systems": means, "ratios": ratios, "normalized": norms, "aicc_to_api": api}


def _cell(r: Result | None) -> str:
    if r is None:
        return "—"
    if r.score is None:
        return f"failed: {r.error}"
    return f"{r.score:.3f} ({r.seconds:.0f} s)"


def setups(scored: list[Scored], systems: list[str]) -> dict[str, dict[str, Any]]:
    """What each system had: its libraries and every learner it searched on some table (the
    kinds, in the order first seen; each table's result has their full names)."""
    out = {}
    for system in systems:
        results = [s.results[system] for s in scored if system in s.results]
        kinds = (name.split(" (")[0] for r in results for name in r.learners or [])
        libraries = next((r.libraries for r in results if r.libraries), None)
        out[system] = {"libraries": libraries, "learners": list(dict.fromkeys(kinds))}
    return out


def document(
    scored: list[Scored], systems: list[str], budget: float, threads: int | None = None
) -> dict[str, Any]:
    """The run as `--json` prints it (and `--markdown FILE` reads it back)."""
    tables = []
    for s in scored:
        results = {k: asdict(r) for k, r in s.results.items()}
        for r in results.values():
            r.pop("predictions")
        tables.append(
            {
                "table": s.table.name,
                "source": s.table.source,
                "task": s.table.task,
                "metric": METRICS[s.table.task],
                "rows": s.rows,
                "test_rows": s.test_rows,
                "results": results,
            }
        )
    return {
        "budget_s": budget,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "threads": threads,
        "systems": systems,
        "setups": setups(scored, systems),
        "tables": tables,
        "summary": summary(scored, systems),
    }


def markdown(doc: dict[str, Any]) -> str:
    """The BENCHMARKS.md table: per table each system's score (seconds), then the means."""
    systems = doc["systems"]
    head = "| table | task (train/test rows) | metric | " + " | ".join(systems)
    lines = [
        head + " | AICC: run start to `/predict` answering |",
        "|---" * (len(systems) + 4) + "|",
    ]
    for t in doc["tables"]:
        got = {k: Result(**v) for k, v in t["results"].items()}
        cells = [_cell(got.get(k)) for k in systems]
        api = got.get("aicc")
        to_api = f"{api.api_seconds:.0f} s" if api and api.api_seconds else "—"
        lines.append(
            f"| {t['table']} ({t['source']}) | {t['task']} ({t['rows']}/{t['test_rows']}) | "
            f"{t['metric']} | " + " | ".join(cells) + f" | {to_api} |"
        )
    means = doc["summary"]["systems"]
    cells = [f"**{means[k]['mean_normalized']:.3f}**" if k in means else "—" for k in systems]
    api = doc["summary"]["aicc_to_api"]
    most = f"median {api['median_s']:.0f} s, at most {api['max_s']:.0f} s" if api else ""
    lines.append("| mean normalized score | | | " + " | ".join(cells) + f" | {most} |")
    ratios = doc["summary"]["ratios"]
    said = [
        f"AICC / {k.split('/')[1]}: {v:.3f} over {ratios[k + ' tables']} tables"
        for k, v in ratios.items()
        if not k.endswith("tables") and v is not None
    ]
    text = "\n".join(lines) + ("\n\n" + "; ".join(said) + "." if said else "")
    had = [
        f"- {k}: {v['libraries'] or '?'}; learners: {', '.join(v['learners']) or '?'}"
        for k, v in doc.get("setups", {}).items()
    ]
    threads = doc.get("threads")
    pools = "each its own thread pools"
    if threads:
        pools = f"{threads} thread{'s' if threads > 1 else ''} each"
    return text + (f"\n\nWhat each system had ({pools}):\n" + "\n".join(had) if had else "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Quick mode (about a minute; tests/bench/test_automl.py runs it): "
        "--only iris --budget 5 --systems aicc,flaml --threads 1",
    )
    parser.add_argument("--budget", type=float, default=30, help="seconds per system per table")
    parser.add_argument("--only", default="", help="comma-separated table names")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="thread pools of this size for every system (default: each system's own)",
    )
    parser.add_argument("--autogluon-python", default=None, help="AutoGluon's venv's python")
    parser.add_argument("--dir", type=Path, default=None, help="keep the run's files here")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--markdown",
        nargs="?",
        const="",
        default=None,
        metavar="JSON",
        help="print a BENCHMARKS.md table (of a run saved with --json, when given)",
    )
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return
    only = [n for n in args.only.split(",") if n]
    unknown = set(only) - {t.name for t in TABLES}
    if unknown:
        parser.error(f"no table {sorted(unknown)}; the tables: {[t.name for t in TABLES]}")
    tables = [t for t in TABLES if not only or t.name in only]
    systems = [s for s in args.systems.split(",") if s]
    if not systems or set(systems) - set(SYSTEMS):
        parser.error(f"--systems: some of {', '.join(SYSTEMS)}")
    ag_python = args.autogluon_python or next((p for p in AG_PYTHONS if Path(p).exists()), None)
    if "autogluon" in systems and not ag_python:
        print("AutoGluon left out: no --autogluon-python", file=sys.stderr)
        systems.remove("autogluon")
    work = args.dir or Path(tempfile.mkdtemp(prefix="aicc-automl-"))
    ag = ag_python if "autogluon" in systems else None
    scored = benchmark(tables, systems, args.budget, work, ag, args.threads)
    doc = document(scored, systems, args.budget, args.threads)
    print(json.dumps(doc, indent=2) if args.json else markdown(doc))


if __name__ == "__main__":
    main()
