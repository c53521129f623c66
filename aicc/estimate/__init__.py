"""The estimator (compute service): a scenario turned into FLOPs, time per accelerator option,
and a price under the tenant's plan after subsidies and vouchers. Pure: no I/O, no clock.

docs/estimate.md gives the formulas, the efficiency table with its sources and the calibration
against published training runs.
"""

from aicc.core.pricing import PricePlan, Settlement, Subsidy, Voucher, charge, settle
from aicc.estimate.assumptions import Assumption
from aicc.estimate.estimate import Candidate, Estimate, LeftOut, Option, candidates, estimate
from aicc.estimate.options import Overrides
from aicc.estimate.scenarios import SCENARIO_NAMES, Scenario, parse_amount, parse_scenario

__all__ = [
    "SCENARIO_NAMES",
    "Assumption",
    "Candidate",
    "Estimate",
    "LeftOut",
    "Option",
    "Overrides",
    "PricePlan",
    "Scenario",
    "Settlement",
    "Subsidy",
    "Voucher",
    "candidates",
    "charge",
    "estimate",
    "parse_amount",
    "parse_scenario",
    "settle",
]
