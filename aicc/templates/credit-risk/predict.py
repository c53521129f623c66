"""Scores loan applications: a table (CSV, Parquet or JSON lines) with the training columns,
`default` left out, in; the same rows with `default_probability` (0 to 1) out, as CSV (or
JSON lines when the output ends in .jsonl)."""

from __future__ import annotations

import aicc_template
import joblib
from threadpoolctl import threadpool_limits
from train import CATEGORICAL, NUMERIC, features


def main() -> None:
    args = aicc_template.predict_args()
    saved = joblib.load(args.model / "model.joblib")
    table = aicc_template.read_table(args.input)
    missing = [c for c in NUMERIC + CATEGORICAL if c not in table]
    if missing:
        raise SystemExit(f"{args.input.name} has no column {', '.join(missing)}")
    threadpool_limits(1 if len(next(iter(table.values()), [])) < 50_000 else None)
    chance = saved["model"].predict_proba(features(table, saved["categories"]))[:, 1]
    out = {k: v for k, v in table.items() if k != "default"}
    out["default_probability"] = [round(float(p), 5) for p in chance]
    aicc_template.write_output(args.output, out)
    print(f"{len(chance)} applications scored -> {args.output}")


if __name__ == "__main__":
    main()
