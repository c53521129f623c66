"""Heterogeneity-aware choice between the accelerator models a job accepts (Gavel-style).

`throughput_per_cost` ranks models by normalized throughput per price: catalog PFLOPS (dense
FP16/BF16) divided by the price of one device-hour from the profile's `prices`. Models without a
price rank after priced ones, by PFLOPS. Policies never see a job's true speed on a model, so
PFLOPS stands in for throughput. `request_order` keeps the job's own order of preference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aicc.scheduler.plugins.base import Cycle
from aicc.scheduler.quota import pflops_of
from aicc.scheduler.snapshot import JobView


@dataclass(frozen=True)
class ThroughputPerCost:
    prices: Mapping[str, float] = field(default_factory=dict)
    name: str = "throughput_per_cost"
    _memo: dict[tuple[str, ...], list[str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def order(self, job: JobView, models: list[str], cycle: Cycle) -> list[str]:
        if len(models) <= 1:
            return models
        key = tuple(models)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = sorted(models, key=self._rank)
        return list(found)

    def _rank(self, model: str) -> tuple[int, float, str]:
        price = self.prices.get(model)
        if price is not None and price > 0:
            return (0, -pflops_of(model) / price, model)
        return (1, -pflops_of(model), model)


@dataclass(frozen=True)
class RequestOrder:
    name: str = "request_order"

    def order(self, job: JobView, models: list[str], cycle: Cycle) -> list[str]:
        return models


def throughput_per_cost(args: Mapping[str, Any]) -> ThroughputPerCost:
    prices = {str(k): float(v) for k, v in dict(args.get("prices") or {}).items()}
    return ThroughputPerCost(prices=prices)


def request_order(args: Mapping[str, Any]) -> RequestOrder:
    return RequestOrder()
