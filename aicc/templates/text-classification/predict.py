"""Labels new texts with a trained text classifier: a table (CSV, JSON, JSON lines, Parquet)
with the text column the model learned from (its name in `schema.json`; a table of one column
is taken as the text) in; the same rows with `<label>_predicted` and, where the model gives
them (up to 50 labels), `probability_<label>` out (CSV, or JSON lines when the output ends in
.jsonl). A row with an empty text gets no prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aicc_template
import joblib


def texts_of(table: dict[str, list[Any]], column: str, source: Path) -> list[Any]:
    if column in table:
        return table[column]
    if len(table) == 1:
        return next(iter(table.values()))
    have = ", ".join(list(table)[:12])
    raise SystemExit(f"{source.name} has no column {column} (the text to classify); it has: {have}")


def main() -> None:
    args = aicc_template.predict_args()
    saved = joblib.load(args.model / "model.joblib")
    pipeline, labels = saved["pipeline"], saved["labels"]
    table = aicc_template.read_table(args.input)
    texts = texts_of(table, saved["text"], args.input)
    present = [i for i, t in enumerate(texts) if t is not None and str(t).strip()]
    given = [str(texts[i]) for i in present]
    out: dict[str, list[Any]] = dict(table)
    predicted: list[Any] = [None] * len(texts)
    for i, key in zip(present, pipeline.predict(given) if given else [], strict=True):
        predicted[i] = labels[key]
    out[f"{saved['target']}_predicted"] = predicted
    if saved.get("probabilities"):
        chances = pipeline.predict_proba(given) if given else []
        index = {key: k for k, key in enumerate(pipeline.classes_)}
        for key in labels:  # in the schema's order
            k, column = index[key], [None] * len(texts)
            for i, row in zip(present, chances, strict=True):
                column[i] = round(float(row[k]), 5)
            out[f"probability_{labels[key]}"] = column
    aicc_template.write_output(args.output, out)
    print(f"{len(given)} texts labelled -> {args.output}")


if __name__ == "__main__":
    main()
