"""Credit risk: gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier) learn
the chance that a loan application defaults from the applicant's figures; categories
(employment, region, purpose) are split on as categories, missing values are allowed.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import aicc_template
import numpy as np

TARGET = "default"
OUTCOMES = frozenset({"0", "1", "True", "False"})  # the target's cells, as text
NUMERIC = [
    "age",
    "annual_income",
    "loan_amount",
    "loan_term_months",
    "debt_ratio",
    "credit_history_months",
    "late_payments_2y",
    "open_credit_cards",
]
CATEGORICAL = ["employment_type", "region", "loan_purpose"]
MAX_CATEGORIES = 254  # a rarer value counts as missing
DERIVED = ["loan_to_income"]  # a ratio trees cannot form from the two columns themselves


def features(table: dict[str, list[Any]], categories: dict[str, list[str]]) -> np.ndarray:
    """The model's input matrix: numbers, the loan-to-income ratio, then each category's code
    (NaN for a category not seen in training)."""
    cols = [[aicc_template.number(v) for v in table[name]] for name in NUMERIC]
    income = np.array(cols[NUMERIC.index("annual_income")])
    amount = np.array(cols[NUMERIC.index("loan_amount")])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(income > 0, amount / income, np.nan)
    codes = []
    for name in CATEGORICAL:
        index = {c: float(i) for i, c in enumerate(categories[name])}
        codes.append([index.get(str(v).strip().lower(), math.nan) for v in table[name]])
    return np.column_stack([np.array(cols, dtype=float).T, ratio, np.array(codes, dtype=float).T])


def outcomes(values: list[Any], name: str) -> None:
    """Refuse a target that is not two outcomes, 0 and 1 (a label of 5 classes would lose
    all but two of them), as the fit check does, in its words; empty cells are left out."""
    found = Counter(str(v).strip() for v in values if v is not None and str(v).strip())
    if set(found) <= OUTCOMES and {v in ("1", "True") for v in found} == {True, False}:
        return
    shown = ", ".join(v for v, _ in found.most_common(10)) + (" ..." if len(found) > 10 else "")
    raise SystemExit(
        f"column {name} has {len(found)} value(s) ({shown or 'none'}); credit-risk needs two "
        "outcomes, 0 and 1 (or true and false)"
    )


def feature_names() -> list[str]:
    return NUMERIC + DERIVED + CATEGORICAL


def main() -> None:
    run = aicc_template.start()
    hp = run.hp
    table = run.read_table(NUMERIC + CATEGORICAL + [TARGET])
    outcomes(table[TARGET], run.columns.get(TARGET, TARGET))  # refused before the imports

    import joblib
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import average_precision_score, roc_auc_score
    from threadpoolctl import threadpool_limits

    keep = [i for i, v in enumerate(table[TARGET]) if str(v).strip() in OUTCOMES]
    table = {k: [col[i] for i in keep] for k, col in table.items()}
    y = np.array([1 if str(v).strip() in ("1", "True") else 0 for v in table[TARGET]])
    categories = {  # the most common values: the trees split on at most 254 categories
        name: sorted(
            value
            for value, _ in Counter(
                str(v).strip().lower() for v in table[name] if v is not None
            ).most_common(MAX_CATEGORIES)
        )
        for name in CATEGORICAL
    }
    x = features(table, categories)
    # Trees on a few thousand rows are fastest on one thread (threads wait on each other, more
    # so on a busy machine); large tables use every core.
    threadpool_limits(1 if len(y) < 50_000 else None)
    train, test = aicc_template.split(len(y), hp["test_fraction"], hp["seed"])
    model = HistGradientBoostingClassifier(
        learning_rate=hp["learning_rate"],
        max_iter=hp["max_iter"],
        max_leaf_nodes=hp["max_leaf_nodes"],
        min_samples_leaf=hp["min_samples_leaf"],
        l2_regularization=hp["l2_regularization"],
        categorical_features=[False] * (len(NUMERIC) + len(DERIVED)) + [True] * len(CATEGORICAL),
        early_stopping=True,
        scoring="loss",
        validation_fraction=0.15,
        n_iter_no_change=30,
        random_state=hp["seed"],
    )
    model.fit(x[train], y[train])
    run.log_losses(-model.train_score_, -model.validation_score_)

    chance = model.predict_proba(x[test])[:, 1]
    auc = float(roc_auc_score(y[test], chance))
    importance = permutation_importance(
        model, x[test], y[test], scoring="roc_auc", n_repeats=5, random_state=hp["seed"]
    )
    ranked = sorted(
        zip(feature_names(), importance.importances_mean, strict=True), key=lambda p: -p[1]
    )
    joblib.dump(
        {"model": model, "categories": categories, "features": feature_names()},
        run.model_dir / "model.joblib",
    )
    rate = float(y.mean())
    top = [name for name, _ in ranked[:3]]
    run.finish(
        {
            "auc": auc,
            "average_precision": float(average_precision_score(y[test], chance)),
            "default_rate": rate,
        },
        {
            "summary": {
                "en": (
                    f"Learned the chance that a loan defaults from {len(y)} applications "
                    f"({rate:.1%} defaulted). On {len(test)} held-out applications it ranks a "
                    f"defaulter above a repaid loan {auc:.0%} of the time (AUC {auc:.3f}). "
                    f"What matters most: {', '.join(top)}."
                ),
                "zh-CN": (
                    f"从 {len(y)} 笔贷款申请（违约率 {rate:.1%}）学习了违约概率。在 {len(test)} 笔"
                    f"留出的申请上，把违约者排在正常还款者之前的比例为 {auc:.0%}（AUC {auc:.3f}）。"
                    f"最重要的因素：{'、'.join(top)}。"
                ),
            },
            "rows": len(y),
            "rows_train": len(train),
            "rows_test": len(test),
            "default_rate": round(rate, 4),
            "trees": int(model.n_iter_),
            "predicts": "default_probability: the chance (0 to 1) that the loan defaults",
            "top_features": [
                {"feature": name, "auc_drop_when_shuffled": round(float(v), 4)}
                for name, v in ranked[:6]
            ],
            "categories": categories,
        },
    )


if __name__ == "__main__":
    main()
