"""Writes the example data set: 3,000 generated loan applications of a consumer lender, each
with the applicant's figures and whether the loan later defaulted (`default`, about 14%).

python example.py DEST  ->  DEST/loan_applications.csv
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import aicc_template
import numpy as np

ROWS = 3000
EMPLOYMENT = ["salaried", "civil_servant", "self_employed", "contract", "unemployed", "retired"]
EMPLOYMENT_P = [0.46, 0.12, 0.17, 0.14, 0.04, 0.07]
EMPLOYMENT_RISK = [0.0, -0.7, 0.45, 0.55, 1.3, 0.1]
REGIONS = ["east", "north", "south", "central", "west", "northeast"]
REGIONS_P = [0.28, 0.2, 0.22, 0.12, 0.1, 0.08]
REGION_RISK = [-0.2, 0.0, -0.1, 0.15, 0.3, 0.35]
PURPOSES = ["car", "home_improvement", "education", "consumer", "business"]
PURPOSES_P = [0.22, 0.2, 0.1, 0.33, 0.15]


def generate(rng: np.random.Generator) -> dict[str, list[object]]:
    """Applications with a default risk that rises with debt, short histories, late payments,
    unstable employment and a loan large for the income (not a straight line in any of them)."""
    age = np.clip(rng.normal(39, 11, ROWS), 20, 72).round().astype(int)
    employment = rng.choice(len(EMPLOYMENT), ROWS, p=EMPLOYMENT_P)
    employment[age >= 62] = np.where(rng.random((age >= 62).sum()) < 0.7, 5, employment[age >= 62])
    region = rng.choice(len(REGIONS), ROWS, p=REGIONS_P)
    purpose = rng.choice(len(PURPOSES), ROWS, p=PURPOSES_P)
    income_base = np.where(employment == 4, 30_000, np.where(employment == 5, 55_000, 110_000))
    income = np.round(income_base * rng.lognormal(0, 0.45, ROWS) * (1 + (age - 20) / 80), -2)
    history = np.clip((age - 19) * 12 * rng.uniform(0.2, 0.9, ROWS), 0, None).round().astype(int)
    debt_ratio = np.clip(rng.beta(2.2, 4.5, ROWS) * 1.1, 0, 1).round(3)
    loan_amount = np.round(income * rng.uniform(0.1, 1.2, ROWS) + rng.normal(20_000, 8_000, ROWS))
    loan_amount = np.clip(loan_amount, 5_000, None).round(-2)
    term = rng.choice([12, 24, 36, 48, 60], ROWS, p=[0.15, 0.25, 0.3, 0.15, 0.15])
    late = rng.poisson(np.where(debt_ratio > 0.5, 1.2, 0.35))
    cards = rng.poisson(2.5, ROWS)
    burden = loan_amount / income
    risk = (
        3.4 * np.maximum(debt_ratio - 0.35, 0)
        + 1.1 * np.maximum(burden - 0.8, 0)
        + 0.65 * np.minimum(late, 4)
        - 0.9 * np.tanh(history / 60)
        + 0.012 * np.abs(age - 42)
        + np.take(EMPLOYMENT_RISK, employment)
        + np.take(REGION_RISK, region)
        + 0.25 * (purpose == 4)
        + 0.008 * (term - 36)
        + 0.08 * np.maximum(cards - 4, 0)
    )
    logit = -2.6 + 1.4 * risk
    default = (rng.random(ROWS) < 1 / (1 + np.exp(-logit))).astype(int)
    return {
        "application_id": [f"LA{202400000 + i}" for i in range(ROWS)],
        "age": age.tolist(),
        "annual_income": income.tolist(),
        "employment_type": [EMPLOYMENT[i] for i in employment],
        "region": [REGIONS[i] for i in region],
        "loan_purpose": [PURPOSES[i] for i in purpose],
        "loan_amount": loan_amount.tolist(),
        "loan_term_months": term.tolist(),
        "debt_ratio": debt_ratio.tolist(),
        "credit_history_months": history.tolist(),
        "late_payments_2y": late.tolist(),
        "open_credit_cards": cards.tolist(),
        "default": default.tolist(),
    }


def main() -> None:
    dest = Path(sys.argv[1])
    table = generate(np.random.default_rng(20240611))
    rate = sum(table["default"]) / ROWS  # type: ignore[arg-type]
    assert 0.08 < rate < 0.22 and not math.isnan(rate), rate
    aicc_template.write_table(dest / "loan_applications.csv", table)


if __name__ == "__main__":
    main()
