"""Serving's step: at each controller pass, keep every deployment's replicas as wanted
(services/serving/converge.py), through the keeper the controller holds (loops/keeper.py:
probes outside any transaction, then one fenced converge step)."""

from __future__ import annotations

from aicc.loops.keeper import Keeper
from aicc.loops.registry import Declared
from aicc.loops.steps import EveryPass, Pass


class Converge(EveryPass):
    """Serving's step: the `keeper`'s converge step at every pass."""

    name = "deployments"

    def __init__(self, keeper: Keeper) -> None:
        self.keeper = keeper

    def run(self, pass_: Pass) -> None:
        self.keeper.step(pass_.db, pass_.lease)


STEP = Declared(order=60, build=lambda context: Converge(context.deployments))
