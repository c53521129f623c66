"""Checks sensor readings: a table (CSV, Parquet or JSON lines) with `timestamp`,
`machine_id` and the four sensors in; the same rows with `anomaly_score` (higher: more
unusual) and `is_anomaly` (1 above the trained threshold) out, as CSV (or JSON lines when the
output ends in .jsonl). Each machine's readings are read in time order, so the window
features see the readings before each one; a machine not seen in training is scaled by its own
readings."""

from __future__ import annotations

from datetime import datetime

import aicc_template
import joblib
from train import COLUMNS, features, sort_key


def main() -> None:
    args = aicc_template.predict_args()
    saved = joblib.load(args.model / "model.joblib")
    table = aicc_template.read_table(args.input)
    missing = [c for c in COLUMNS if c not in table]
    if missing:
        raise SystemExit(f"{args.input.name} has no column {', '.join(missing)}")
    x = features(table, saved["scales"], saved["coef"], saved["window"])
    score = -saved["forest"].score_samples(x)
    out = {  # timestamps written back as read, not with microseconds
        k: [sort_key(t) if isinstance(t, datetime) else t for t in v]
        for k, v in table.items()
        if k not in ("anomaly_score", "is_anomaly")
    }
    out["anomaly_score"] = [round(float(s), 5) for s in score]
    out["is_anomaly"] = [int(s > saved["threshold"]) for s in score]
    aicc_template.write_output(args.output, out, ensure_ascii=True)
    print(f"{len(score)} readings, {sum(out['is_anomaly'])} anomalies -> {args.output}")


if __name__ == "__main__":
    main()
