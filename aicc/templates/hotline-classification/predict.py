"""Routes new tickets: a CSV or JSON lines table with a `text` column in, `text,label,score`
out (CSV, or JSON lines when the output's name ends in .jsonl), one row per input row."""

from __future__ import annotations

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
    aicc_template.write_output(args.output, {"text": texts, "label": labels, "score": scores})


if __name__ == "__main__":
    main()
