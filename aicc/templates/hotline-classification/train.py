"""Trains the hotline router: character n-gram TF-IDF and a logistic regression fitted by
stochastic gradient descent, one logged epoch at a time, so the portal draws its curves."""

from __future__ import annotations

from collections import Counter

import aicc_template
import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, f1_score, log_loss
from sklearn.pipeline import Pipeline


def main() -> None:
    run = aicc_template.start()
    hp = run.hp
    table = run.read_table(["text", "label"])
    rows = [
        (str(t), str(y))
        for t, y in zip(table["text"], table["label"], strict=True)
        if t is not None and str(t).strip() and y is not None
    ]
    if len(rows) < 10:
        raise SystemExit(f"only {len(rows)} tickets with a text and a label; at least 10 needed")
    texts = np.array([t for t, _ in rows], dtype=object)
    labels = np.array([y for _, y in rows], dtype=object)
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise SystemExit("every ticket has the same label; at least two departments are needed")
    train, test = aicc_template.split(len(rows), hp["test_fraction"], hp["seed"])

    vectorizer = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(1, hp["ngram_max"]),
        max_features=hp["max_features"],
        sublinear_tf=True,
    )
    x_train = vectorizer.fit_transform(texts[train])
    x_test = vectorizer.transform(texts[test])
    model = SGDClassifier(loss="log_loss", alpha=hp["alpha"], random_state=hp["seed"])
    shuffle = np.random.default_rng(hp["seed"])
    for epoch in range(1, hp["epochs"] + 1):
        order = shuffle.permutation(len(train))
        model.partial_fit(x_train[order], labels[train][order], classes=classes)
        run.log(
            epoch,
            loss=log_loss(labels[train], model.predict_proba(x_train), labels=classes),
            test_loss=log_loss(labels[test], model.predict_proba(x_test), labels=classes),
            test_accuracy=accuracy_score(labels[test], model.predict(x_test)),
        )

    predicted = model.predict(x_test)
    macro_f1 = f1_score(labels[test], predicted, average="macro", labels=classes)
    accuracy = accuracy_score(labels[test], predicted)
    joblib.dump(Pipeline([("tfidf", vectorizer), ("model", model)]), run.model_dir / "model.joblib")

    per_class = f1_score(labels[test], predicted, average=None, labels=classes)
    weakest = classes[int(np.argmin(per_class))]
    counts = Counter(labels.tolist())
    run.finish(
        {"macro_f1": macro_f1, "accuracy": accuracy},
        {
            "summary": {
                "en": (
                    f"Routes a hotline ticket to one of {len(classes)} departments from its text. "
                    f"Learned from {len(train)} tickets; on {len(test)} held-out tickets it chose "
                    f"the right department {accuracy:.0%} of the time (macro F1 {macro_f1:.3f}). "
                    f"Hardest to recognise: {weakest}."
                ),
                "zh-CN": (
                    f"根据工单文本将其分派到 {len(classes)} 个承办部门之一。"
                    f"用 {len(train)} 条工单训练；在 {len(test)} 条留出工单上分派正确率为 "
                    f"{accuracy:.0%}（宏平均 F1 {macro_f1:.3f}）。最难识别的部门：{weakest}。"
                ),
            },
            "rows": len(rows),
            "train_rows": len(train),
            "test_rows": len(test),
            "classes": {c: counts[c] for c in classes},
            "per_class_f1": {
                c: round(float(f), 3) for c, f in zip(classes, per_class, strict=True)
            },
            "features": len(vectorizer.vocabulary_),
            "predicts": "the department (label) of each ticket, with its probability (score)",
        },
    )


if __name__ == "__main__":
    main()
