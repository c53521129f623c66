"""A pass is the controller's list of steps (loops/steps.py): a real server's tick runs exactly
the registered steps, in today's order, each timed under its name in /metrics; a context's step
added to the list runs with the pass, without a change to the controller; a lost lease ends the
pass once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from aicc.config import Settings
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


class Census(EveryPass):
    """A context's own step: counts the passes it saw, with the pass's database and lease."""

    name = "census"

    def __init__(self) -> None:
        self.passes: list[Pass] = []

    def run(self, pass_: Pass) -> None:
        with pass_.db.session() as session:
            pass_.lease.fence(session, pass_.now())  # it leads: the fence lets it write
        self.passes.append(pass_)


class Rare:
    """A periodic step not due yet: it is neither run nor timed."""

    name = "rare"

    def __init__(self) -> None:
        self.when = Every(timedelta(hours=1), first=utcnow() + timedelta(hours=1))
        self.runs = 0

    def due(self, pass_: Pass) -> bool:
        return self.when.due(pass_.now())

    def run(self, pass_: Pass) -> None:
        self.runs += 1


class Losing(EveryPass):
    """A step whose fenced write finds another server leading."""

    name = "losing"

    def run(self, pass_: Pass) -> None:
        raise LostLease("another server leads")


def test_a_step_added_to_the_list_runs_with_the_pass_without_a_change_to_the_controller(
    tmp_path: Path,
) -> None:
    seeded(tmp_path, None)
    _, state = build(Settings(home=tmp_path, sandbox="off"))
    controller = state.controller
    census, rare = Census(), Rare()
    controller.steps.insert(2, census)  # after reconcile: it sees the pass's report
    controller.steps.append(rare)
    try:
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
