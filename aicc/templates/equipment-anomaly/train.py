"""Equipment anomaly detection: an isolation forest (scikit-learn's IsolationForest) learns
what each machine's sensors normally read together, without labels. Each reading becomes
window features: the sensors scaled per machine, what the other sensors cannot explain of each
(a linear fit of each on the others), and how rough and unexplained the last `window` readings
were. Readings the forest isolates quickly are anomalies; the threshold flags the share
`contamination` of the training readings. Labels (`is_anomaly`), when the data has them, only
measure it on the last `test_fraction` of each machine's time.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import aicc_template
import numpy as np

CHANNELS = ["vibration_mm_s", "bearing_temp_c", "pressure_bar", "motor_current_a"]
COLUMNS = ["timestamp", "machine_id", *CHANNELS]
LABEL = "is_anomaly"


def sort_key(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ")
    return str(value)


def machines(table: dict[str, list[Any]]) -> dict[str, list[int]]:
    """Each machine's row indices in time order."""
    rows: dict[str, list[int]] = {}
    for i, machine in enumerate(table["machine_id"]):
        rows.setdefault(str(machine), []).append(i)
    for indices in rows.values():
        indices.sort(key=lambda i: sort_key(table["timestamp"][i]))
    return rows


def scale(values: np.ndarray) -> tuple[list[float], list[float]]:
    """A machine's typical reading and spread per sensor (median and MAD: faults barely move
    them)."""
    median = np.nanmedian(values, axis=0)
    spread = 1.4826 * np.nanmedian(np.abs(values - median), axis=0)
    return median.tolist(), np.maximum(spread, 1e-6).tolist()


def rolling(values: np.ndarray, window: int, how: str) -> np.ndarray:
    """The trailing window's mean or standard deviation per column (a shorter window at the
    start), so a reading's features use only the readings up to it."""
    out = np.empty_like(values)
    for i in range(len(values)):
        part = values[max(0, i - window + 1) : i + 1]
        out[i] = part.mean(axis=0) if how == "mean" else part.std(axis=0)
    return out


def fit_relations(z: np.ndarray) -> np.ndarray:
    """Least squares of each scaled sensor on the others (with an intercept): column j of the
    result predicts sensor j."""
    n, k = z.shape
    coef = np.zeros((k + 1, k))
    for j in range(k):
        others = np.column_stack([np.delete(z, j, axis=1), np.ones(n)])
        solution, *_ = np.linalg.lstsq(others, z[:, j], rcond=None)
        coef[:, j] = [*np.insert(solution[:-1], j, 0.0), solution[-1]]
    return coef


def scaled(
    table: dict[str, list[Any]], scales: dict[str, tuple[list[float], list[float]]]
) -> np.ndarray:
    """The sensors of each input row scaled by its machine's typical reading and spread (a
    machine without saved scales by its own readings); a lost reading is the machine's last."""
    raw = np.array([[aicc_template.number(v) for v in table[c]] for c in CHANNELS], dtype=float).T
    z = np.zeros_like(raw)
    for machine, rows in machines(table).items():
        values = raw[rows]
        for column in values.T:
            for i in np.flatnonzero(np.isnan(column)):
                column[i] = column[i - 1] if i else np.nanmedian(column)
        median, spread = scales.get(machine) or scale(values)
        z[rows] = np.nan_to_num((values - np.array(median)) / np.array(spread))
    return z


def features(
    table: dict[str, list[Any]],
    scales: dict[str, tuple[list[float], list[float]]],
    coef: np.ndarray,
    window: int,
) -> np.ndarray:
    """One row of features per input row (in the input's order): the scaled sensors, what the
    other sensors do not explain of each, and the trailing window's mean unexplained part and
    roughness, each machine on its own."""
    z = scaled(table, scales)
    out = np.zeros((len(z), 4 * len(CHANNELS)))
    for rows in machines(table).values():
        part = z[rows]
        residual = part - np.column_stack([part, np.ones(len(part))]) @ coef
        out[rows] = np.column_stack(
            [
                part,
                residual,
                rolling(np.abs(residual), window, "mean"),
                rolling(part, window, "std"),
            ]
        )
    return out


def main() -> None:
    import joblib
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    run = aicc_template.start()
    hp = run.hp
    wanted = {c: run.columns.get(c, c) for c in [*COLUMNS, LABEL]}
    path = (
        run.data / run.table
        if run.table
        else aicc_template.find_table(run.data, [wanted[c] for c in COLUMNS])
    )
    full = aicc_template.read_table(path)
    missing = [wanted[c] for c in COLUMNS if wanted[c] not in full]
    if missing:
        raise SystemExit(f"{path.name} has no column {missing[0]}")
    table = {c: full[wanted[c]] for c in COLUMNS}
    labels = full.get(wanted[LABEL])  # only to measure; training never reads it

    train, test = [], []
    scales = {}
    raw = np.array([[aicc_template.number(v) for v in table[c]] for c in CHANNELS], dtype=float).T
    for machine, rows in machines(table).items():
        cut = max(1, round(len(rows) * (1 - hp["test_fraction"])))
        train += rows[:cut]
        test += rows[cut:]
        scales[machine] = scale(raw[rows[:cut]])
    coef = fit_relations(scaled(table, scales)[train])
    x = features(table, scales, coef, hp["window"])

    y = None
    if labels is not None:
        y = np.array([1 if str(v).strip() in ("1", "True", "true") else 0 for v in labels])
        if y[test].min() == y[test].max():
            y = None  # one outcome only: nothing to measure against
    forest = IsolationForest(
        n_estimators=0, max_samples=min(256, len(train)), random_state=hp["seed"], warm_start=True
    )
    trees, metrics = 0, {}
    while trees < hp["n_estimators"]:
        trees = min(hp["n_estimators"], trees + 25)
        forest.set_params(n_estimators=trees)
        forest.fit(x[train])
        threshold = float(np.quantile(-forest.score_samples(x[train]), 1 - hp["contamination"]))
        score = -forest.score_samples(x[test])
        flagged = score > threshold
        point = {"flagged": float(flagged.mean())}
        if y is not None:
            metrics = {
                "f1": float(f1_score(y[test], flagged)),
                "auc": float(roc_auc_score(y[test], score)),
                "precision": float(precision_score(y[test], flagged, zero_division=0)),
                "recall": float(recall_score(y[test], flagged)),
            }
            point |= {"f1": metrics["f1"], "auc": metrics["auc"]}
        run.log(trees, **point)
    metrics["flagged_rate"] = float(flagged.mean())

    joblib.dump(
        {
            "forest": forest,
            "threshold": threshold,
            "scales": scales,
            "coef": coef,
            "window": hp["window"],
        },
        run.model_dir / "model.joblib",
    )
    found = (
        (
            f" Of the real faults in that time it finds {metrics['recall']:.0%}, and "
            f"{metrics['precision']:.0%} of its alarms are real (F1 {metrics['f1']:.2f}).",
            f"其中真实故障被发现 {metrics['recall']:.0%}，"
            f"报警中 {metrics['precision']:.0%} 为真实故障"
            f"（F1 {metrics['f1']:.2f}）。",
        )
        if y is not None
        else ("", "")
    )
    machine_names = sorted(scales)
    run.finish(
        metrics,
        {
            "summary": {
                "en": (
                    f"Learned the normal readings of {len(machine_names)} machines from "
                    f"{len(train)} readings, without labels. On the last {hp['test_fraction']:.0%}"
                    f" of each machine's time ({len(test)} readings) it flags "
                    f"{flagged.mean():.1%} as anomalies.{found[0]}"
                ),
                "zh-CN": (
                    f"无需标注，从 {len(train)} 条读数"
                    f"学习了 {len(machine_names)} 台设备的正常状态。"
                    f"在每台设备最后 {hp['test_fraction']:.0%} 的时段（{len(test)} 条读数）中，"
                    f"标记了 {flagged.mean():.1%} 为异常。{found[1]}"
                ),
            },
            "rows": len(raw),
            "rows_train": len(train),
            "rows_test": len(test),
            "machines": machine_names,
            "sensors": CHANNELS,
            "labelled_anomalies_test": int(y[test].sum()) if y is not None else None,
            "predicts": "anomaly_score (higher: more unusual) and is_anomaly (1: above the "
            "threshold) for each reading",
        },
    )


if __name__ == "__main__":
    main()
