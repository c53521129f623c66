"""Text classification for any table with a text column and a label column, Chinese or English:
TF-IDF of character 1-3-grams (Chinese needs no word segmentation) joined with word 1-2-grams,
and a linear classifier (logistic regression or a linear SVM, C chosen by cross-validation within
the time budget). Linear models on TF-IDF are the strong, fast baseline for short texts: they
train in seconds on CPU, need no pretrained weights, and say which n-grams decide each label.

Writes, beside what every template writes, `model/schema.json` (the user's own column names)
and the report's `facts` and `charts` (confusion matrix, the n-grams that weigh most per label).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections import Counter
from typing import Any

import aicc_template
import numpy as np

ROLES = ("text", "label")
MIN_PER_LABEL = 2  # a label seen once can be neither learned and tested nor cross-validated
TOP_NGRAMS = 8  # per label, in the importance chart
MAX_CHART_LABELS = 50  # a confusion matrix and probability columns up to this many labels
# (model, C), tried in this order while the budget lasts: the usual winners first.
CANDIDATES = (
    ("logistic", 10.0),
    ("svm", 0.5),
    ("logistic", 3.0),
    ("svm", 0.15),
    ("logistic", 30.0),
    ("svm", 1.5),
    ("logistic", 1.0),
    ("logistic", 100.0),
)


def label_key(value: Any) -> str | None:
    """A label as the text it is compared by (1, 1.0 and "1" are one label); None when empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def plain(value: Any) -> Any:
    """A label as JSON carries it (numpy and float-integers to int)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def order(keys: list[str], originals: dict[str, Any]) -> list[str]:
    """Labels sorted as numbers when they all are, else as text."""
    if all(isinstance(originals[k], int | float) for k in keys):
        return sorted(keys, key=lambda k: float(originals[k]))
    return sorted(keys)


def vectorizer() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(1, 3),
                    sublinear_tf=True,
                    max_features=300_000,
                    lowercase=True,
                ),
            ),
            (
                "words",
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=(1, 2),
                    sublinear_tf=True,
                    max_features=200_000,
                    token_pattern=r"(?u)\b\w+\b",
                ),
            ),
        ]
    )


def classifier(kind: str, c: float, balanced: bool, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    weight = "balanced" if balanced else None
    if kind == "svm":
        return LinearSVC(C=c, class_weight=weight, random_state=seed)
    return LogisticRegression(C=c, class_weight=weight, max_iter=2000, random_state=seed)


def split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified held-out split (every label in both parts when it can be), else shuffled."""
    from sklearn.model_selection import train_test_split

    labels = len(set(y.tolist()))
    test = max(round(len(y) * fraction), labels)
    index = np.arange(len(y))
    if test <= len(y) - labels:
        train_idx, test_idx = train_test_split(index, test_size=test, stratify=y, random_state=seed)
    else:
        train_idx, test_idx = train_test_split(index, test_size=test, random_state=seed)
    return np.sort(train_idx), np.sort(test_idx)


def search(
    texts: np.ndarray, y: np.ndarray, balanced: bool, seed: int, budget: float, run: Any
) -> tuple[list[dict[str, Any]], tuple[str, float]]:
    """Macro F1 of each candidate by stratified cross-validation on the training rows, while
    the budget lasts (the first candidate is always scored). The folds' TF-IDF is fitted on
    each fold's own training part once and shared by the candidates."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    started = time.monotonic()
    least = min(Counter(y.tolist()).values())
    folds = 5 if len(y) >= 500 and least >= 5 else 3
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    matrices = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the least populated class has only 2 members"
        for fit_idx, val_idx in splitter.split(texts, y):
            vec = vectorizer()
            x_fit = vec.fit_transform(texts[fit_idx])
            matrices.append((x_fit, y[fit_idx], vec.transform(texts[val_idx]), y[val_idx]))
    tried: list[dict[str, Any]] = []
    for step, (kind, c) in enumerate(CANDIDATES, start=1):
        spent = time.monotonic() - started
        if tried and spent / len(tried) * (len(tried) + 1) > budget:
            break
        scores = []
        for x_fit, y_fit, x_val, y_val in matrices:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = classifier(kind, c, balanced, seed).fit(x_fit, y_fit)
            scores.append(f1_score(y_val, model.predict(x_val), average="macro"))
        score = float(np.mean(scores))
        tried.append({"model": kind, "C": c, "cv_f1_macro": round(score, 4)})
        run.log(step, cv_f1_macro=score)
    best = max(tried, key=lambda t: t["cv_f1_macro"])
    return tried, (best["model"], best["C"])


def confusion(y_true: list[str], y_pred: list[str], labels: list[str]) -> list[list[int]]:
    index = {k: i for i, k in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(y_true, y_pred, strict=True):
        matrix[index[t]][index[p]] += 1
    return matrix


def top_ngrams(pipeline: Any, labels: list[str], shown: dict[str, Any]) -> list[dict[str, Any]]:
    """The n-grams that raise each label's score most (the linear model's largest weights)."""
    model = pipeline.named_steps["model"]
    estimator = getattr(model, "calibrated_classifiers_", None)
    linear = estimator[0].estimator if estimator else model
    names = pipeline.named_steps["tfidf"].get_feature_names_out()
    names = [n.split("__", 1)[1] for n in names]
    coef = np.asarray(linear.coef_)
    classes = [str(c) for c in linear.classes_]
    rows = coef if len(classes) > 2 else np.vstack([-coef[0], coef[0]])
    out = []
    for label, weights in list(zip(classes, rows, strict=True))[:MAX_CHART_LABELS]:
        seen: set[str] = set()
        for i in np.argsort(-weights):
            name = names[i].strip()
            if not name or name in seen:
                continue
            seen.add(name)
            out.append(
                {"feature": name, "importance": round(float(weights[i]), 4), "class": shown[label]}
            )
            if len(seen) == TOP_NGRAMS:
                break
    return out[:500]


def main() -> None:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import Pipeline
    from threadpoolctl import threadpool_limits

    run = aicc_template.start()
    hp = run.hp
    table = run.read_table(list(ROLES))
    # Linear models on a few thousand texts are fastest on one thread (BLAS threads wait on
    # each other, more so on a busy machine); large tables use every core.
    threadpool_limits(1 if len(table["text"]) < 50_000 else None)
    text_column = run.columns.get("text", "text")
    label_column = run.columns.get("label", "label")
    if text_column == label_column:
        raise SystemExit(f"the text and the label are both column {text_column}: choose two")

    empty_texts = unlabelled = 0
    rows: list[tuple[str, str]] = []
    originals: dict[str, Any] = {}
    for text, value in zip(table["text"], table["label"], strict=True):
        key = label_key(value)
        if key is None:
            unlabelled += 1
            continue
        if text is None or not str(text).strip():
            empty_texts += 1
            continue
        originals.setdefault(key, plain(value))
        rows.append((str(text), key))
    counts = Counter(key for _, key in rows)
    rare = {k: n for k, n in counts.items() if n < MIN_PER_LABEL}
    rows = [(t, k) for t, k in rows if k not in rare]
    labels = order([k for k in counts if k not in rare], originals)
    if len(labels) < 2:
        raise SystemExit(
            f"column {label_column} needs at least two labels with {MIN_PER_LABEL} or more "
            f"texts each; it has {len(labels)} ({len(rare)} seen only once)"
        )
    if len(rows) < 10:
        raise SystemExit(f"only {len(rows)} rows have a text and a label; at least 10 needed")

    texts = np.array([t for t, _ in rows], dtype=object)
    y = np.array([k for _, k in rows], dtype=object)
    counts = Counter(y.tolist())
    balanced = max(counts.values()) > 1.5 * min(counts.values())
    train, test = split(y, hp["test_fraction"], hp["seed"])
    # The search's share of the budget; the final fit and the scoring take the rest.
    budget = max(1.0, hp["time_budget_s"] * 0.7 - (time.monotonic() - run.started))
    tried, (kind, c) = search(texts[train], y[train], balanced, hp["seed"], budget, run)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = classifier(kind, c, balanced, hp["seed"])
        least = min(Counter(y[train].tolist()).values())
        if kind == "svm" and least >= 2:  # an SVM's scores made probabilities (Platt)
            model = CalibratedClassifierCV(model, cv=min(3, least), ensemble=False)
        pipeline = Pipeline([("tfidf", vectorizer()), ("model", model)])
        pipeline.fit(texts[train], y[train])
    predicted = pipeline.predict(texts[test]).tolist()
    truth = y[test].tolist()
    f1 = float(f1_score(truth, predicted, average="macro", labels=labels, zero_division=0))
    accuracy = float(accuracy_score(truth, predicted))
    common = Counter(y[train].tolist()).most_common(1)[0][0]  # the baseline's answer
    base_pred = [common] * len(truth)
    base_f1 = float(f1_score(truth, base_pred, average="macro", labels=labels, zero_division=0))
    base_accuracy = float(accuracy_score(truth, base_pred))

    import joblib

    # A column per label's probability, up to 50 labels (beyond, the predicted label only).
    probabilities = hasattr(pipeline, "predict_proba") and len(labels) <= MAX_CHART_LABELS
    shown = {k: originals[k] for k in labels}
    saved = {"pipeline": pipeline, "labels": shown, "text": text_column, "target": label_column}
    joblib.dump({**saved, "probabilities": probabilities}, run.model_dir / "model.joblib")
    example = next(t for t in texts[train] if t.strip())
    outputs = [{"name": f"{label_column}_predicted", "type": "category"}]
    if probabilities:
        outputs += [{"name": f"probability_{shown[k]}", "type": "number"} for k in labels]
    schema = {
        "task": "text-classification",
        "target": label_column,
        "inputs": [{"name": text_column, "type": "text", "required": True, "example": example}],
        "outputs": outputs,
        "classes": [shown[k] for k in labels],
    }
    (run.model_dir / "schema.json").write_text(
        json.dumps(schema, indent=2, ensure_ascii=False) + "\n", "utf-8"
    )

    name = {"logistic": "LogisticRegression", "svm": "LinearSVC"}[kind]
    model_name = f"{name} (C={c:g}) on TF-IDF character 1-3-grams and word 1-2-grams"
    left_out = [
        {
            "label": originals[k],
            "rows": n,
            "why": {
                "en": "seen only once: too few to learn and to test",
                "zh-CN": "只出现一次：太少，无法学习和检验",
            },
        }
        for k, n in sorted(rare.items())
    ]
    per_label = f1_score(truth, predicted, average=None, labels=labels, zero_division=0)
    weakest = shown[labels[int(np.argmin(per_label))]] if min(per_label) < 1 else None
    dropped_en = dropped_zh = ""
    if rare or empty_texts or unlabelled:
        dropped_en = (
            f" Left out: {empty_texts} empty texts, {unlabelled} rows without a label, "
            f"{len(rare)} labels seen only once."
        )
        dropped_zh = (
            f"已剔除：{empty_texts} 条空文本，{unlabelled} 行无标签，"
            f"{len(rare)} 个只出现一次的标签。"
        )
    test_n = len(test)
    run.finish(
        {
            "f1_macro": f1,
            "accuracy": accuracy,
            "baseline_f1_macro": base_f1,
            "baseline_accuracy": base_accuracy,
        },
        {
            "summary": {
                "en": (
                    f"Classifies the text of column {text_column} into the {len(labels)} labels "
                    f"of column {label_column}. Learned from {len(train)} texts; on {test_n} "
                    f"held-out texts it is right {accuracy:.0%} of the time (macro F1 {f1:.3f}), "
                    f"against {base_accuracy:.0%} (macro F1 {base_f1:.3f}) for always answering "
                    f"the most common label, {shown[common]}."
                    + (f" Hardest label: {weakest}." if weakest is not None else "")
                    + dropped_en
                ),
                "zh-CN": (
                    f"把 {text_column} 列的文本分为 {label_column} 列的 {len(labels)} 个类别。"
                    f"用 {len(train)} 条文本训练；在 {test_n} 条留出文本上准确率为 {accuracy:.0%}"
                    f"（宏平均 F1 {f1:.3f}），而总是预测最常见的类别（{shown[common]}）的准确率为 "
                    f"{base_accuracy:.0%}（宏平均 F1 {base_f1:.3f}）。"
                    + (f"最难识别的类别：{weakest}。" if weakest is not None else "")
                    + dropped_zh
                ),
            },
            "facts": {
                "rows": len(rows),
                "rows_train": len(train),
                "rows_test": test_n,
                "target": label_column,
                "text": text_column,
                "task": "text-classification",
                "frequency": None,
                "metric": "f1_macro",
                "score": round(f1, 4),
                "baseline": round(base_f1, 4),
                "baseline_name": {
                    "en": "always the most common label",
                    "zh-CN": "总是预测最常见的类别",
                },
                "accuracy": round(accuracy, 4),
                "baseline_accuracy": round(base_accuracy, 4),
                "model": model_name,
                "labels": {str(shown[k]): counts[k] for k in labels},
                "class_weight": "balanced" if balanced else None,
                "searched": tried,
                "empty_texts": empty_texts,
                "unlabelled_rows": unlabelled,
                "left_out": left_out,
                "dropped": [],
            },
            "charts": {
                **(
                    {
                        "confusion": {
                            "labels": [str(shown[k]) for k in labels],
                            "matrix": confusion(truth, predicted, labels),
                        }
                    }
                    if len(labels) <= MAX_CHART_LABELS
                    else {}
                ),
                "importance": top_ngrams(pipeline, labels, shown),
            },
            "predicts": f"{label_column}_predicted: the label of each text"
            + (", and the probability of each label" if probabilities else ""),
        },
    )


if __name__ == "__main__":
    main()
