"""Preemption's victim rules, the plugins of the preempt/reclaim extension point: who may be a
victim of a job that does not fit (preempt.py's docstring gives each rule's reasoning).

A rule is `allows(judge, candidate, other) -> bool`: may `judge.job` take the running
`candidate` (`other`: of another project)? The judge (`preempt.Rules`) has already spared the
jobs no rule may take (claimed, counted on by the reservation, earlier preemptors) and caches
what a rule asks often (`over`, `unprotected`). A profile names its rules (`preempt.rules`); they
are resolved once, when the profile is built, and tried in `RULES`' order, the first that allows
naming the preemption's reason. Called for every candidate of every search: keep them cheap.
The built-in rules are also screened before a search (`SCREENED`); a new rule is not, so it
costs a search whenever its job does not fit.
Adding a rule: its function here (or anywhere) and one line in `RULES`, or
`profiles.register("preempt", name, factory)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from aicc.scheduler.plugins.base import ServiceLadder
from aicc.scheduler.snapshot import JobView


class Held(Protocol):
    """A running job that could be a victim (preempt.Candidate)."""

    @property
    def job(self) -> JobView: ...
    @property
    def keys(self) -> frozenset[str]: ...  # the governed resources it holds
    @property
    def level(self) -> int: ...  # its level on the service ladder (0 without one)


class Judge(Protocol):
    """What a rule reads about the preemptor, computed once per job and model (preempt.Rules)."""

    job: JobView
    needs: frozenset[str]  # governed resources the job asks for
    reclaim: bool  # the job stays within its project's guarantee
    ladder: ServiceLadder | None
    level: int  # the job's service level
    floor: int  # the lowest level the `service` rule reaches
    sliced_before: datetime  # an attempt started after this is too young for `service`
    crosses_guarantees: bool
    guarded_from: int | None  # victims from this level keep their guarantee against `service`

    def over(self, project: str, keys: frozenset[str]) -> bool: ...
    def unprotected(self, c: Held, other: bool) -> bool: ...
    def borrowing(self, c: Held, other: bool) -> bool: ...
    def overtook(self, v: JobView) -> bool: ...


VictimRule = Callable[[Judge, Held, bool], bool]


def reclaim(judge: Judge, c: Held, other: bool) -> bool:
    """A job within its guarantee takes another project's job over its guarantee of a
    resource the job needs (with a service ladder: at the job's level or above)."""
    return (
        judge.reclaim
        and other
        and c.level >= judge.level
        and judge.over(c.job.project_id, judge.needs)
    )


def priority(judge: Judge, c: Held, other: bool) -> bool:
    """A job of lower priority class of the job's own project, or of another project only
    where that work borrows (bound as borrowed, or its project over its guarantee of what it
    holds): a priority number orders work within its project and never reaches across
    tenants into work no one lent them (issue 35: with no quotas set, nobody's work is
    borrowed, so priority never crosses projects; guarantees and fair share decide there)."""
    return c.job.priority < judge.job.priority and judge.borrowing(c, other)


def service(judge: Judge, c: Held, other: bool) -> bool:
    """A job at least `preempt_gap` levels above the job on the service ladder (a starving job
    also takes younger jobs at level 0) whose attempt has run its minimum, and which no
    guarantee protects unless service crosses guarantees (at the victim's level)."""
    ladder, v = judge.ladder, c.job
    guarded = judge.guarded_from
    return (
        ladder is not None
        and c.level >= judge.floor
        and (c.level >= ladder.preempt_gap or judge.overtook(v))
        and (v.started_at is None or v.started_at <= judge.sliced_before)
        and (
            (judge.crosses_guarantees and (guarded is None or c.level < guarded))
            or judge.unprotected(c, other)
        )
    )


# name -> factory of the rule (no arguments yet), in the order rules are tried
RULES: dict[str, Callable[[Mapping[str, Any]], VictimRule]] = {
    "reclaim": lambda args: reclaim,
    "priority": lambda args: priority,
    "service": lambda args: service,
}
# The rules preempt.py knows how to screen cheaply (who could be a victim at all, before and
# during a search); a profile that names any other rule searches every candidate instead.
SCREENED = frozenset(RULES)
