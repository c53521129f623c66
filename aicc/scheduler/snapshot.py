"""What the scheduler sees and what it answers: a snapshot in, decisions out.

The live server builds a snapshot from the store; the trace simulator builds one from a trace.
Both call the same `schedule()`, so what a benchmark measures is what users run.

Contract of a snapshot: node and device `free_*` figures already subtract every job in
`running` (including `terminating` ones, which hold their resources until they stop); a running
job's `placements` say where it holds them. `now` is the only time the scheduler knows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from aicc.core.tenancy import Quota


@dataclass(frozen=True)
class MigSlice:
    """One MIG instance of a partitioned device: a fixed catalog profile such as `1g.10gb`."""

    index: int
    profile: str
    used: bool = False


@dataclass
class DeviceView:
    index: int
    model: str
    memory_mib: int
    free_milli: int = 1000
    free_memory_mib: int | None = None  # None: the whole device memory is free
    # Non-empty: the device is partitioned (MIG mode) and is handed out only slice by slice;
    # `free_milli` is then ignored (never taken whole or as a share).
    mig: tuple[MigSlice, ...] = ()
    # A device lease (issue 40): the organization it is kept for, and whether it lends its
    # idle time to others' preemptible work (fit.device_free_to). None: anyone's.
    leased_to: str | None = None
    lends: bool = False

    def __post_init__(self) -> None:
        if self.free_memory_mib is None:
            self.free_memory_mib = self.memory_mib


@dataclass
class NodeView:
    name: str
    free_cpu_milli: int
    free_memory_mib: int
    devices: list[DeviceView] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    schedulable: bool = True
    total_cpu_milli: int = 0
    total_memory_mib: int = 0
    shares: bool = True  # False: its engine gives whole devices only (no share, no MIG slice)
    # Maintenance (issue 40): seconds from `Snapshot.now` until the node's next window starts
    # (None: none ahead); a replica starts here only if its declared runtime ends before, and one
    # without a runtime only if the window is further than `notice_s` (fit.window_allows).
    open_for_s: float | None = None
    notice_s: float = 86400.0
    # A lease of the whole node (issue 40): the organization it is kept for, and whether its
    # idle capacity is lent to others' preemptible work (fit.lease_allows). None: anyone's.
    leased_to: str | None = None
    lends: bool = False
    device_leases: bool = False  # some device here is leased (DeviceView.leased_to)

    @property
    def restricted(self) -> bool:
        """A window ahead or a lease here: fit.admits must be asked."""
        return self.open_for_s is not None or self.leased_to is not None or self.device_leases


@dataclass(frozen=True)
class ReplicaRequest:
    cpu_milli: int
    memory_mib: int
    accel_count: int = 0  # whole devices
    accel_milli: int | None = None  # a share of one device (then accel_count is 1)
    accel_memory_mib: int | None = None
    models: tuple[str, ...] | None = None  # acceptable models; None = any
    mig_profile: str | None = None  # one MIG slice of this profile (then accel_count is 1)
    # (node, share of the bytes of the job's data sets and image that node holds, 0..1), by
    # node name; () for a job without either, or whose bytes no node holds (`data_locality`)
    data: tuple[tuple[str, float], ...] = ()
    # (node label, lowest version) the job's image needs of a node (core/devenvs.py), e.g.
    # (("nvidia.com/cuda", "12.4"),); met only where every label is that version or newer, and
    # asked only of replicas that use accelerators (fit.needs_met). () = any node.
    needs: tuple[tuple[str, str], ...] = ()
    # Set only when some node has a maintenance window ahead or a lease (so that requests, and
    # what is memoized by them, stay as they were otherwise): the job's declared runtime
    # (`max_runtime`), its organization, and whether it may use capacity a lease lends
    # (the lowest priority class: preemptible).
    runtime_s: int | None = None
    org: str | None = None
    preemptible: bool = False
    # A gang that must stay in one network-topology domain (the spec's `topology`): `rack` (the
    # nodes' `rack` label within their pool) or `pool`; all its replicas go to one, or it waits.
    # None for one replica (one node is in one domain) and for a gang that may spread.
    within: str | None = None


def request_key(r: ReplicaRequest) -> tuple[object, ...]:
    """The request's fields as a plain tuple: equal exactly when the requests are, and hashed
    and compared in C rather than by the dataclass's Python `__hash__` and `__eq__` (the
    cycle's caches key on it once per job of the queue)."""
    return (
        r.cpu_milli,
        r.memory_mib,
        r.accel_count,
        r.accel_milli,
        r.accel_memory_mib,
        r.models,
        r.mig_profile,
        r.data,
        r.needs,
        r.runtime_s,
        r.org,
        r.preemptible,
        r.within,
    )


@dataclass(frozen=True)
class JobView:
    """A waiting job (in `Snapshot.pending`) or a placed one (in `Snapshot.running`).

    The fields after `project_id` matter to the policies: `max_runtime_s` is the declared runtime
    (backfill and the what-if use it; None never backfills into reserved space); the rest describe
    a placed job: where (`placements`), since when (`started_at`), whether it was bound beyond its
    project's guarantee (`borrowed`, from `Bind.borrowed`), its last checkpoint (progress a
    preemption would lose), whether it is already in its preemption grace period (`terminating`),
    and which jobs preempted it before (`preempted_by`, so it never preempts them back).
    `attained_s` is the service it got in earlier attempts (least-attained-service policies add
    the current attempt's from `started_at`), and `queued_at` when its last attempt ended (None:
    it never ran, or that is unknown).
    """

    id: str
    replicas: int
    request: ReplicaRequest
    priority: int
    submitted_at: datetime
    project_id: str = ""
    queue: str = ""  # queue (lane) id; "" = none
    max_runtime_s: int | None = None
    started_at: datetime | None = None
    placements: tuple[Placement, ...] = ()
    borrowed: bool = False
    last_checkpoint_at: datetime | None = None
    terminating: bool = False
    preempted_by: tuple[str, ...] = ()
    attained_s: float = 0.0  # device-seconds received in earlier attempts (not this one)
    queued_at: datetime | None = None  # when the last earlier attempt ended
    # Money per hour of the whole job (all replicas) by accelerator model ("" without one), after
    # the plan's discount, for budget admission (plugins/budget.py); () = not checked.
    price_rates: tuple[tuple[str, float], ...] = ()
    # A deployment's replica within its minimum: never a preemption's victim.
    protected: bool = False
    # The spec's `deferrable` and `deadline` (aware, UTC): such a job may be held for greener
    # power until the green planner's hour (green.holds), given `Snapshot.carbon`.
    deferrable: bool = False
    deadline: datetime | None = None
    # The runtime predicted from like jobs' finished runs (scheduler/predict.py), when the profile
    # asks for it (the `predicted` ladder); None: no prediction, the declared runtime stands.
    predicted_runtime_s: float | None = None
    # An elastic job (`replicas: {min, max}`): its bounds. Waiting, `replicas` is the minimum it
    # starts with; placed, the replicas it has now. `releasing`: those a shrink is stopping
    # (they hold their resources until they stop). scheduler/elastic.py.
    elastic: tuple[int, int] | None = None
    releasing: tuple[int, ...] = ()

    @property
    def attempt_started_at(self) -> datetime | None:
        """When the attempt running now started; None while the job waits."""
        return self.started_at if self.placements else None


@dataclass(frozen=True)
class TenantView:
    """A node of the quota tree: the center (parent None), an organization or a project.

    `quota` holds `guaranteed` and `max` per resource (`cpu_milli`, `memory_mib`, an accelerator
    model's catalog name in milli, `pflops`). A missing `max` key is no limit; a missing
    `guaranteed` key guarantees nothing of that resource. `weight` is the fair-share weight.
    """

    id: str
    parent: str | None = None
    quota: Quota = field(default_factory=Quota)
    weight: float = 1.0


@dataclass(frozen=True)
class QueueView:
    """A lane owned by a project: at most `max_running` of its jobs placed at once."""

    id: str
    max_running: int | None = None


@dataclass(frozen=True)
class Usage:
    """A project's decayed usage in resource-seconds per resource name, as of `at`.

    The caller keeps it between cycles (`plugins.fairshare.accrue` updates it); the fair-share
    plugin decays it further to `Snapshot.now` with the profile's half-life.
    """

    at: datetime
    values: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    now: datetime
    nodes: list[NodeView]
    pending: list[JobView]  # jobs waiting to be placed
    running: list[JobView] = field(default_factory=list)
    tenants: tuple[TenantView, ...] = ()  # the quota tree; empty: no quotas
    queues: tuple[QueueView, ...] = ()
    usage: Mapping[str, Usage] = field(default_factory=dict)  # by project id
    # tenant id (project or organization) -> money left of its budget this month, after what
    # running jobs will cost until their declared end; a tenant without a budget is absent
    budget_left: Mapping[str, float] = field(default_factory=dict)
    # The site's grid carbon intensity (gCO2/kWh) forecast by clock hour, from the hour holding
    # `now`; empty: no forecast, and deferrable jobs are not held (green.holds).
    carbon: tuple[float, ...] = ()
    # The site's power cap now (demand response), with the power model to estimate against it;
    # None: no cap, and no job waits for power (power.py).
    power: PowerCap | None = None
    # The windows [start, end) of the demand-response events not over yet (an operator's or an
    # OpenADR event's): the green planner plans no deferrable job to run in their hours.
    shed: tuple[tuple[datetime, datetime], ...] = ()


@dataclass(frozen=True)
class PowerCap:
    """A facility power cap in force at `Snapshot.now`, in watts, and the power model the
    meter uses (services/billing/meter.py) to estimate what jobs draw against it: a device of
    model m draws `tdp_w[m]` x (`idle_fraction` + (1 - `idle_fraction`) x `utilization`) while
    held, `tdp_w[m]` x `idle_fraction` while free; IT power times `pue` is facility power.
    `source` says where the cap comes from, for the wait reason."""

    cap_w: float
    tdp_w: Mapping[str, float] = field(default_factory=dict)
    pue: float = 1.0
    idle_fraction: float = 0.15
    utilization: float = 1.0
    source: str = ""
    # When the demand-response event whose cap this is ends; None: the standing cap. Under an
    # event, a deferrable job that can still meet its deadline after it waits it out (power.py).
    until: datetime | None = None
    # A replica without an accelerator draws its share of its node's measured IT power (W, by
    # node name: the mean of the node's fresh BMC or RAPL samples) by its CPU and memory, as the
    # meter bills it (core/energy.py `node_share`); on a node not measured, `core_w` per core.
    node_w: Mapping[str, float] = field(default_factory=dict)
    core_w: float = 6.0


@dataclass(frozen=True)
class DevicePick:
    index: int
    milli: int  # 1000 for a whole device; a MIG slice counts its share (g/7 of 1000)
    memory_mib: int | None = None
    mig_slice: int | None = None  # the MigSlice.index taken on a partitioned device

    def record(self) -> dict[str, int | None]:
        """As a replica records its device; a MIG slice adds its index, which
        `census.allocations` reads back so the slice stays taken until the replica ends."""
        out = {"index": self.index, "milli": self.milli, "memory_mib": self.memory_mib}
        if self.mig_slice is not None:
            out["mig_slice"] = self.mig_slice
        return out


@dataclass(frozen=True)
class Placement:
    replica: int
    node: str
    devices: tuple[DevicePick, ...] = ()


@dataclass(frozen=True)
class WaitReason:
    # quota | budget | resources | gang | unschedulable | queue | reservation | fairshare
    # | preempting (victims are in their grace period; the job starts when they stop)
    # | green (a deferrable job held for a greener hour before its deadline)
    # | power_cap (starting it would take the site over its power cap)
    code: str
    message: str


@dataclass(frozen=True)
class Bind:
    job_id: str
    placements: tuple[Placement, ...]
    borrowed: bool = False  # placed beyond its project's guarantee: reclaimable by preemption


@dataclass(frozen=True)
class Wait:
    job_id: str
    reasons: tuple[WaitReason, ...]
    position: int
    estimated_start: datetime | None = None  # known for a reserved or preempting job


@dataclass(frozen=True)
class Preempt:
    """Stop a running job (`job_id`, the victim) to make room for `preemptor`.

    One decision per victim. The caller sends SIGTERM, moves the victim to `preempted`, lets it
    checkpoint for `grace_s` seconds, then kills and requeues it (or fails it when no retries
    are left) and records `preemptor` in the victim's `preempted_by`. `reason` is `priority`
    (a higher-priority job) or `reclaim` (the preemptor's project takes back its guarantee).
    """

    job_id: str
    preemptor: str
    reason: str
    grace_s: int
    message: str


@dataclass(frozen=True)
class Reserve:
    """Space held for a waiting job (the head of the line): it starts at `at` on these nodes
    (None: when jobs without a declared runtime end). Informational: nothing to persist, each
    cycle recomputes it; jobs bound in the same cycle never delay it (EASY backfill)."""

    job_id: str
    nodes: tuple[str, ...]
    at: datetime | None
    placements: tuple[Placement, ...] = ()


@dataclass(frozen=True)
class Grow:
    """Add replicas to a running elastic job, in capacity nothing waiting wants (`placements`
    number them after the job's last replica). scheduler/elastic.py."""

    job_id: str
    placements: tuple[Placement, ...]


@dataclass(frozen=True)
class Shrink:
    """Stop replicas of a running elastic job above its minimum, instead of preempting it, to
    make room for `preemptor`; the job goes on with the rest (torchrun's elastic rendezvous)."""

    job_id: str
    replicas: tuple[int, ...]
    preemptor: str


Decision = Bind | Wait  # what fifo.py answers; kept as it was for its callers
CycleDecision = Bind | Wait | Preempt | Reserve | Grow | Shrink  # what schedule() answers

# The reason a job waits first for when its place is being made: its victims are stopping.
HOLDS_A_PLACE = "preempting"


def reserved(decisions: Iterable[CycleDecision]) -> frozenset[str]:
    """The waiting jobs a cycle holds space for (a `Reserve` follows their `Wait`)."""
    return frozenset(d.job_id for d in decisions if isinstance(d, Reserve))


def admitted(wait: Wait, reserved: Collection[str] = ()) -> bool:
    """Whether a waiting job is admitted: a place for all its replicas together exists and is
    its own, held by a reservation (`reserved`, the cycle's `Reserve`s) or being made (the
    victims it preempted are stopping: its first reason is `preempting`). A job that only
    passed quota and lanes, and waits for room (`resources`, `gang`, `unschedulable`, another
    job's `reservation`, `fairshare`), is not: an admitted job never waits for room that is
    not there (issue 63.1, kueue#4329). A bound job is admitted as it is bound."""
    if wait.job_id in reserved:
        return True
    return bool(wait.reasons) and wait.reasons[0].code == HOLDS_A_PLACE
