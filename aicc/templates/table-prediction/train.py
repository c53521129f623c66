"""Table prediction: any table, any column to predict. The data decides the rest.

- The task, from the target (the fit check's rule, `core/template_fit.py`'s `task_of`):
  classification when its values are text or booleans, or whole numbers with at most 20
  distinct values; otherwise regression. Rows without a target are left out, and so are the
  rows of a class seen once (a class needs two rows to be learned and checked).
- The inputs, from every other column: numbers, booleans, categories (text with few distinct
  values), dates (text that reads as dates: year, month, day, weekday, hour, day of the year
  and the trend), free text (character n-grams reduced to at most 16 numbers). IDs, constant
  columns and leaks (a copy or a one-to-one relabeling of the target) are dropped, and the
  report says which and why.
- The model, from a search within `time_budget_s` (wall clock, from the start): scikit-learn's
  HistGradientBoosting with its defaults, then other settings of it, extra trees, random
  forests and a linear model, each scored by cross-validation on the training part; then a
  greedy ensemble of them (Caruana et al., 2004) when it beats the best single one. The chosen
  model is refitted on the whole training part and scored once on the held-out part, against a
  naive baseline.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aicc_template
import numpy as np
from predict import (
    MAX_SCHEMA_VALUES,
    Target,
    choose_inputs,
    combine,
    fit_inputs,
    kinds,
    label,
    matrix,
    owners,
    prepare_target,
    write_schema,
)


def held_out(target: Target, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out positions: stratified by class where every class can be."""
    from sklearn.model_selection import train_test_split

    n = len(target.y)
    stratify = None
    if target.task == "classification":
        k = len(target.classes)
        test = max(1, round(n * fraction))
        stratify = target.y if test >= k and n - test >= k else None
    train, test_rows = train_test_split(
        np.arange(n), test_size=fraction, random_state=seed, stratify=stratify
    )
    return np.sort(train), np.sort(test_rows)


@dataclass
class Tried:
    """A candidate scored by cross-validation: its predictions for each training row made by
    a model that did not see the row (`oof`)."""

    name: str
    make: Callable[[], Any]
    oof: np.ndarray
    score: float
    loss: float
    seconds: float


@dataclass
class Found:
    """The search's answer: the fitted members with their weights, and the board."""

    members: list[tuple[float, Any]]
    name: str
    tried: int
    board: list[dict[str, Any]]


def candidates(
    classes: int, categorical: np.ndarray, balanced: bool, seed: int
) -> list[tuple[str, float, Callable[[], Any]]]:
    """The models tried, in order: a name, a cost relative to the first, and a maker. The
    first is HistGradientBoosting as scikit-learn sets it up, the strongest default for
    tables; the others differ in how they go wrong, which is what an ensemble needs."""
    from sklearn import ensemble as trees
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    weight = {"class_weight": "balanced"} if classes and balanced else {}
    mask = categorical if categorical.any() else None

    def hgb(**settings: Any) -> Callable[[], Any]:
        kind = (
            trees.HistGradientBoostingClassifier if classes else trees.HistGradientBoostingRegressor
        )
        return lambda: kind(categorical_features=mask, random_state=seed, **weight, **settings)

    def forest(name: str, **settings: Any) -> Callable[[], Any]:
        kind = getattr(trees, name + ("Classifier" if classes else "Regressor"))
        return lambda: make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            kind(n_estimators=200, random_state=seed, n_jobs=1, **weight, **settings),
        )

    def linear() -> Any:
        numbers = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
        )
        codes = make_pipeline(
            SimpleImputer(strategy="constant", fill_value=-1, keep_empty_features=True),
            OneHotEncoder(handle_unknown="ignore"),
        )
        parts = [("numbers", numbers, np.flatnonzero(~categorical))]
        parts += [("codes", codes, np.flatnonzero(categorical))] if categorical.any() else []
        head = LogisticRegression(max_iter=1000, **weight) if classes else Ridge(alpha=1.0)
        return make_pipeline(ColumnTransformer(parts), head)

    features = {"max_features": "sqrt" if classes else 0.5}
    return [
        ("", 1.0, hgb()),
        ("", 0.5, linear),
        (
            "learning_rate 0.05, 15 leaves",
            2.5,
            hgb(
                learning_rate=0.05,
                max_iter=300,
                max_leaf_nodes=15,
                min_samples_leaf=10,
                l2_regularization=1.0,
            ),
        ),
        ("", 1.5, forest("ExtraTrees", min_samples_leaf=1, **features)),
        (
            "63 leaves",
            2.0,
            hgb(max_iter=200, max_leaf_nodes=63, min_samples_leaf=5, l2_regularization=0.1),
        ),
        ("", 2.0, forest("RandomForest", min_samples_leaf=1, **features)),
        (
            "learning_rate 0.03, 7 leaves",
            4.0,
            hgb(
                learning_rate=0.03,
                max_iter=600,
                max_leaf_nodes=7,
                min_samples_leaf=20,
                l2_regularization=2.0,
            ),
        ),
        (
            "half the columns per split",
            3.0,
            hgb(
                learning_rate=0.05,
                max_iter=400,
                min_samples_leaf=20,
                l2_regularization=0.5,
                max_features=0.5,
            ),
        ),
    ]


def model_name(model: Any, settings: str) -> str:
    """`HistGradientBoostingClassifier (63 leaves)`: the estimator's class, its settings."""
    last = model.steps[-1][1] if hasattr(model, "steps") else model
    name = type(last).__name__
    return f"{name} ({settings})" if settings else name


def score(y: np.ndarray, found: np.ndarray, classes: int) -> float:
    """Accuracy (classification) or R² (regression)."""
    if classes:
        return float(np.mean(found.argmax(axis=1) == y))
    spread = float(((y - y.mean()) ** 2).sum())
    return 1 - float(((y - found) ** 2).sum()) / spread if spread > 0 else 0.0


def loss(y: np.ndarray, found: np.ndarray, classes: int) -> float:
    """Log loss (classification) or mean squared error: smooth, so the ensemble grows well."""
    if classes:
        return float(-np.mean(np.log(np.clip(found[np.arange(len(y)), y], 1e-15, 1))))
    return float(np.mean((y - found) ** 2))


def folds(y: np.ndarray, classes: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-validation's splits: 5 folds (3 above 20,000 rows), stratified for classes."""
    from sklearn.model_selection import KFold, StratifiedKFold

    k = 5 if len(y) <= 20_000 else 3
    split = (
        StratifiedKFold(k, shuffle=True, random_state=seed)
        if classes
        else KFold(k, shuffle=True, random_state=seed)
    )
    return list(split.split(np.zeros(len(y)), y))


def search(
    x: np.ndarray,
    y: np.ndarray,
    *,
    classes: int,
    categorical: list[bool],
    seed: int,
    deadline: float,
    log: Callable[..., None],
) -> Found:
    """Cross-validate the candidates in order while the time allows (a candidate starts only
    when its expected time and the final refit fit before `deadline`; the first two, boosted
    trees and the linear model, always run), logging each as a point of the curves; then the
    ensemble or the best single one, refitted on all of `x`."""
    counts = np.bincount(y)[np.bincount(y) > 0] if classes else np.array([1])
    balanced = bool(counts.max() > 3 * counts.min())
    splits = folds(y, classes, seed)
    seen = np.ones(len(y), dtype=bool)  # the rows the candidates are scored on
    tried: list[Tried] = []
    unit = 0.0
    for step, (settings, cost, make) in enumerate(
        candidates(classes, np.array(categorical, dtype=bool), balanced, seed), 1
    ):
        top = sorted(t.seconds for t in tried)[-3:]
        refit = sum(top) / len(splits) * 1.25
        if len(tried) >= 2 and time.monotonic() + unit * cost + refit > deadline:
            continue
        started = time.monotonic()
        oof = np.zeros((len(y), classes)) if classes else np.zeros(len(y))
        try:
            for fold, (fit_rows, check) in enumerate(splits):
                model = make().fit(x[fit_rows], y[fit_rows])
                oof[check] = combine([(1.0, model)], x[check], classes)
                slow = started + (time.monotonic() - started) * len(splits) > deadline
                if not tried and fold == 0 and len(splits) > 1 and slow:
                    # cross-validation would not fit in the time: one split for every candidate
                    splits, seen = splits[:1], np.isin(np.arange(len(y)), check)
                    break
                if len(tried) >= 2 and time.monotonic() + refit > deadline:
                    raise TimeoutError("slower than expected: out of time")
        except (ValueError, MemoryError, TimeoutError) as err:  # one candidate is not the run
            print(f"candidate {step} left out: {err}")
            continue
        seconds = time.monotonic() - started
        unit = unit or seconds / cost
        name = model_name(model, settings)
        mine = oof[seen]
        tried.append(
            Tried(
                name,
                make,
                mine,
                score(y[seen], mine, classes),
                loss(y[seen], mine, classes),
                seconds,
            )
        )
        best = max(t.score for t in tried)
        log(step, cv_score=tried[-1].score, best_cv_score=best, seconds=seconds)
        print(f"{name}: cross-validated score {tried[-1].score:.4f} in {seconds:.1f} s")
    if not tried:
        raise SystemExit("every model failed on this table (see above)")
    return choose(tried, x, y, seen, classes, len(splits), deadline)


def choose(
    tried: list[Tried],
    x: np.ndarray,
    y: np.ndarray,
    seen: np.ndarray,
    classes: int,
    k: int,
    deadline: float,
) -> Found:
    """Greedy ensemble selection with replacement (25 rounds, by the smooth loss, on the rows
    `seen` by the candidates' validation), kept when its score there is at least the best
    single one's and its refit fits the time; the chosen models refitted on all of `x`."""
    best = max(range(len(tried)), key=lambda i: (tried[i].score, -tried[i].loss))
    picks: Counter[int] = Counter()
    blend = np.zeros_like(tried[0].oof)
    for rounds in range(1, 26):
        trial = [(blend * (rounds - 1) + t.oof) / rounds for t in tried]
        pick = min(range(len(tried)), key=lambda i: loss(y[seen], trial[i], classes))
        picks[pick] += 1
        blend = trial[pick]
    refit = sum(tried[i].seconds for i in picks) / k * 1.25
    mixed = len(picks) > 1 and score(y[seen], blend, classes) >= tried[best].score
    if not mixed or time.monotonic() + refit > deadline:
        picks = Counter({best: 1})
    members = [(n / sum(picks.values()), tried[i].make().fit(x, y)) for i, n in picks.items()]
    members.sort(key=lambda m: -m[0])
    if len(picks) == 1:
        name = tried[best].name
    else:
        parts = [f"{n / sum(picks.values()):.2f} {tried[i].name}" for i, n in picks.most_common()]
        name = "ensemble of " + " + ".join(parts)
        if len(name) > 200:  # the card shows up to 200 characters; the board has each in full
            short = [
                f"{n / sum(picks.values()):.2f} {tried[i].name.split(' (')[0]}"
                for i, n in picks.most_common()
            ]
            name = ("ensemble of " + " + ".join(short))[:200]
    board = [
        {
            "model": t.name,
            "cv_score": round(t.score, 4),
            "seconds": round(t.seconds, 2),
            "weight": round(picks[i] / sum(picks.values()), 3),
        }
        for i, t in enumerate(tried)
    ]
    return Found(members, name, len(tried), board)


def score_all(
    y: np.ndarray, found: np.ndarray, y_train: np.ndarray, classes: int
) -> dict[str, float]:
    """metrics.json: `score` and its family on the held-out rows, and the naive `baseline`."""
    from sklearn import metrics

    if not classes:
        mean = np.full(len(y), float(y_train.mean()))
        r2 = score(y, found, 0)
        return {
            "score": r2,
            "r2": r2,
            "rmse": float(np.sqrt(np.mean((y - found) ** 2))),
            "mae": float(np.mean(np.abs(y - found))),
            "baseline": score(y, mean, 0),
        }
    predicted = found.argmax(axis=1)
    common = int(np.bincount(y_train, minlength=classes).argmax())
    chances = np.clip(found, 1e-15, 1)
    out = {
        "score": float(np.mean(predicted == y)),
        "accuracy": float(np.mean(predicted == y)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(y, predicted)),
        "f1_macro": float(metrics.f1_score(y, predicted, average="macro")),
        "log_loss": float(
            metrics.log_loss(y, chances / chances.sum(axis=1, keepdims=True), labels=range(classes))
        ),
        "baseline": float(np.mean(y == common)),
    }
    if classes == 2 and len(set(y.tolist())) == 2:
        out["auc"] = float(metrics.roc_auc_score(y, found[:, 1]))
    return out


def importance(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    owner: list[str],
    *,
    classes: int,
    seed: int,
) -> list[dict[str, Any]]:
    """How much the held-out score drops when one of the user's columns is shuffled (all the
    numbers made from it together), the top 15."""
    rng = np.random.default_rng(seed)
    if len(y) > 1000:
        pick = rng.choice(len(y), 1000, replace=False)
        x, y = x[pick], y[pick]
    base = score(y, predict(x), classes)
    groups: dict[str, list[int]] = defaultdict(list)
    for j, name in enumerate(owner):
        groups[name].append(j)
    out = []
    for name, cols in groups.items():
        drops = []
        for _ in range(2):
            shuffled = x.copy()
            shuffled[:, cols] = x[rng.permutation(len(y))][:, cols]
            drops.append(base - score(y, predict(shuffled), classes))
        out.append({"feature": name, "importance": round(float(np.mean(drops)), 4)})
    return sorted(out, key=lambda d: -d["importance"])[:15]


def charts_of(
    y: np.ndarray, found: np.ndarray, classes: list[Any], ranked: list[dict[str, Any]]
) -> dict[str, Any]:
    """The card's charts: importance, and the confusion matrix or the residuals."""
    charts: dict[str, Any] = {"importance": ranked}
    if classes and len(classes) <= MAX_SCHEMA_VALUES:
        grid = np.zeros((len(classes), len(classes)), dtype=int)
        np.add.at(grid, (y, found.argmax(axis=1)), 1)
        charts["confusion"] = {"labels": [label(c) for c in classes], "matrix": grid.tolist()}
    elif not classes:
        charts["residuals"] = {
            "actual": [round(float(v), 6) for v in y[:500]],
            "predicted": [round(float(v), 6) for v in found[:500]],
        }
    return charts


def main() -> None:
    from threadpoolctl import threadpool_limits

    warnings.filterwarnings("ignore")
    # No torch here, though the runtime seeds it where it can import it: the import takes
    # seconds of the time budget. Blocked while the run starts, then let be.
    blocked = "torch" not in sys.modules
    if blocked:
        sys.modules["torch"] = None  # type: ignore[assignment]
    run = aicc_template.start()
    if blocked:
        del sys.modules["torch"]
    hp = run.hp
    deadline = run.started + float(hp["time_budget_s"])
    seed = int(hp["seed"])
    path, table = load(run)
    target_name = run.columns.get("target") or ("target" if "target" in table else None)
    if target_name is None:
        raise SystemExit(
            "choose the column to predict: --column target=COLUMN (one of: "
            f"{', '.join(list(table)[:30])})"
        )
    if target_name not in table:
        raise SystemExit(
            f"{path.name} has no column {target_name}; its columns: {', '.join(table)}"
        )
    target = prepare_target(target_name, table[target_name])
    inputs, dropped = choose_inputs(table, target)
    train, test = held_out(target, float(hp["test_fraction"]), seed)
    rows = np.array(target.rows)
    text = fit_inputs(inputs, table, rows[train].tolist(), seed)
    saved: dict[str, Any] = {
        "target": target.name,
        "task": target.task,
        "classes": target.classes,
        "inputs": inputs,
        "text": text,
    }
    used = {k: [table[k][i] for i in target.rows] for k in (s["name"] for s in inputs)}
    x = matrix(saved, used, len(target.rows))
    y = target.y
    with threadpool_limits(1 if len(y) < 50_000 else None):
        found = search(
            x[train],
            y[train],
            classes=len(target.classes),
            categorical=[c == "category" for c in kinds(inputs)],
            seed=seed,
            deadline=deadline,
            log=run.log,
        )
        saved["members"] = found.members
        k = len(target.classes)
        predicted = combine(found.members, x[test], k)
        metrics = score_all(y[test], predicted, y[train], k)
        ranked = importance(
            lambda m: combine(found.members, m, k),
            x[test],
            y[test],
            owners(inputs),
            classes=k,
            seed=seed,
        )
    import joblib

    joblib.dump(saved, run.model_dir / "model.joblib")
    schema = write_schema(run.model_dir, saved, inputs)
    charts = charts_of(y[test], predicted, target.classes, ranked)
    report = describe(target, inputs, dropped, metrics, found, train, test, charts, path)
    report["schema"] = schema
    run.finish(metrics, report)


def load(run: Any) -> tuple[Path, dict[str, list[Any]]]:
    """The table to learn from: the one the run names, or the largest under the data."""
    wanted = [run.columns["target"]] if run.columns.get("target") else []
    path = run.data / run.table if run.table else aicc_template.find_table(run.data, wanted)
    return path, aicc_template.read_table(path)


def describe(
    target: Target,
    inputs: list[dict[str, Any]],
    dropped: list[dict[str, Any]],
    metrics: dict[str, float],
    found: Found,
    train: np.ndarray,
    test: np.ndarray,
    charts: dict[str, Any],
    path: Path,
) -> dict[str, Any]:
    """report.json: the summary in both languages, the facts and the charts."""
    classification = target.task == "classification"
    score, baseline = metrics["score"], metrics["baseline"]
    top = [i["feature"] for i in charts.get("importance", [])[:3]]
    gone = ", ".join(d["column"] for d in dropped)
    if classification:
        shown = ", ".join(str(c) for c in target.classes[:6])
        more = ", ..." if len(target.classes) > 6 else ""
        what_en = f"{target.name} ({len(target.classes)} classes: {shown}{more})"
        what_zh = f"{target.name}（{len(target.classes)} 个类别：{shown}{more}）"
        how_en = (
            f"it is right {score:.1%} of the time, against {baseline:.1%} for always guessing "
            "the most common class"
        )
        how_zh = f"准确率为 {score:.1%}，而总是猜最常见类别的准确率为 {baseline:.1%}"
    else:
        what_en, what_zh = f"{target.name} (a number)", f"{target.name}（数值）"
        how_en = (
            f"it explains {score:.1%} of the variation (R² {score:.3f}; always the mean: "
            f"{baseline:.3f}), typically off by {metrics['mae']:.4g}"
        )
        how_zh = (
            f"解释了 {score:.1%} 的变化（R² {score:.3f}；总是预测平均值：{baseline:.3f}），"
            f"平均误差 {metrics['mae']:.4g}"
        )
    left = {"no_target": target.no_value, "rare_classes": sum(target.rare.values())}
    summary_en = (
        f"Predicts {what_en} from {len(inputs)} columns of {path.name}. Learned from "
        f"{len(train)} rows; on {len(test)} held-out rows {how_en}. Model: {found.name}, "
        f"chosen among {found.tried} tried."
        + (f" What matters most: {', '.join(top)}." if top else "")
        + (f" Columns left out: {gone}." if gone else "")
        + (
            f" Left out: {_rows(left['no_target'])} with no {target.name}."
            * bool(left["no_target"])
        )
        + (
            f" Left out: {_rows(left['rare_classes'])} of a class seen once."
            * bool(left["rare_classes"])
        )
    )
    summary_zh = (
        f"根据 {path.name} 的 {len(inputs)} 列预测 {what_zh}。用 {len(train)} 行训练；在 "
        f"{len(test)} 行留出数据上，{how_zh}。模型：{found.name}（从 {found.tried} 个候选中选出）。"
        + (f"最重要的列：{'、'.join(top)}。" if top else "")
        + (f"未使用的列：{gone}。" if gone else "")
        + (f"{left['no_target']} 行没有 {target.name} 的值，未使用。" if left["no_target"] else "")
        + (f"只出现一次的类别的 {left['rare_classes']} 行未使用。" if left["rare_classes"] else "")
    )
    return {
        "summary": {"en": summary_en, "zh-CN": summary_zh},
        "facts": {
            "rows": len(target.rows),
            "rows_train": len(train),
            "rows_test": len(test),
            "rows_left_out": left,
            "rare_classes": sorted(target.rare),
            "target": target.name,
            "task": target.task,
            "frequency": None,
            "metric": "accuracy" if classification else "r2",
            "score": round(score, 4),
            "baseline": round(baseline, 4),
            "baseline_name": (
                {"en": "always the most common class", "zh-CN": "总是预测最常见的类别"}
                if classification
                else {"en": "always the mean", "zh-CN": "总是预测平均值"}
            ),
            "model": found.name,
            "candidates": found.board,
            "inputs": [{"column": s["name"], "kind": s["kind"]} for s in inputs],
            "dropped": dropped,
        },
        "charts": charts,
    }


def _rows(n: int) -> str:
    return "1 row" if n == 1 else f"{n} rows"


if __name__ == "__main__":
    main()
