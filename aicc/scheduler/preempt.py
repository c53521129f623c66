"""Preemption: make room for a job that does not fit by stopping the fewest, cheapest jobs.

Who may be a victim of job J (project P), by rule (each a plugin of `plugins/victims.py`, tried
in that registry's order: reclaim, priority, service):
- `priority`: a job of lower priority (the class, never the aged score) of P itself, or of
  another project only where that work *borrows*: bound as borrowed, or its project over its
  guarantee of what it holds (Kueue: preemption by priority within the ClusterQueue, reclaim
  across the cohort only from borrowers). A priority number is the submitter's own: it orders
  P's work and never reaches into another tenant's (with no quotas set nobody borrows, so
  priority never crosses projects; issue 35);
- `reclaim`: when J stays within P's guarantee, any job of another project that is over its
  guarantee of a resource J needs, as long as that project stays over it before each victim;
  with a service ladder, only jobs at J's level or above;
- `service`: a job whose service level (plugins/service.py: attained or declared device-time,
  the profile's queue-sort ladder) is at least `preempt_gap` levels above J's, protected like
  `priority` unless `service_crosses_guarantees` (least-attained-service time-slicing across
  tenants, as Tiresias does; `service_guarded_from` keeps guarantees for victims from that level
  up), and never within the first `service_min_run_s` of the victim's
  attempt (like Slurm's PreemptExemptTime and Run:ai's minimum runtime): without it, a stream
  of short new jobs evicts the same long job every few minutes, each time for its restart.
  A starving J (level -1) also reaches level 0, but there only jobs submitted after J (they
  overtook it), so starving jobs never take turns: such preemptions go from older to younger.

Never a victim: a job already in its grace period or promised to another preemptor this cycle,
or one that preempted J before (`J.preempted_by`). With protected guarantees this rules out
loops: a borrower preempted to reclaim a guarantee cannot preempt the reclaimer back, because
the reclaimer runs within its guarantee. When service crosses guarantees, the ladder does: a
reclaim never takes a job with less service than the reclaimer, and a service preemption only
one with more, so no chain of preemptions comes back to its start (levels only grow).

Cost, cheapest first: jobs bound as borrowed, then other jobs of projects over their guarantee,
then the rest; within that, jobs preempted fewer times before (else a job that just restarted,
having lost the least, would be every next preemptor's victim), then lower priority, then less
progress lost (device-seconds since the last checkpoint or start). Plans compare by victim
count, then cost.
A job waits while victims of an earlier cycle are still stopping and their capacity would
let it fit, and preempts nothing more.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, NamedTuple

from aicc.scheduler.allocate import Spot, place_job
from aicc.scheduler.cluster import MILLI, Amount, Statement
from aicc.scheduler.indexed import is_share, kind, pick
from aicc.scheduler.plugins.victims import SCREENED, Held
from aicc.scheduler.profile import PreemptConfig
from aicc.scheduler.quota import EPSILON, Amounts, replica_milli
from aicc.scheduler.snapshot import (
    CycleDecision,
    DevicePick,
    JobView,
    Preempt,
    ReplicaRequest,
    WaitReason,
)

if TYPE_CHECKING:
    from aicc.scheduler.cycle import Attempt
    from aicc.scheduler.cycle import CycleState as Cycle

Cost = tuple[int, int, int, float]


class Candidate(NamedTuple):  # a tuple: built for every running job, every cycle
    """A running job that could be a victim, with what is computed once per cycle."""

    job: JobView
    keys: frozenset[str]  # governed resources it holds
    lost: float  # device-seconds of work since its last checkpoint (or start)
    amounts: tuple[tuple[int, Amount], ...]  # what it gives back, node by node
    level: int  # on the service ladder (0 without one)


class Victim(NamedTuple):
    candidate: Candidate
    reason: str
    cost: Cost

    @property
    def job(self) -> JobView:
        return self.candidate.job


class Pool:
    """Per cycle: the running jobs that may ever be victims, and those already stopping."""

    def __init__(self, cycle: Cycle) -> None:
        governed = cycle.tree.governed
        self.candidates: list[Candidate] = []
        self.stopping: list[Candidate] = []
        self.lowest_priority: int | None = None
        # devices the candidates hold on each node, by service level (see `_room`)
        self.by_level: dict[int, dict[tuple[int, str], int]] = {}  # (level, project)
        self.at_level: dict[int, list[Candidate]] = {}  # the candidates by service level
        ladder = cycle.ladder
        index = cycle.cluster.index_of
        for job in cycle.snapshot.running:
            if not job.placements or job.protected:  # a protected job is never a victim
                continue
            amounts, keys = cycle.held[job.id].parts(index, governed)
            if job.terminating:
                self.stopping.append(Candidate(job, keys, _lost(cycle, job), amounts, 0))
                continue
            level = 0 if ladder is None else cycle.level(job)
            candidate = Candidate(job, keys, _lost(cycle, job), amounts, level)
            self.candidates.append(candidate)
            self.at_level.setdefault(level, []).append(candidate)
            if ladder is not None:
                key = (level, job.project_id)
                for i, a in amounts:
                    here = self.by_level.setdefault(i, {})
                    here[key] = here.get(key, 0) + len(a.picks)
            if self.lowest_priority is None or job.priority < self.lowest_priority:
                self.lowest_priority = job.priority
        # cheapest first by what does not change in a cycle (borrowed, priority, lost work)
        self.ordered = sorted(
            self.candidates,
            key=lambda c: (not c.job.borrowed, len(c.job.preempted_by), c.job.priority, c.lost),
        )
        self._tops: tuple[int, dict[str, int]] | None = None
        self.stop_failed: set[tuple[int, ...]] = set()  # see _stopping

    def top_level(self, cycle: Cycle, project: str) -> int:
        """The highest service level among the candidates a job of `project` could take: its
        own, and other projects' that no guarantee protects (as of the cycle's start)."""
        if self._tops is None:
            config = cycle.profile.preempt
            protect = (
                config is not None
                and config.protect_guarantee
                and not config.service_crosses_guarantees
            )
            open_top, own = -1, dict[str, int]()
            for c in self.candidates:
                level = c.level
                pid = c.job.project_id
                own[pid] = max(own.get(pid, -1), level)
                if not protect or exposed(cycle, c, cycle.tree.over_guarantee):
                    open_top = max(open_top, level)
            self._tops = (open_top, own)
        open_top, own = self._tops
        return max(open_top, own.get(project, -1))


def try_preempt(
    cycle: Cycle, job: JobView, attempts: list[Attempt]
) -> tuple[WaitReason, list[CycleDecision]] | None:
    """Victims for `job` (Preempt decisions and the preemptor's wait reason), or None."""
    config = cycle.profile.preempt
    if config is None or cycle.preemptors >= config.max_preemptors or not cycle.snapshot.running:
        return None
    if cycle.victims is None:
        cycle.victims = Pool(cycle)
    pool = cycle.victims
    if not _may_preempt(cycle, pool, job, attempts):
        return None
    cycle.preemptors += 1
    stopping = _stopping(cycle, pool, job, attempts)
    if stopping is not None:
        return stopping, []
    with cycle.cluster.what_if():
        best = _best(cycle, pool, job, attempts, config)
    if best is None:
        return None
    plan, model = best
    hold_the_rest(cycle, job, attempts, model, [a for v in plan for a in v.candidate.amounts])
    cycle.claimed.update(v.job.id for v in plan)
    demand = cycle.demand(job, model)
    cycle.charge(job.project_id, demand)
    cycle.lane_count[job.queue] += 1
    decisions: list[CycleDecision] = []
    for v in plan:
        message = f"preempted by {job.id} ({v.reason}); {config.grace_s}s to checkpoint and stop"
        decisions.append(Preempt(v.job.id, job.id, v.reason, config.grace_s, message))
    reasons = sorted({v.reason for v in plan})
    why = f"preempting {len(plan)} job(s) ({', '.join(reasons)}); starts when they stop"
    return WaitReason("preempting", why), decisions


def _best(
    cycle: Cycle, pool: Pool, job: JobView, attempts: list[Attempt], config: PreemptConfig
) -> tuple[list[Victim], str | None] | None:
    """The cheapest plan over the job's attempts (models), and its model."""
    best: tuple[tuple[int, int, int, int, float], list[Victim], str | None] | None = None
    for req, model in attempts:
        rules = Rules(cycle, job, model)
        if not _room(cycle, pool, rules, req):
            continue
        fits = _fit_test(cycle, job, req, model)
        if job.replicas == 1:
            plans = _per_node(cycle, pool, rules, req, fits, config)
        else:
            victims = eligible(pool, rules)
            could = victims and _gang_could_fit(cycle, victims, req, model, job)
            plans = [_greedy(cycle, victims, fits, config.max_victims)] if could else []
        for plan in plans:
            if plan and (best is None or _plan_key(plan) < best[0]):
                best = (_plan_key(plan), plan, model)
    return None if best is None else (best[1], best[2])


def _may_preempt(cycle: Cycle, pool: Pool, job: JobView, attempts: list[Attempt]) -> bool:
    """A cheap test before any search: is there anyone this job could preempt or wait for?"""
    if _free_stopping(cycle, pool):
        return True
    config = cycle.profile.preempt
    assert config is not None
    if not SCREENED.issuperset(config.rules):
        return True  # a rule with no cheap test: only a search tells
    lowest = pool.lowest_priority
    if "priority" in config.rules and lowest is not None and lowest < job.priority:
        return True
    ladder = cycle.ladder
    if ladder is not None and pool.top_level(cycle, job.project_id) >= cycle.level(job) + (
        ladder.preempt_gap
    ):
        return True
    tree = cycle.tree
    return "reclaim" in config.rules and any(
        tree.within_guarantee(job.project_id, cycle.demand(job, model)) for _, model in attempts
    )


def _counted(cycle: Cycle) -> set[str]:
    """Running jobs the reservation counts on to end: promised to it, never to a preemptor."""
    return cycle.reservation.counted if cycle.reservation is not None else set()


def _free_stopping(cycle: Cycle, pool: Pool) -> list[Candidate]:
    counted = _counted(cycle)
    return [c for c in pool.stopping if c.job.id not in cycle.claimed and c.job.id not in counted]


class Rules:
    """Which running jobs may be victims of `job` on `model`, and at what cost: the profile's
    victim rules (plugins/victims.py) over what they read, computed once per job and model."""

    def __init__(self, cycle: Cycle, job: JobView, model: str | None) -> None:
        config = cycle.profile.preempt
        assert config is not None
        self.cycle, self.job, self.config = cycle, job, config
        demand = cycle.demand(job, model)
        self.needs = frozenset(k for k, v in demand.items() if v > 0)
        self.reclaim = "reclaim" in config.rules and cycle.tree.within_guarantee(
            job.project_id, demand
        )
        self.by_priority = "priority" in config.rules
        self.ladder = cycle.ladder
        self.level = cycle.level(job)
        self.floor = 0 if self.ladder is None else self.level + self.ladder.preempt_gap
        self.crosses_guarantees = config.service_crosses_guarantees
        self.guarded_from = config.service_guarded_from
        self.tests = config.victims
        self.screened = SCREENED.issuperset(config.rules)  # may the ladder's tests prune
        self.counted = _counted(cycle)
        self.claimed = cycle.claimed  # grows as the cycle goes on
        self.spared = frozenset(job.preempted_by) if config.remember_preemptors else frozenset()
        self.sliced_before = cycle.now - timedelta(seconds=config.service_min_run_s)
        self._over: dict[tuple[str, frozenset[str]], bool] = {}

    def over(self, project: str, keys: frozenset[str]) -> bool:
        key = (project, keys)
        found = self._over.get(key)
        if found is None:
            found = self._over[key] = self.cycle.tree.over_guarantee(project, keys)
        return found

    def victim(self, c: Candidate) -> Victim | None:
        """Called for every candidate in every search: cheap tests first, then the rules in
        order; the first that allows names the reason."""
        v = c.job
        if v.id in self.claimed or v.id in self.counted or v.id in self.spared:
            return None
        other = v.project_id != self.job.project_id
        for reason, allows in self.tests:
            if allows(self, c, other):
                rank = 0 if v.borrowed else 1 if self.over(v.project_id, c.keys) else 2
                return Victim(c, reason, (rank, len(v.preempted_by), v.priority, c.lost))
        return None

    def overtook(self, v: JobView) -> bool:
        """May a starving job take `v` below the floor of a job at level 0: `v` is younger."""
        return self.level < 0 and (v.submitted_at, v.id) > (self.job.submitted_at, self.job.id)

    def unprotected(self, c: Held, other: bool) -> bool:
        """May a job of another project be taken: borrowed, no guarantee governs it, or over it."""
        if not other or not self.config.protect_guarantee:
            return True
        return exposed(self.cycle, c, self.over)

    def borrowing(self, c: Held, other: bool) -> bool:
        """May another project's job be taken by priority: only work that borrows (bound as
        borrowed, or of a project over its guarantee of what it holds). Unlike `unprotected`,
        a project no guarantee governs is not open to other tenants' priority."""
        if not other or not self.config.protect_guarantee:
            return True
        v = c.job
        if v.borrowed:
            return True
        return (
            bool(c.keys)
            and v.project_id in self.cycle.tree.by_id
            and self.over(v.project_id, c.keys)
        )


def exposed(cycle: Cycle, c: Held, over: Callable[[str, frozenset[str]], bool]) -> bool:
    """No guarantee shields the candidate: bound as borrowed, of a project no guarantee governs,
    or of one over its guarantee (`over`) of what it holds."""
    v = c.job
    if v.borrowed or v.project_id not in cycle.tree.by_id or not c.keys:
        return True
    return over(v.project_id, c.keys)


def eligible(pool: Pool, rules: Rules) -> list[Victim]:
    """Every victim the rules allow, cheapest first."""
    out = [v for c in _in_reach(pool, rules) if (v := rules.victim(c)) is not None]
    out.sort(key=lambda x: (x.cost, x.job.id))
    return out


def _in_reach(pool: Pool, rules: Rules) -> list[Candidate]:
    """The candidates at a service level some rule may reach: below the floor of `service`
    (and the reclaimer's own level) only `priority` takes jobs, when a lower one runs."""
    if rules.ladder is None or not rules.screened or _priority_reaches(pool, rules):
        return pool.candidates
    least = min(rules.floor, rules.level) if rules.reclaim else rules.floor
    if least <= 0:
        return pool.candidates
    return [c for level, here in pool.at_level.items() if level >= least for c in here]


def _priority_reaches(pool: Pool, rules: Rules) -> bool:
    """May the `priority` rule take some candidate (one runs at a lower priority), whatever
    its service level?"""
    lowest = pool.lowest_priority
    return rules.by_priority and lowest is not None and lowest < rules.job.priority


def _lost(cycle: Cycle, job: JobView) -> float:
    since = max(filter(None, (job.started_at, job.last_checkpoint_at)), default=cycle.now)
    devices = max(1.0, replica_milli(job.request) / MILLI) * job.replicas
    return max(0.0, (cycle.now - since).total_seconds()) * devices


def _plan_key(plan: list[Victim]) -> tuple[int, int, int, int, float]:
    return (
        len(plan),
        sum(v.cost[0] for v in plan),
        sum(v.cost[1] for v in plan),
        sum(v.cost[2] for v in plan),
        sum(v.cost[3] for v in plan),
    )


Fits = Callable[[Statement, int | None], bool]


def _fit_test(cycle: Cycle, job: JobView, req: ReplicaRequest, model: str | None) -> Fits:
    place = cycle.profile.place

    def fits(statement: Statement, node: int | None) -> bool:
        if node is not None:
            return pick(cycle.cluster, node, req) is not None
        mark = statement.mark()
        spots, _ = place_job(cycle.cluster, statement, req, model, job.replicas, place)
        statement.rollback(mark)
        return spots is not None

    return fits


def _reclaim_budget_ok(cycle: Cycle, left: dict[str, Amounts], extra: Victim) -> bool:
    """A reclaim victim only while its project is still over its guarantee without the
    victims already chosen from it (`left`: the usage they leave, see `_release`)."""
    if extra.reason != "reclaim":
        return True
    project = extra.job.project_id
    tenant = cycle.tree.by_id.get(project)
    if tenant is None:
        return False
    used = left.get(project)
    if used is None:
        used = cycle.tree.used.get(project, {})
    guaranteed = tenant.quota.guaranteed
    return any(
        used.get(k, 0.0) > guaranteed.get(k, 0.0) + EPSILON
        for k in cycle.held[extra.job.id].demand
        if k in cycle.tree.governed
    )


def _release(cycle: Cycle, left: dict[str, Amounts], chosen: Victim) -> None:
    """Take a chosen victim's demand off what its project is left using."""
    project = chosen.job.project_id
    used = left.get(project)
    if used is None:
        used = left[project] = dict(cycle.tree.used.get(project, {}))
    for k, value in cycle.held[chosen.job.id].demand.items():
        used[k] = used.get(k, 0.0) - value


def _greedy(
    cycle: Cycle, victims: list[Victim], fits: Fits, limit: int, node: int | None = None
) -> list[Victim]:
    """Cheapest victims first until the job fits, then give back those it does not need."""
    statement = Statement(cycle.cluster)
    chosen: list[Victim] = []
    try:
        for v in _taken(cycle, victims, limit):
            for i, a in v.candidate.amounts:
                statement.give(i, a)
            chosen.append(v)
            if fits(statement, node):
                break
        else:
            return []
        statement.discard()
        for v in sorted(chosen, key=lambda x: x.cost, reverse=True):  # reprieve the dearest
            trial = [c for c in chosen if c is not v]
            for c in trial:
                for i, a in c.candidate.amounts:
                    statement.give(i, a)
            ok = fits(statement, node)
            statement.discard()
            if ok:
                chosen = trial
        return chosen
    finally:
        statement.discard()


def _taken(cycle: Cycle, victims: list[Victim], limit: int) -> Iterator[Victim]:
    """The victims a greedy search takes in turn, cheapest first: at most `limit`, and a
    reclaim only while its project stays over its guarantee without those taken before."""
    left: dict[str, Amounts] = {}
    taken = 0
    for v in victims:
        if taken >= limit:
            return
        if not _reclaim_budget_ok(cycle, left, v):
            continue
        _release(cycle, left, v)
        taken += 1
        yield v


def _gang_could_fit(
    cycle: Cycle, victims: list[Victim], req: ReplicaRequest, model: str | None, job: JobView
) -> bool:
    """Could `_greedy` ever make room for every replica? For whole devices of one model, the
    same walk (`_taken`) over an upper bound of whole free devices, node by node (a device a
    victim holds counts as freed whole), which spares the trial placements of a search bound
    to fail. True when it cannot tell (shares, MIG slices, no model)."""
    if model is None or kind(req) != "whole":
        return True
    config = cycle.profile.preempt
    assert config is not None
    cluster, count = cycle.cluster, req.accel_count
    slots = cluster.whole_slots(model, count)
    if slots >= job.replicas:
        return True
    touched: dict[int, set[int]] = {}  # node -> devices the walk's victims hold there
    for v in _taken(cycle, victims, config.max_victims):
        for i, a in v.candidate.amounts:
            node = cluster.nodes[i]
            if not node.schedulable:
                continue
            held = touched.setdefault(i, set())
            free = cluster.whole[i].get(model, 0)
            top = len(node.devices)
            before = min(top, free + len(held)) // count
            held.update(p.index for p in a.picks)
            slots += min(top, free + len(held)) // count - before
        if slots >= job.replicas:
            return True
    return False


def _could_fit(cycle: Cycle, i: int, req: ReplicaRequest, victims: list[Victim]) -> bool:
    """Could the replica fit on node `i` were all `victims` gone? A quick necessary test (CPU,
    memory, and devices either free or touched by a victim) that spares the greedy search."""
    node = cycle.cluster.nodes[i]
    cpu, memory = node.free_cpu_milli, node.free_memory_mib
    touched: set[int] = set()
    for v in victims:
        for j, a in v.candidate.amounts:
            if j == i:
                cpu += a.cpu_milli
                memory += a.memory_mib
                touched.update(p.index for p in a.picks)
    if cpu < req.cpu_milli or memory < req.memory_mib:
        return False
    if req.accel_count and req.accel_milli is None and req.mig_profile is None:
        free = sum(cycle.cluster.whole[i].values())
        return free + len(touched) >= req.accel_count
    return True


def _room(cycle: Cycle, pool: Pool, rules: Rules, req: ReplicaRequest) -> bool:
    """Could the job's replicas of whole devices fit were every candidate gone whose level the
    rules may reach (`by_level`)? A necessary test, per node, that spares the victim walk for a
    job high on the service ladder, which may take only the few jobs as high as itself."""
    if rules.ladder is None or not rules.screened or not req.accel_count or is_share(req):
        return True
    if _priority_reaches(pool, rules):
        return True  # any level: the walk decides
    job = rules.job

    def reachable(level: int, project: str) -> bool:  # what Rules.victim may allow, at most
        if level >= rules.floor:
            return True
        return (
            rules.reclaim
            and level >= rules.level
            and project != job.project_id
            and rules.over(project, rules.needs)
        )

    cluster, need = cycle.cluster, job.replicas
    for i, node in enumerate(cluster.nodes):
        if not node.schedulable:
            continue
        room = sum(cluster.whole[i].values())
        held = pool.by_level.get(i, {})
        room += sum(n for (level, project), n in held.items() if reachable(level, project))
        need -= room // req.accel_count
        if need <= 0:
            return True
    return False


def _per_node(
    cycle: Cycle, pool: Pool, rules: Rules, req: ReplicaRequest, fits: Fits, config: PreemptConfig
) -> list[list[Victim]]:
    """For a one-replica job: on each of the first `max_nodes` nodes that hold cheap victims,
    the cheapest set (and the set of the largest victims) that makes room there."""
    on_node: dict[int, list[Victim]] = {}  # nodes in the order of their cheapest victim
    for c in pool.ordered:
        v = rules.victim(c)
        if v is None:
            continue
        for i in dict.fromkeys(i for i, _ in c.amounts):
            if cycle.cluster.nodes[i].schedulable:
                on_node.setdefault(i, []).append(v)
    plans = []
    for i in list(on_node)[: config.max_nodes]:
        here = on_node[i]
        if not _could_fit(cycle, i, req, here):
            continue
        here.sort(key=lambda x: (x.cost, x.job.id))
        largest = sorted(here, key=lambda v: (-replica_milli(v.job.request), v.cost, v.job.id))
        plans.append(_greedy(cycle, here, fits, config.max_victims, node=i))
        plans.append(_greedy(cycle, largest, fits, config.max_victims, node=i))
    return plans


def hold_the_rest(
    cycle: Cycle,
    job: JobView,
    attempts: list[Attempt],
    model: str | None,
    freed: list[tuple[int, Amount]],
) -> None:
    """Hold, for the rest of the cycle, the free capacity a preemptor's placement counts on
    besides what its victims free: else a later job in the queue takes it, the preemptor
    finds it gone when its victims have stopped, and preempts again (a loop)."""
    found = _fit_with(cycle, job, [a for a in attempts if a[1] == model], freed)
    if found is not None:
        req, _, spots = found
        _take_free_part(cycle, req, spots, freed)


def _take_free_part(
    cycle: Cycle, req: ReplicaRequest, spots: Sequence[Spot], freed: list[tuple[int, Amount]]
) -> None:
    """Take from the cycle's cluster what `spots` use beyond the capacity in `freed`."""
    cpu: Counter[int] = Counter()
    memory: Counter[int] = Counter()
    devices: Counter[tuple[int, int, int | None]] = Counter()
    for i, a in freed:
        cpu[i] += a.cpu_milli
        memory[i] += a.memory_mib
        for p in a.picks:
            devices[(i, p.index, p.mig_slice)] += p.milli
    statement = Statement(cycle.cluster)
    for i, picks in spots:
        own_cpu, cpu[i] = max(0, req.cpu_milli - cpu[i]), max(0, cpu[i] - req.cpu_milli)
        own_mem, memory[i] = max(0, req.memory_mib - memory[i]), max(0, memory[i] - req.memory_mib)
        own: list[DevicePick] = []
        for p in picks:
            key = (i, p.index, p.mig_slice)
            covered = min(p.milli, devices[key])
            devices[key] -= covered
            if covered == 0:
                own.append(p)
            elif covered < p.milli and p.mig_slice is None:
                own.append(DevicePick(p.index, p.milli - covered))
        if own_cpu or own_mem or own:
            statement.take(i, Amount(own_cpu, own_mem, tuple(own)))
    statement.commit()


def _stopping(cycle: Cycle, pool: Pool, job: JobView, attempts: list[Attempt]) -> WaitReason | None:
    """If jobs preempted earlier are still stopping and their capacity would let this job fit,
    it waits for them (and claims them) instead of preempting more."""
    stopping = _free_stopping(cycle, pool)
    if not stopping:
        return None
    key = (len(cycle.claimed), job.replicas, *(cycle.shape(req) for req, _ in attempts))
    if key in pool.stop_failed:  # nothing claimed since a job of this shape did not fit
        return None
    found = _fit_with(cycle, job, attempts, [a for c in stopping for a in c.amounts])
    if found is None:
        pool.stop_failed.add(key)
        return None
    req, model, spots = found
    used = {i for i, _ in spots}
    mine = [c for c in stopping if any(i in used for i, _ in c.amounts)]
    _take_free_part(cycle, req, spots, [a for c in mine for a in c.amounts])
    cycle.claimed.update(c.job.id for c in mine)
    cycle.charge(job.project_id, cycle.demand(job, model))
    cycle.lane_count[job.queue] += 1
    return WaitReason("preempting", f"waiting for {len(mine)} preempted job(s) to stop")


def _fit_with(
    cycle: Cycle, job: JobView, attempts: list[Attempt], freed: list[tuple[int, Amount]]
) -> tuple[ReplicaRequest, str | None, list[Spot]] | None:
    """Where the job would go (request, model, spots) were `freed` free; None if nowhere."""
    cluster = cycle.cluster
    statement = Statement(cluster)
    with cluster.what_if():
        try:
            for i, a in freed:
                statement.give(i, a)
            for req, model in attempts:
                place = cycle.profile.place
                spots, _ = place_job(cluster, statement, req, model, job.replicas, place)
                if spots is not None:
                    return req, model, spots
            return None
        finally:
            statement.discard()
