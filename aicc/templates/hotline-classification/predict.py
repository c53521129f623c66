"""Routes new tickets: a CSV or JSON lines table with a `text` column in, `text,label,score`
out (CSV, or JSON lines when the output's name ends in .jsonl), one row per input row."""

from __future__ import annotations

import json

import aicc_template
import joblib


def main() -> None:
    args = aicc_template.predict_args()
    pipeline = joblib.load(args.model / "model.joblib")
    texts = ["" if t is None else str(t) for t in aicc_template.read_table(args.input)["text"]]
    probabilities = pipeline.predict_proba(texts) if texts else []
    classes = pipeline.classes_
    labels = [str(classes[p.argmax()]) for p in probabilities]
    scores = [round(float(p.max()), 4) for p in probabilities]
    if args.output.suffix.lower() in (".jsonl", ".ndjson"):
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as out:
            for text, label, score in zip(texts, labels, scores, strict=True):
                row = {"text": text, "label": label, "score": score}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        aicc_template.write_table(args.output, {"text": texts, "label": labels, "score": scores})


if __name__ == "__main__":
    main()
