"""A pass is the controller's list of steps (loops/steps.py): a real server's tick runs exactly
the declared steps, in today's order, each timed under its name in /metrics; a context that
declares a step in a module of its own has it run with the pass, in its place, without a change
to the controller or to any list (loops/registry.py); a lost lease ends the pass once."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import aicc.loops
from aicc.config import Settings
from aicc.loops import registry
from aicc.loops.controller import Controller
from aicc.loops.lease import LostLease
from aicc.loops.steps import Every, EveryPass, Pass, Step
from aicc.server import build
from aicc.services.common import utcnow
from aicc.testing.jobs import submit
from aicc.testing.servers import kill_leftover_replicas, seeded

ORDER = [
    "maintenance",  # windows and leases begin and end before the scheduler sees the nodes
    "schedule",
    "reconcile",
    "outputs",
    "challenges",  # a challenge's deadline passed: its poster and teams are told
    "deployments",
    "metering",
    "culling",
    "audit",
    "notify",  # deliveries of notifications (loops/notify.py)
    "discovery",
    "bmc",  # nodes' BMCs read, on a pool no pass waits for (loops/bmc.py)
    "burn_in",  # nodes' checks before service (loops/burn_in.py)
    "sweep",
]

# Steps that run on a clock of their own, not at the first tick: nodes' discovery
OWN_CLOCK = {"discovery"}


def timed(controller: Controller, name: str) -> float:
    """How many times the step `name` was timed, as /metrics says."""
    count = controller.timings.registry.get_sample_value(
        "aicc_controller_step_seconds_count", {"step": name}
    )
    return count or 0.0


class Traced:
    """A registered step, run as it is, that notes its name when it runs."""

    def __init__(self, step: Step, ran: list[str]) -> None:
        self.step, self.ran = step, ran

    @property
    def name(self) -> str:
        return self.step.name

    def due(self, pass_: Pass) -> bool:
        return self.step.due(pass_)

    def run(self, pass_: Pass) -> None:
        self.ran.append(self.name)
        self.step.run(pass_)


def test_a_tick_runs_the_registered_steps_in_order_each_timed(tmp_path: Path) -> None:
    seeded(tmp_path, None)
    app, state = build(Settings(home=tmp_path, sandbox="off"))
    controller = state.controller
    assert [step.name for step in controller.steps] == ORDER
    ran: list[str] = []
    controller.steps = [Traced(step, ran) for step in controller.steps]
    try:
        with TestClient(app) as api:
            api.headers["Authorization"] = "Bearer " + (tmp_path / "admin.token").read_text()
            job = submit(api, {"command": "sleep 30", "resources": {"cpu": "100m"}})
            controller.tick()  # discovery is not due yet (the server discovered as it started)
            assert ran == [name for name in ORDER if name not in OWN_CLOCK]
            assert {name: timed(controller, name) for name in ORDER} == {
                name: 0.0 if name in OWN_CLOCK else 1.0 for name in ORDER
            }
            shown = api.get(f"/api/v1/jobs/{job['id']}").json()  # the real steps: it was bound
            assert shown["state"] in ("scheduled", "running")

            ran.clear()
            for step in controller.steps:  # every periodic step due now
                when = getattr(getattr(step, "step", step), "when", None)
                if isinstance(when, Every):
                    when.next = utcnow()
            controller.tick()
            assert ran == ORDER
            assert timed(controller, "discovery") == 1.0 and timed(controller, "sweep") == 2.0
            api.post(f"/api/v1/jobs/{job['id']}/cancel")
            controller.tick()
    finally:
        state.db.dispose()
        kill_leftover_replicas(tmp_path)


# A context of the test's own: three modules of `aicc.loops` as a contributor writes them, each
# declaring its step (`STEP`). Census runs after reconcile and sees the pass; Rare is periodic
# and not due yet; Unset is not configured on this server, so it is not built.
CONTEXT = {
    "testctx_census": """
from aicc.loops.registry import Declared
from aicc.loops.steps import EveryPass, Pass


class Census(EveryPass):
    name = "census"

    def __init__(self, lease):
        self.lease, self.passes = lease, []

    def run(self, pass_: Pass) -> None:
        with pass_.db.session() as session:
            pass_.lease.fence(session, pass_.now())  # it leads: the fence lets it write
        self.passes.append(pass_)


STEP = Declared(order=35, build=lambda context: Census(context.lease))
""",
    "testctx_rare": """
from datetime import timedelta

from aicc.loops.registry import Declared
from aicc.loops.steps import Every, Pass
from aicc.services.common import utcnow


class Rare:
    name = "rare"

    def __init__(self):
        self.when = Every(timedelta(hours=1), first=utcnow() + timedelta(hours=1))
        self.runs = 0

    def due(self, pass_: Pass) -> bool:
        return self.when.due(pass_.now())

    def run(self, pass_: Pass) -> None:
        self.runs += 1


STEP = Declared(order=10_000, build=lambda context: Rare())
""",
    "testctx_unset": """
from aicc.loops.registry import Declared

STEP = Declared(order=36, build=lambda context: None)
""",
}


@pytest.fixture
def context_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test's context's modules in the `aicc.loops` package (a folder of it, as a new file
    of aicc/loops/ would be), gone again after the test."""
    folder = tmp_path / "loops"
    folder.mkdir()
    for module, source in CONTEXT.items():
        (folder / f"{module}.py").write_text(source, encoding="utf-8")
    monkeypatch.setattr(aicc.loops, "__path__", [*aicc.loops.__path__, str(folder)])
    importlib.invalidate_caches()
    try:
        yield
    finally:
        for module in CONTEXT:
            sys.modules.pop(f"aicc.loops.{module}", None)
            if hasattr(aicc.loops, module):
                delattr(aicc.loops, module)


class Losing(EveryPass):
    """A step whose fenced write finds another server leading."""

    name = "losing"

    def run(self, pass_: Pass) -> None:
        raise LostLease("another server leads")


def test_a_step_a_context_declares_runs_with_the_pass_without_a_change_to_the_controller(
    tmp_path: Path, context_of_its_own: None
) -> None:
    seeded(tmp_path, None)
    _, state = build(Settings(home=tmp_path, sandbox="off"))
    controller = state.controller
    names = [step.name for step in controller.steps]
    assert names == [*ORDER[:3], "census", *ORDER[3:], "rare"]  # in its place; unset: none
    census: Any = controller.steps[3]
    rare: Any = controller.steps[-1]
    try:
        assert census.lease is controller.lease  # built from what the controller shares
        controller.tick()
        controller.tick()
        assert len(census.passes) == 2 and census.passes[0] is not census.passes[1]
        first = census.passes[0]
        assert first.db is state.db and first.lease is controller.lease
        assert first.executors is state.executors and first.report is not None
        assert first.observed is not None and first.started <= first.observed
        assert timed(controller, "census") == 2.0
        assert rare.runs == 0 and timed(controller, "rare") == 0.0

        # a lost lease ends the pass where it is lost, once, in the controller
        controller.steps.insert(0, Losing())
        controller.tick()  # does not raise
        assert len(census.passes) == 2 and timed(controller, "schedule") == 2.0
        assert timed(controller, "losing") == 1.0
    finally:
        state.db.dispose()


def test_two_steps_at_one_place_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Their order would be luck: the registry names both modules instead."""
    package = tmp_path / "testctx_clash"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    for module in ("first", "second"):
        (package / f"{module}.py").write_text(
            "from aicc.loops.registry import Declared\n\n"
            "STEP = Declared(order=20, build=lambda context: None)\n",
            encoding="utf-8",
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(ValueError, match=r"testctx_clash\.first and testctx_clash\.second"):
            registry.declared(importlib.import_module("testctx_clash"))
    finally:
        for name in ("testctx_clash", "testctx_clash.first", "testctx_clash.second"):
            sys.modules.pop(name, None)


def test_every_step_of_today_is_declared_by_its_module() -> None:
    """The steps of aicc/loops are found by walking the package: one `STEP` per step module,
    in pass order, none at one place with another."""
    found = [name.removeprefix("aicc.loops.") for name, _ in registry.declared()]
    assert found == [
        *("maintenance", "scheduling", "reconcile", "outputs", "challenges", "deployments"),
        *("books", "culling", "audit", "notify", "discovery", "bmc", "meters", "burn_in"),
        "janitor",
    ]
